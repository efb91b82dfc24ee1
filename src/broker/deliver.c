/* Delivery of messages to sessions: the inflight window, the offline queue, limits and drops.
 * Nothing here logs while holding a session lock: a log line may itself be published
 * (log_dest topic) and reach this very session. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster.h"
#include "common/clock.h"
#include "common/topic.h"
#include "conn.h"
#include "message.h"
#include "midge/midge.h"
#include "proto/proto.h"
#include "guard.h"
#include "persist.h"
#include "security.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

/* At most this many unacknowledged messages per session, whatever max_inflight_messages says:
 * one packet identifier must stay free. */
#define WINDOW_MAX 65535u

static uint16_t next_pid(struct session *s)
{
	/* The window never holds every id, so this ends; ids are reused in order, oldest freed first. */
	do {
		s->last_pid++;
		if (s->last_pid == 0) s->last_pid = 1;
	} while (idset__has(&s->out_pids, s->last_pid));
	return s->last_pid;
}

/* Counts a dropped message; returns true when this drop should be logged (the first, then at powers
 * of two: visible without flooding the log). The caller logs once the session lock is released. */
static bool count_drop(struct broker *b)
{
	uint64_t n = atomic_fetch_add_explicit(&b->stats.pub_dropped, 1, memory_order_relaxed) + 1;
	return (n & (n - 1)) == 0;
}

static void log_drop(struct broker *b, struct session *s, const char *why)
{
	if (why)
		log__printf(&b->log, LOG_T_NOTICE,
			    "Outgoing messages are being dropped for client %s (%s); %llu dropped in all so far.",
			    s->client_id, why, (unsigned long long)atomic_load(&b->stats.pub_dropped));
}

static bool window_open(struct broker *b, struct session *s)
{
	uint32_t max = b->conf.max_inflight_messages;
	if (max == 0 || max > WINDOW_MAX) max = WINDOW_MAX;
	/* The client's Receive Maximum bounds what it has unacknowledged [MQTT-3.3.4-9]. */
	if (s->conn && s->conn->send_max < max) max = s->conn->send_max;
	/* Held entries are not on the wire yet: they wait for this very room. */
	return s->inflight_count - s->held_count < max;
}

static int dmeta_copy(struct dmeta *out, const struct delivery *d)
{
	*out = (struct dmeta){.qos = d->qos, .retain = d->retain, .share = d->share, .nsubids = d->nsubids};
	if (!d->nsubids) return 0;
	out->subids = malloc(d->nsubids * sizeof(uint32_t));
	if (!out->subids) return MIDGE_ERR_NOMEM;
	memcpy(out->subids, d->subids, d->nsubids * sizeof(uint32_t));
	return 0;
}

void dmeta__fini(struct dmeta *d)
{
	free(d->subids);
	d->subids = NULL;
	d->nsubids = 0;
}

static struct delivery as_delivery(const struct dmeta *m)
{
	return (struct delivery){.qos = m->qos, .retain = m->retain, .share = m->share, .nsubids = m->nsubids,
				 .subids = m->subids};
}

/* The ACL's READ check for every delivery, queued and resent ones again when they go out (a reload may
 * have changed the rules meanwhile). */
static bool readable(struct broker *b, struct session *s, const struct message *m)
{
	if (!security__has_acl(b)) return true;
	lock__acquire(&s->id_lock);
	bool ok = security__allowed(b, s->domain, s->client_id, s->username, (const char *)m->topic, m->topic_len,
				    ACL_READ);
	lock__release(&s->id_lock);
	return ok;
}

bool session__may_receive(struct broker *b, struct session *s, const struct message *m)
{
	return !(atomic_load_explicit(&s->exposed, memory_order_relaxed) && guard__keeps(b, m)) && readable(b, s, m);
}

/* The encryption guard (guard.h): true when m must not go out on c, an exposed plain listener's
 * connection; counted. Session lock held. */
static bool withheld(struct broker *b, struct conn *c, const struct message *m)
{
	if (!c->listener || !c->listener->exposed || !guard__keeps(b, m)) return false;
	atomic_fetch_add_explicit(&b->stats.guard_withheld, 1, memory_order_relaxed);
	return true;
}

bool session__has_room(struct broker *b, struct session *s)
{
	lock__acquire(&s->lock);
	bool room = !s->dead && list__empty(&s->queue) && !s->spilled && window_open(b, s);
	lock__release(&s->lock);
	return room;
}

