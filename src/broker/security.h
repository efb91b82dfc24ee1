/* Who may connect and what each client may do: allow_anonymous, password_file and acl_file for each
 * security domain (the whole broker, or each listener under per_listener_settings), loaded together
 * into one immutable snapshot that a reload swaps whole. */
#ifndef MIDGE_SECURITY_H
#define MIDGE_SECURITY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/acl.h"
#include "auth/passwd.h"

struct broker;
struct config;
struct listener_conf;
struct listener_rt;

struct sec_domain {
	bool allow_anonymous;
	bool has_pw; /* a password_file is configured: every username must be in it */
	struct pw_table pw;
	bool has_acl; /* an acl_file is configured: READ and WRITE need a rule */
	struct acl acl;
};

/* Read-only once made; held by reference (the broker's current one, pending password checks). */
struct security {
	atomic_uint refs;
	char **encrypted_topics; /* the encryption guard's `encrypted_topic` filters (guard.h), owned */
	size_t nencrypted_topics;
	size_t ndomains; /* 1, or one per listener under per_listener_settings */
	struct sec_domain dom[];
};

/* Loads the files that cf names for its listeners lconf[0..n) (the running listeners, in order) into a
 * new snapshot with one reference. Returns 0, or MIDGE_ERR_* with "FILE:LINE: message" or
 * "PATH: reason" in err. */
int security__load(const struct config *cf, const struct listener_conf *const *lconf, size_t n,
		   struct security **out, char *err, size_t errlen);
static inline struct security *security__ref(struct security *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}
/* Drops a reference; the last frees the tables. NULL is ignored. */
void security__unref(struct security *s);

/* Loads b->conf's security for b's listeners into b (at start-up). 0 or MIDGE_ERR_* with err. */
int security__init(struct broker *b, char *err, size_t errlen);
/* Frees what security__init made. */
void security__fini(struct broker *b);
/* Re-reads the security files as nc (a freshly loaded configuration) names them and swaps them in;
 * on an error logs it and keeps the current ones. Main thread (SIGHUP). */
void security__reload(struct broker *b, const struct config *nc);
/* The current snapshot, with a reference for the caller. Any thread. */
struct security *security__get(struct broker *b);
/* The domain index that clients of listener l belong to. */
size_t security__domain(const struct broker *b, const struct listener_rt *l);

/* True when the client (client_id, username NULL = anonymous) of domain dom may do access
 * (ACL_READ / ACL_WRITE) on topic, a topic name. Cheap when no acl_file is configured. Any thread. */
bool security__allowed(struct broker *b, size_t dom, const char *client_id, const char *username,
		       const char *topic, size_t topic_len, int access);
/* True when a subscription to filter could ever deliver anything to that client: some READ rule overlaps
 * it and no deny rule covers all of it. Midge refuses the others in SUBACK, where Mosquitto grants them
 * and delivers nothing. Any thread. */
bool security__may_subscribe(struct broker *b, size_t dom, const char *client_id, const char *username,
			     const char *filter, size_t filter_len);
/* True when topic matches an `encrypted_topic` filter of the current settings. Any thread. */
bool security__encrypted_topic(struct broker *b, const uint8_t *topic, size_t len);
/* True when an acl_file applies anywhere (deliveries need checking at all). */
bool security__has_acl(struct broker *b);

#endif
