/* Session objects and the client-id table: see session.h. */
#include "session.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster.h"
#include "common/topic.h"
#include "message.h"
#include "midge/midge.h"
#include "persist.h"
#include "subs.h"
#include "worker.h"

struct session *session__new(const char *client_id, size_t id_len, bool clean)
{
	if (id_len > UINT16_MAX) return NULL; /* MQTT strings are shorter */
	/* The id starts where the fields end, not after the struct's tail padding: a byte or two can keep an
	 * idle client's session in a smaller malloc size class. */
	size_t size = offsetof(struct session, client_id) + id_len + 1;
	struct session *s = calloc(1, size > sizeof(*s) ? size : sizeof(*s));
	if (!s) return NULL;
	memcpy(s->client_id, client_id, id_len);
	s->client_id[id_len] = 0;
	s->id_len = id_len;
	atomic_init(&s->refs, 1);
	s->clean = clean;
	s->expiry_interval = clean ? 0 : UINT32_MAX;
	atomic_init(&s->online, false);
	list__init(&s->subs);
	list__init(&s->inflight);
	list__init(&s->unsent);
	list__init(&s->queue);
	return s;
}

/* Drops every queued and inflight message. Session lock held (or last reference). */
static void drop_messages(struct session *s)
{
	struct list *n;
	while ((n = list__pop(&s->inflight)) || (n = list__pop(&s->unsent))) {
		struct inflight *f = list_entry(n, struct inflight, node);
		msg__unref(f->msg);
		dmeta__fini(&f->d);
		free(f);
	}
	while ((n = list__pop(&s->queue))) {
		struct queued *q = list_entry(n, struct queued, node);
		msg__unref(q->msg);
		dmeta__fini(&q->d);
		free(q);
	}
	s->inflight_count = s->queued_count = s->held_count = s->unsent_count = 0;
	s->queued_bytes = 0;
	s->spilled = s->spilled_bytes = 0;
	idset__fini(&s->out_pids);
}

/* Drops s's index; the list's entries are then freed by the caller. */
static void index_drop(struct session *s)
{
	free(s->sub_index);
	s->sub_index = NULL;
}

void session__unref(struct session *s)
{
	if (!s) return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
	drop_messages(s);
	index_drop(s);
	struct list *n;
	while ((n = list__pop(&s->subs))) free(list_entry(n, struct sess_sub, node));
	idset__fini(&s->in_qos2);
	msg__unref(s->will);
	free(s->username);
	free(s->will_user);
	free(s);
}

int session__set_identity(struct session *s, const char *username, size_t domain, bool exposed)
{
	char *u = username ? strdup(username) : NULL;
	if (username && !u) return MIDGE_ERR_NOMEM;
	lock__acquire(&s->id_lock);
	free(s->username);
	s->username = u;
	s->domain = (uint32_t)domain;
	atomic_store(&s->exposed, exposed);
	lock__release(&s->id_lock);
	return 0;
}

void session__end(struct broker *b, struct session *s)
{
	lock__acquire(&s->lock);
	s->dead = true;
	index_drop(s);
	struct list *n;
	while ((n = list__pop(&s->subs))) {
		struct sess_sub *ss = list_entry(n, struct sess_sub, node);
		session__unsubscribe_locked(b, s, (const uint8_t *)ss->filter, ss->len);
		free(ss);
	}
	drop_messages(s);
	idset__fini(&s->in_qos2);
	persist__session_del(b, s);
	cluster__session_end(b->cluster, s);
	/* A will still waiting for its delay goes out now: the session ends first (MQTT 5.0 3.1.3.2.2). */
	struct message *will = s->will;
	uint32_t will_expiry = s->will_expiry;
	bool will_retain = s->will_retain;
	char *will_user = s->will_user;
	size_t will_domain = s->will_domain;
	s->will = NULL;
	s->will_user = NULL;
	session__track_locked(b, s);
	lock__release(&s->lock);
	if (will) {
		worker__publish_will(b, NULL, will, will_expiry, will_retain, s, will_user, will_domain);
		msg__unref(will);
	}
	free(will_user);
}

/* Never (0) for an infinite Session Expiry Interval unless persistent_client_expiration bounds those, as
 * Mosquitto does. */
uint64_t session__expire_at(struct broker *b, const struct session *s, uint64_t now)
{
	uint64_t secs = s->expiry_interval;
	if (s->expiry_interval == UINT32_MAX) {
		if (b->conf.persistent_client_expiration <= 0) return 0;
		secs = (uint64_t)b->conf.persistent_client_expiration;
	}
	/* Past a million years is never: the deadline must not wrap around. */
	if (secs > 31536000000000ull) return 0;
	return now + secs * 1000u;
}

void session__track_locked(struct broker *b, struct session *s)
{
	bool want = !s->dead && !s->conn && (s->expire_at_ms || s->will);
	if (want == s->tracked) return;
	s->tracked = want;
	atomic_fetch_add(&b->stats.offline_deadlines, want ? 1 : -1);
}

void session__unsubscribe_locked(struct broker *b, struct session *s, const uint8_t *filter, size_t len)
{
	const uint8_t *g, *f;
	size_t gl, fl;
	if (topic__parse_share(filter, len, &g, &gl, &f, &fl) == 1) subs__remove_shared(b->subs, g, gl, f, fl, s);
	else subs__remove(b->subs, filter, len, s);
}

/* Subscriptions a session has before its filters are indexed. */
#define SUB_INDEX_MIN 16u

static uint32_t hash_filter(const uint8_t *p, size_t len)
{
	/* FNV-1a. A client choosing colliding filters slows only its own session's SUBSCRIBEs. */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
	return h;
}

