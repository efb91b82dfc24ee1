/* Growable byte buffer with reserve/produce/consume, used for socket input and packet encoding. */
#ifndef MIDGE_BUF_H
#define MIDGE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Live bytes are data[start..end). A zeroed struct buf is a valid empty buffer.
 * The buffer owns data; buf__fini frees it. */
struct buf {
	uint8_t *data;
	size_t start;
	size_t end;
	size_t cap;
};

/* Ensures at least n writable bytes after end, compacting or growing.
 * Returns 0 or MIDGE_ERR_NOMEM (buffer unchanged then). */
int buf__reserve(struct buf *b, size_t n);
/* Appends n bytes from p. Returns 0 or MIDGE_ERR_NOMEM. */
int buf__append(struct buf *b, const void *p, size_t n);
/* Appends one byte / big-endian u16 / MQTT string (u16 length + bytes). 0 or MIDGE_ERR_NOMEM. */
int buf__put_u8(struct buf *b, uint8_t v);
int buf__put_u16(struct buf *b, uint16_t v);
int buf__put_str(struct buf *b, const void *p, uint16_t n);

static inline uint8_t *buf__tail(struct buf *b) { return b->data + b->end; }
static inline size_t buf__space(const struct buf *b) { return b->cap - b->end; }
static inline void buf__produce(struct buf *b, size_t n) { b->end += n; }
static inline const uint8_t *buf__head(const struct buf *b) { return b->data + b->start; }
static inline size_t buf__len(const struct buf *b) { return b->end - b->start; }
/* Drops n bytes from the front; resets offsets when empty so the space is reused. */
static inline void buf__consume(struct buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end) b->start = b->end = 0;
}
static inline void buf__clear(struct buf *b) { b->start = b->end = 0; }
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf__fini(struct buf *b);
/* Frees a heap-allocated buffer and its data, and sets *b to NULL. NULL is ignored. */
void buf__free(struct buf **b);

#endif
