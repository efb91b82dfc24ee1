/* A connected MQTT-SN client's datagrams, as the MQTT packets they stand for (handed to its connection with
 * worker__feed), or answered by the gateway itself where MQTT has no such packet (REGISTER, sleep, will updates,
 * refusals MQTT 3.1.1 could not say). See sn_int.h. */
#include <string.h>

#include "common/clock.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "conn.h"
#include "message.h"
#include "midge/midge.h"
#include "persist.h"
#include "session.h"
#include "sn_int.h"
#include "worker.h"

static void count(atomic_uint_fast64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

static void reply(struct sn_client *cl, const struct sn_msg *m) { sn_gw__send(cl->gw, &cl->key, m); }

static void reply_ack(struct sn_client *cl, uint8_t type, uint16_t topic_id, uint16_t msg_id, uint8_t rc)
{
	struct sn_msg m = {.type = type, .topic_id = topic_id, .msg_id = msg_id, .rc = rc};
	reply(cl, &m);
}

/* Hands one encoded MQTT packet to the client's connection. cl may be freed on return (the packet closed the
 * connection) unless the result is MIDGE_ERR_AGAIN (dropped: input already waits past its bound). */
static int feed(struct sn_client *cl, const struct buf *pkt)
{
	int r = worker__feed(cl->gw->w, cl->conn, buf__head(pkt), buf__len(pkt));
	if (r == MIDGE_ERR_AGAIN) count(&cl->gw->stats.congested);
	return r;
}

static int feed_bytes(struct sn_client *cl, const uint8_t *p, size_t n)
{
	struct buf b = {.data = (uint8_t *)p, .start = 0, .end = n, .cap = n};
	return feed(cl, &b);
}

void sn_in__connect(struct sn_client *cl)
{
	struct sn_gw *g = cl->gw;
	const uint8_t *p = buf__head(&cl->connect);
	size_t len = buf__len(&cl->connect);
	struct mqtt_connect ct = {
	    .version = MQTT_V311,
	    .clean = cl->clean,
	    .keepalive = cl->duration,
	    .client_id = {p, cl->id_len},
	};
	if (cl->will_topic_len) {
		ct.will = true;
		ct.will_qos = cl->will_qos;
		ct.will_retain = cl->will_retain;
		ct.will_topic = (struct mqtt_str){p + cl->id_len, cl->will_topic_len};
		ct.will_payload = (struct mqtt_str){p + cl->id_len + cl->will_topic_len,
						    (uint32_t)(len - cl->id_len - cl->will_topic_len)};
	}
	struct buf pkt = {0};
	struct conn *c = NULL;
	uint8_t rc = SN_RC_CONGESTION;
	if (!utf8__valid(ct.client_id.p, ct.client_id.len)) rc = SN_RC_NOT_SUPPORTED; /* MQTT's client ids are UTF-8 */
	else if (atomic_load_explicit(&g->nclients, memory_order_relaxed) >= g->max_clients) count(&g->stats.congested);
	else if (!proto__encode_connect(&pkt, &ct)) c = conn__new(g->l, -1, cl->addr);
	if (!c) {
		struct sn_msg m = {.type = SN_CONNACK, .rc = rc};
		reply(cl, &m);
		buf__fini(&pkt);
		sn_gw__unlink(g, cl);
		sn_link__free(cl);
		return;
	}
	buf__fini(&cl->connect);
	c->tp.ops = &sn_link__ops;
	c->tp.impl = cl;
	c->max_out_packet = SN_MAX_OUT_PACKET;
	cl->conn = c;
	cl->state = SN_ACTIVE;
	cl->keepalive = cl->duration;
	atomic_fetch_add_explicit(&g->nclients, 1, memory_order_relaxed);
	atomic_fetch_add(&g->l->nconns, 1);
	worker__add_local(g->w, c);
	/* The broker answers with CONNACK (or a refusal, which closes the connection and frees cl). */
	feed(cl, &pkt);
	buf__fini(&pkt);
}

/* The topic a PUBLISH, SUBSCRIBE or UNSUBSCRIBE names: by name (SUBSCRIBE and UNSUBSCRIBE with TopicIdType 0),
 * predefined id, short name, or (PUBLISH) registered id. NULL when it names none. */
static const uint8_t *topic_in(struct sn_client *cl, const struct sn_msg *m, bool by_name, uint8_t idf[2], size_t *len)
{
	if (m->topic_type == SN_TOPIC_NORMAL && by_name) {
		*len = m->text.len;
		return m->text.p;
	}
	if (m->topic_type == SN_TOPIC_SHORT && by_name) {
		/* SUBSCRIBE carries a short name in its topic field, as text. */
		*len = m->text.len;
		return m->text.len == 2 ? m->text.p : NULL;
	}
	idf[0] = (uint8_t)(m->topic_id >> 8);
	idf[1] = (uint8_t)m->topic_id;
	const uint8_t *t = sn_gw__topic_of(cl->gw, cl, m->topic_type, m->topic_id, idf, len);
	return t && utf8__valid(t, *len) ? t : NULL;
}

static void on_publish(struct sn_client *cl, const struct sn_msg *m)
{
	struct broker *b = cl->gw->b;
	uint8_t idf[2];
	size_t tlen = 0;
	const uint8_t *topic = topic_in(cl, m, false, idf, &tlen);
	uint8_t rc = SN_RC_ACCEPTED;
	if (!topic || !topic__valid_name(topic, tlen)) rc = SN_RC_INVALID_TOPIC_ID;
	else if (m->qos > b->conf.max_qos || (m->qos > 0 && m->msg_id == 0) || (m->retain && !b->conf.retain_available))
		rc = SN_RC_NOT_SUPPORTED; /* MQTT 3.1.1 would close the connection; MQTT-SN can say no */
	if (rc) {
		reply_ack(cl, SN_PUBACK, m->topic_id, m->msg_id, rc);
		return;
	}
	struct mqtt_publish p = {
	    .qos = (uint8_t)m->qos,
	    .dup = m->dup && m->qos > 0,
	    .retain = m->retain,
	    .topic = {topic, (uint32_t)tlen},
	    .packet_id = m->qos > 0 ? m->msg_id : 0,
	    .payload = m->data,
	};
	struct buf pkt = {0};
	if (proto__encode_publish(&pkt, MQTT_V311, &p)) {
		buf__fini(&pkt);
		return;
	}
	if (b->conf.max_packet_size && buf__len(&pkt) > b->conf.max_packet_size) {
		/* An MQTT client would be disconnected for it; an MQTT-SN one is told no. */
		buf__fini(&pkt);
		reply_ack(cl, SN_PUBACK, m->topic_id, m->msg_id, SN_RC_NOT_SUPPORTED);
		return;
	}
	if (m->qos > 0) {
		/* Its PUBACK repeats the topic id. */
		cl->in_ids[cl->in_next % SN_IN_IDS].msg_id = m->msg_id;
		cl->in_ids[cl->in_next % SN_IN_IDS].topic_id = m->topic_id;
		cl->in_next++;
	}
	int r = feed(cl, &pkt);
	buf__fini(&pkt);
	if (r == MIDGE_ERR_AGAIN && m->qos > 0) reply_ack(cl, SN_PUBACK, m->topic_id, m->msg_id, SN_RC_CONGESTION);
}

static void on_register(struct sn_client *cl, const struct sn_msg *m)
{
	if (!utf8__valid(m->text.p, m->text.len) || !topic__valid_name(m->text.p, m->text.len)) {
		reply_ack(cl, SN_REGACK, 0, m->msg_id, SN_RC_NOT_SUPPORTED);
		return;
	}
	bool evicted;
	struct sn_topic *e = sn_topics__add(&cl->topics, m->text.p, m->text.len, &evicted);
	if (!e) {
		reply_ack(cl, SN_REGACK, 0, m->msg_id, SN_RC_CONGESTION);
		return;
	}
	e->known = true;
	reply_ack(cl, SN_REGACK, e->id, m->msg_id, SN_RC_ACCEPTED);
}

/* True when the PUBLISH at the head of pend goes without a normal topic id (predefined or short). */
static bool head_needs_no_register(struct sn_client *cl, const struct mqtt_publish *p)
{
	return p->topic.len == 2 || sn_predef__by_topic(&cl->gw->predef, p->topic.p, p->topic.len);
}

/* The client answered a REGISTER of the gateway: it is verified (it could only know the message id by receiving
 * it), and the packets waiting behind the REGISTER go on. Refused, the message that needed the topic is not sent
 * to this client (unless it can go with a predefined id or a short name after all); the broker is told it was
 * taken, so its window moves on. */
static void on_regack(struct sn_client *cl, const struct sn_msg *m)
{
	if (!sn_link__answered(cl, SN_REGACK, m->msg_id)) {
		count(&cl->gw->stats.unexpected);
		return;
	}
	cl->verified = true;
	struct sn_topic *e = sn_topics__by_id(&cl->topics, m->topic_id);
	if (m->rc == SN_RC_ACCEPTED && e) e->known = true;
	struct conn *c = cl->conn;
	if (!cl->reg_wait || m->msg_id != cl->reg_msg_id) {
		/* A REGISTER after the client said it did not know an id: its PUBLISH is resent now. */
		sn_link__wake(cl);
		return;
	}
	cl->reg_wait = false;
	struct mqtt_frame f;
	struct mqtt_publish p;
	if (m->rc != SN_RC_ACCEPTED &&
	    proto__frame(buf__head(&cl->pend), buf__len(&cl->pend), 0, &f) == PROTO_OK &&
	    proto__decode_publish(&f, MQTT_V311, &p) == PROTO_OK && !head_needs_no_register(cl, &p)) {
		buf__consume(&cl->pend, f.total_len);
		if (p.qos > 0) {
			uint8_t ack[4];
			size_t n = proto__encode_ack(ack, p.qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p.packet_id);
			if (p.qos == 2 && cl->nswallow < SN_SUB_IDS) cl->swallow[cl->nswallow++] = p.packet_id;
			sn_link__drain(cl);
			feed_bytes(cl, ack, n);
			if (c->state == CONN_CLOSED) return;
			conn__schedule(c, cl->gw->w);
			return;
		}
	}
	sn_link__drain(cl);
	conn__schedule(c, cl->gw->w); /* what waited in the connection's output for room in pend */
}

/* PUBACK, PUBREC, PUBCOMP for the gateway's PUBLISHes and PUBREL for the client's, as MQTT acks. */
static void on_ack(struct sn_client *cl, const struct sn_msg *m)
{
	if (m->msg_id == 0) {
		count(&cl->gw->stats.unexpected);
		return;
	}
	if (m->type == SN_PUBACK && m->rc != SN_RC_ACCEPTED) {
		/* Refused, the message is not delivered: it stays waiting for its answer. Congestion: it is resent after
		 * Tretry. An id the client does not know: the topic is registered again, then it is resent. */
		struct sn_topic *e = sn_topics__by_id(&cl->topics, m->topic_id);
		if (m->rc == SN_RC_INVALID_TOPIC_ID && e) {
			e->known = false;
			sn_link__register(cl, e);
		}
		return;
	}
	if (!worker__can_feed(cl->conn)) {
		count(&cl->gw->stats.congested); /* the client's resend, or ours, brings it again */
		return;
	}
	uint8_t type = m->type == SN_PUBACK ? MQTT_PUBACK : m->type == SN_PUBREC ? MQTT_PUBREC
					   : m->type == SN_PUBCOMP ? MQTT_PUBCOMP : MQTT_PUBREL;
	/* Before the broker hears it: its answer may reuse the packet id at once, with a retry of its own. */
	if (type != MQTT_PUBREL) sn_link__answered(cl, m->type, m->msg_id);
	uint8_t ack[4];
	size_t n = proto__encode_ack(ack, type, m->msg_id);
	feed_bytes(cl, ack, n);
}

static void on_subscribe(struct sn_client *cl, const struct sn_msg *m)
{
	bool sub = m->type == SN_SUBSCRIBE;
	uint8_t idf[2];
	size_t flen = 0;
	const uint8_t *filter = topic_in(cl, m, true, idf, &flen);
	uint8_t rc = SN_RC_ACCEPTED;
	if (!filter || !utf8__valid(filter, flen) || !topic__valid_filter(filter, flen)) rc = SN_RC_INVALID_TOPIC_ID;
	else if (m->msg_id == 0) rc = SN_RC_NOT_SUPPORTED;
	if (rc) {
		if (sub) {
			struct sn_msg r = {.type = SN_SUBACK, .msg_id = m->msg_id, .rc = rc};
			reply(cl, &r);
		} else {
			struct sn_msg r = {.type = SN_UNSUBACK, .msg_id = m->msg_id};
			reply(cl, &r);
		}
		return;
	}
	struct mqtt_str f = {filter, (uint32_t)flen};
	struct buf pkt = {0};
	int r;
	if (sub) {
		/* SUBACK gives the topic id the gateway will publish with: a predefined one, or for a plain name
		 * (no wildcards, not short) a registered one; none for wildcards and short names. */
		uint16_t tid = 0;
		uint8_t kind = m->topic_type;
		if (kind == SN_TOPIC_PREDEFINED) tid = m->topic_id;
		else if (kind == SN_TOPIC_NORMAL && !memchr(filter, '+', flen) && !memchr(filter, '#', flen)) {
			bool evicted;
			struct sn_topic *e = sn_topics__add(&cl->topics, filter, flen, &evicted);
			if (e) tid = e->id;
		}
		unsigned i = cl->sub_next++ % SN_SUB_IDS;
		cl->sub_ids[i].msg_id = m->msg_id;
		cl->sub_ids[i].topic_id = tid;
		cl->sub_ids[i].kind = kind;
		uint8_t qos = m->qos < 0 ? 0 : (uint8_t)m->qos;
		r = proto__encode_subscribe(&pkt, MQTT_V311, m->msg_id, &f, &qos, 1, NULL);
	} else {
		r = proto__encode_unsubscribe(&pkt, MQTT_V311, m->msg_id, &f, 1, NULL);
	}
	if (!r && feed(cl, &pkt) == MIDGE_ERR_AGAIN && sub) {
		struct sn_msg a = {.type = SN_SUBACK, .msg_id = m->msg_id, .rc = SN_RC_CONGESTION};
		reply(cl, &a);
	}
	buf__fini(&pkt);
}

static void on_pingreq(struct sn_client *cl, const struct sn_msg *m)
{
	/* With its client id from a sleeping client: it is awake until the PINGRESP, which goes after what was
	 * buffered for it (sn_link.c). */
	if (m->text.len && cl->state == SN_ASLEEP) {
		cl->state = SN_AWAKE;
		sn_link__wake(cl);
	} else if (cl->state == SN_ASLEEP) {
		/* Without it, a sleeping client only says it is alive: answered here, as the broker's PINGRESP would
		 * wait behind its buffered messages. */
		cl->conn->last_rx_ms = clock__ms();
		struct sn_msg r = {.type = SN_PINGRESP};
		reply(cl, &r);
		return;
	}
	uint8_t ping[2];
	size_t n = proto__encode_empty(ping, MQTT_PINGREQ);
	feed_bytes(cl, ping, n);
}

static void on_disconnect(struct sn_client *cl, const struct sn_msg *m)
{
	struct conn *c = cl->conn;
	if (m->has_duration && m->duration) {
		/* Sleep: the session and the connection stay; output waits (bounded by the broker's queue and output
		 * limits) until the client wakes; silence past 1.5 times the duration loses it, will and all. */
		struct sn_msg r = {.type = SN_DISCONNECT};
		reply(cl, &r);
		cl->state = SN_ASLEEP;
		cl->pingresp_owed = false;
		c->keepalive = m->duration;
		c->last_rx_ms = clock__ms();
		worker__arm_keepalive(cl->gw->w, c);
		sn_link__arm(cl); /* retries pause */
		return;
	}
	/* The broker closes the connection; its transport answers with DISCONNECT. */
	uint8_t d[2];
	size_t n = proto__encode_empty(d, MQTT_DISCONNECT);
	feed_bytes(cl, d, n);
}

/* WILLTOPICUPD and WILLMSGUPD: the connection's will is replaced (or, with an empty WILLTOPICUPD, removed), and
 * for a stored session stored again. */
static void on_will_update(struct sn_client *cl, const struct sn_msg *m)
{
	struct broker *b = cl->gw->b;
	struct conn *c = cl->conn;
	bool topic = m->type == SN_WILLTOPICUPD;
	uint8_t resp = topic ? SN_WILLTOPICRESP : SN_WILLMSGRESP;
	struct message *old = c->will, *nw = NULL;
	if (topic && (!m->has_flags || !m->text.len)) {
		nw = NULL;
	} else if (topic) {
		if (m->qos < 0 || m->qos > b->conf.max_qos || !utf8__valid(m->text.p, m->text.len) ||
		    !topic__valid_name(m->text.p, m->text.len) || (m->retain && !b->conf.retain_available)) {
			reply_ack(cl, resp, 0, 0, SN_RC_NOT_SUPPORTED);
			return;
		}
		nw = msg__new(m->text.p, m->text.len, old ? old->payload : NULL, old ? old->payload_len : 0,
			      (uint8_t)m->qos, m->retain);
		if (!nw) {
			reply_ack(cl, resp, 0, 0, SN_RC_CONGESTION);
			return;
		}
		c->will_qos = (uint8_t)m->qos;
		c->will_retain = m->retain;
	} else {
		if (!old) {
			reply_ack(cl, resp, 0, 0, SN_RC_NOT_SUPPORTED); /* no will topic to go with it */
			return;
		}
		nw = msg__new(old->topic, old->topic_len, m->data.p, m->data.len, old->qos, old->retain);
		if (!nw) {
			reply_ack(cl, resp, 0, 0, SN_RC_CONGESTION);
			return;
		}
	}
	struct session *s = c->session;
	lock__acquire(&s->lock);
	c->will = nw;
	if (s->conn == c) persist__session_online(b, s, c);
	lock__release(&s->lock);
	msg__unref(old);
	reply_ack(cl, resp, 0, 0, SN_RC_ACCEPTED);
}

void sn_in__handle(struct sn_client *cl, const struct sn_msg *m)
{
	struct conn *c = cl->conn;
	if (c->state != CONN_ACTIVE && m->type != SN_DISCONNECT) {
		/* Before CONNACK (a password-less CONNECT is answered at once, but a takeover waits): nothing else yet. */
		count(&cl->gw->stats.unexpected);
		return;
	}
	if (cl->state == SN_ASLEEP && m->type != SN_PINGREQ && m->type != SN_DISCONNECT) {
		/* A sleeping client that sends anything else is back for good: its keepalive is in force again. */
		cl->state = SN_ACTIVE;
		c->keepalive = cl->keepalive;
		worker__arm_keepalive(cl->gw->w, c);
		sn_link__wake(cl);
	}
	switch (m->type) {
	case SN_PUBLISH: on_publish(cl, m); break;
	case SN_REGISTER: on_register(cl, m); break;
	case SN_REGACK: on_regack(cl, m); break;
	case SN_PUBACK:
	case SN_PUBREC:
	case SN_PUBREL:
	case SN_PUBCOMP: on_ack(cl, m); break;
	case SN_SUBSCRIBE:
	case SN_UNSUBSCRIBE: on_subscribe(cl, m); break;
	case SN_PINGREQ: on_pingreq(cl, m); break;
	case SN_DISCONNECT: on_disconnect(cl, m); break;
	case SN_WILLTOPICUPD:
	case SN_WILLMSGUPD: on_will_update(cl, m); break;
	default: count(&cl->gw->stats.unexpected); /* WILLTOPIC or WILLMSG out of turn */
	}
}
