/* The security snapshot: loading, swapping on reload, and the access checks. See security.h. */
#include "security.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "common/topic.h"
#include "config.h"
#include "midge/midge.h"

void security__unref(struct security *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
	for (size_t i = 0; i < s->ndomains; i++) {
		pw__table_fini(&s->dom[i].pw);
		acl__fini(&s->dom[i].acl);
	}
	for (size_t i = 0; i < s->nencrypted_topics; i++) free(s->encrypted_topics[i]);
	free(s->encrypted_topics);
	free(s);
}

/* Loads one domain's files; a file named twice is simply read twice (they are small). */
static int load_domain(struct sec_domain *d, bool anon, const char *pwfile, const char *aclfile, char *err,
		       size_t errlen)
{
	d->allow_anonymous = anon;
	int rc = 0;
	if (pwfile) {
		d->has_pw = true;
		if ((rc = pw__parse_file(&d->pw, pwfile, err, errlen))) return rc;
	}
	if (aclfile) {
		d->has_acl = true;
		if ((rc = acl__parse_file(&d->acl, aclfile, err, errlen))) return rc;
	}
	return 0;
}

int security__load(const struct config *cf, const struct listener_conf *const *lconf, size_t n,
		   struct security **out, char *err, size_t errlen)
{
	size_t nd = cf->per_listener_settings && n ? n : 1;
	struct security *s = calloc(1, sizeof(*s) + nd * sizeof(s->dom[0]));
	if (!s) return MIDGE_ERR_NOMEM;
	atomic_init(&s->refs, 1);
	s->ndomains = nd;
	if (cf->nencrypted_topics) {
		s->encrypted_topics = calloc(cf->nencrypted_topics, sizeof(char *));
		if (!s->encrypted_topics) goto nomem;
		for (; s->nencrypted_topics < cf->nencrypted_topics; s->nencrypted_topics++)
			if (!(s->encrypted_topics[s->nencrypted_topics] = strdup(cf->encrypted_topics[s->nencrypted_topics])))
				goto nomem;
	}
	for (size_t i = 0; i < nd; i++) {
		const struct listener_conf *l = cf->per_listener_settings ? lconf[i] : NULL;
		char e[480] = "";
		int rc = load_domain(&s->dom[i], config__allow_anonymous(cf, l), config__password_file(cf, l),
				     config__acl_file(cf, l), e, sizeof(e));
		if (rc) {
			if (l) snprintf(err, errlen, "%s (listener of %s:%d)", e, l->file ? l->file : "?", l->line);
			else snprintf(err, errlen, "%s", e);
			security__unref(s);
			return rc;
		}
	}
	*out = s;
	return 0;
nomem:
	security__unref(s);
	return MIDGE_ERR_NOMEM;
}

static bool any_acl(const struct security *s)
{
	for (size_t i = 0; s && i < s->ndomains; i++)
		if (s->dom[i].has_acl) return true;
	return false;
}

int security__init(struct broker *b, char *err, size_t errlen)
{
	pthread_rwlock_init(&b->sec_lock, NULL);
	b->sec_lock_ready = true;
	const struct listener_conf **lc = calloc(b->conf.nlisteners + 1, sizeof(*lc));
	if (!lc) return MIDGE_ERR_NOMEM;
	for (size_t i = 0; i < b->conf.nlisteners; i++) lc[i] = &b->conf.listeners[i];
	int rc = security__load(&b->conf, lc, b->conf.nlisteners, &b->sec, err, errlen);
	free(lc);
	atomic_store(&b->sec_has_acl, any_acl(b->sec));
	atomic_store(&b->sec_has_encrypted_topics, b->sec && b->sec->nencrypted_topics);
	return rc;
}

void security__fini(struct broker *b)
{
	security__unref(b->sec);
	b->sec = NULL;
	if (b->sec_lock_ready) pthread_rwlock_destroy(&b->sec_lock);
	b->sec_lock_ready = false;
}

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