static void index_insert(struct sub_index *x, struct sess_sub *ss)
{
	struct sess_sub **b = &x->buckets[ss->hash & (x->nbuckets - 1)];
	ss->hnext = *b;
	*b = ss;
	x->count++;
}

/* (Re)builds s's index with nbuckets for every subscription of the list; on failure the old one stays. */
static void index_build(struct session *s, uint32_t nbuckets)
{
	struct sub_index *x = calloc(1, sizeof(*x) + nbuckets * sizeof(x->buckets[0]));
	if (!x) return;
	x->nbuckets = nbuckets;
	struct list *pos;
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) index_insert(x, list_entry(pos, struct sess_sub, node));
	free(s->sub_index);
	s->sub_index = x;
}

static struct sess_sub *find_sub(struct session *s, const uint8_t *filter, size_t len, uint32_t h, size_t *count)
{
	if (s->sub_index) {
		for (struct sess_sub *ss = s->sub_index->buckets[h & (s->sub_index->nbuckets - 1)]; ss; ss = ss->hnext)
			if (ss->hash == h && ss->len == len && memcmp(ss->filter, filter, len) == 0) return ss;
		return NULL;
	}
	size_t n = 0;
	struct list *pos;
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next, n++) {
		struct sess_sub *ss = list_entry(pos, struct sess_sub, node);
		if (ss->len == len && memcmp(ss->filter, filter, len) == 0) return ss;
	}
	*count = n;
	return NULL;
}

int session__remember_sub(struct session *s, const uint8_t *filter, size_t len, uint8_t options)
{
	uint32_t h = hash_filter(filter, len);
	size_t count = 0;
	struct sess_sub *ss = find_sub(s, filter, len, h, &count);
	if (ss) {
		ss->options = options;
		return 0;
	}
	if (!(ss = malloc(sizeof(*ss) + len + 1))) return MIDGE_ERR_NOMEM;
	ss->options = options;
	ss->len = (uint16_t)len;
	ss->hash = h;
	memcpy(ss->filter, filter, len);
	ss->filter[len] = 0;
	list__add_tail(&s->subs, &ss->node);
	struct sub_index *x = s->sub_index;
	if (x) {
		index_insert(x, ss);
		if (x->count > x->nbuckets && x->nbuckets <= UINT32_MAX / 2) index_build(s, x->nbuckets * 2);
	} else if (count + 1 >= SUB_INDEX_MIN) {
		index_build(s, 2 * SUB_INDEX_MIN);
	}
	return 1;
}

bool session__forget_sub(struct session *s, const uint8_t *filter, size_t len)
{
	uint32_t h = hash_filter(filter, len);
	size_t count = 0;
	struct sess_sub *ss = find_sub(s, filter, len, h, &count);
	if (!ss) return false;
	struct sub_index *x = s->sub_index;
	if (x) {
		struct sess_sub **pp = &x->buckets[h & (x->nbuckets - 1)];
		while (*pp != ss)
			pp = &(*pp)->hnext;
		*pp = ss->hnext;
		x->count--;
	}
	list__del(&ss->node);
	free(ss);
	/* A session that unsubscribed from most of them goes back to the list alone. */
	if (x && x->count < SUB_INDEX_MIN / 2) {
		free(x);
		s->sub_index = NULL;
	}
	return true;
}


bool session__qos2_add(struct session *s, uint16_t pid)
{
	/* Out of memory counts as new: a resend might then be delivered twice, never lost. */
	return idset__add(&s->in_qos2, pid) != 0;
}

bool session__qos2_remove(struct session *s, uint16_t pid) { return idset__remove(&s->in_qos2, pid); }

/* ---- the table ---- */

static size_t hash_id(const char *p, size_t len)
{
	/* FNV-1a: client ids are short and this spreads them well enough. */
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return (size_t)h;
}

int sessions__init(struct session_table *t)
{
	t->nbuckets = 1024;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : MIDGE_ERR_NOMEM;
}

void sessions__fini(struct session_table *t)
{
	for (size_t i = 0; i < t->nbuckets && t->buckets; i++) {
		struct session *s = t->buckets[i];
		while (s) {
			struct session *next = s->hash_next;
			s->in_table = false;
			session__unref(s);
			s = next;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
}

struct session *sessions__find_locked(struct session_table *t, const char *id, size_t len)
{
	for (struct session *s = t->buckets[hash_id(id, len) % t->nbuckets]; s; s = s->hash_next)
		if (s->id_len == len && memcmp(s->client_id, id, len) == 0) return s;
	return NULL;
}

static void grow(struct session_table *t)
{
	size_t nb = t->nbuckets * 2;
	struct session **b = calloc(nb, sizeof(*b));
	if (!b) return; /* keep the longer chains */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct session *s = t->buckets[i];
		while (s) {
			struct session *next = s->hash_next;
			size_t h = hash_id(s->client_id, s->id_len) % nb;
			s->hash_next = b[h];
			b[h] = s;
			s = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

int sessions__insert_locked(struct session_table *t, struct session *s)
{
	if (t->count >= t->nbuckets) grow(t);
	size_t h = hash_id(s->client_id, s->id_len) % t->nbuckets;
	s->hash_next = t->buckets[h];
	t->buckets[h] = session__ref(s);
	s->in_table = true;
	t->count++;
	return 0;
}

void sessions__remove_locked(struct session_table *t, struct session *s)
{
	if (!s->in_table) return;
	struct session **pp = &t->buckets[hash_id(s->client_id, s->id_len) % t->nbuckets];
	while (*pp && *pp != s) pp = &(*pp)->hash_next;
	if (!*pp) return;
	*pp = s->hash_next;
	s->hash_next = NULL;
	s->in_table = false;
	t->count--;
	session__unref(s);
}
