/* The store's reads, for start-up and for a returning client: walks over committed rows on the reader
 * connection (WAL: they never wait for the store thread's commits, nor make it wait), and the asynchronous
 * fetch the store thread runs on the writer. */
#include "broker/store/store_int.h"
#include "midge/midge.h"

#include <stdlib.h>
#include <string.h>

/* A walk: the statement and its bindings, under the reader lock. */
struct walk {
	struct store *st;
	sqlite3_stmt *s;
};

static int walk_begin(struct walk *w, struct store *st, const char *sql)
{
	w->st = st;
	pthread_mutex_lock(&st->read_lock);
	if (sqlite3_prepare_v2(st->rdb, sql, -1, &w->s, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&st->read_lock);
		return MIDGE_ERR_IO;
	}
	return 0;
}

/* Ends a walk; returns n, or MIDGE_ERR_IO when the last step was an error. */
static long walk_end(struct walk *w, int step_rc, long n)
{
	sqlite3_finalize(w->s);
	pthread_mutex_unlock(&w->st->read_lock);
	return step_rc == SQLITE_DONE || step_rc == SQLITE_ROW ? n : MIDGE_ERR_IO;
}

static void bind_client(sqlite3_stmt *s, int i, const char *id, size_t len)
{
	sqlite3_bind_text(s, i, len ? id : "", (int)len, SQLITE_STATIC);
}

static const uint8_t *col_blob(sqlite3_stmt *s, int i, uint32_t *len)
{
	/* blob before bytes: SQLite's advice, so the length is that of the value returned. */
	const uint8_t *p = sqlite3_column_blob(s, i);
	*len = (uint32_t)sqlite3_column_bytes(s, i);
	return p;
}

/* The six message columns from i (see store_change.c: bind_msg); false when topic is NULL (no message). */
static bool col_msg(sqlite3_stmt *s, int i, struct store_msg *m)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL) return false;
	m->topic = col_blob(s, i, &m->topic_len);
	m->payload = col_blob(s, i + 1, &m->payload_len);
	m->props = col_blob(s, i + 2, &m->props_len);
	m->qos = (uint8_t)sqlite3_column_int(s, i + 3);
	m->retain = sqlite3_column_int(s, i + 4) != 0;
	m->expiry_ms = (uint64_t)sqlite3_column_int64(s, i + 5);
	return true;
}

/* The four delivery columns from i. Subscription ids are copied into *buf (freed by the caller) for alignment;
 * false when out of memory. */
static bool col_delivery(sqlite3_stmt *s, int i, struct store_delivery *d, uint32_t **buf)
{
	d->qos = (uint8_t)sqlite3_column_int(s, i);
	d->retain = sqlite3_column_int(s, i + 1) != 0;
	d->share = (uint32_t)sqlite3_column_int64(s, i + 2);
	uint32_t len;
	const uint8_t *p = col_blob(s, i + 3, &len);
	d->nsubids = (uint16_t)(len / sizeof(uint32_t));
	d->subids = NULL;
	if (!d->nsubids) return true;
	uint32_t *ids = realloc(*buf, (size_t)d->nsubids * sizeof(uint32_t));
	if (!ids) return false;
	memcpy(ids, p, (size_t)d->nsubids * sizeof(uint32_t));
	*buf = ids;
	d->subids = ids;
	return true;
}

long store__retain_each(struct store *st, store_msg_cb cb, void *arg)
{
	struct walk w;
	if (walk_begin(&w, st, "SELECT topic,payload,props,qos,retain,expiry_ms FROM retained ORDER BY topic"))
		return MIDGE_ERR_IO;
	long n = 0;
	int rc;
	while ((rc = sqlite3_step(w.s)) == SQLITE_ROW) {
		struct store_msg m;
		col_msg(w.s, 0, &m);
		n++;
		if (cb(arg, &m)) break;
	}
	return walk_end(&w, rc, n);
}

long store__sessions_each(struct store *st, store_session_cb cb, void *arg)
{
	struct walk w;
	if (walk_begin(&w, st,
	               "SELECT client_id,expiry_interval,expire_at_ms,username,will_delay,will_topic,will_payload,"
	               "will_props,will_qos,will_retain,will_expiry_ms,connected FROM sessions ORDER BY client_id"))
		return MIDGE_ERR_IO;
	long n = 0;
	int rc;
	while ((rc = sqlite3_step(w.s)) == SQLITE_ROW) {
		struct store_session s = {0};
		struct store_msg will;
		s.client_id = (const char *)sqlite3_column_text(w.s, 0);
		s.id_len = (size_t)sqlite3_column_bytes(w.s, 0);
		s.expiry_interval = (uint32_t)sqlite3_column_int64(w.s, 1);
		s.expire_at_ms = (uint64_t)sqlite3_column_int64(w.s, 2);
		if (sqlite3_column_type(w.s, 3) != SQLITE_NULL) {
			s.username = (const char *)sqlite3_column_text(w.s, 3);
			s.username_len = (size_t)sqlite3_column_bytes(w.s, 3);
		}
		s.will_delay = (uint32_t)sqlite3_column_int64(w.s, 4);
		s.will = col_msg(w.s, 5, &will) ? &will : NULL;
		s.connected = sqlite3_column_int(w.s, 11) != 0;
		n++;
		if (cb(arg, &s)) break;
	}
	return walk_end(&w, rc, n);
}

