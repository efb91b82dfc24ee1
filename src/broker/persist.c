/* Durable state: the store writes the broker makes as its state changes, and the replies held until those
 * writes are committed. See persist.h; loading at start-up is in persist_load.c. */
#include "persist.h"

#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster.h"
#include "common/clock.h"
#include "conn.h"
#include "message.h"
#include "midge/midge.h"
#include "midge/mqtt.h"
#include "persist_int.h"
#include "session.h"
#include "store/store.h"
#include "worker.h"

/* stored: once its rows are deleted (it ended, or a clean start replaced it) nothing more is written for it,
 * even by a delivery that found it in the tree just before it was taken out. */
bool persist__keeps(struct broker *b, const struct session *s) { return b->store && !s->clean && s->stored; }

bool persist__durable(struct broker *b) { return b->store && !b->conf.persistence_group; }

/* ---- rows and messages ---- */

uint64_t persist__to_wall(uint64_t mono_ms)
{
	if (!mono_ms) return 0;
	uint64_t now = clock__ms(), wall = clock__wall_ms();
	return mono_ms > now ? wall + (mono_ms - now) : wall;
}

uint64_t persist__to_mono(uint64_t wall_ms)
{
	if (!wall_ms) return 0;
	uint64_t now = clock__ms(), wall = clock__wall_ms();
	/* Past already: a deadline of now, so it counts as expired (0 would mean never). */
	return wall_ms > wall ? now + (wall_ms - wall) : (now ? now : 1);
}

void persist__row(const struct message *m, struct store_msg *out)
{
	*out = (struct store_msg){.topic = m->topic,
				  .topic_len = m->topic_len,
				  .payload = m->payload,
				  .payload_len = m->payload_len,
				  .props = m->props_len ? m->props : NULL,
				  .props_len = m->props_len,
				  .qos = (uint8_t)(m->qos | (m->guarded ? PERSIST_GUARDED : 0)),
				  .retain = m->retain,
				  .expiry_ms = persist__to_wall(m->expiry_ms)};
}

struct message *persist__message(const struct store_msg *r, bool deadline)
{
	struct message *m = msg__new_props(r->topic, r->topic_len, r->payload, r->payload_len, r->props, r->props_len,
					   deadline ? persist__to_mono(r->expiry_ms) : 0, r->qos & 3, r->retain);
	if (m) m->guarded = (r->qos & PERSIST_GUARDED) != 0;
	return m;
}

/* Says once in the log that commits fail, and once that they work again. */
static void note_rc(struct broker *b, int rc)
{
	bool failing = rc != 0;
	if (atomic_exchange(&b->store_failing, failing) == failing) return;
	if (failing) {
		char e[256];
		store__last_error(b->store, e, sizeof(e));
		log__printf(&b->log, LOG_T_ERR,
			    "Storage failure: %s. QoS 1 and 2 messages and subscriptions are refused until writes succeed "
			    "again.",
			    e);
	} else {
		log__printf(&b->log, LOG_T_NOTICE, "Storage writes succeed again.");
	}
}

static void touch(struct worker *w)
{
	if (w) w->store_touched = true;
}

void persist__group_begin(struct broker *b)
{
	if (b->store) store__group_begin(b->store);
}

void persist__group_end(struct broker *b)
{
	if (b->store) store__group_end(b->store);
}

/* ---- sessions ---- */

/* Its row: who it is, when it ends, and the will that a crash or its delay would publish. The will's
 * expiry_ms column holds its Message Expiry Interval (ms), which counts from its publication. */
