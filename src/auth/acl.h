/* Mosquitto-compatible acl_file: parse "user" / "topic" / "pattern" lines and answer access checks. */
#ifndef MIDGE_AUTH_ACL_H
#define MIDGE_AUTH_ACL_H

#include <stdbool.h>
#include <stddef.h>

/* What a client asks to do. READ is checked per delivered message (the topic name), WRITE per PUBLISH. */
enum acl_access {
	ACL_READ = 1,
	ACL_WRITE = 2,
	ACL_SUBSCRIBE = 4,
};

enum acl_result {
	ACL_DENY = 0,
	ACL_ALLOW = 1,
};

struct acl_rule {
	char *topic;
	int access; /* ACL_READ | ACL_WRITE bits; 0 for "deny" */
};

struct acl_rules {
	struct acl_rule *v;
	size_t count, cap;
};

struct acl_user {
	char *username; /* NULL: the anonymous section at the top of the file */
	struct acl_rules rules;
};

/* A parsed acl_file. A zeroed struct acl is a valid empty one (which denies READ and WRITE). */
struct acl {
	struct acl_user *users;
	size_t nusers;
	struct acl_rules patterns; /* "pattern" lines, which apply to every client wherever they are written */
};

/* Parses acl_file text into a (which must be empty). name is used in messages: "NAME:LINE: ...".
 * Returns 0, or MIDGE_ERR_INVAL / MIDGE_ERR_NOMEM with a message in err; a is empty after a failure. */
int acl__parse_text(struct acl *a, const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Reads and parses the file at path. MIDGE_ERR_IO when it cannot be read ("PATH: reason"). */
int acl__parse_file(struct acl *a, const char *path, char *err, size_t errlen);

/* Mosquitto 2.0's acl_file decision for one client (username NULL = anonymous) and one topic:
 *  - ACL_SUBSCRIBE: always ACL_ALLOW. Mosquitto 2.0 grants every subscription and checks READ on each
 *    message delivered through it; the caller must do the same.
 *  - ACL_READ / ACL_WRITE on a topic name (no wildcards): first the client's own rules (its "user" section,
 *    or the anonymous section when username is NULL), then the patterns. In each list a matching "deny"
 *    rule denies at once, whatever its position; otherwise a matching rule with the access allows. Nothing
 *    matched: deny. Patterns are not used when client_id is NULL, or client id or username contains '+'
 *    or '#'; a pattern with %u never matches an anonymous client. */
enum acl_result acl__check(const struct acl *a, const char *client_id, const char *username, const char *topic,
                           int access);

/* Midge's SUBSCRIBE check, which Mosquitto does not make: ACL_ALLOW when the subscription filter could deliver
 * something, i.e. a READ rule of the client (its section, then the patterns, as acl__check) overlaps the filter
 * and no deny rule covers all of it. Each message delivered through it is still checked with ACL_READ. */
enum acl_result acl__check_subscribe(const struct acl *a, const char *client_id, const char *username,
                                     const char *filter);

/* Frees everything a holds and leaves it empty. */
void acl__fini(struct acl *a);

#endif
