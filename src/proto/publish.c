/* PUBLISH: decoding with the MQTT rules, encoding whole, and the fixed header alone for shared payloads. */
#include "proto.h"

#include <string.h>

#include "common/topic.h"
#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

int proto__decode_publish(const struct mqtt_frame *f, uint8_t version, struct mqtt_publish *p)
{
	memset(p, 0, sizeof(*p));
	if (f->type != MQTT_PUBLISH) return PROTO_MALFORMED;
	p->dup = f->flags & 0x8;
	p->qos = (f->flags >> 1) & 3;
	p->retain = f->flags & 0x1;
	if (p->qos == 3) return PROTO_MALFORMED;           /* [MQTT-3.3.1-4] */
	if (p->dup && p->qos == 0) return PROTO_MALFORMED; /* [MQTT-3.3.1-2] */
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	/* topic__valid_name checks the UTF-8 too, so read the bytes raw and validate them once. */
	if (reader__binary(&r, &p->topic)) return PROTO_MALFORMED;
	/* v5 allows an empty topic when a topic alias stands in for it; the broker checks the alias. */
	bool empty_ok = version == MQTT_V5 && p->topic.len == 0;
	if (!empty_ok && !topic__valid_name(p->topic.p, p->topic.len)) return PROTO_MALFORMED;
	if (p->qos > 0) {
		if (reader__u16(&r, &p->packet_id)) return PROTO_MALFORMED;
		if (p->packet_id == 0) return PROTO_MALFORMED; /* [MQTT-2.3.1-1] */
	}
	int verdict = PROTO_OK;
	if (version == MQTT_V5 && reader__props_valid(&r, &p->props, MQTT_PUBLISH, false, &verdict))
		return PROTO_MALFORMED;
	reader__rest(&r, &p->payload);
	return verdict;
}

/* Remaining length of p's PUBLISH, or SIZE_MAX when the fields cannot be encoded. */
static size_t publish_remaining(uint8_t version, const struct mqtt_publish *p)
{
	if (p->qos > 2 || p->topic.len > 65535 || (p->qos > 0 && p->packet_id == 0)) return SIZE_MAX;
	size_t rem = 2 + (size_t)p->topic.len + (p->qos ? 2 : 0) + p->payload.len;
	if (version == MQTT_V5) rem += writer__props_size(&p->props);
	return rem;
}

int proto__encode_publish(struct buf *b, uint8_t version, const struct mqtt_publish *p)
{
	size_t rem = publish_remaining(version, p);
	if (rem == SIZE_MAX) return MIDGE_ERR_INVAL;
	uint8_t first = (uint8_t)(MQTT_PUBLISH << 4 | (p->dup ? 0x8 : 0) | p->qos << 1 | (p->retain ? 1 : 0));
	struct writer w;
	int rc = writer__begin(&w, b, first, rem);
	if (rc) return rc;
	writer__str(&w, &p->topic);
	if (p->qos) writer__u16(&w, p->packet_id);
	if (version == MQTT_V5) writer__props(&w, &p->props);
	writer__bytes(&w, p->payload.p, p->payload.len);
	writer__end(&w);
	return 0;
}

size_t proto__publish_fixed_header(uint8_t out[5], uint8_t qos, bool dup, bool retain, uint32_t remaining)
{
	if (qos > 2 || remaining > MQTT_MAX_REMAINING) return 0;
	out[0] = (uint8_t)(MQTT_PUBLISH << 4 | (dup ? 0x8 : 0) | qos << 1 | (retain ? 1 : 0));
	return 1 + proto__varint_encode(out + 1, remaining);
}
