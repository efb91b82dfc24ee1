/* snclient: what the gateway sends on its own: its REGISTERs, the PUBLISHes of our subscriptions (acknowledged,
 * each delivered once), PUBREL, PINGREQ, and the DISCONNECT that drops us. See exchange.h. */
#include <string.h>

#include "common/err.h"
#include "midge/midge.h"
#include "snclient/exchange.h"

static int ack(struct snc *c, uint8_t type, uint16_t topic_id, uint16_t msg_id, uint8_t rc)
{
	struct sn_msg m = {.type = type, .topic_id = topic_id, .msg_id = msg_id, .rc = rc};
	return snc__send(c, &m);
}

static int on_register(struct snc *c, const struct sn_msg *m)
{
	int rc = snc_reg__add(&c->reg, (const char *)m->text.p, m->text.len, m->topic_id);
	/* Only memory can fail us besides a bad id: congestion says "try later", not "never". */
	uint8_t code = rc == 0 ? SN_RC_ACCEPTED : rc == MIDGE_ERR_NOMEM ? SN_RC_CONGESTION : SN_RC_NOT_SUPPORTED;
	return ack(c, SN_REGACK, m->topic_id, m->msg_id, code);
}

/* QoS 2 message ids between our PUBREC and their PUBREL: a PUBLISH resent in that time is not new. */
static bool qos2_known(const struct snc *c, uint16_t msg_id)
{
	for (size_t i = 0; i < SNC_QOS2_TRACKED; i++)
		if (c->qos2_in[i] == msg_id) return true;
	return false;
}

static void qos2_forget(struct snc *c, uint16_t msg_id)
{
	for (size_t i = 0; i < SNC_QOS2_TRACKED; i++)
		if (c->qos2_in[i] == msg_id) c->qos2_in[i] = 0;
}

static void qos2_remember(struct snc *c, uint16_t msg_id)
{
	/* A ring: a gateway does not keep this many QoS 2 messages in flight to one client (most keep one), so the
	 * oldest entry overwritten is long finished. */
	c->qos2_in[c->qos2_next] = msg_id;
	c->qos2_next = (c->qos2_next + 1) % SNC_QOS2_TRACKED;
}

static int on_publish(struct snc *c, const struct sn_msg *m)
{
	struct snc_message msg = {.topic_id = m->topic_id,
	                          .topic_type = m->topic_type,
	                          .payload = m->data.p,
	                          .len = m->data.len,
	                          .qos = m->qos,
	                          .retain = m->retain,
	                          .dup = m->dup,
	                          .msg_id = m->msg_id};
	char short_name[3] = {(char)(m->topic_id >> 8), (char)(m->topic_id & 0xFF), 0};
	bool known = true;
	if (m->topic_type == SN_TOPIC_NORMAL) {
		const struct snc_topic_entry *e = snc_reg__by_id(&c->reg, m->topic_id);
		if (e)
			msg.topic = e->name, msg.topic_len = e->len;
		else
			known = false;
	} else if (m->topic_type == SN_TOPIC_PREDEFINED) {
		/* Delivered even without a name here: the id says what it is, and the caller can print it. */
		const struct sn_predef *p = sn_predef__by_id(&c->predefs, m->topic_id);
		if (p) msg.topic = p->topic, msg.topic_len = p->len;
	} else if (m->topic_type == SN_TOPIC_SHORT) {
		msg.topic = short_name;
		msg.topic_len = 2;
	} else {
		known = false;
	}
	if (!known) {
		/* MQTT-SN 1.2 6.8: an id we do not know is refused with a PUBACK at any QoS that is answered. */
		if (m->qos >= 1) return ack(c, SN_PUBACK, m->topic_id, m->msg_id, SN_RC_INVALID_TOPIC_ID);
		return 0;
	}
	if (m->qos == 2 && m->msg_id != 0) { /* 0 marks a free slot, and is no message id anyway */
		if (qos2_known(c, m->msg_id)) return ack(c, SN_PUBREC, 0, m->msg_id, 0);
		qos2_remember(c, m->msg_id);
	}
	if (c->cb.on_message) c->cb.on_message(c->cb.ud, &msg);
	if (m->qos == 1) return ack(c, SN_PUBACK, m->topic_id, m->msg_id, SN_RC_ACCEPTED);
	if (m->qos == 2) return ack(c, SN_PUBREC, 0, m->msg_id, 0);
	return 0;
}

int snc__inbound(struct snc *c, const struct sn_msg *m)
{
	switch (m->type) {
	case SN_REGISTER:
		return on_register(c, m);
	case SN_PUBLISH:
		return on_publish(c, m);
	case SN_PUBREL:
		qos2_forget(c, m->msg_id);
		/* Answered even when unknown: our PUBCOMP may have been lost, and the gateway resends PUBREL. */
		return ack(c, SN_PUBCOMP, 0, m->msg_id, 0);
	case SN_PINGREQ:
		return ack(c, SN_PINGRESP, 0, 0, 0);
	case SN_DISCONNECT:
		c->state = SNC_DISCONNECTED;
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_CLOSED, "the gateway disconnected us");
	default:
		/* Late answers to something resent (a second PUBACK, REGACK, PINGRESP), and what only a gateway
		 * handles: nothing to do. */
		return 0;
	}
}
