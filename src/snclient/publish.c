/* snclient's PUBLISH: QoS -1 (no connection), 0, 1 (PUBACK) and 2 (PUBREC, PUBREL, PUBCOMP). See snclient.h. */
#include <string.h>

#include "common/err.h"
#include "common/topic.h"
#include "midge/midge.h"
#include "snclient/exchange.h"

/* MQTT-SN's 65535 octets less the 3-octet length, type, flags, topic id and msg id. */
#define PAYLOAD_MAX (65535 - 8)

/* PUBACK's return code as the publish's result; a normal id the gateway no longer knows is forgotten, so that
 * the next publish REGISTERs it again. */
static int puback(struct snc *c, const struct sn_msg *req, const struct sn_msg *r)
{
	if (r->rc == SN_RC_ACCEPTED) return 0;
	if (r->rc == SN_RC_INVALID_TOPIC_ID && req->topic_type == SN_TOPIC_NORMAL)
		snc_reg__remove(&c->reg, req->topic_id);
	return snc__refused(c, "publish refused", r->rc);
}

int snc__publish(struct snc *c, struct snc_topic t, const void *payload, size_t len, int qos, bool retain,
                 uint16_t *msg_id)
{
	if (qos < -1 || qos > 2) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "QoS must be -1, 0, 1 or 2");
	if (len > PAYLOAD_MAX) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "payload too long");
	if (len && !payload) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "no payload");
	if (qos >= 0 && c->state != SNC_ACTIVE)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_CLOSED, "not connected");
	struct sn_msg req = {
	    .type = SN_PUBLISH, .qos = (int8_t)qos, .retain = retain, .data = {payload, (uint32_t)len}};
	int rc;
	if (qos == -1) {
		/* Without a session there is nothing to REGISTER with: only ids both sides know in advance. */
		if (t.name && !topic__valid_name((const uint8_t *)t.name, strlen(t.name)))
			return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL,
			                "invalid topic name (empty, bad UTF-8, or with a wildcard)");
		/* As a filter, a normal name is only classified, not REGISTERed. */
		rc = snc__topic_of(c, t, true, &req);
		req.text = (struct mqtt_str){0};
		if (rc == 0 && req.topic_type == SN_TOPIC_NORMAL)
			rc = err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL,
			              "QoS -1 needs a predefined topic id or a two-character topic name");
		if (rc) return rc;
		return snc__send(c, &req);
	}
	rc = snc__topic_of(c, t, false, &req);
	if (rc) return rc;
	if (qos == 0) return snc__send(c, &req);
	req.msg_id = snc__next_msg_id(c);
	if (msg_id) *msg_id = req.msg_id;
	struct sn_msg r;
	/* A QoS 2 PUBLISH is refused with a PUBACK too. */
	const struct snc_want w = {
	    .type = {qos == 1 ? SN_PUBACK : SN_PUBREC, SN_PUBACK}, .match_id = true, .msg_id = req.msg_id};
	rc = snc__exchange(c, &req, &w, &r);
	if (rc) return rc;
	if (r.type == SN_PUBACK) return puback(c, &req, &r);
	struct sn_msg rel = {.type = SN_PUBREL, .msg_id = req.msg_id};
	return snc__exchange(c, &rel, &(struct snc_want){.type = {SN_PUBCOMP}, .match_id = true, .msg_id = req.msg_id},
	                     &r);
}