static bool under_cap(struct broker *b, struct conn *c)
{
	return b->conf.max_output_bytes == 0 || conn__out_bytes(c) < b->conf.max_output_bytes;
}

/* Puts m into s's window with a new packet id (QoS 1/2). seq is its row when it comes from the queue (0: a row is
 * written now when the session keeps messages). A stored message waits in s->unsent for its commit in durable
 * mode (session__committed sends it); any other goes on the wire now. Lock held, connection attached.
 * MIDGE_ERR_TOO_LARGE: the client's Maximum Packet Size refuses it; it is dropped for this client. */
static int to_window(struct broker *b, struct worker *w, struct session *s, struct message *m, const struct delivery *d,
		     uint64_t seq)
{
	struct dmeta dm;
	struct inflight *f = malloc(sizeof(*f));
	if (!f || dmeta_copy(&dm, d)) {
		free(f);
		return MIDGE_ERR_NOMEM;
	}
	uint16_t pid = next_pid(s);
	if (idset__add(&s->out_pids, pid) < 0) {
		dmeta__fini(&dm);
		free(f);
		return MIDGE_ERR_NOMEM;
	}
	*f = (struct inflight){.msg = msg__ref(m),
			       .seq = seq,
			       .pid = pid,
			       .state = d->qos == 1 ? IF_WAIT_PUBACK : IF_WAIT_PUBREC,
			       .d = dm};
	bool wait;
	if (seq) {
		wait = persist__out_sent(b, s, f);
	} else {
		f->seq = persist__out_new(b, w, s, m, d, pid, f->state);
		if (f->seq) s->mem_seq = f->seq;
		wait = f->seq && persist__durable(b);
	}
	if (!wait) {
		int r = conn__queue_publish(s->conn, m, d->qos, pid, false, d->retain, d->subids, d->nsubids);
		if (r) {
			if (!seq) persist__out_del(b, s, f->seq); /* a queued one keeps its row: the caller decides */
			idset__remove(&s->out_pids, pid);
			msg__unref(f->msg);
			dmeta__fini(&f->d);
			free(f);
			return r;
		}
		f->sent = true;
	}
	f->requeue = wait && seq;
	list__add_tail(wait ? &s->unsent : &s->inflight, &f->node);
	s->inflight_count++;
	if (wait) s->unsent_count++;
	return 0;
}

/* Sends m now: QoS 0 on the wire, QoS 1/2 into the window. Lock held, connection attached. */
static int send_now(struct broker *b, struct worker *w, struct session *s, struct message *m, const struct delivery *d)
{
	if (d->qos == 0) return conn__queue_publish(s->conn, m, 0, 0, false, d->retain, d->subids, d->nsubids);
	return to_window(b, w, s, m, d, 0);
}

/* True when s's memory queue is full: a stored message then waits on disk only. Lock held. */
static bool memory_full(const struct session *s)
{
	return s->spilled || s->queued_count >= SESSION_QUEUE_MEM || s->queued_bytes >= SESSION_QUEUE_MEM_BYTES;
}

/* Appends to the session queue within max_queued_messages / max_queued_bytes (messages on disk only count
 * too); with the store on, a QoS 1/2 message of a kept session is written, and past the memory queue's size
 * lives on disk only. Lock held. Returns NULL, or why the message was dropped when that drop is to be logged. */
static const char *enqueue(struct broker *b, struct worker *w, struct session *s, struct message *m,
			   const struct delivery *d)
{
	const struct config *cf = &b->conf;
	size_t size = msg__size(m);
	if ((cf->max_queued_messages && s->queued_count + s->spilled >= cf->max_queued_messages) ||
	    (cf->max_queued_bytes && s->queued_bytes + s->spilled_bytes + size > cf->max_queued_bytes))
		return count_drop(b) ? "queue full" : NULL;
	uint64_t seq = persist__out_new(b, w, s, m, d, 0, 0);
	if (seq && memory_full(s)) {
		s->spilled++;
		s->spilled_bytes += size;
	} else {
		struct queued *q = malloc(sizeof(*q));
		if (!q || dmeta_copy(&q->d, d)) {
			free(q);
			persist__out_del(b, s, seq);
			return count_drop(b) ? "out of memory" : NULL;
		}
		q->msg = msg__ref(m);
		q->seq = seq;
		if (seq) s->mem_seq = seq;
		list__add_tail(&s->queue, &q->node);
		s->queued_count++;
		s->queued_bytes += size;
	}
	/* Online but held back: the owner pumps once its output drains below the cap. */
	if (s->conn) atomic_store_explicit(&s->conn->need_pump, true, memory_order_relaxed);
	return NULL;
}

