/* PUBACK, PUBREC, PUBREL, PUBCOMP: the four packet-id acknowledgements of QoS 1 and 2. */
#include "proto.h"

#include <string.h>

#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

static bool is_ack(uint8_t type) { return type >= MQTT_PUBACK && type <= MQTT_PUBCOMP; }

/* Reason codes a v5 ack of type may carry: PUBACK 3.4.2.1, PUBREC 3.5.2.1, PUBREL 3.6.2.1, PUBCOMP 3.7.2.1. */
static bool valid_reason(uint8_t type, uint8_t rc)
{
	if (type == MQTT_PUBREL || type == MQTT_PUBCOMP)
		return rc == MQTT_RC_SUCCESS || rc == MQTT_RC_PACKET_ID_NOT_FOUND;
	switch (rc) {
	case MQTT_RC_SUCCESS:
	case MQTT_RC_NO_MATCHING_SUBSCRIBERS:
	case MQTT_RC_UNSPECIFIED:
	case MQTT_RC_IMPLEMENTATION_SPECIFIC:
	case MQTT_RC_NOT_AUTHORIZED:
	case MQTT_RC_TOPIC_NAME_INVALID:
	case MQTT_RC_PACKET_ID_IN_USE:
	case MQTT_RC_QUOTA_EXCEEDED:
	case MQTT_RC_PAYLOAD_FORMAT_INVALID: return true;
	}
	return false;
}

int proto__decode_ack(const struct mqtt_frame *f, uint8_t version, struct mqtt_ack *a)
{
	memset(a, 0, sizeof(*a));
	if (!is_ack(f->type) || !proto__valid_flags(f->type, f->flags)) return PROTO_MALFORMED;
	if (version != MQTT_V5 && f->remaining != 2) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	if (reader__u16(&r, &a->packet_id) || a->packet_id == 0) return PROTO_MALFORMED;
	/* v5 3.4.2.1: reason and properties may each be left off, reason 0 and none being implied. */
	int verdict = PROTO_OK;
	if (reader__left(&r) >= 1) reader__u8(&r, &a->reason);
	if (reader__left(&r) >= 1 && reader__props_valid(&r, &a->props, f->type, false, &verdict))
		return PROTO_MALFORMED;
	if (reader__left(&r)) return PROTO_MALFORMED;
	/* The spec names no answer to an unknown reason code; the packet is well formed, so: protocol error. */
	if (!verdict && !valid_reason(f->type, a->reason)) verdict = PROTO_PROTOCOL_ERROR;
	return verdict;
}

size_t proto__encode_ack(uint8_t out[4], uint8_t type, uint16_t packet_id)
{
	if (!is_ack(type)) return 0;
	out[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0));
	out[1] = 2;
	out[2] = (uint8_t)(packet_id >> 8);
	out[3] = (uint8_t)packet_id;
	return 4;
}

int proto__encode_ack_buf(struct buf *b, uint8_t type, uint8_t version, const struct mqtt_ack *a)
{
	if (!is_ack(type)) return MIDGE_ERR_INVAL;
	/* The shortest form that carries the fields; 3.x has no reason or properties. */
	size_t rem = 2;
	if (version == MQTT_V5 && a->props.len) rem = 3 + writer__props_size(&a->props);
	else if (version == MQTT_V5 && a->reason != 0) rem = 3;
	struct writer w;
	int rc = writer__begin(&w, b, (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0)), rem);
	if (rc) return rc;
	writer__u16(&w, a->packet_id);
	if (rem > 2) writer__u8(&w, a->reason);
	if (rem > 3) writer__props(&w, &a->props);
	writer__end(&w);
	return 0;
}
