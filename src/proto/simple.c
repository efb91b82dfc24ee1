/* The packets with little or no body: PINGREQ, PINGRESP, DISCONNECT; and packet type names. */
#include "proto.h"

#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

int proto__decode_empty(const struct mqtt_frame *f)
{
	if (f->type != MQTT_PINGREQ && f->type != MQTT_PINGRESP && f->type != MQTT_DISCONNECT)
		return PROTO_MALFORMED;
	if (f->flags != 0 || f->remaining != 0) return PROTO_MALFORMED;
	return PROTO_OK;
}

int proto__decode_disconnect(const struct mqtt_frame *f, uint8_t version, struct mqtt_disconnect *d)
{
	d->reason = MQTT_RC_SUCCESS;
	d->props = (struct mqtt_str){0};
	if (f->type != MQTT_DISCONNECT) return PROTO_MALFORMED;
	if (version != MQTT_V5) return proto__decode_empty(f);
	if (f->flags != 0) return PROTO_MALFORMED;
	/* v5 3.14.2: no body means reason 0; a lone reason code means no properties. */
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	if (f->remaining >= 1) reader__u8(&r, &d->reason);
	if (f->remaining >= 2 && reader__props(&r, &d->props)) return PROTO_MALFORMED;
	return reader__left(&r) ? PROTO_MALFORMED : PROTO_OK;
}

int proto__encode_disconnect(struct buf *b, uint8_t version, const struct mqtt_disconnect *d)
{
	/* The shortest form that carries the fields: 3.x and a plain v5 DISCONNECT have no body. */
	size_t rem = 0;
	if (version == MQTT_V5 && d->props.len) rem = 1 + writer__props_size(&d->props);
	else if (version == MQTT_V5 && d->reason != 0) rem = 1;
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_DISCONNECT << 4, rem);
	if (rc) return rc;
	if (rem) writer__u8(&w, d->reason);
	if (rem > 1) writer__props(&w, &d->props);
	writer__end(&w);
	return 0;
}

size_t proto__encode_empty(uint8_t out[2], uint8_t type)
{
	out[0] = (uint8_t)(type << 4);
	out[1] = 0;
	return 2;
}

const char *proto__type_name(uint8_t type)
{
	switch (type) {
	case MQTT_CONNECT: return "CONNECT";
	case MQTT_CONNACK: return "CONNACK";
	case MQTT_PUBLISH: return "PUBLISH";
	case MQTT_PUBACK: return "PUBACK";
	case MQTT_PUBREC: return "PUBREC";
	case MQTT_PUBREL: return "PUBREL";
	case MQTT_PUBCOMP: return "PUBCOMP";
	case MQTT_SUBSCRIBE: return "SUBSCRIBE";
	case MQTT_SUBACK: return "SUBACK";
	case MQTT_UNSUBSCRIBE: return "UNSUBSCRIBE";
	case MQTT_UNSUBACK: return "UNSUBACK";
	case MQTT_PINGREQ: return "PINGREQ";
	case MQTT_PINGRESP: return "PINGRESP";
	case MQTT_DISCONNECT: return "DISCONNECT";
	case MQTT_AUTH: return "AUTH";
	}
	return "UNKNOWN";
}