static void free_queued(struct session *s, struct queued *q)
{
	s->queued_count--;
	s->queued_bytes -= msg__size(q->msg);
	msg__unref(q->msg);
	dmeta__fini(&q->d);
	free(q);
}

static void resend(struct broker *b, struct session *s, struct inflight *f);

/* Reads the next batch of a queue that went on disk once the memory queue is half empty. Lock held. */
static void refill(struct broker *b, struct session *s)
{
	if (!s->spilled || s->fetching || !s->conn || s->queued_count > SESSION_QUEUE_MEM / 2) return;
	s->fetching = persist__fetch(b, s, SESSION_QUEUE_MEM - s->queued_count);
}

/* Moves queued messages into the window while there is room; expired ones are dropped on the way
 * [MQTT-3.3.2-5]. Lock held, connection attached. Returns true when anything was sent. */
static bool pump(struct broker *b, struct session *s)
{
	bool sent = false;
	uint64_t now = 0; /* read only for a message that can expire */
	/* First what a resume held back (same packet ids, in order), then the queue. */
	struct list *pos, *next;
	for (pos = s->inflight.next; s->held_count && pos != &s->inflight && window_open(b, s) &&
				     under_cap(b, s->conn);
	     pos = next) {
		next = pos->next; /* resend may remove the entry */
		struct inflight *f = list_entry(pos, struct inflight, node);
		if (!f->held) continue;
		f->held = false;
		s->held_count--;
		resend(b, s, f);
		sent = true;
	}
	while (!s->held_count && !list__empty(&s->queue) && window_open(b, s) && under_cap(b, s->conn)) {
		struct queued *q = list_entry(list__pop(&s->queue), struct queued, node);
		if (q->msg->expiry_ms && !now) now = clock__ms();
		if (!msg__expired(q->msg, now) && readable(b, s, q->msg) && !withheld(b, s->conn, q->msg)) {
			struct delivery d = as_delivery(&q->d);
			int r = q->d.qos ? to_window(b, NULL, s, q->msg, &d, q->seq) : send_now(b, NULL, s, q->msg, &d);
			if (r == MIDGE_ERR_CLOSED) {
				/* The connection is closing: the message stays first in the queue. */
				list__add_head(&s->queue, &q->node);
				break;
			}
			if (r == MIDGE_ERR_TOO_LARGE) count_drop(b);
			if (r) persist__out_del(b, s, q->seq);
			sent |= r == 0;
		} else {
			persist__out_del(b, s, q->seq);
		}
		free_queued(s, q);
	}
	refill(b, s);
	return sent;
}

/* Flushes c from its owner after the session lock is released; c is referenced by the caller. */
static void kick_flush(struct conn *c, struct worker *w)
{
	if (!c) return;
	conn__schedule(c, w);
	conn__unref(c);
}

void session__deliver(struct broker *b, struct worker *w, struct session *s, struct message *m,
		      const struct delivery *d)
{
	struct conn *flush = NULL;
	const char *dropped = NULL;
	bool log_guard = false;
	unsigned guard_port = 0;
	lock__acquire(&s->lock);
	if (s->dead || !readable(b, s, m)) goto out;
	struct conn *c = s->conn;
	if (c && withheld(b, c, m)) {
		log_guard = !s->guard_logged;
		s->guard_logged = true;
		guard_port = c->listener->conf->port;
	} else if (c) {
		int r = 1;
		if (d->qos == 0) {
			if (!under_cap(b, c)) dropped = count_drop(b) ? "output cap reached" : NULL;
			else r = send_now(b, w, s, m, d);
		} else if (list__empty(&s->queue) && !s->spilled && !s->held_count && window_open(b, s) &&
			   under_cap(b, c)) {
			r = send_now(b, w, s, m, d);
		} else {
			dropped = enqueue(b, w, s, m, d);
		}
		if (r == 0) flush = conn__ref(c);
		else if (r == MIDGE_ERR_TOO_LARGE) dropped = count_drop(b) ? "larger than its maximum packet size" : NULL;
		/* Its connection is closing: QoS 1/2 wait for the session's next one. */
		else if (r == MIDGE_ERR_CLOSED && d->qos > 0 && !s->clean) dropped = enqueue(b, w, s, m, d);
	} else if (!s->clean && (d->qos > 0 || b->conf.queue_qos0_messages)) {
		dropped = enqueue(b, w, s, m, d);
	}
out:
	lock__release(&s->lock);
	kick_flush(flush, w);
	log_drop(b, s, dropped);
	if (log_guard)
		log__printf(&b->log, LOG_T_WARNING,
			    "Encryption guard: messages published encrypted are withheld from client %s, which is "
			    "connected through a plain listener (port %u); logged once per client.",
			    s->client_id, guard_port);
}

