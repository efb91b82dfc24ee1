/* Durable state at start-up and shutdown: opening the store the configuration names and loading what it
 * holds back into the broker (retained messages, sessions, subscriptions, outgoing messages, incoming QoS 2
 * state). See persist.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"
#include "common/clock.h"
#include "common/topic.h"
#include "message.h"
#include "midge/midge.h"
#include "persist.h"
#include "persist_int.h"
#include "retain.h"
#include "session.h"
#include "store/store.h"
#include "subs.h"

/* The store's path: persistence_location joined to persistence_file, as Mosquitto joins them. Owned. */
static char *store_path(const struct config *cf)
{
	const char *dir = cf->persistence_location ? cf->persistence_location : "";
	const char *file = cf->persistence_file ? cf->persistence_file : "midge.db";
	size_t dl = strlen(dir);
	bool slash = dl && dir[dl - 1] != '/';
	size_t n = dl + slash + strlen(file) + 1;
	char *p = malloc(n);
	if (p) snprintf(p, n, "%s%s%s", dir, slash ? "/" : "", file);
	return p;
}

/* A missing persistence_location is made (one level, private), as a data directory should be. */
static int make_dir(struct broker *b, char *err, size_t errlen)
{
	const char *dir = b->conf.persistence_location;
	struct stat st;
	if (!dir || !*dir || stat(dir, &st) == 0) return 0;
	if (errno != ENOENT || mkdir(dir, 0700) != 0) {
		snprintf(err, errlen, "persistence_location '%s': %s", dir, strerror(errno));
		return MIDGE_ERR_IO;
	}
	log__printf(&b->log, LOG_T_NOTICE, "Created persistence_location %s.", dir);
	return 0;
}

struct load {
	struct broker *b;
	uint64_t now;
	size_t sessions, subs, retained, queued, spilled, inflight, qos2, wills;
	int err;
};

static int on_retained(void *arg, const struct store_msg *r)
{
	struct load *ld = arg;
	struct message *m = persist__message(r, true);
	if (!m) {
		ld->err = MIDGE_ERR_NOMEM;
		return 1;
	}
	if (!msg__expired(m, ld->now) && retain__set(ld->b->retained, m) == 0) ld->retained++;
	msg__unref(m);
	return 0;
}

/* A session as the store left it: offline. One that was connected when the broker stopped without closing
 * it (a crash) went offline now: its expiry starts now, and its will, which it did not take back with a
 * DISCONNECT, goes out after its delay (the expiry scan publishes it). */
static int on_session(void *arg, const struct store_session *r)
{
	struct load *ld = arg;
	struct broker *b = ld->b;
	struct session *s = session__new(r->client_id, r->id_len, false);
	if (!s || session__set_identity(s, r->username, 0, true)) goto nomem;
	s->expiry_interval = r->expiry_interval;
	s->stored = true;
	s->expire_at_ms = r->connected ? session__expire_at(b, s, ld->now) : persist__to_mono(r->expire_at_ms);
	if (r->will) {
		s->will = persist__message(r->will, false);
		if (!s->will || (r->username && !(s->will_user = strdup(r->username)))) goto nomem;
		s->will_expiry = (uint32_t)(r->will->expiry_ms / 1000u);
		s->will_retain = r->will->retain;
		s->will_at_ms = ld->now + (uint64_t)r->will_delay * 1000u;
		ld->wills++;
	}
	lock__acquire(&b->sessions.lock);
	sessions__insert_locked(&b->sessions, s);
	lock__release(&b->sessions.lock);
	lock__acquire(&s->lock);
	session__track_locked(b, s);
	lock__release(&s->lock);
	atomic_fetch_add(&b->stats.clients_persistent_offline, 1);
	session__unref(s); /* the table holds it */
	ld->sessions++;
	return 0;
nomem:
	session__unref(s);
	ld->err = MIDGE_ERR_NOMEM;
	return 1;
}

static struct session *find(struct broker *b, const char *id, size_t len)
{
	lock__acquire(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, id, len);
	lock__release(&b->sessions.lock);
	return s;
}

static int on_sub(void *arg, const struct store_sub *r)
{
	struct load *ld = arg;
	struct broker *b = ld->b;
	struct session *s = find(b, r->client_id, r->id_len);
	if (!s) return 0; /* a row without its session: left by nothing that is running, skipped */
	const uint8_t *g, *f;
	size_t gl, fl;
	int share = topic__parse_share(r->filter, r->filter_len, &g, &gl, &f, &fl);
	if (share < 0 || (share == 0 && !topic__valid_filter(r->filter, r->filter_len))) return 0;
	lock__acquire(&s->lock);
	int rc = session__remember_sub(s, r->filter, r->filter_len, r->options);
	if (rc >= 0)
		rc = share ? subs__add_shared(b->subs, g, gl, f, fl, s, r->options, r->sub_id)
			   : subs__add(b->subs, r->filter, r->filter_len, s, r->options, r->sub_id);
	lock__release(&s->lock);
	if (rc < 0) {
		ld->err = rc;
		return 1;
	}
	ld->subs++;
	return 0;
}

static int on_qos2(void *arg, const char *id, size_t len, uint16_t pid)
{
	struct load *ld = arg;
	struct session *s = find(ld->b, id, len);
	if (s) {
		session__qos2_add(s, pid);
		ld->qos2++;
	}
	return 0;
}

/* One session's outgoing messages, read a batch at a time: every one in flight, and queued ones until the
 * memory queue is full; the rest stay on disk (spilled) and are read back as the client drains its queue. */
struct out_load {
	struct load *ld;
	struct session *s;
	uint64_t last;
	bool full;
};

