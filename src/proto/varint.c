/* MQTT variable byte integers (remaining length, property lengths): see proto.h. */
#include "proto.h"

size_t proto__varint_encode(uint8_t out[4], uint32_t v)
{
	if (v > MQTT_MAX_REMAINING) return 0;
	size_t n = 0;
	do {
		uint8_t d = v & 0x7F;
		v >>= 7;
		if (v) d |= 0x80;
		out[n++] = d;
	} while (v);
	return n;
}

int proto__varint_decode(const uint8_t *p, size_t len, uint32_t *v, size_t *used)
{
	uint32_t val = 0;
	/* Non-minimal encodings (e.g. 0x80 0x00) are accepted: 3.1.1 does not forbid them and
	 * rejecting them buys nothing, as the value is still bounded by four bytes. */
	for (size_t i = 0; i < 4; i++) {
		if (i >= len) return PROTO_NEED_MORE;
		val |= (uint32_t)(p[i] & 0x7F) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = val;
			*used = i + 1;
			return PROTO_OK;
		}
	}
	return PROTO_MALFORMED;
}

size_t proto__varint_size(uint32_t v)
{
	if (v < 128u) return 1;
	if (v < 16384u) return 2;
	if (v < 2097152u) return 3;
	return 4;
}