static struct inflight *find_inflight(struct session *s, uint16_t pid)
{
	if (!idset__has(&s->out_pids, pid)) return NULL;
	struct list *pos, *n;
	list_for_each_safe(pos, n, &s->inflight)
	{
		struct inflight *f = list_entry(pos, struct inflight, node);
		if (f->pid == pid) return f;
	}
	return NULL;
}

/* Forgets an entry of the inflight (or unsent) list for good, with its row. Lock held. */
static void remove_inflight(struct broker *b, struct session *s, struct inflight *f)
{
	persist__out_del(b, s, f->seq);
	list__del(&f->node);
	s->inflight_count--;
	if (f->held) s->held_count--;
	idset__remove(&s->out_pids, f->pid);
	if (f->msg) cluster__consumed(b->cluster, f->msg);
	msg__unref(f->msg);
	dmeta__fini(&f->d);
	free(f);
}

int session__ack(struct broker *b, struct worker *w, struct session *s, uint8_t type, uint16_t pid, uint8_t reason)
{
	int rc = 0;
	struct conn *flush = NULL;
	lock__acquire(&s->lock);
	struct inflight *f = find_inflight(s, pid);
	if (!f) {
		rc = MIDGE_ERR_NOT_FOUND;
	} else if (type == MQTT_PUBACK && f->state == IF_WAIT_PUBACK) {
		remove_inflight(b, s, f);
	} else if (type == MQTT_PUBREC && f->state == IF_WAIT_PUBREC && reason >= 0x80) {
		/* An MQTT 5 receiver refused it: the exchange ends here, no PUBREL (4.3.3). */
		remove_inflight(b, s, f);
	} else if (type == MQTT_PUBREC && (f->state == IF_WAIT_PUBREC || f->state == IF_WAIT_PUBCOMP)) {
		/* The receiver owns the message now: keep only the packet id until PUBCOMP. Stored, the PUBREL waits
		 * for that state's commit: a PUBLISH resent after a crash would be a new message to a receiver that
		 * already completed this packet id. */
		if (f->state == IF_WAIT_PUBREC) {
			/* The receiver owns it: the cluster's stream may forget it. */
			if (f->msg) cluster__consumed(b->cluster, f->msg);
			f->state = IF_WAIT_PUBCOMP;
			f->rel_wait = persist__out_released(b, s, f);
			if (!f->rel_wait) {
				msg__unref(f->msg);
				f->msg = NULL;
			}
		}
		if (s->conn && !f->rel_wait && conn__queue_ack(s->conn, MQTT_PUBREL, pid) == 0) flush = conn__ref(s->conn);
	} else if (type == MQTT_PUBCOMP && f->state == IF_WAIT_PUBCOMP) {
		remove_inflight(b, s, f);
	} else {
		rc = MIDGE_ERR_PROTOCOL;
	}
	if (s->conn && pump(b, s) && !flush) flush = conn__ref(s->conn);
	lock__release(&s->lock);
	kick_flush(flush, w);
	return rc;
}

/* Sends an inflight entry again on the attached connection: the PUBLISH with DUP, or the PUBREL of a
 * QoS 2 message the client has received. Lock held. */
