/* payload: encoding and decoding of the measurement header inside each benchmark message. */
#include "payload.h"

#include <string.h>

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
	return v;
}

void payload__write(uint8_t *out, const struct payload_hdr *h)
{
	put_le(out, PAYLOAD_MAGIC, 2);
	out[2] = h->flags;
	out[3] = 0;
	put_le(out + 4, h->publisher, 4);
	put_le(out + 8, h->seq, 8);
	put_le(out + 16, h->sent_ns, 8);
}

bool payload__read(const uint8_t *p, size_t len, struct payload_hdr *h)
{
	if (len < PAYLOAD_HEADER || get_le(p, 2) != PAYLOAD_MAGIC) return false;
	h->flags = p[2];
	h->publisher = (uint32_t)get_le(p + 4, 4);
	h->seq = get_le(p + 8, 8);
	h->sent_ns = get_le(p + 16, 8);
	return true;
}
