/* track: lost/duplicate/reorder accounting of one stream on a growable bitmap. */
#include "track.h"

#include <stdlib.h>
#include <string.h>

/* Makes bit seq addressable, doubling so that a stream growing by one number at a time reallocates rarely. */
static int grow(struct track *t, uint64_t seq)
{
	size_t need = (size_t)(seq / 64) + 1;
	if (need <= t->words) return 0;
	size_t n = t->words ? t->words : 64;
	while (n < need) n *= 2;
	uint64_t *b = realloc(t->bits, n * sizeof *b);
	if (!b) return -1;
	memset(b + t->words, 0, (n - t->words) * sizeof *b);
	t->bits = b;
	t->words = n;
	return 0;
}

int track__see(struct track *t, uint64_t seq)
{
	if (seq >= TRACK_MAX_SEQ || grow(t, seq)) return -1;
	uint64_t m = (uint64_t)1 << (seq % 64);
	uint64_t *w = &t->bits[seq / 64];
	if (*w & m) {
		t->dup++;
		return 0;
	}
	*w |= m;
	if (!t->distinct) {
		t->min_seq = t->max_seq = seq;
	} else {
		if (seq < t->max_seq) t->reordered++;
		else t->max_seq = seq;
		if (seq < t->min_seq) t->min_seq = seq;
	}
	t->distinct++;
	return 1;
}

uint64_t track__count(const struct track *t, uint64_t lo, uint64_t hi)
{
	uint64_t limit = (uint64_t)t->words * 64;
	if (hi > limit) hi = limit;
	uint64_t n = 0;
	while (lo < hi && lo % 64) n += (t->bits[lo / 64] >> (lo % 64)) & 1, lo++;
	while (lo + 64 <= hi) n += (uint64_t)__builtin_popcountll(t->bits[lo / 64]), lo += 64;
	while (lo < hi) n += (t->bits[lo / 64] >> (lo % 64)) & 1, lo++;
	return n;
}

int track__merge(struct track *dst, const struct track *src)
{
	if (!src->distinct) {
		dst->dup += src->dup;
		dst->reordered += src->reordered;
		return 0;
	}
	if (grow(dst, src->max_seq)) return -1;
	uint64_t both = 0, added = 0;
	for (size_t i = 0; i < src->words; i++) {
		both += (uint64_t)__builtin_popcountll(dst->bits[i] & src->bits[i]);
		added += (uint64_t)__builtin_popcountll(src->bits[i] & ~dst->bits[i]);
		dst->bits[i] |= src->bits[i];
	}
	if (!dst->distinct || src->min_seq < dst->min_seq) dst->min_seq = src->min_seq;
	if (!dst->distinct || src->max_seq > dst->max_seq) dst->max_seq = src->max_seq;
	dst->distinct += added;
	dst->dup += both + src->dup;
	dst->reordered += src->reordered;
	return 0;
}

void track__fini(struct track *t)
{
	free(t->bits);
	memset(t, 0, sizeof *t);
}

struct track *streams__get(struct streams *s, uint32_t p)
{
	if (p >= STREAMS_MAX_PUBLISHERS) return NULL;
	if (p >= s->n) {
		uint32_t n = s->n ? s->n : 4;
		while (n <= p) n *= 2;
		struct track *t = realloc(s->t, (size_t)n * sizeof *t);
		if (!t) return NULL;
		memset(t + s->n, 0, (size_t)(n - s->n) * sizeof *t);
		s->t = t;
		s->n = n;
	}
	return &s->t[p];
}

void streams__fini(struct streams *s)
{
	for (uint32_t i = 0; i < s->n; i++) track__fini(&s->t[i]);
	free(s->t);
	s->t = NULL;
	s->n = 0;
}
