/* Writers of MQTT wire fields into space reserved in a struct buf (internal to the codec).
 * An encoder first sizes its packet, then writer__begin reserves all of it, so the puts cannot fail. */
#ifndef MIDGE_PROTO_WRITER_H
#define MIDGE_PROTO_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"

struct writer {
	struct buf *b;
	uint8_t *p;   /* next byte to write, inside b's reserved tail */
	uint8_t *end; /* one past the packet's last byte */
};

/* Reserves a whole packet of the given remaining length in b and writes its fixed header.
 * Returns 0, MIDGE_ERR_INVAL (remaining past MQTT_MAX_REMAINING) or MIDGE_ERR_NOMEM; b is unchanged on error. */
int writer__begin(struct writer *w, struct buf *b, uint8_t first_byte, size_t remaining);
/* Commits the packet to b. The encoder must have written exactly the remaining length it announced. */
void writer__end(struct writer *w);

static inline void writer__u8(struct writer *w, uint8_t v) { *w->p++ = v; }
static inline void writer__u16(struct writer *w, uint16_t v)
{
	w->p[0] = (uint8_t)(v >> 8);
	w->p[1] = (uint8_t)v;
	w->p += 2;
}
static inline void writer__bytes(struct writer *w, const uint8_t *p, size_t n)
{
	if (n) memcpy(w->p, p, n); /* p may be NULL for an empty span */
	w->p += n;
}
/* u16 length + bytes; the caller has checked len <= 65535. */
static inline void writer__str(struct writer *w, const struct mqtt_str *s)
{
	writer__u16(w, (uint16_t)s->len);
	writer__bytes(w, s->p, s->len);
}
static inline void writer__varint(struct writer *w, uint32_t v) { w->p += proto__varint_encode(w->p, v); }
/* v5 properties: varint length + bytes. props may be NULL for none. */
static inline void writer__props(struct writer *w, const struct mqtt_str *props)
{
	uint32_t n = props ? props->len : 0;
	writer__varint(w, n);
	if (n) writer__bytes(w, props->p, n);
}
/* Wire size of a v5 property block; NULL means none (one zero byte). */
static inline size_t writer__props_size(const struct mqtt_str *props)
{
	uint32_t n = props ? props->len : 0;
	return proto__varint_size(n) + n;
}

#endif
