/* PUBLISH from a client: limits, MQTT 5 properties and topic aliases, QoS 1/2 acknowledgements,
 * exactly-once for QoS 2, routing. */
#include <string.h>

#include "broker.h"
#include "common/clock.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "persist.h"
#include "proto/props.h"
#include "session.h"
#include "guard.h"
#include "security.h"
#include "worker.h"

/* What the broker takes from an MQTT 5 PUBLISH's properties; fwd holds the ones passed on unchanged. */
struct pub_props {
	struct buf fwd;
	uint32_t expiry; /* Message Expiry Interval, seconds; 0 = none */
	uint16_t alias;
	bool has_alias;
	bool utf8; /* Payload Format Indicator 1 */
};

/* Splits p->props. Returns 0 or a close with its reason recorded. */
static int read_props(struct conn *c, const struct mqtt_publish *p, struct pub_props *pp)
{
	size_t pos = 0, at = 0;
	struct mqtt_prop pr;
	while (props__next(&p->props, &pos, &pr)) {
		switch (pr.id) {
		case MQTT_PROP_MESSAGE_EXPIRY_INTERVAL: pp->expiry = pr.u32; break;
		case MQTT_PROP_TOPIC_ALIAS:
			pp->alias = (uint16_t)pr.u32;
			pp->has_alias = true;
			break;
		case MQTT_PROP_SUBSCRIPTION_IDENTIFIER:
			/* Only the server sends it [MQTT-3.3.4-6]. */
			return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "subscription identifier from a client",
					      MIDGE_ERR_PROTOCOL);
		case MQTT_PROP_RESPONSE_TOPIC:
			if (!topic__valid_name(pr.str.p, pr.str.len)) /* [MQTT-3.3.2-14] */
				return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "invalid response topic",
						      MIDGE_ERR_PROTOCOL);
			/* fall through */
		default:
			if (pr.id == MQTT_PROP_PAYLOAD_FORMAT_INDICATOR) pp->utf8 = pr.u32 == 1;
			if (buf__append(&pp->fwd, p->props.p + at, pos - at)) return MIDGE_ERR_NOMEM;
		}
		at = pos;
	}
	return 0;
}

/* Resolves a topic alias [MQTT-3.3.2-7..]: sets it when the PUBLISH has a topic, looks it up when not. */
static int apply_alias(struct conn *c, struct mqtt_publish *p, const struct pub_props *pp)
{
	uint16_t alias = pp->alias;
	if (!pp->has_alias) {
		if (p->topic.len) return 0;
		return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "empty topic without alias", MIDGE_ERR_PROTOCOL);
	}
	struct alias_in *ai = c->alias ? &c->alias->in : NULL;
	if (alias == 0 || !ai || alias > ai->max)
		return dispatch__fail(c, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias out of range", MIDGE_ERR_PROTOCOL);
	if (p->topic.len) return alias__in_set(ai, alias, p->topic.p, p->topic.len) ? MIDGE_ERR_NOMEM : 0;
	size_t len;
	const uint8_t *t = alias__in_get(ai, alias, &len);
	if (!t) return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "unknown topic alias", MIDGE_ERR_PROTOCOL);
	p->topic = (struct mqtt_str){t, (uint32_t)len};
	return 0;
}

/* Every acknowledgement goes through persist__ack: after the commit of what this PUBLISH stored, in order. */
static int ack(struct worker *w, struct conn *c, uint8_t qos, uint16_t pid, uint8_t reason, const char *why)
{
	if (qos == 0) return 0;
	unsigned flags = qos == 2 && reason < 0x80 ? PERSIST_ACK_QOS2_IN : 0;
	int r = persist__ack(w->broker, w, c, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, pid, reason, why, flags);
	conn__schedule(c, w);
	return r;
}

/* Checks what the broker announced in CONNACK (or would refuse in 3.x). 0 or a close. */
static int check_limits(struct broker *b, struct conn *c, const struct mqtt_publish *p)
{
	if (p->qos > b->conf.max_qos) /* [MQTT-3.2.2-11] */
		return dispatch__fail(c, MQTT_RC_QOS_NOT_SUPPORTED, "QoS not supported", MIDGE_ERR_PROTOCOL);
	if (p->retain && !b->conf.retain_available) {
		/* 3.x has no reason code for it: the connection is closed, as Mosquitto does. */
		log__printf(&b->log, LOG_T_NOTICE, "Client %s sent a retained message but retain is not available.",
			    c->client_id);
		return dispatch__fail(c, MQTT_RC_RETAIN_NOT_SUPPORTED, "retain not supported", MIDGE_ERR_PROTOCOL);
	}
	if (p->qos == 2 && c->version == MQTT_V5) {
		/* The Receive Maximum the broker announced bounds the QoS 2 messages awaiting PUBREL
		 * (QoS 1 ones are acknowledged at once) [MQTT-3.3.4-7]. */
		lock__acquire(&c->session->lock);
		bool over = idset__count(&c->session->in_qos2) >= c->recv_max &&
			    !idset__has(&c->session->in_qos2, p->packet_id);
		lock__release(&c->session->lock);
		if (over)
			return dispatch__fail(c, MQTT_RC_RECEIVE_MAX_EXCEEDED, "receive maximum exceeded",
					      MIDGE_ERR_PROTOCOL);
	}
	return 0;
}

