/* Locating whole packets in a byte stream, and the fixed-header flag rules per packet type. */
#include "proto.h"

int proto__frame(const uint8_t *data, size_t len, uint32_t max_size, struct mqtt_frame *f)
{
	if (len == 0) return PROTO_NEED_MORE;
	uint8_t type = data[0] >> 4;
	if (type == 0) return PROTO_MALFORMED; /* reserved: no point waiting for the rest */
	uint32_t remaining;
	size_t used;
	int rc = proto__varint_decode(data + 1, len - 1, &remaining, &used);
	if (rc != PROTO_OK) return rc;
	size_t total = 1 + used + (size_t)remaining;
	/* Refuse before the body arrives, so a peer cannot make us buffer an oversized packet. */
	if (max_size != 0 && total > max_size) return PROTO_TOO_LARGE;
	if (len < total) return PROTO_NEED_MORE;
	f->type = type;
	f->flags = data[0] & 0x0F;
	f->remaining = remaining;
	f->body = data + 1 + used;
	f->total_len = total;
	return PROTO_OK;
}

bool proto__valid_flags(uint8_t type, uint8_t flags)
{
	switch (type) {
	case MQTT_PUBLISH: return ((flags >> 1) & 3) != 3;
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: return flags == 0x2;
	default: return flags == 0;
	}
}
