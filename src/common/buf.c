/* Growable byte buffer: see buf.h. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "midge/midge.h"

int buf__reserve(struct buf *b, size_t n)
{
	if (b->cap - b->end >= n) return 0;
	/* Compact first: input buffers are mostly consumed from the front. */
	if (b->start > 0) {
		size_t len = b->end - b->start;
		memmove(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		if (b->cap - b->end >= n) return 0;
	}
	size_t need = b->end + n;
	if (need < n) return MIDGE_ERR_NOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) return MIDGE_ERR_NOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(b->data, cap);
	if (!p) return MIDGE_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf__append(struct buf *b, const void *p, size_t n)
{
	if (n == 0) return 0;
	int rc = buf__reserve(b, n);
	if (rc) return rc;
	memcpy(b->data + b->end, p, n);
	b->end += n;
	return 0;
}

int buf__put_u8(struct buf *b, uint8_t v) { return buf__append(b, &v, 1); }

int buf__put_u16(struct buf *b, uint16_t v)
{
	uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return buf__append(b, t, 2);
}

int buf__put_str(struct buf *b, const void *p, uint16_t n)
{
	int rc = buf__put_u16(b, n);
	return rc ? rc : buf__append(b, p, n);
}

void buf__fini(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->end = b->cap = 0;
}

void buf__free(struct buf **b)
{
	if (!*b) return;
	buf__fini(*b);
	free(*b);
	*b = NULL;
}