static void put_session(struct broker *b, struct session *s, bool connected, const struct message *will,
			uint32_t will_delay, uint32_t will_expiry, bool will_retain)
{
	struct store_msg wm;
	if (will) {
		persist__row(will, &wm);
		wm.retain = will_retain;
		wm.expiry_ms = (uint64_t)will_expiry * 1000u;
	}
	lock__acquire(&s->id_lock);
	struct store_session row = {.client_id = s->client_id,
				    .id_len = s->id_len,
				    .expiry_interval = s->expiry_interval,
				    .expire_at_ms = connected ? 0 : persist__to_wall(s->expire_at_ms),
				    .username = s->username,
				    .username_len = s->username ? strlen(s->username) : 0,
				    .will = will ? &wm : NULL,
				    .will_delay = will_delay,
				    .connected = connected};
	int rc = store__session_put(b->store, &row, NULL, NULL);
	lock__release(&s->id_lock);
	if (!rc) s->stored = true;
}

void persist__session_online(struct broker *b, struct session *s, const struct conn *c)
{
	if (!b->store) return;
	if (s->clean) {
		/* Kept before, ending with this connection now: a crash must not bring it back. */
		persist__session_del(b, s);
		return;
	}
	put_session(b, s, true, c->will, c->will_delay, c->will_expiry, c->will_retain);
}

void persist__session_offline(struct broker *b, struct session *s)
{
	if (!persist__keeps(b, s)) return;
	uint32_t delay = 0;
	if (s->will) {
		uint64_t now = clock__ms();
		delay = s->will_at_ms > now ? (uint32_t)((s->will_at_ms - now + 999) / 1000) : 0;
	}
	put_session(b, s, false, s->will, delay, s->will_expiry, s->will_retain);
}

void persist__session_del(struct broker *b, struct session *s)
{
	if (!b->store || !s->stored) return;
	store__session_del(b->store, s->client_id, s->id_len, NULL, NULL);
	s->stored = false;
}

void persist__sub_put(struct broker *b, struct worker *w, struct session *s, const uint8_t *filter, size_t len,
		      uint8_t options, uint32_t sub_id)
{
	if (!persist__keeps(b, s)) return;
	struct store_sub row = {.client_id = s->client_id,
				.id_len = s->id_len,
				.filter = filter,
				.filter_len = len,
				.options = options,
				.sub_id = sub_id};
	if (store__sub_put(b->store, &row, NULL, NULL) == 0) touch(w);
}

void persist__sub_del(struct broker *b, struct worker *w, struct session *s, const uint8_t *filter, size_t len)
{
	if (!persist__keeps(b, s)) return;
	if (store__sub_del(b->store, s->client_id, s->id_len, filter, len, NULL, NULL) == 0) touch(w);
}

void persist__qos2(struct broker *b, struct worker *w, struct session *s, uint16_t pid, bool add)
{
	if (!persist__keeps(b, s)) return;
	int rc = add ? store__qos2_in_put(b->store, s->client_id, s->id_len, pid, NULL, NULL)
		     : store__qos2_in_del(b->store, s->client_id, s->id_len, pid, NULL, NULL);
	if (rc == 0) touch(w);
}

void persist__retain(struct broker *b, struct worker *w, const struct message *m)
{
	if (!b->store || !b->conf.retained_persistence) return;
	/* The broker's own $SYS values are made again after a restart. */
	if (m->topic_len >= 5 && memcmp(m->topic, "$SYS/", 5) == 0) return;
	int rc;
	if (m->payload_len == 0) {
		rc = store__retain_clear(b->store, m->topic, m->topic_len, NULL, NULL);
	} else {
		struct store_msg row;
		persist__row(m, &row);
		rc = store__retain_set(b->store, &row, NULL, NULL);
	}
	if (rc == 0) touch(w);
}

/* ---- outgoing messages ---- */

/* A session's row seq, for a callback from the store thread. Holds a session reference. */
struct seq_arg {
	struct broker *b;
	struct session *s;
	uint64_t seq;
};

static struct seq_arg *seq_arg(struct broker *b, struct session *s, uint64_t seq)
{
	struct seq_arg *a = malloc(sizeof(*a));
	if (a) *a = (struct seq_arg){.b = b, .s = session__ref(s), .seq = seq};
	return a;
}

