/* hist: log-linear latency histogram (bucket index from the highest set bit and the next 7 bits). */
#include "hist.h"

#include <math.h>

static unsigned bucket_of(uint64_t v)
{
	if (v < 2 * HIST_LIN) return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
	unsigned shift = msb - 7u;                            /* keeps the top 8 bits: 128..255 */
	return 2 * HIST_LIN + (shift - 1) * HIST_LIN + (unsigned)((v >> shift) - HIST_LIN);
}

/* The lowest value of bucket i and its width. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
	if (i < 2 * HIST_LIN) {
		*lo = i, *width = 1;
		return;
	}
	unsigned shift = (i - 2 * HIST_LIN) / HIST_LIN + 1;
	uint64_t top = HIST_LIN + (i - 2 * HIST_LIN) % HIST_LIN;
	*lo = top << shift;
	*width = (uint64_t)1 << shift;
}

void hist__add(struct hist *h, uint64_t v)
{
	if (!h->count || v < h->min) h->min = v;
	if (v > h->max) h->max = v;
	h->count++;
	h->sum += v;
	h->b[bucket_of(v)]++;
}

void hist__merge(struct hist *dst, const struct hist *src)
{
	if (!src->count) return;
	if (!dst->count || src->min < dst->min) dst->min = src->min;
	if (src->max > dst->max) dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) dst->b[i] += src->b[i];
}

uint64_t hist__quantile(const struct hist *h, double q)
{
	if (!h->count) return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1) rank = 1;
	if (rank >= h->count) return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t lo, w;
			bucket_range(i, &lo, &w);
			uint64_t mid = lo + (w - 1) / 2;
			if (mid > h->max) mid = h->max;
			return mid < h->min ? h->min : mid;
		}
	}
	return h->max;
}

double hist__mean(const struct hist *h) { return h->count ? (double)h->sum / (double)h->count : 0.0; }
