/* The store's writes: each enqueue copies its arguments into one change, and the store thread applies the
 * change with the writer's prepared statements. */
#include "broker/store/store_int.h"
#include "midge/midge.h"

#include <stdlib.h>
#include <string.h>

static const char *const sql_text[SQL_COUNT] = {
    [SQL_RETAIN_SET] = "INSERT OR REPLACE INTO retained(topic,payload,props,qos,retain,expiry_ms)"
                       " VALUES(?1,?2,?3,?4,?5,?6)",
    [SQL_RETAIN_CLEAR] = "DELETE FROM retained WHERE topic=?1",
    [SQL_SESSION_PUT] = "INSERT OR REPLACE INTO sessions(client_id,expiry_interval,expire_at_ms,username,will_delay,"
                        "will_topic,will_payload,will_props,will_qos,will_retain,will_expiry_ms,connected)"
                        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [SQL_SESSION_DEL] = "DELETE FROM sessions WHERE client_id=?1",
    [SQL_SESSION_DEL_SUBS] = "DELETE FROM subs WHERE client_id=?1",
    [SQL_SESSION_DEL_OUT] = "DELETE FROM out WHERE client_id=?1",
    [SQL_SESSION_DEL_QOS2] = "DELETE FROM qos2_in WHERE client_id=?1",
    [SQL_SUB_PUT] = "INSERT OR REPLACE INTO subs(client_id,filter,options,sub_id) VALUES(?1,?2,?3,?4)",
    [SQL_SUB_DEL] = "DELETE FROM subs WHERE client_id=?1 AND filter=?2",
    [SQL_OUT_PUT] = "INSERT OR REPLACE INTO out(client_id,seq,pid,state,topic,payload,props,qos,retain,expiry_ms,"
                    "d_qos,d_retain,d_share,subids) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
    [SQL_OUT_MARK] = "UPDATE out SET pid=?3,state=?4 WHERE client_id=?1 AND seq=?2",
    [SQL_OUT_MARK_DROP] = "UPDATE out SET pid=?3,state=?4,topic=NULL,payload=NULL,props=NULL,qos=NULL,retain=NULL,"
                          "expiry_ms=NULL WHERE client_id=?1 AND seq=?2",
    [SQL_OUT_DEL] = "DELETE FROM out WHERE client_id=?1 AND seq=?2",
    [SQL_QOS2_PUT] = "INSERT OR IGNORE INTO qos2_in(client_id,pid) VALUES(?1,?2)",
    [SQL_QOS2_DEL] = "DELETE FROM qos2_in WHERE client_id=?1 AND pid=?2",
    [SQL_OUT_FETCH] = STORE_OUT_SELECT,
    [SQL_PAGE_COUNT] = "PRAGMA page_count",
};

int store__prepare(struct store *st)
{
	for (int i = 0; i < SQL_COUNT; i++) {
		int rc = sqlite3_prepare_v3(st->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->sql[i], NULL);
		if (rc != SQLITE_OK) return rc;
	}
	return SQLITE_OK;
}

/* ---- building a change ---- */

/* The longest payload or properties a change takes (MQTT's largest packet), and the longest client id, username,
 * topic or filter (an MQTT string). A row within them stays under SQLite's limit (SQLITE_MAX_LENGTH, 10^9), so
 * that one row too long cannot fail the whole batch of other clients' changes. */
#define MAX_BYTES 268435455u
#define MAX_STRING 65535u

/* The bytes a change copies of a message. */
static size_t msg_size(const struct store_msg *m)
{
	return m ? (size_t)m->topic_len + m->payload_len + (m->props ? m->props_len : 0) : 0;
}

/* A message whose lengths fit (see MAX_BYTES) and whose pointers are there when their lengths say so. */
static bool msg_ok(const struct store_msg *m)
{
	return m->topic_len <= MAX_STRING && m->payload_len <= MAX_BYTES && (!m->props || m->props_len <= MAX_BYTES) &&
	       (m->topic || !m->topic_len) && (m->payload || !m->payload_len);
}

static void *copy(uint8_t **cur, const void *src, size_t len)
{
	void *at = *cur;
	if (len) memcpy(at, src, len);
	*cur += len;
	return at;
}

