/* The transport of an MQTT-SN client's connection: the broker writes MQTT packets, this sends the datagrams they
 * stand for. A PUBLISH on a topic the client has no id for waits behind a REGISTER; gateway-initiated messages are
 * resent every Tretry until answered or Nretry is spent (the client is then lost); a sleeping client's output waits
 * in the connection, refused here, until it wakes. See sn_int.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "conn.h"
#include "midge/midge.h"
#include "session.h"
#include "sn_int.h"
#include "worker.h"

static void count(atomic_uint_fast64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

/* ---- retries ---- */

static void retry_drop(struct sn_client *cl, uint8_t answer, uint16_t msg_id, bool *found)
{
	struct list *pos, *n;
	list_for_each_safe(pos, n, &cl->retries)
	{
		struct sn_retry *r = list_entry(pos, struct sn_retry, node);
		if (r->answer == answer && r->msg_id == msg_id) {
			list__del(&r->node);
			free(r);
			*found = true;
		}
	}
}

bool sn_link__answered(struct sn_client *cl, uint8_t type, uint16_t msg_id)
{
	bool found = false;
	retry_drop(cl, type, msg_id, &found);
	return found;
}

/* Keeps the datagram just sent until its answer comes. A copy the broker sends again (a resumed session) takes
 * the place of the older one. */
static void retry_add(struct sn_client *cl, uint8_t answer, uint16_t msg_id, const uint8_t *p, size_t len)
{
	bool found = false;
	retry_drop(cl, answer, msg_id, &found);
	struct sn_retry *r = malloc(sizeof(*r) + len);
	if (!r) return; /* not retried: the client's own retry or reconnect recovers it */
	r->due_ms = clock__ms() + cl->gw->retry_ms;
	r->msg_id = msg_id;
	r->answer = answer;
	r->tries = 0;
	r->len = len;
	memcpy(r->data, p, len);
	list__add_tail(&cl->retries, &r->node);
	sn_link__arm(cl);
}

static void on_timer(struct timer *t);

void sn_link__arm(struct sn_client *cl)
{
	struct timers *tw = &cl->gw->w->loop.timers;
	uint64_t at = UINT64_MAX, now = clock__ms();
	if (cl->nowed) at = now;
	if (cl->pingresp_owed && cl->state == SN_AWAKE && now + TIMER_TICK_MS < at) at = now + TIMER_TICK_MS;
	/* The list is in due order: entries go to its tail with a later time whenever they are (re)sent. A sleeping
	 * client's retries wait for it to wake. */
	if (!list__empty(&cl->retries) && cl->state != SN_ASLEEP) {
		uint64_t due = list_entry(cl->retries.next, struct sn_retry, node)->due_ms;
		if (due < at) at = due;
	}
	if (at == UINT64_MAX) timer__cancel(tw, &cl->timer);
	else timer__arm(tw, &cl->timer, at, on_timer);
}

/* A resent PUBLISH says so in its DUP flag (the octet after the type). */
static void set_dup(struct sn_retry *r)
{
	size_t at = r->data[0] == 0x01 ? 3 : 1;
	if (r->len > at + 1 && r->data[at] == SN_PUBLISH) r->data[at + 1] |= 0x80;
}

/* Awake, the PINGRESP goes once nothing is left for the client: no packet waiting here or in the connection, no
 * message in flight or queued in its session. */
static void pingresp_check(struct sn_client *cl)
{
	struct conn *c = cl->conn;
	bool done = !cl->reg_wait && buf__len(&cl->pend) == 0 && list__empty(&cl->retries);
	if (done && c->session) {
		struct session *s = c->session;
		lock__acquire(&s->lock);
		done = s->inflight_count == 0 && s->queued_count == 0 && s->spilled == 0;
		lock__release(&s->lock);
	}
	if (done) {
		lock__acquire(&c->out_lock);
		done = list__empty(&c->out);
		lock__release(&c->out_lock);
	}
	if (!done) return;
	struct sn_msg m = {.type = SN_PINGRESP};
	sn_gw__send(cl->gw, &cl->key, &m);
	cl->pingresp_owed = false;
	cl->state = SN_ASLEEP;
}