static void resend(struct broker *b, struct session *s, struct inflight *f)
{
	if (f->state != IF_WAIT_PUBCOMP && (withheld(b, s->conn, f->msg) || !readable(b, s, f->msg))) {
		/* Sent before over an encrypted connection and this one is plain, or the ACL changed since. */
		remove_inflight(b, s, f);
	} else if (f->state == IF_WAIT_PUBCOMP) {
		if (!f->rel_wait) conn__queue_ack(s->conn, MQTT_PUBREL, f->pid); /* else its commit sends it */
	} else {
		/* DUP only when it went out before: one restored from the store may have [MQTT-3.3.1-1]. */
		int r = conn__queue_publish(s->conn, f->msg, f->d.qos, f->pid, f->sent, f->d.retain, f->d.subids,
					    f->d.nsubids);
		if (r == 0) f->sent = true;
		/* The new connection takes smaller packets: this one can never reach it. */
		else if (r == MIDGE_ERR_TOO_LARGE) remove_inflight(b, s, f);
	}
}

void session__resume_locked(struct broker *b, struct session *s)
{
	/* Resent in order with their packet ids [MQTT-4.4.0-1], but no more than the new connection's
	 * Receive Maximum at once [MQTT-3.3.4-9]: the rest are held and sent as acknowledgements free room. */
	struct list *pos, *n;
	s->held_count = 0;
	for (pos = s->inflight.next; pos != &s->inflight; pos = pos->next) {
		list_entry(pos, struct inflight, node)->held = true;
		s->held_count++;
	}
	list_for_each_safe(pos, n, &s->inflight)
	{
		struct inflight *f = list_entry(pos, struct inflight, node);
		if (!window_open(b, s)) break;
		f->held = false;
		s->held_count--;
		resend(b, s, f);
	}
	pump(b, s);
}

bool session__pump(struct broker *b, struct worker *w, struct session *s, struct conn *c)
{
	bool sent = false, waiting = false;
	lock__acquire(&s->lock);
	if (s->conn == c) {
		sent = pump(b, s);
		waiting = !list__empty(&s->queue);
	}
	lock__release(&s->lock);
	if (sent) conn__schedule(c, w);
	return waiting;
}

/* A message taken from a leaving member, with the group (name and filter, copied) that is to get it. */
struct taken {
	struct list node;
	struct message *msg;
	struct dmeta d;
	size_t glen, flen;
	char gf[]; /* group name then filter */
};

struct other_member {
	struct session *leaving;
	bool found;
};

static void find_other(void *arg, const struct sub_member *mb, size_t n, size_t start)
{
	struct other_member *o = arg;
	for (size_t i = 0; i < n && !o->found; i++) o->found = mb[i].s != o->leaving;
}

/* The subscription of s, of the group whose name hashes to share, that m came through, if another
 * member of that group could take m. Session lock held (lock order: session, then tree). */
static const struct sess_sub *share_target(struct broker *b, struct session *s, uint32_t share,
					   const struct message *m, const uint8_t **g, size_t *gl, const uint8_t **f,
					   size_t *fl)
{
	struct list *pos;
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		const struct sess_sub *ss = list_entry(pos, struct sess_sub, node);
		if (topic__parse_share((const uint8_t *)ss->filter, ss->len, g, gl, f, fl) != 1 ||
		    topic__hash(*g, *gl) != share || !topic__matches(*f, *fl, m->topic, m->topic_len))
			continue;
		struct other_member o = {.leaving = s};
		if (subs__shared_group(b->subs, *g, *gl, *f, *fl, find_other, &o) == 0 && o.found) return ss;
		return NULL;
	}
	return NULL;
}

/* Moves msg/d into taken when another member of its group can take it. Session lock held.
 * Returns true when moved (d's contents then belong to taken). */
static bool take(struct broker *b, struct session *s, struct message *msg, struct dmeta *d, struct list *taken)
{
	const uint8_t *g, *f;
	size_t gl, fl;
	if (!share_target(b, s, d->share, msg, &g, &gl, &f, &fl)) return false;
	struct taken *t = malloc(sizeof(*t) + gl + fl);
	if (!t) return false;
	t->msg = msg__ref(msg);
	t->d = *d;
	*d = (struct dmeta){0};
	t->glen = gl;
	t->flen = fl;
	memcpy(t->gf, g, gl);
	memcpy(t->gf + gl, f, fl);
	list__add_tail(taken, &t->node);
	return true;
}

