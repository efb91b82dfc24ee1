/* PUBLISH from a client: limits, QoS 1/2 acknowledgements, exactly-once for QoS 2, routing. */
#include "broker.h"
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "session.h"
#include "worker.h"

static int ack(struct worker *w, struct conn *c, uint8_t type, uint16_t pid)
{
	int r = conn__queue_ack(c, type, pid);
	conn__schedule(c, w);
	return r;
}

int handle__publish(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_publish p;
	int r = proto__decode_publish(f, c->version, &p);
	if (r) return dispatch__codec_err(r);
	atomic_fetch_add_explicit(&w->stats.pub_received, 1, memory_order_relaxed);

	if (p.retain && !b->conf.retain_available) {
		/* 3.x has no reason code for it: the connection is closed, as Mosquitto does. */
		log__printf(&b->log, LOG_T_NOTICE, "Client %s sent a retained message but retain is not available.",
			    c->client_id);
		return MIDGE_ERR_PROTOCOL;
	}
	bool deliver = true;
	if (b->conf.message_size_limit && p.payload.len > b->conf.message_size_limit) {
		/* Dropped, but still acknowledged so the client does not resend it forever. */
		log__printf(&b->log, LOG_T_NOTICE, "Dropped too large PUBLISH from %s (%u bytes).", c->client_id,
			    p.payload.len);
		deliver = false;
	}
	if (deliver && p.qos == 2) {
		/* Exactly once: a resent PUBLISH with a packet id still awaiting PUBREL is not routed again. */
		pthread_mutex_lock(&c->session->lock);
		deliver = session__qos2_add(c->session, p.packet_id);
		pthread_mutex_unlock(&c->session->lock);
	}
	if (deliver) {
		struct message *m = msg__new(p.topic.p, p.topic.len, p.payload.p, p.payload.len, p.qos, p.retain);
		if (!m) return MIDGE_ERR_NOMEM;
		broker__publish(b, w, m);
		msg__unref(m);
	}
	if (p.qos == 1) return ack(w, c, MQTT_PUBACK, p.packet_id);
	if (p.qos == 2) return ack(w, c, MQTT_PUBREC, p.packet_id);
	return 0;
}