/* Frees an argument the store never took. The caller's own reference keeps s alive. */
static void seq_arg_free(struct seq_arg *a)
{
	session__unref(a->s);
	free(a);
}

static void on_out_committed(void *arg, int rc)
{
	struct seq_arg *a = arg;
	note_rc(a->b, rc);
	session__committed(a->b, a->s, a->seq, rc);
	seq_arg_free(a);
}

static void on_rel_committed(void *arg, int rc)
{
	struct seq_arg *a = arg;
	note_rc(a->b, rc);
	session__rel_committed(a->b, a->s, a->seq, rc);
	seq_arg_free(a);
}

uint64_t persist__out_new(struct broker *b, struct worker *w, struct session *s, const struct message *m,
			  const struct delivery *d, uint16_t pid, uint8_t state)
{
	if (!persist__keeps(b, s) || d->qos == 0) return 0;
	struct store_msg row;
	persist__row(m, &row);
	uint64_t seq = s->seq + 1;
	struct store_out o = {.client_id = s->client_id,
			      .id_len = s->id_len,
			      .seq = seq,
			      .pid = pid,
			      .state = state,
			      .msg = &row,
			      .d = {.qos = d->qos,
				    .retain = d->retain,
				    .share = d->share,
				    .nsubids = d->nsubids,
				    .subids = d->subids}};
	struct seq_arg *a = NULL;
	if (pid && persist__durable(b) && !(a = seq_arg(b, s, seq))) return 0;
	if (store__out_put(b->store, &o, a ? on_out_committed : NULL, a)) {
		if (a) seq_arg_free(a);
		return 0;
	}
	s->seq = seq;
	touch(w);
	return seq;
}

/* Writes f's packet id and state; in durable mode done runs once that is committed. True when it will. */
static bool mark(struct broker *b, struct session *s, const struct inflight *f, bool drop_msg, store_done_cb done)
{
	if (!b->store || !f->seq) return false;
	struct seq_arg *a = persist__durable(b) ? seq_arg(b, s, f->seq) : NULL;
	if (store__out_mark(b->store, s->client_id, s->id_len, f->seq, f->pid, f->state, drop_msg, a ? done : NULL,
			    a)) {
		if (a) seq_arg_free(a);
		return false;
	}
	return a != NULL;
}

bool persist__out_sent(struct broker *b, struct session *s, const struct inflight *f)
{
	return mark(b, s, f, false, on_out_committed);
}

bool persist__out_released(struct broker *b, struct session *s, struct inflight *f)
{
	return mark(b, s, f, true, on_rel_committed);
}

void persist__out_del(struct broker *b, struct session *s, uint64_t seq)
{
	if (b->store && seq) store__out_del(b->store, s->client_id, s->id_len, seq, NULL, NULL);
}

static int on_fetch_row(void *arg, const struct store_out *o)
{
	struct seq_arg *a = arg;
	if (o->pid || !o->msg) return 0; /* only queued rows lie beyond what is in memory */
	struct message *m = persist__message(o->msg, true);
	if (!m) return 1; /* the rest of the batch waits on disk for the next read */
	struct delivery d = {.qos = o->d.qos,
			     .retain = o->d.retain,
			     .share = o->d.share,
			     .nsubids = o->d.nsubids,
			     .subids = o->d.subids};
	bool ok = session__fetched(a->b, a->s, m, &d, o->seq);
	msg__unref(m);
	return ok ? 0 : 1;
}

static void on_fetch_done(void *arg, int rc, long rows)
{
	struct seq_arg *a = arg;
	if (rc) {
		char e[256];
		store__last_error(a->b->store, e, sizeof(e));
		log__printf(&a->b->log, LOG_T_ERR, "Cannot read queued messages of client %s back from the store: %s",
			    a->s->client_id, e);
	}
	session__fetch_done(a->b, a->s, rc ? -1 : rows);
	seq_arg_free(a);
}