void session__take_shared_locked(struct broker *b, struct session *s, struct list *taken)
{
	uint64_t now = clock__ms();
	struct list *pos, *n;
	list_for_each_safe(pos, n, &s->inflight)
	{
		struct inflight *f = list_entry(pos, struct inflight, node);
		if (f->d.share && f->state == IF_WAIT_PUBACK && !msg__expired(f->msg, now) &&
		    take(b, s, f->msg, &f->d, taken))
			remove_inflight(b, s, f);
	}
	list_for_each_safe(pos, n, &s->queue)
	{
		struct queued *q = list_entry(pos, struct queued, node);
		if (q->d.share && !msg__expired(q->msg, now) && take(b, s, q->msg, &q->d, taken)) {
			list__del(&q->node);
			persist__out_del(b, s, q->seq);
			free_queued(s, q);
		}
	}
}

void session__give_shared(struct broker *b, struct worker *w, struct session *s, struct list *taken)
{
	struct list *node;
	while ((node = list__pop(taken))) {
		struct taken *t = list_entry(node, struct taken, node);
		const uint8_t *g = (const uint8_t *)t->gf;
		if (!broker__redeliver_shared(b, w, g, t->glen, g + t->glen, t->flen, s, t->msg)) {
			/* The other members went meanwhile: it stays with this session. */
			struct delivery d = as_delivery(&t->d);
			session__deliver(b, w, s, t->msg, &d);
		}
		msg__unref(t->msg);
		dmeta__fini(&t->d);
		free(t);
	}
}

/* ---- the store's answers ---- */

/* Room on the wire for one more in the client's Receive Maximum: entries still unsent or held are not on it. */
static bool wire_room(struct broker *b, const struct session *s)
{
	uint32_t max = b->conf.max_inflight_messages;
	if (max == 0 || max > WINDOW_MAX) max = WINDOW_MAX;
	if (s->conn && s->conn->send_max < max) max = s->conn->send_max;
	return s->inflight_count - s->held_count - s->unsent_count < max;
}

/* An unsent entry whose row could not be written or marked: not sent. One from the queue goes back to it (its
 * row is still there, as queued) onto back; the others are dropped (their publishers were refused). Lock held;
 * f off every list. */
static void unsend(struct session *s, struct inflight *f, struct list *back)
{
	struct queued *q = f->requeue ? malloc(sizeof(*q)) : NULL;
	if (q) {
		q->msg = f->msg;
		q->d = f->d;
		q->seq = f->seq;
		list__add_tail(back, &q->node);
		s->queued_count++;
		s->queued_bytes += msg__size(q->msg);
	} else {
		msg__unref(f->msg);
		dmeta__fini(&f->d);
	}
	idset__remove(&s->out_pids, f->pid);
	s->inflight_count--;
	free(f);
}

void session__committed(struct broker *b, struct session *s, uint64_t seq, int rc)
{
	struct conn *flush = NULL, *failed = NULL;
	bool dropped = false;
	struct list back;
	list__init(&back);
	lock__acquire(&s->lock);
	while (!list__empty(&s->unsent)) {
		struct inflight *f = list_entry(s->unsent.next, struct inflight, node);
		if (f->seq > seq) break;
		list__del(&f->node);
		bool room = wire_room(b, s);
		s->unsent_count--;
		if (rc) {
			unsend(s, f, &back);
			if (s->conn && !failed) failed = conn__ref(s->conn);
			continue;
		}
		list__add_tail(&s->inflight, &f->node);
		/* Behind entries a resume holds back, or past the window of a client that came back with a smaller
		 * Receive Maximum, it waits its turn (pump sends it). */
		int r = s->conn && !s->held_count && room
				? conn__queue_publish(s->conn, f->msg, f->d.qos, f->pid, false, f->d.retain, f->d.subids,
						      f->d.nsubids)
				: MIDGE_ERR_CLOSED;
		if (r == 0) {
			f->sent = true;
			if (!flush) flush = conn__ref(s->conn);
		} else if (r == MIDGE_ERR_TOO_LARGE) {
			dropped = count_drop(b);
			remove_inflight(b, s, f);
		} else {
			f->held = true;
			s->held_count++;
		}
	}
	/* Back to the head of the queue, in their order. */
	while (!list__empty(&back)) {
		struct list *n = back.prev;
		list__del(n);
		list__add_head(&s->queue, n);
	}
	lock__release(&s->lock);
	kick_flush(flush, NULL);
	if (failed) {
		/* It resumes from what is kept when it comes back; that is also when the marks are tried again. */
		persist__close_conn(failed);
		conn__unref(failed);
	}
	log_drop(b, s, dropped ? "larger than its maximum packet size" : NULL);
}

