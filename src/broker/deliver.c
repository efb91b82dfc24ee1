/* Delivery of messages to sessions: the inflight window, the offline queue, limits and drops.
 * Nothing here logs while holding a session lock: a log line may itself be published
 * (log_dest topic) and reach this very session. */
#include <stdlib.h>

#include "broker.h"
#include "conn.h"
#include "message.h"
#include "midge/midge.h"
#include "proto/proto.h"
#include "session.h"
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
	return s->inflight_count < max;
}

static bool under_cap(struct broker *b, struct conn *c)
{
	return b->conf.max_output_bytes == 0 || conn__out_bytes(c) < b->conf.max_output_bytes;
}

/* Sends m on the attached connection, adding it to the inflight window for QoS > 0. Lock held. */
static int send_now(struct session *s, struct message *m, uint8_t qos, bool retain)
{
	if (qos == 0) return conn__queue_publish(s->conn, m, 0, 0, false, retain);
	struct inflight *f = malloc(sizeof(*f));
	if (!f) return MIDGE_ERR_NOMEM;
	uint16_t pid = next_pid(s);
	if (idset__add(&s->out_pids, pid) < 0 || conn__queue_publish(s->conn, m, qos, pid, false, retain)) {
		idset__remove(&s->out_pids, pid);
		free(f);
		return MIDGE_ERR_NOMEM;
	}
	f->msg = msg__ref(m);
	f->pid = pid;
	f->qos = qos;
	f->state = qos == 1 ? IF_WAIT_PUBACK : IF_WAIT_PUBREC;
	f->retain = retain;
	list__add_tail(&s->inflight, &f->node);
	s->inflight_count++;
	return 0;
}

/* Appends to the session queue within max_queued_messages / max_queued_bytes. Lock held.
 * Returns NULL, or why the message was dropped when that drop is to be logged. */
static const char *enqueue(struct broker *b, struct session *s, struct message *m, uint8_t qos, bool retain)
{
	const struct config *cf = &b->conf;
	size_t size = msg__size(m);
	if ((cf->max_queued_messages && s->queued_count >= cf->max_queued_messages) ||
	    (cf->max_queued_bytes && s->queued_bytes + size > cf->max_queued_bytes))
		return count_drop(b) ? "queue full" : NULL;
	struct queued *q = malloc(sizeof(*q));
	if (!q) return count_drop(b) ? "out of memory" : NULL;
	q->msg = msg__ref(m);
	q->qos = qos;
	q->retain = retain;
	list__add_tail(&s->queue, &q->node);
	s->queued_count++;
	s->queued_bytes += size;
	/* Online but held back: the owner pumps once its output drains below the cap. */
	if (s->conn) atomic_store_explicit(&s->conn->need_pump, true, memory_order_relaxed);
	return NULL;
}

/* Moves queued messages into the window while there is room. Lock held, connection attached.
 * Returns true when anything was sent. */
static bool pump(struct broker *b, struct session *s)
{
	bool sent = false;
	while (!list__empty(&s->queue) && window_open(b, s) && under_cap(b, s->conn)) {
		struct queued *q = list_entry(list__pop(&s->queue), struct queued, node);
		s->queued_count--;
		s->queued_bytes -= msg__size(q->msg);
		send_now(s, q->msg, q->qos, q->retain);
		msg__unref(q->msg);
		free(q);
		sent = true;
	}
	return sent;
}

/* Flushes c from its owner after the session lock is released; c is referenced by the caller. */
static void kick_flush(struct conn *c, struct worker *w)
{
	if (!c) return;
	conn__schedule(c, w);
	conn__unref(c);
}

void session__deliver(struct broker *b, struct worker *w, struct session *s, struct message *m, uint8_t qos,
		      bool retain)
{
	struct conn *flush = NULL;
	const char *dropped = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->dead) goto out;
	struct conn *c = s->conn;
	if (c) {
		if (qos == 0) {
			if (!under_cap(b, c)) dropped = count_drop(b) ? "output cap reached" : NULL;
			else if (send_now(s, m, 0, retain) == 0) flush = conn__ref(c);
		} else if (list__empty(&s->queue) && window_open(b, s) && under_cap(b, c)) {
			if (send_now(s, m, qos, retain) == 0) flush = conn__ref(c);
		} else {
			dropped = enqueue(b, s, m, qos, retain);
		}
	} else if (!s->clean && (qos > 0 || b->conf.queue_qos0_messages)) {
		dropped = enqueue(b, s, m, qos, retain);
	}
out:
	pthread_mutex_unlock(&s->lock);
	kick_flush(flush, w);
	log_drop(b, s, dropped);
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

static void remove_inflight(struct session *s, struct inflight *f)
{
	list__del(&f->node);
	s->inflight_count--;
	idset__remove(&s->out_pids, f->pid);
	msg__unref(f->msg);
	free(f);
}

int session__ack(struct broker *b, struct worker *w, struct session *s, uint8_t type, uint16_t pid)
{
	int rc = 0;
	struct conn *flush = NULL;
	pthread_mutex_lock(&s->lock);
	struct inflight *f = find_inflight(s, pid);
	if (!f) {
		rc = MIDGE_ERR_NOT_FOUND;
	} else if (type == MQTT_PUBACK && f->state == IF_WAIT_PUBACK) {
		remove_inflight(s, f);
	} else if (type == MQTT_PUBREC && (f->state == IF_WAIT_PUBREC || f->state == IF_WAIT_PUBCOMP)) {
		/* The receiver owns the message now: keep only the packet id until PUBCOMP. */
		f->state = IF_WAIT_PUBCOMP;
		msg__unref(f->msg);
		f->msg = NULL;
		if (s->conn && conn__queue_ack(s->conn, MQTT_PUBREL, pid) == 0) flush = conn__ref(s->conn);
	} else if (type == MQTT_PUBCOMP && f->state == IF_WAIT_PUBCOMP) {
		remove_inflight(s, f);
	} else {
		rc = MIDGE_ERR_PROTOCOL;
	}
	if (s->conn && pump(b, s) && !flush) flush = conn__ref(s->conn);
	pthread_mutex_unlock(&s->lock);
	kick_flush(flush, w);
	return rc;
}

void session__resume_locked(struct broker *b, struct session *s)
{
	struct conn *c = s->conn;
	struct list *pos, *n;
	list_for_each_safe(pos, n, &s->inflight)
	{
		struct inflight *f = list_entry(pos, struct inflight, node);
		if (f->state == IF_WAIT_PUBCOMP) {
			conn__queue_ack(c, MQTT_PUBREL, f->pid);
		} else {
			conn__queue_publish(c, f->msg, f->qos, f->pid, true, f->retain);
		}
	}
	pump(b, s);
}

bool session__pump(struct broker *b, struct worker *w, struct session *s, struct conn *c)
{
	bool sent = false, waiting = false;
	pthread_mutex_lock(&s->lock);
	if (s->conn == c) {
		sent = pump(b, s);
		waiting = !list__empty(&s->queue);
	}
	pthread_mutex_unlock(&s->lock);
	if (sent) conn__schedule(c, w);
	return waiting;
}