/* A change with room for extra bytes after the fixed part; subscription ids come first, so they are aligned. */
static struct change *change_new(enum change_kind kind, size_t extra, store_done_cb cb, void *arg)
{
	struct change *c = calloc(1, sizeof(*c) + extra);
	if (!c) return NULL;
	c->kind = kind;
	c->cb = cb;
	c->arg = arg;
	return c;
}

static void set_msg(struct change *c, uint8_t **cur, const struct store_msg *m)
{
	c->has_msg = true;
	c->msg = *m;
	c->msg.topic = copy(cur, m->topic, m->topic_len);
	c->msg.payload = copy(cur, m->payload, m->payload_len);
	c->msg.props = m->props ? copy(cur, m->props, m->props_len) : NULL;
	if (!m->props) c->msg.props_len = 0;
}

static void set_id(struct change *c, uint8_t **cur, const char *id, size_t len)
{
	c->id = copy(cur, id, len);
	c->id_len = len;
}

/* A change that names a client id, and maybe a packet id or seq. */
static int enqueue_id(struct store *st, enum change_kind kind, const char *id, size_t id_len, uint64_t seq,
                      uint16_t pid, const uint8_t *key, size_t key_len, store_done_cb cb, void *arg)
{
	if ((!id && id_len) || (!key && key_len) || id_len > MAX_STRING || key_len > MAX_STRING) return MIDGE_ERR_INVAL;
	struct change *c = change_new(kind, id_len + key_len, cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	set_id(c, &cur, id, id_len);
	c->key = copy(&cur, key, key_len);
	c->key_len = key_len;
	c->seq = seq;
	c->pid = pid;
	return store__enqueue(st, c, false);
}

int store__retain_set(struct store *st, const struct store_msg *m, store_done_cb cb, void *arg)
{
	if (!msg_ok(m)) return MIDGE_ERR_INVAL;
	struct change *c = change_new(CH_RETAIN_SET, msg_size(m), cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	set_msg(c, &cur, m);
	return store__enqueue(st, c, false);
}

int store__retain_clear(struct store *st, const uint8_t *topic, size_t len, store_done_cb cb, void *arg)
{
	return enqueue_id(st, CH_RETAIN_CLEAR, NULL, 0, 0, 0, topic, len, cb, arg);
}

int store__session_put(struct store *st, const struct store_session *s, store_done_cb cb, void *arg)
{
	size_t ulen = s->username ? s->username_len : 0;
	if ((s->will && !msg_ok(s->will)) || s->id_len > MAX_STRING || ulen > MAX_STRING ||
	    (!s->client_id && s->id_len))
		return MIDGE_ERR_INVAL;
	struct change *c = change_new(CH_SESSION_PUT, s->id_len + ulen + msg_size(s->will), cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	set_id(c, &cur, s->client_id, s->id_len);
	c->username = s->username ? copy(&cur, s->username, ulen) : NULL;
	c->username_len = ulen;
	if (s->will) set_msg(c, &cur, s->will);
	c->num = s->expiry_interval;
	c->expire_at_ms = s->expire_at_ms;
	c->will_delay = s->will_delay;
	c->connected = s->connected;
	return store__enqueue(st, c, false);
}

int store__session_del(struct store *st, const char *id, size_t id_len, store_done_cb cb, void *arg)
{
	return enqueue_id(st, CH_SESSION_DEL, id, id_len, 0, 0, NULL, 0, cb, arg);
}

int store__sub_put(struct store *st, const struct store_sub *s, store_done_cb cb, void *arg)
{
	if (s->id_len > MAX_STRING || s->filter_len > MAX_STRING || (!s->client_id && s->id_len) ||
	    (!s->filter && s->filter_len))
		return MIDGE_ERR_INVAL;
	struct change *c = change_new(CH_SUB_PUT, s->id_len + s->filter_len, cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	set_id(c, &cur, s->client_id, s->id_len);
	c->key = copy(&cur, s->filter, s->filter_len);
	c->key_len = s->filter_len;
	c->options = s->options;
	c->num = s->sub_id;
	return store__enqueue(st, c, false);
}

int store__sub_del(struct store *st, const char *id, size_t id_len, const uint8_t *filter, size_t filter_len,
                   store_done_cb cb, void *arg)
{
	return enqueue_id(st, CH_SUB_DEL, id, id_len, 0, 0, filter, filter_len, cb, arg);
}

/* seq as store_out says: 1 .. 2^63-1 (SQLite's integers are signed). */
static bool seq_ok(uint64_t seq)
{
	return seq >= 1 && seq <= INT64_MAX;
}

int store__out_put(struct store *st, const struct store_out *o, store_done_cb cb, void *arg)
{
	if (!o->msg || !seq_ok(o->seq) || (o->d.nsubids && !o->d.subids) || !msg_ok(o->msg) || o->id_len > MAX_STRING ||
	    (!o->client_id && o->id_len))
		return MIDGE_ERR_INVAL;
	size_t subids = (size_t)o->d.nsubids * sizeof(uint32_t);
	struct change *c = change_new(CH_OUT_PUT, subids + o->id_len + msg_size(o->msg), cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	c->d = o->d;
	c->d.subids = o->d.nsubids ? copy(&cur, o->d.subids, subids) : NULL;
	set_id(c, &cur, o->client_id, o->id_len);
	set_msg(c, &cur, o->msg);
	c->seq = o->seq;
	c->pid = o->pid;
	c->state = o->state;
	return store__enqueue(st, c, false);
}

int store__out_mark(struct store *st, const char *id, size_t id_len, uint64_t seq, uint16_t pid, uint8_t state,
                    bool drop_msg, store_done_cb cb, void *arg)
{
	if (!seq_ok(seq) || id_len > MAX_STRING || (!id && id_len)) return MIDGE_ERR_INVAL;
	struct change *c = change_new(CH_OUT_MARK, id_len, cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	set_id(c, &cur, id, id_len);
	c->seq = seq;
	c->pid = pid;
	c->state = state;
	c->drop_msg = drop_msg;
	return store__enqueue(st, c, false);
}

int store__out_del(struct store *st, const char *id, size_t id_len, uint64_t seq, store_done_cb cb, void *arg)
{
	if (!seq_ok(seq)) return MIDGE_ERR_INVAL;
	return enqueue_id(st, CH_OUT_DEL, id, id_len, seq, 0, NULL, 0, cb, arg);
}

int store__barrier(struct store *st, store_done_cb cb, void *arg)
{
	struct change *c = change_new(CH_NOOP, 0, cb, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	return store__enqueue(st, c, false);
}

int store__out_fetch(struct store *st, const char *id, size_t id_len, uint64_t after, unsigned max, store_out_cb row,
                     store_fetch_done done, void *arg)
{
	if (!row || !done || id_len > MAX_STRING || (!id && id_len)) return MIDGE_ERR_INVAL;
	struct change *c = change_new(CH_FETCH, id_len, NULL, arg);
	if (!c) return MIDGE_ERR_NOMEM;
	uint8_t *cur = c->data;
	set_id(c, &cur, id, id_len);
	c->seq = after > INT64_MAX ? INT64_MAX : after; /* no row is past it */
	c->num = max;
	c->row = row;
	c->fetched = done;
	/* Urgent: a client waits for its messages, not for the group timer. */
	return store__enqueue(st, c, true);
}

int store__qos2_in_put(struct store *st, const char *id, size_t id_len, uint16_t pid, store_done_cb cb, void *arg)
{
	return enqueue_id(st, CH_QOS2_PUT, id, id_len, 0, pid, NULL, 0, cb, arg);
}

int store__qos2_in_del(struct store *st, const char *id, size_t id_len, uint16_t pid, store_done_cb cb, void *arg)
{
	return enqueue_id(st, CH_QOS2_DEL, id, id_len, 0, pid, NULL, 0, cb, arg);
}

/* ---- applying a change (store thread) ---- */

/* Binds bytes that may be empty but are not NULL: SQLite would store a NULL pointer as NULL. */
static void bind_bytes(sqlite3_stmt *s, int i, const void *p, size_t len)
{
	sqlite3_bind_blob(s, i, len ? p : "", (int)len, SQLITE_STATIC);
}

/* The six message columns from i: topic, payload, props, qos, retain, expiry_ms; all NULL without m. */
static void bind_msg(sqlite3_stmt *s, int i, const struct store_msg *m)
{
	if (!m) {
		for (int k = 0; k < 6; k++)
			sqlite3_bind_null(s, i + k);
		return;
	}
	bind_bytes(s, i, m->topic, m->topic_len);
	bind_bytes(s, i + 1, m->payload, m->payload_len);
	if (m->props)
		bind_bytes(s, i + 2, m->props, m->props_len);
	else
		sqlite3_bind_null(s, i + 2);
	sqlite3_bind_int(s, i + 3, m->qos);
	sqlite3_bind_int(s, i + 4, m->retain);
	sqlite3_bind_int64(s, i + 5, (sqlite3_int64)m->expiry_ms);
}

/* The four delivery columns from i: d_qos, d_retain, d_share, subids (host-order u32s). */
static void bind_delivery(sqlite3_stmt *s, int i, const struct store_delivery *d)
{
	sqlite3_bind_int(s, i, d->qos);
	sqlite3_bind_int(s, i + 1, d->retain);
	sqlite3_bind_int64(s, i + 2, d->share);
	if (d->nsubids)
		sqlite3_bind_blob(s, i + 3, d->subids, (int)(d->nsubids * sizeof(uint32_t)), SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i + 3);
}

static void bind_id(sqlite3_stmt *s, const struct change *c)
{
	sqlite3_bind_text(s, 1, c->id_len ? c->id : "", (int)c->id_len, SQLITE_STATIC);
}

static int run(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store__apply(struct store *st, const struct change *c)
{
	sqlite3_stmt *s;
	const struct store_msg *m = c->has_msg ? &c->msg : NULL;
	switch (c->kind) {
	case CH_NOOP:
	case CH_FETCH:
	case CH_GROUP:
		return SQLITE_OK;
	case CH_RETAIN_SET:
		s = st->sql[SQL_RETAIN_SET];
		bind_msg(s, 1, m);
		return run(s);
	case CH_RETAIN_CLEAR:
		s = st->sql[SQL_RETAIN_CLEAR];
		bind_bytes(s, 1, c->key, c->key_len);
		return run(s);
	case CH_SESSION_PUT:
		s = st->sql[SQL_SESSION_PUT];
		bind_id(s, c);
		sqlite3_bind_int64(s, 2, c->num);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)c->expire_at_ms);
		if (c->username)
			sqlite3_bind_text(s, 4, c->username_len ? c->username : "", (int)c->username_len,
			                  SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, c->will_delay);
		bind_msg(s, 6, m);
		sqlite3_bind_int(s, 12, c->connected);
		return run(s);
	case CH_SESSION_DEL:
		for (int i = SQL_SESSION_DEL; i <= SQL_SESSION_DEL_QOS2; i++) {
			bind_id(st->sql[i], c);
			int rc = run(st->sql[i]);
			if (rc != SQLITE_OK) return rc;
		}
		return SQLITE_OK;
	case CH_SUB_PUT:
		s = st->sql[SQL_SUB_PUT];
		bind_id(s, c);
		bind_bytes(s, 2, c->key, c->key_len);
		sqlite3_bind_int(s, 3, c->options);
		sqlite3_bind_int64(s, 4, c->num);
		return run(s);
	case CH_SUB_DEL:
		s = st->sql[SQL_SUB_DEL];
		bind_id(s, c);
		bind_bytes(s, 2, c->key, c->key_len);
		return run(s);
	case CH_OUT_PUT:
		s = st->sql[SQL_OUT_PUT];
		bind_id(s, c);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)c->seq);
		sqlite3_bind_int(s, 3, c->pid + OUT_PID_BIAS);
		sqlite3_bind_int(s, 4, c->state + OUT_STATE_BIAS);
		bind_msg(s, 5, m);
		bind_delivery(s, 11, &c->d);
		return run(s);
	case CH_OUT_MARK:
		s = st->sql[c->drop_msg ? SQL_OUT_MARK_DROP : SQL_OUT_MARK];
		bind_id(s, c);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)c->seq);
		sqlite3_bind_int(s, 3, c->pid + OUT_PID_BIAS);
		sqlite3_bind_int(s, 4, c->state + OUT_STATE_BIAS);
		return run(s);
	case CH_OUT_DEL:
		s = st->sql[SQL_OUT_DEL];
		bind_id(s, c);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)c->seq);
		return run(s);
	case CH_QOS2_PUT:
	case CH_QOS2_DEL:
		s = st->sql[c->kind == CH_QOS2_PUT ? SQL_QOS2_PUT : SQL_QOS2_DEL];
		bind_id(s, c);
		sqlite3_bind_int(s, 2, c->pid);
		return run(s);
	case CH_COUNT:
		break;
	}
	return SQLITE_MISUSE;
}