bool persist__fetch(struct broker *b, struct session *s, unsigned max)
{
	if (!b->store) return false;
	struct seq_arg *a = seq_arg(b, s, s->mem_seq);
	if (!a) return false;
	if (store__out_fetch(b->store, s->client_id, s->id_len, s->mem_seq, max, on_fetch_row, on_fetch_done, a)) {
		seq_arg_free(a);
		return false;
	}
	return true;
}

static void on_caught_up(void *arg, int rc)
{
	struct conn *c = arg;
	(void)rc;
	atomic_store(&c->store_resume, true);
	worker__post(c->worker, c);
	conn__unref(c);
}

void persist__throttle(struct broker *b, struct worker *w, struct conn *c)
{
	if (!b->store || !w->store_touched || c->store_paused || store__pending(b->store) < PERSIST_BACKLOG) return;
	c->store_paused = true;
	c->read_paused = true;
	conn__update_events(c);
	if (store__barrier(b->store, on_caught_up, conn__ref(c))) {
		/* closing: nothing to wait for */
		conn__unref(c);
		c->store_paused = false;
	}
}

/* ---- replies held for the commit ---- */

/* A reply waiting for a commit: an acknowledgement (len 0) or the bytes of a packet. Holds a connection
 * reference. */
struct held {
	struct broker *b;
	struct conn *c;
	uint64_t ticket; /* of the message this reply's packet sent to the cluster's stream (0: none) */
	int store_rc;
	uint8_t type;
	uint16_t pid;
	uint8_t reason;
	const char *why;
	unsigned flags; /* PERSIST_ACK_* */
	persist_then then;
	void (*done)(void *arg);
	void *arg;
	size_t len;
	uint8_t bytes[];
};

void persist__close_conn(struct conn *c)
{
	atomic_store(&c->store_failed, true);
	worker__post(c->worker, c);
}

/* A 3.x client cannot be told that what it sent was not kept: it is closed, and resends on its next
 * connection what it has no acknowledgement for. */
static void fail_close(struct conn *c) { persist__close_conn(c); }

/* The reply once what it waits for is done: store_rc from the store's commit, cluster_rc from the cluster's
 * stream (cluster.h). */
static void reply(struct held *h, int store_rc, int cluster_rc)
{
	struct broker *b = h->b;
	struct conn *c = h->c;
	int rc = store_rc ? store_rc : cluster_rc;
	struct session *s = c->session;
	bool refused = rc && (h->len || h->type == MQTT_PUBACK || h->type == MQTT_PUBREC);
	if (!rc && (h->flags & PERSIST_ACK_QOS2_IN)) {
		/* A resent QoS 2 PUBLISH answered behind its first copy's commit: that one failed if its packet id
		 * was forgotten meanwhile (below), and then so does this one. */
		lock__acquire(&s->lock);
		refused = !idset__has(&s->in_qos2, h->pid);
		lock__release(&s->lock);
	}
	if (rc && (h->flags & PERSIST_ACK_QOS2_IN)) {
		/* Not kept: the packet id is forgotten too, so that the PUBLISH, resent or not, is taken as new. */
		lock__acquire(&s->lock);
		session__qos2_remove(s, h->pid);
		lock__release(&s->lock);
	}
	if (rc && (h->flags & PERSIST_ACK_RELEASED)) {
		/* Its release was not written: the stored packet id would take a later message reusing it for a
		 * resend. It is taken back, and the client, closed without PUBCOMP, sends PUBREL again. */
		lock__acquire(&s->lock);
		session__qos2_add(s, h->pid);
		lock__release(&s->lock);
		refused = true;
	}
	if (refused && !h->len && c->version == MQTT_V5 && h->type != MQTT_PUBCOMP) {
		/* MQTT 5 can say it; a PUBREC refusal ends the exchange (4.3.3). */
		bool full = store_rc && store__last_error_full(b->store);
		conn__queue_ack_rc(c, h->type, h->pid, full ? MQTT_RC_QUOTA_EXCEEDED : MQTT_RC_UNSPECIFIED,
				   full ? "storage full: not kept" : store_rc ? "storage failure: not kept"
									: "not kept by the cluster");
	} else if (refused) {
		fail_close(c);
	} else if (h->len) {
		if (conn__queue_bytes(c, h->bytes, h->len) == 0 && h->then) h->then(b, c, h->arg);
	} else {
		conn__queue_ack_rc(c, h->type, h->pid, h->reason, h->why);
	}
	if (h->done) h->done(h->arg);
	atomic_fetch_sub(&c->replies_held, 1);
	conn__schedule(c, NULL);
	conn__unref(c);
	free(h);
}