void security__reload(struct broker *b, const struct config *nc)
{
	/* Listeners stay as they were opened; each takes the settings of the new listener at the same port
	 * and address, or, when that one is gone from the file, the global ones. */
	size_t n = b->conf.nlisteners;
	const struct listener_conf **lc = calloc(n + 1, sizeof(*lc));
	if (!lc) return;
	for (size_t i = 0; i < n; i++) {
		const struct listener_conf *old = &b->conf.listeners[i];
		for (size_t k = 0; k < nc->nlisteners && !lc[i]; k++)
			if (nc->listeners[k].port == old->port && same_str(nc->listeners[k].bind_address, old->bind_address))
				lc[i] = &nc->listeners[k];
		if (!lc[i]) lc[i] = old;
	}
	if (nc->per_listener_settings != b->conf.per_listener_settings) {
		free(lc);
		log__printf(&b->log, LOG_T_ERR,
			    "Error reloading security settings, the old ones stay: per_listener_settings cannot change "
			    "without a restart.");
		return;
	}
	struct config tmp = *nc;
	/* Local only mode (decided at start, main.c) lets anonymous clients in unless the file says not. */
	if (b->local_only && tmp.allow_anonymous == -1) tmp.allow_anonymous = 1;
	struct security *s = NULL;
	char err[512];
	int rc = security__load(&tmp, lc, n, &s, err, sizeof(err));
	free(lc);
	if (rc) {
		log__printf(&b->log, LOG_T_ERR, "Error reloading security settings, the old ones stay: %s", err);
		return;
	}
	pthread_rwlock_wrlock(&b->sec_lock);
	struct security *old = b->sec;
	b->sec = s;
	/* A delivery racing the swap is checked by the old rules or the new ones, both of them whole. */
	atomic_store(&b->sec_has_acl, any_acl(s));
	atomic_store(&b->sec_has_encrypted_topics, s->nencrypted_topics > 0);
	pthread_rwlock_unlock(&b->sec_lock);
	security__unref(old);
	log__printf(&b->log, LOG_T_NOTICE, "Security settings reloaded.");
}

struct security *security__get(struct broker *b)
{
	pthread_rwlock_rdlock(&b->sec_lock);
	struct security *s = security__ref(b->sec);
	pthread_rwlock_unlock(&b->sec_lock);
	return s;
}

size_t security__domain(const struct broker *b, const struct listener_rt *l)
{
	if (!b->conf.per_listener_settings || !l || !b->listeners) return 0;
	return (size_t)(l - b->listeners);
}

bool security__has_acl(struct broker *b)
{
	return atomic_load_explicit(&b->sec_has_acl, memory_order_relaxed);
}

/* Runs check on the domain's ACL under the read lock; allowed when that domain has no acl_file. */
static bool with_acl(struct broker *b, size_t dom, const char *client_id, const char *username, const char *what,
		     size_t len, int access, bool subscribe)
{
	/* Topics are length-counted on the wire; the ACL code wants C strings. */
	char stackbuf[256];
	char *t = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
	if (!t) return false;
	memcpy(t, what, len);
	t[len] = 0;
	bool ok = true;
	pthread_rwlock_rdlock(&b->sec_lock);
	struct security *s = b->sec;
	if (!s || dom >= s->ndomains) ok = false; /* cannot happen: fail closed all the same */
	else if (s->dom[dom].has_acl) {
		const struct acl *a = &s->dom[dom].acl;
		ok = (subscribe ? acl__check_subscribe(a, client_id, username, t)
				: acl__check(a, client_id, username, t, access)) == ACL_ALLOW;
	}
	pthread_rwlock_unlock(&b->sec_lock);
	if (t != stackbuf) free(t);
	return ok;
}

bool security__allowed(struct broker *b, size_t dom, const char *client_id, const char *username,
		       const char *topic, size_t topic_len, int access)
{
	if (!security__has_acl(b)) return true;
	return with_acl(b, dom, client_id, username, topic, topic_len, access, false);
}

bool security__may_subscribe(struct broker *b, size_t dom, const char *client_id, const char *username,
			     const char *filter, size_t filter_len)
{
	if (!security__has_acl(b)) return true;
	return with_acl(b, dom, client_id, username, filter, filter_len, 0, true);
}

bool security__encrypted_topic(struct broker *b, const uint8_t *topic, size_t len)
{
	if (!atomic_load_explicit(&b->sec_has_encrypted_topics, memory_order_relaxed)) return false;
	bool hit = false;
	pthread_rwlock_rdlock(&b->sec_lock);
	const struct security *s = b->sec;
	for (size_t i = 0; s && !hit && i < s->nencrypted_topics; i++) {
		const char *f = s->encrypted_topics[i];
		hit = topic__matches((const uint8_t *)f, strlen(f), topic, len);
	}
	pthread_rwlock_unlock(&b->sec_lock);
	return hit;
}