static int on_out(void *arg, const struct store_out *o)
{
	struct out_load *ol = arg;
	struct session *s = ol->s;
	if (!o->pid && (s->queued_count >= SESSION_QUEUE_MEM || s->queued_bytes >= SESSION_QUEUE_MEM_BYTES)) {
		ol->full = true;
		return 1;
	}
	struct message *m = o->msg ? persist__message(o->msg, true) : NULL;
	if (o->msg && !m) {
		ol->ld->err = MIDGE_ERR_NOMEM;
		return 1;
	}
	struct delivery d = {.qos = o->d.qos,
			     .retain = o->d.retain,
			     .share = o->d.share,
			     .nsubids = o->d.nsubids,
			     .subids = o->d.subids};
	int rc = session__restore_out(s, m, &d, o->seq, o->pid, o->state);
	msg__unref(m);
	if (rc) {
		ol->ld->err = rc;
		return 1;
	}
	ol->last = o->seq;
	if (o->pid) ol->ld->inflight++;
	else ol->ld->queued++;
	return 0;
}

static int load_out(struct load *ld, struct store *st, struct session *s)
{
	struct out_load ol = {.ld = ld, .s = s};
	for (;;) {
		long n = store__out_load(st, s->client_id, s->id_len, ol.last, 1024, on_out, &ol);
		if (n < 0) return (int)n;
		if (ld->err) return ld->err;
		if (ol.full || n < 1024) break;
	}
	uint64_t rows = 0, bytes = 0, last = 0;
	if (ol.full && store__out_count(st, s->client_id, s->id_len, ol.last, &rows, &bytes)) return MIDGE_ERR_IO;
	if (store__out_last(st, s->client_id, s->id_len, &last)) return MIDGE_ERR_IO;
	s->spilled = rows;
	/* In the measure of msg__size, which the queue limits and session__fetched use. */
	s->spilled_bytes = bytes + rows * (sizeof(struct message) + 2);
	s->mem_seq = ol.last;
	s->seq = last > ol.last ? last : ol.last;
	ld->spilled += rows;
	return 0;
}

/* Every session in the table (references taken), for the per-session loads. */
static struct session **all_sessions(struct broker *b, size_t *n)
{
	lock__acquire(&b->sessions.lock);
	struct session **v = malloc((b->sessions.count + 1) * sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; v && i < b->sessions.nbuckets; i++)
		for (struct session *s = b->sessions.buckets[i]; s; s = s->hash_next) v[k++] = session__ref(s);
	lock__release(&b->sessions.lock);
	*n = k;
	return v;
}

static int load(struct broker *b, struct store *st, char *err, size_t errlen)
{
	struct load ld = {.b = b, .now = clock__ms()};
	int rc = 0;
	if ((b->conf.retained_persistence && store__retain_each(st, on_retained, &ld) < 0) ||
	    store__sessions_each(st, on_session, &ld) < 0 || store__subs_each(st, NULL, 0, on_sub, &ld) < 0 ||
	    store__qos2_in_each(st, NULL, 0, on_qos2, &ld) < 0)
		rc = MIDGE_ERR_IO;
	if (!rc) rc = ld.err;
	size_t n = 0;
	struct session **v = rc ? NULL : all_sessions(b, &n);
	if (!rc && !v) rc = MIDGE_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!rc) rc = load_out(&ld, st, v[i]);
		session__unref(v[i]);
	}
	free(v);
	if (rc) {
		char e[256];
		store__last_error(st, e, sizeof(e));
		snprintf(err, errlen, "cannot load the store: %s", rc == MIDGE_ERR_NOMEM ? "out of memory" : e);
		return rc;
	}
	log__printf(&b->log, LOG_T_NOTICE,
		    "Restored %zu sessions (%zu subscriptions, %zu messages in flight, %zu queued of which %zu on disk "
		    "only, %zu wills due), %zu retained messages in %llu ms.",
		    ld.sessions, ld.subs, ld.inflight, ld.queued + ld.spilled, ld.spilled, ld.wills, ld.retained,
		    (unsigned long long)(clock__ms() - ld.now));
	return 0;
}

int persist__open(struct broker *b, char *err, size_t errlen)
{
	const struct config *cf = &b->conf;
	if (!cf->persistence) return 0;
	int rc = make_dir(b, err, errlen);
	if (rc) return rc;
	char *path = store_path(cf);
	if (!path) {
		snprintf(err, errlen, "out of memory");
		return MIDGE_ERR_NOMEM;
	}
	char moved[4096] = "";
	struct store_options opt = {.mode = cf->persistence_group ? STORE_GROUP : STORE_DURABLE,
				    .group_ms = cf->persistence_group_ms,
				    .max_bytes = cf->persistence_max_size,
				    .move_aside = cf->persistence_move_corrupt,
				    .moved = moved,
				    .moved_len = sizeof(moved)};
	struct store *st = store__open_opts(path, &opt, err, errlen);
	if (!st) {
		free(path);
		return MIDGE_ERR_IO;
	}
	if (moved[0])
		log__printf(&b->log, LOG_T_WARNING,
			    "The store %s could not be read; it was moved aside to %s (persistence_corrupt move_aside) and "
			    "midge starts with an empty store.",
			    path, moved);
	log__printf(&b->log, LOG_T_NOTICE, "Store %s opened (persistence_sync %s).", path,
		    cf->persistence_group ? "group" : "durable");
	free(path);
	rc = load(b, st, err, errlen);
	if (rc) {
		store__close(st);
		return rc;
	}
	b->store = st;
	return 0;
}

void persist__flush(struct broker *b)
{
	if (b->store) store__flush(b->store);
}

void persist__close(struct broker *b)
{
	store__close(b->store);
	b->store = NULL;
}