int handle__publish(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_publish p;
	int r = proto__decode_publish(f, c->version, &p);
	if (r) return dispatch__codec_err(r);
	atomic_fetch_add_explicit(&w->stats.pub_received, 1, memory_order_relaxed);
	if ((r = check_limits(b, c, &p))) return r;

	struct pub_props pp = {0};
	/* Its packet id, its deliveries' rows and its retained message are kept all together or not at all. */
	persist__group_begin(b);
	if (c->version == MQTT_V5 && ((r = read_props(c, &p, &pp)) || (r = apply_alias(c, &p, &pp)))) goto out;
	if (pp.utf8 && !utf8__valid(p.payload.p, p.payload.len)) {
		/* [MQTT-3.3.2-4] lets the receiver answer with 0x99; QoS 0 has no answer but a DISCONNECT. */
		if (p.qos == 0)
			r = dispatch__fail(c, MQTT_RC_PAYLOAD_FORMAT_INVALID, "payload is not UTF-8", MIDGE_ERR_PROTOCOL);
		else r = ack(w, c, p.qos, p.packet_id, MQTT_RC_PAYLOAD_FORMAT_INVALID, "payload is not UTF-8");
		goto out;
	}
	if (b->conf.message_size_limit && p.payload.len > b->conf.message_size_limit) {
		/* Dropped, but still acknowledged so the client does not resend it forever. */
		log__printf(&b->log, LOG_T_NOTICE, "Dropped too large PUBLISH from %s (%u bytes).", c->client_id,
			    p.payload.len);
		/* 0x97: Packet Too Large is not among the reasons a PUBACK/PUBREC may carry
		 * [MQTT-3.4.2-1, MQTT-3.5.2-1] (Mosquitto sends it anyway). */
		r = ack(w, c, p.qos, p.packet_id, MQTT_RC_QUOTA_EXCEEDED, "message size limit exceeded");
		goto out;
	}
	bool deliver = true;
	if (!security__allowed(b, security__domain(b, c->listener), c->client_id, c->username,
			       (const char *)p.topic.p, p.topic.len, ACL_WRITE)) {
		log__printf(&b->log, LOG_T_DEBUG, "Denied PUBLISH from %s (q%u, r%d, '%.*s', %u bytes).", c->client_id,
			    p.qos, p.retain ? 1 : 0, (int)p.topic.len, (const char *)p.topic.p, p.payload.len);
		/* MQTT 5 says so in the acknowledgement; 3.x has no way to, so the message is acknowledged and
		 * dropped, as Mosquitto does. */
		if (c->version == MQTT_V5) {
			r = ack(w, c, p.qos, p.packet_id, MQTT_RC_NOT_AUTHORIZED, "not authorised");
			goto out;
		}
		deliver = false;
	}
	if (p.qos == 2) {
		/* Exactly once: a resent PUBLISH with a packet id still awaiting PUBREL is not routed again. */
		lock__acquire(&c->session->lock);
		bool fresh = session__qos2_add(c->session, p.packet_id);
		if (fresh) persist__qos2(b, w, c->session, p.packet_id, true);
		/* A resend: its first copy's commit may still be running (maybe for another connection of this
		 * session), so its PUBREC waits behind it too, and says what became of it. */
		else if (persist__keeps(b, c->session)) w->store_touched = true;
		deliver = fresh && deliver;
		lock__release(&c->session->lock);
	}
	size_t n = 1;
	if (deliver) {
		/* An interval of 0 is taken as none, as Mosquitto does. */
		uint64_t expiry = pp.expiry ? clock__ms() + (uint64_t)pp.expiry * 1000u : 0;
		struct message *m = msg__new_props(p.topic.p, p.topic.len, p.payload.p, p.payload.len,
						   buf__head(&pp.fwd), buf__len(&pp.fwd), expiry, p.qos, p.retain);
		if (!m) {
			r = MIDGE_ERR_NOMEM;
			goto out;
		}
		m->guarded = guard__marks(c->listener);
		n = broker__publish(b, w, m, c->session);
		msg__unref(m);
	}
	r = ack(w, c, p.qos, p.packet_id, n ? MQTT_RC_SUCCESS : MQTT_RC_NO_MATCHING_SUBSCRIBERS, NULL);
out:
	persist__group_end(b);
	buf__fini(&pp.fwd);
	return r;
}
