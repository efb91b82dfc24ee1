/* Packet framing for encoders: see writer.h. */
#include "writer.h"

#include <assert.h>

#include "midge/midge.h"

int writer__begin(struct writer *w, struct buf *b, uint8_t first_byte, size_t remaining)
{
	if (remaining > MQTT_MAX_REMAINING) return MIDGE_ERR_INVAL;
	size_t total = 1 + proto__varint_size((uint32_t)remaining) + remaining;
	int rc = buf__reserve(b, total);
	if (rc) return rc;
	w->b = b;
	w->p = buf__tail(b);
	w->end = w->p + total;
	writer__u8(w, first_byte);
	writer__varint(w, (uint32_t)remaining);
	return 0;
}

void writer__end(struct writer *w)
{
	/* A mismatch is an encoder bug that would desynchronise the peer's framing. */
	assert(w->p == w->end);
	buf__produce(w->b, (size_t)(w->end - buf__tail(w->b)));
}