static void on_timer(struct timer *t)
{
	struct sn_client *cl = container_of(t, struct sn_client, timer);
	struct sn_gw *g = cl->gw;
	struct conn *c = cl->conn;
	/* PUBCOMPs owed to the broker for PUBRELs the client was spared. */
	while (cl->nowed) {
		uint8_t ack[4];
		size_t n = proto__encode_ack(ack, MQTT_PUBCOMP, cl->owed_comp[--cl->nowed]);
		worker__feed(g->w, c, ack, n);
		if (c->state == CONN_CLOSED) return; /* cl is gone */
	}
	uint64_t now = clock__ms();
	if (cl->state != SN_ASLEEP) {
		struct list again;
		list__init(&again);
		while (!list__empty(&cl->retries)) {
			struct sn_retry *r = list_entry(cl->retries.next, struct sn_retry, node);
			if (r->due_ms > now) break;
			if (r->tries >= g->retries) {
				list__splice_tail(&cl->retries, &again); /* freed with the client */
				count(&g->stats.lost);
				log__printf(&g->b->log, LOG_T_NOTICE, "MQTT-SN client %s lost: no %s after %u retries.",
					    c->client_id ? c->client_id : cl->addr, sn__type_name(r->answer), r->tries);
				worker__close(g->w, c, "no answer to retries");
				return; /* cl is gone */
			}
			set_dup(r);
			sn_gw__send_raw(g, &cl->key, r->data, r->len);
			count(&g->stats.retries);
			r->tries++;
			r->due_ms = now + g->retry_ms;
			list__del(&r->node);
			list__add_tail(&again, &r->node);
		}
		list__splice_tail(&cl->retries, &again);
	}
	if (cl->pingresp_owed && cl->state == SN_AWAKE) pingresp_check(cl);
	sn_link__arm(cl);
}

void sn_link__wake(struct sn_client *cl)
{
	/* What waited for an answer while the client slept is resent at once. */
	struct list *pos;
	for (pos = cl->retries.next; pos != &cl->retries; pos = pos->next)
		list_entry(pos, struct sn_retry, node)->due_ms = 0;
	sn_link__arm(cl);
	conn__schedule(cl->conn, cl->gw->w);
}

/* ---- the broker's packets as datagrams ---- */

static void send_msg(struct sn_client *cl, const struct sn_msg *m, uint8_t answer)
{
	struct sn_gw *g = cl->gw;
	if (sn_gw__send(g, &cl->key, m)) return;
	/* g->out still holds the message (an envelope is made in g->env): a retry keeps its own copy. */
	if (answer) retry_add(cl, answer, m->msg_id, buf__head(&g->out), buf__len(&g->out));
}

void sn_link__register(struct sn_client *cl, struct sn_topic *e)
{
	struct sn_msg reg = {.type = SN_REGISTER, .topic_id = e->id, .msg_id = cl->next_msg_id,
			     .text = {(const uint8_t *)e->name, e->len}};
	cl->next_msg_id = cl->next_msg_id == 0xFFFF ? 1 : (uint16_t)(cl->next_msg_id + 1);
	send_msg(cl, &reg, SN_REGACK);
}

/* A PUBLISH to the client: with its predefined id, its short name, or the id it knows; else a REGISTER goes
 * first and the PUBLISH waits (returns true). A client not yet verified gets that REGISTER whatever the topic. */