static void after_cluster(void *arg, int rc)
{
	struct held *h = arg;
	reply(h, h->store_rc, rc);
}

/* Committed (or not): on to the cluster's stream when QoS 1/2 messages go there, since the replies of every
 * packet pass the same stages in the same order. */
static void after_store(void *arg, int rc)
{
	struct held *h = arg;
	note_rc(h->b, rc);
	if (!cluster__stores(h->b->cluster)) {
		reply(h, rc, 0);
		return;
	}
	h->store_rc = rc;
	cluster__barrier(h->b->cluster, h->ticket, after_cluster, h);
}

/* Whether a reply must wait: in durable mode, when this packet enqueued writes; in a cluster that stores QoS 1/2
 * messages, when it sent one; or when an earlier reply still waits (replies keep the order of the packets they
 * answer). */
static bool must_hold(struct broker *b, struct worker *w, struct conn *c)
{
	bool store = persist__durable(b), cluster = cluster__stores(b->cluster);
	if (!store && !cluster) return false;
	if (atomic_load(&c->replies_held) > 0) return true;
	return w && ((store && w->store_touched) || (cluster && w->cluster_ticket));
}

static int hold(struct broker *b, struct worker *w, struct conn *c, struct held *h)
{
	h->b = b;
	h->c = conn__ref(c);
	h->ticket = w ? w->cluster_ticket : 0;
	atomic_fetch_add(&c->replies_held, 1);
	if (!persist__durable(b)) {
		cluster__barrier(b->cluster, h->ticket, after_cluster, h);
		return 0;
	}
	int rc = store__barrier(b->store, after_store, h);
	if (rc) {
		atomic_fetch_sub(&c->replies_held, 1);
		conn__unref(c);
	}
	return rc;
}

int persist__ack(struct broker *b, struct worker *w, struct conn *c, uint8_t type, uint16_t pid, uint8_t reason,
		 const char *why, unsigned flags)
{
	if (must_hold(b, w, c)) {
		struct held *h = calloc(1, sizeof(*h));
		if (!h) return MIDGE_ERR_NOMEM;
		h->type = type;
		h->pid = pid;
		h->reason = reason;
		h->why = why;
		h->flags = flags;
		if (hold(b, w, c, h) == 0) return 0;
		free(h); /* the store is closing: the broker is stopping, answer now */
	}
	return conn__queue_ack_rc(c, type, pid, reason, why);
}

int persist__reply(struct broker *b, struct worker *w, struct conn *c, const void *bytes, size_t len,
		   persist_then then, void (*done)(void *arg), void *arg)
{
	if (must_hold(b, w, c)) {
		struct held *h = calloc(1, sizeof(*h) + len);
		if (!h) {
			if (done) done(arg);
			return MIDGE_ERR_NOMEM;
		}
		memcpy(h->bytes, bytes, len);
		h->len = len;
		h->then = then;
		h->done = done;
		h->arg = arg;
		if (hold(b, w, c, h) == 0) return 0;
		free(h);
	}
	int r = conn__queue_bytes(c, bytes, len);
	if (r == 0 && then) then(b, c, arg);
	if (done) done(arg);
	return r;
}
