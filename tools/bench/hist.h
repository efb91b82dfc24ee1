/* hist: a log-linear histogram of latencies in nanoseconds (128 linear steps per power of two, so any value
 * is reported within 0.8% of itself), cheap to add to and to merge. One per thread, merged at the end. */
#ifndef MIDGE_BENCH_HIST_H
#define MIDGE_BENCH_HIST_H

#include <stdint.h>

#define HIST_LIN 128                        /* linear steps per power of two */
#define HIST_BUCKETS (2 * HIST_LIN + 56 * HIST_LIN) /* exact below 256, then 56 octaves up to 2^64 */

/* A zeroed struct hist is an empty one; it owns no memory. */
struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min, max; /* valid when count > 0 */
	uint64_t b[HIST_BUCKETS];
};

/* Adds one value. */
void hist__add(struct hist *h, uint64_t v);
/* Adds everything of src into dst. */
void hist__merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0 < q <= 1): the smallest bucket value with at least ceil(q * count) values at
 * or below it, given as the middle of its bucket and never above max. 0 when empty. */
uint64_t hist__quantile(const struct hist *h, double q);
/* Mean of the values added, 0 when empty. */
double hist__mean(const struct hist *h);

#endif