void session__rel_committed(struct broker *b, struct session *s, uint64_t seq, int rc)
{
	struct conn *flush = NULL, *failed = NULL;
	lock__acquire(&s->lock);
	struct list *pos;
	for (pos = s->inflight.next; pos != &s->inflight; pos = pos->next) {
		struct inflight *f = list_entry(pos, struct inflight, node);
		if (f->seq != seq || !f->rel_wait) continue;
		f->rel_wait = false;
		if (rc) {
			/* The row still says PUBREC awaited: so does the session again, and the client, closed, sends
			 * PUBREC once more for the PUBLISH resent when it resumes. */
			f->state = IF_WAIT_PUBREC;
			if (s->conn) failed = conn__ref(s->conn);
			break;
		}
		msg__unref(f->msg);
		f->msg = NULL;
		/* A held one is resent (as a PUBREL) when its turn comes. */
		if (s->conn && !f->held && conn__queue_ack(s->conn, MQTT_PUBREL, f->pid) == 0) flush = conn__ref(s->conn);
		break;
	}
	lock__release(&s->lock);
	kick_flush(flush, NULL);
	if (failed) {
		persist__close_conn(failed);
		conn__unref(failed);
	}
}

bool session__fetched(struct broker *b, struct session *s, struct message *m, const struct delivery *d, uint64_t seq)
{
	(void)b;
	bool ok = true;
	lock__acquire(&s->lock);
	if (!s->dead && seq > s->mem_seq) {
		struct queued *q = malloc(sizeof(*q));
		if (q && dmeta_copy(&q->d, d) == 0) {
			size_t size = msg__size(m);
			q->msg = msg__ref(m);
			q->seq = seq;
			list__add_tail(&s->queue, &q->node);
			s->queued_count++;
			s->queued_bytes += size;
			s->spilled -= s->spilled ? 1 : 0;
			s->spilled_bytes -= s->spilled_bytes >= size ? size : s->spilled_bytes;
			s->mem_seq = seq;
		} else {
			free(q); /* stays on disk, and so does the rest of this batch: the next read starts with it */
			ok = false;
		}
	}
	lock__release(&s->lock);
	return ok;
}

void session__fetch_done(struct broker *b, struct session *s, long rows)
{
	struct conn *flush = NULL;
	lock__acquire(&s->lock);
	s->fetching = false;
	if (rows <= 0 && s->spilled) {
		/* Nothing more to read: the rest were never committed (their publishers were refused), or the disk
		 * cannot be read (logged); what is there comes back with the next start. */
		s->spilled = 0;
		s->spilled_bytes = 0;
	}
	if (!s->dead && s->conn && pump(b, s)) flush = conn__ref(s->conn);
	lock__release(&s->lock);
	kick_flush(flush, NULL);
}

int session__restore_out(struct session *s, struct message *m, const struct delivery *d, uint64_t seq, uint16_t pid,
			 uint8_t state)
{
	if (!pid) {
		struct queued *q = malloc(sizeof(*q));
		if (!q || !m || dmeta_copy(&q->d, d)) {
			free(q);
			return MIDGE_ERR_NOMEM;
		}
		q->msg = msg__ref(m);
		q->seq = seq;
		list__add_tail(&s->queue, &q->node);
		s->queued_count++;
		s->queued_bytes += msg__size(m);
		return 0;
	}
	if (!m && state != IF_WAIT_PUBCOMP) return 0; /* a message row without its message: nothing to resend */
	/* It may have gone out before the broker stopped: held until the client is back, resent with DUP. */
	struct inflight *f = malloc(sizeof(*f));
	if (!f || dmeta_copy(&f->d, d)) {
		free(f);
		return MIDGE_ERR_NOMEM;
	}
	if (idset__add(&s->out_pids, pid) < 0) {
		dmeta__fini(&f->d);
		free(f);
		return MIDGE_ERR_NOMEM;
	}
	f->msg = m && state != IF_WAIT_PUBCOMP ? msg__ref(m) : NULL;
	f->requeue = false;
	f->seq = seq;
	f->pid = pid;
	f->state = state;
	f->held = true;
	f->sent = true;
	f->rel_wait = false;
	list__add_tail(&s->inflight, &f->node);
	s->inflight_count++;
	s->held_count++;
	if (pid > s->last_pid) s->last_pid = pid;
	return 0;
}