static bool out_publish(struct sn_client *cl, const struct mqtt_frame *f)
{
	struct mqtt_publish p;
	if (proto__decode_publish(f, MQTT_V311, &p) != PROTO_OK) return false;
	const struct sn_predef *pre = sn_predef__by_topic(&cl->gw->predef, p.topic.p, p.topic.len);
	struct sn_topic *e = sn_topics__by_name(&cl->topics, p.topic.p, p.topic.len);
	struct sn_msg m = {.type = SN_PUBLISH, .dup = p.dup, .qos = (int8_t)p.qos, .retain = p.retain,
			   .msg_id = p.packet_id, .data = p.payload};
	if (cl->verified && pre) {
		m.topic_type = SN_TOPIC_PREDEFINED;
		m.topic_id = pre->id;
	} else if (cl->verified && p.topic.len == 2) {
		m.topic_type = SN_TOPIC_SHORT;
		m.topic_id = (uint16_t)(p.topic.p[0] << 8 | p.topic.p[1]);
	} else if (cl->verified && e && e->known) {
		m.topic_type = SN_TOPIC_NORMAL;
		m.topic_id = e->id;
	} else {
		bool evicted;
		if (!e) e = sn_topics__add(&cl->topics, p.topic.p, p.topic.len, &evicted);
		if (!e) return false; /* out of memory, or a name too long for the registry: not sent */
		cl->reg_msg_id = cl->next_msg_id;
		sn_link__register(cl, e);
		cl->reg_wait = true;
		return true;
	}
	send_msg(cl, &m, p.qos == 1 ? SN_PUBACK : p.qos == 2 ? SN_PUBREC : 0);
	return false;
}

static bool take_id(uint16_t *ids, unsigned *n, uint16_t id)
{
	for (unsigned i = 0; i < *n; i++) {
		if (ids[i] == id) {
			ids[i] = ids[--*n];
			return true;
		}
	}
	return false;
}

/* One packet from the broker. Returns true when it must wait (a REGISTER was sent for it). */
static bool translate(struct sn_client *cl, const struct mqtt_frame *f)
{
	struct sn_msg m = {0};
	switch (f->type) {
	case MQTT_CONNACK: {
		struct mqtt_connack a;
		if (proto__decode_connack(f, MQTT_V311, &a) != PROTO_OK) return false;
		/* 3.1.1's refusals in MQTT-SN's words: server unavailable is congestion, the rest "not supported". */
		m.type = SN_CONNACK;
		m.rc = a.rc == 0 ? SN_RC_ACCEPTED : a.rc == 3 ? SN_RC_CONGESTION : SN_RC_NOT_SUPPORTED;
		cl->connack_ok = a.rc == 0;
		send_msg(cl, &m, 0);
		return false;
	}
	case MQTT_PUBLISH: return out_publish(cl, f);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
	case MQTT_PUBREL: {
		struct mqtt_ack a;
		if (proto__decode_ack(f, MQTT_V311, &a) != PROTO_OK) return false;
		m.msg_id = a.packet_id;
		if (f->type == MQTT_PUBACK) {
			m.type = SN_PUBACK;
			for (unsigned i = 0; i < SN_IN_IDS; i++)
				if (cl->in_ids[i].msg_id == a.packet_id) m.topic_id = cl->in_ids[i].topic_id;
		} else if (f->type == MQTT_PUBREC) {
			m.type = SN_PUBREC;
		} else if (f->type == MQTT_PUBCOMP) {
			m.type = SN_PUBCOMP;
		} else {
			if (take_id(cl->swallow, &cl->nswallow, a.packet_id)) {
				if (cl->nowed < SN_SUB_IDS) cl->owed_comp[cl->nowed++] = a.packet_id;
				sn_link__arm(cl);
				return false;
			}
			m.type = SN_PUBREL;
		}
		send_msg(cl, &m, m.type == SN_PUBREL ? SN_PUBCOMP : 0);
		return false;
	}
	case MQTT_SUBACK: {
		struct mqtt_suback a;
		if (proto__decode_suback(f, MQTT_V311, &a) != PROTO_OK || !a.codes.len) return false;
		uint8_t code = a.codes.p[0];
		m.type = SN_SUBACK;
		m.msg_id = a.packet_id;
		m.qos = code < 0x80 ? (int8_t)code : 0;
		m.rc = code < 0x80 ? SN_RC_ACCEPTED : SN_RC_NOT_SUPPORTED;
		for (unsigned i = 0; i < SN_SUB_IDS; i++) {
			if (cl->sub_ids[i].msg_id != a.packet_id) continue;
			m.topic_id = code < 0x80 ? cl->sub_ids[i].topic_id : 0;
			if (code < 0x80 && cl->sub_ids[i].kind == SN_TOPIC_NORMAL && m.topic_id) {
				/* The client learns the id from this SUBACK: later PUBLISHes use it without a REGISTER. */
				struct sn_topic *e = sn_topics__by_id(&cl->topics, m.topic_id);
				if (e) e->known = true;
			}
			cl->sub_ids[i].msg_id = 0;
		}
		send_msg(cl, &m, 0);
		return false;
	}
	case MQTT_UNSUBACK: {
		struct mqtt_suback a;
		if (proto__decode_unsuback(f, MQTT_V311, &a) != PROTO_OK) return false;
		m.type = SN_UNSUBACK;
		m.msg_id = a.packet_id;
		send_msg(cl, &m, 0);
		return false;
	}
	case MQTT_PINGRESP:
		if (cl->state == SN_AWAKE) {
			cl->pingresp_owed = true; /* after the buffered messages: on_timer decides when */
			sn_link__arm(cl);
			return false;
		}
		m.type = SN_PINGRESP;
		send_msg(cl, &m, 0);
		return false;
	default:
		return false; /* nothing else reaches an MQTT 3.1.1 client */
	}
}

