/* Bounds-checked readers of MQTT wire fields over a span of packet bytes (internal to the codec). */
#ifndef MIDGE_PROTO_READER_H
#define MIDGE_PROTO_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* A cursor over p[0..len). Readers never look past len; on failure pos is left unchanged. */
struct reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static inline void reader__init(struct reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
}
static inline size_t reader__left(const struct reader *r) { return r->len - r->pos; }

/* Each returns PROTO_OK with the value read, or PROTO_MALFORMED when the span ends first. */
int reader__u8(struct reader *r, uint8_t *v);
/* Big-endian two-byte integer. */
int reader__u16(struct reader *r, uint16_t *v);
/* n raw bytes as a view. */
int reader__bytes(struct reader *r, size_t n, struct mqtt_str *s);
/* Binary data: u16 length + bytes. */
int reader__binary(struct reader *r, struct mqtt_str *s);
/* UTF-8 string: u16 length + bytes that pass utf8__valid, else PROTO_MALFORMED. */
int reader__utf8(struct reader *r, struct mqtt_str *s);
/* Variable byte integer; running out of bytes mid-integer is PROTO_MALFORMED here. */
int reader__varint(struct reader *r, uint32_t *v);
/* v5 properties: a varint length then that many bytes, which must fit in the span.
 * s is the property bytes without the length. Their content is not interpreted. */
int reader__props(struct reader *r, struct mqtt_str *s);
/* v5 properties read as reader__props, then checked with props__validate for packet_type (will: CONNECT's will
 * properties). Returns PROTO_MALFORMED, which ends the decoding, or PROTO_OK. A protocol error goes into *verdict
 * (unless it holds one already) and decoding goes on: a malformation later in the packet must still win, as it
 * does inside one property span, so that the answer does not depend on which field comes first. */
int reader__props_valid(struct reader *r, struct mqtt_str *s, uint8_t packet_type, bool will, int *verdict);
/* Everything left, as a view (may be empty). Always succeeds. */
void reader__rest(struct reader *r, struct mqtt_str *s);

#endif
