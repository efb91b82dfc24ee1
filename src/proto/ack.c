/* PUBACK, PUBREC, PUBREL, PUBCOMP: the four packet-id acknowledgements of QoS 1 and 2. */
#include "proto.h"

#include <string.h>

#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

static bool is_ack(uint8_t type) { return type >= MQTT_PUBACK && type <= MQTT_PUBCOMP; }

int proto__decode_ack(const struct mqtt_frame *f, uint8_t version, struct mqtt_ack *a)
{
	memset(a, 0, sizeof(*a));
	if (!is_ack(f->type) || !proto__valid_flags(f->type, f->flags)) return PROTO_MALFORMED;
	if (version != MQTT_V5 && f->remaining != 2) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	if (reader__u16(&r, &a->packet_id) || a->packet_id == 0) return PROTO_MALFORMED;
	/* v5 3.4.2.1: reason and properties may each be left off, reason 0 and none being implied. */
	if (reader__left(&r) >= 1) reader__u8(&r, &a->reason);
	if (reader__left(&r) >= 1 && reader__props(&r, &a->props)) return PROTO_MALFORMED;
	return reader__left(&r) ? PROTO_MALFORMED : PROTO_OK;
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