void sn_link__drain(struct sn_client *cl)
{
	while (!cl->reg_wait && buf__len(&cl->pend)) {
		struct mqtt_frame f;
		int r = proto__frame(buf__head(&cl->pend), buf__len(&cl->pend), 0, &f);
		if (r == PROTO_NEED_MORE) break;
		if (r != PROTO_OK) { /* cannot happen: the broker writes whole, valid packets */
			buf__clear(&cl->pend);
			break;
		}
		if (translate(cl, &f)) break;
		buf__consume(&cl->pend, f.total_len);
	}
}

/* ---- the transport ---- */

static ssize_t link_read(struct transport *t, void *buf, size_t len)
{
	(void)t, (void)buf, (void)len;
	errno = EAGAIN; /* input is pushed by the gateway (worker__feed) */
	return -1;
}

static ssize_t link_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct sn_client *cl = t->impl;
	if (!cl) {
		errno = EPIPE;
		return -1;
	}
	size_t have = buf__len(&cl->pend);
	/* Asleep, or a REGISTER holding up a full pend: the rest stays in the connection's output, within the
	 * broker's limits, and is asked for again (conn__schedule) when this changes. */
	if (cl->state == SN_ASLEEP || have >= SN_PEND_MAX) {
		errno = EAGAIN;
		return -1;
	}
	size_t room = SN_PEND_MAX - have, taken = 0;
	for (int i = 0; i < iovcnt && taken < room; i++) {
		size_t n = iov[i].iov_len < room - taken ? iov[i].iov_len : room - taken;
		if (buf__append(&cl->pend, iov[i].iov_base, n)) break;
		taken += n;
	}
	if (!taken) {
		errno = ENOMEM;
		return -1;
	}
	sn_link__drain(cl);
	return (ssize_t)taken;
}

void sn_link__free(struct sn_client *cl)
{
	if (!cl) return;
	timer__cancel(&cl->gw->w->loop.timers, &cl->timer);
	struct list *n;
	while ((n = list__pop(&cl->retries))) free(list_entry(n, struct sn_retry, node));
	sn_topics__fini(&cl->topics);
	buf__fini(&cl->pend);
	buf__fini(&cl->connect);
	free(cl);
}

static void link_close(struct transport *t)
{
	struct sn_client *cl = t->impl;
	t->impl = NULL;
	if (!cl) return;
	struct sn_gw *g = cl->gw;
	/* The client hears that the gateway is done with it: its own DISCONNECT acknowledged, or the connection
	 * closed (taken over, timed out). Not after a refused CONNACK, which said it already. */
	if (cl->connack_ok) {
		struct sn_msg m = {.type = SN_DISCONNECT};
		sn_gw__send(g, &cl->key, &m);
	}
	struct conn *c = cl->conn;
	if (c && cl->state == SN_ASLEEP && !c->clean_disconnect) count(&g->stats.lost); /* overslept */
	sn_gw__unlink(g, cl);
	cl->conn = NULL;
	sn_link__free(cl);
}

const struct transport_ops sn_link__ops = {
    .name = "mqttsn",
    .read = link_read,
    .writev = link_writev,
    .close = link_close,
};