long store__subs_each(struct store *st, const char *id, size_t id_len, store_sub_cb cb, void *arg)
{
	struct walk w;
	const char *sql = id ? "SELECT client_id,filter,options,sub_id FROM subs WHERE client_id=?1 ORDER BY filter"
	                     : "SELECT client_id,filter,options,sub_id FROM subs ORDER BY client_id,filter";
	if (walk_begin(&w, st, sql)) return MIDGE_ERR_IO;
	if (id) bind_client(w.s, 1, id, id_len);
	long n = 0;
	int rc;
	while ((rc = sqlite3_step(w.s)) == SQLITE_ROW) {
		struct store_sub s;
		uint32_t flen;
		s.client_id = (const char *)sqlite3_column_text(w.s, 0);
		s.id_len = (size_t)sqlite3_column_bytes(w.s, 0);
		s.filter = col_blob(w.s, 1, &flen);
		s.filter_len = flen;
		s.options = (uint8_t)sqlite3_column_int(w.s, 2);
		s.sub_id = (uint32_t)sqlite3_column_int64(w.s, 3);
		n++;
		if (cb(arg, &s)) break;
	}
	return walk_end(&w, rc, n);
}

long store__out_rows(sqlite3_stmt *s, store_out_cb cb, void *arg, int *step_rc)
{
	long n = 0;
	int rc;
	uint32_t *subids = NULL;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_out o = {0};
		struct store_msg m;
		o.client_id = (const char *)sqlite3_column_text(s, 0);
		o.id_len = (size_t)sqlite3_column_bytes(s, 0);
		o.seq = (uint64_t)sqlite3_column_int64(s, 1);
		o.pid = (uint16_t)(sqlite3_column_int(s, 2) - OUT_PID_BIAS);
		o.state = (uint8_t)(sqlite3_column_int(s, 3) - OUT_STATE_BIAS);
		o.msg = col_msg(s, 4, &m) ? &m : NULL;
		if (!col_delivery(s, 10, &o.d, &subids)) {
			rc = SQLITE_NOMEM;
			break;
		}
		n++;
		if (cb(arg, &o)) break;
	}
	free(subids);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	*step_rc = rc;
	return n;
}

/* Binds STORE_OUT_SELECT's parameters. */
static void bind_out_select(sqlite3_stmt *s, const char *id, size_t id_len, uint64_t after, unsigned max)
{
	bind_client(s, 1, id, id_len);
	sqlite3_bind_int64(s, 2, after > INT64_MAX ? INT64_MAX : (sqlite3_int64)after);
	sqlite3_bind_int64(s, 3, max);
}

long store__out_load(struct store *st, const char *id, size_t id_len, uint64_t after, unsigned max, store_out_cb cb,
                     void *arg)
{
	struct walk w;
	if (walk_begin(&w, st, STORE_OUT_SELECT)) return MIDGE_ERR_IO;
	bind_out_select(w.s, id, id_len, after, max);
	int rc;
	long n = store__out_rows(w.s, cb, arg, &rc);
	return walk_end(&w, rc, n);
}

void store__fetch_run(struct store *st, const struct change *c)
{
	sqlite3_stmt *s = st->sql[SQL_OUT_FETCH];
	bind_out_select(s, c->id, c->id_len, c->seq, c->num);
	int rc;
	long n = store__out_rows(s, c->row, c->arg, &rc);
	c->fetched(c->arg, rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : MIDGE_ERR_IO, n);
}

int store__out_last(struct store *st, const char *id, size_t id_len, uint64_t *seq)
{
	struct walk w;
	if (walk_begin(&w, st, "SELECT coalesce(max(seq),0) FROM out WHERE client_id=?1")) return MIDGE_ERR_IO;
	bind_client(w.s, 1, id, id_len);
	int rc = sqlite3_step(w.s);
	if (rc == SQLITE_ROW) *seq = (uint64_t)sqlite3_column_int64(w.s, 0);
	return walk_end(&w, rc, 0) < 0 ? MIDGE_ERR_IO : 0;
}

int store__out_count(struct store *st, const char *id, size_t id_len, uint64_t after, uint64_t *rows, uint64_t *bytes)
{
	struct walk w;
	/* length() of a blob reads no overflow page: counting a queue of large messages stays cheap. */
	if (walk_begin(&w, st,
	               "SELECT count(*),coalesce(sum(length(topic)+length(payload)+ifnull(length(props),0)),0)"
	               " FROM out WHERE client_id=?1 AND seq>?2"))
		return MIDGE_ERR_IO;
	bind_client(w.s, 1, id, id_len);
	sqlite3_bind_int64(w.s, 2, after > INT64_MAX ? INT64_MAX : (sqlite3_int64)after);
	int rc = sqlite3_step(w.s);
	if (rc == SQLITE_ROW) {
		*rows = (uint64_t)sqlite3_column_int64(w.s, 0);
		*bytes = (uint64_t)sqlite3_column_int64(w.s, 1);
	}
	return walk_end(&w, rc, 0) < 0 ? MIDGE_ERR_IO : 0;
}

long store__qos2_in_each(struct store *st, const char *id, size_t id_len, store_pid_cb cb, void *arg)
{
	struct walk w;
	const char *sql = id ? "SELECT client_id,pid FROM qos2_in WHERE client_id=?1 ORDER BY pid"
	                     : "SELECT client_id,pid FROM qos2_in ORDER BY client_id,pid";
	if (walk_begin(&w, st, sql)) return MIDGE_ERR_IO;
	if (id) bind_client(w.s, 1, id, id_len);
	long n = 0;
	int rc;
	while ((rc = sqlite3_step(w.s)) == SQLITE_ROW) {
		const char *cid = (const char *)sqlite3_column_text(w.s, 0);
		size_t clen = (size_t)sqlite3_column_bytes(w.s, 0);
		n++;
		if (cb(arg, cid, clen, (uint16_t)sqlite3_column_int(w.s, 1))) break;
	}
	return walk_end(&w, rc, n);
}
