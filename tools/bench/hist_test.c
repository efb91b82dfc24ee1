/* Tests of the latency histogram: exact small values, percentiles of known distributions within the
 * bucket precision, merging. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "hist.h"

/* Within 1% of want (the buckets are 1/128 of an octave wide). */
static int near(uint64_t got, double want) { return fabs((double)got - want) <= want * 0.01 + 1; }

int main(void)
{
	static struct hist h, a, b;
	CHECK_EQ(hist__quantile(&h, 0.5), 0);
	CHECK(hist__mean(&h) == 0);

	/* Below 256 every value has its own bucket. */
	for (uint64_t v = 1; v <= 100; v++) hist__add(&h, v);
	CHECK_EQ(hist__quantile(&h, 0.5), 50);
	CHECK_EQ(hist__quantile(&h, 0.99), 99);
	CHECK_EQ(hist__quantile(&h, 1.0), 100);
	CHECK_EQ(h.min, 1);
	CHECK_EQ(h.max, 100);
	CHECK(fabs(hist__mean(&h) - 50.5) < 1e-9);

	/* Uniform 1..1,000,000 ns: p50 500,000, p99 990,000, p99.9 999,000. */
	h = (struct hist){0};
	for (uint64_t v = 1; v <= 1000000; v++) hist__add(&h, v);
	CHECK(near(hist__quantile(&h, 0.5), 500000));
	CHECK(near(hist__quantile(&h, 0.99), 990000));
	CHECK(near(hist__quantile(&h, 0.999), 999000));
	CHECK_EQ(hist__quantile(&h, 1.0), 1000000);
	CHECK(fabs(hist__mean(&h) - 500000.5) < 1e-6);

	/* A bimodal one: 990 values of 10 us and 10 of 5 ms: p50 and p99 at 10 us, p99.9 at 5 ms. */
	h = (struct hist){0};
	for (int i = 0; i < 990; i++) hist__add(&h, 10000);
	for (int i = 0; i < 10; i++) hist__add(&h, 5000000);
	CHECK(near(hist__quantile(&h, 0.5), 10000));
	CHECK(near(hist__quantile(&h, 0.99), 10000));
	CHECK(near(hist__quantile(&h, 0.999), 5000000));
	CHECK_EQ(h.max, 5000000);

	/* Huge values do not overflow the buckets. */
	hist__add(&h, UINT64_MAX / 2);
	hist__add(&h, UINT64_MAX);
	CHECK_EQ(h.max, UINT64_MAX);

	/* Exponential-ish: powers of two each once; the median is the middle power. */
	h = (struct hist){0};
	for (int k = 0; k < 41; k++) hist__add(&h, (uint64_t)1 << k);
	CHECK(near(hist__quantile(&h, 0.5), (double)((uint64_t)1 << 20)));

	/* Merging two halves gives the same percentiles as one histogram of everything. */
	for (uint64_t v = 1; v <= 200000; v++) hist__add(v % 2 ? &a : &b, v * 7);
	hist__merge(&a, &b);
	CHECK_EQ(a.count, 200000);
	CHECK_EQ(a.min, 7);
	CHECK_EQ(a.max, 1400000);
	CHECK(near(hist__quantile(&a, 0.5), 700000));
	static struct hist empty;
	hist__merge(&a, &empty);
	CHECK_EQ(a.count, 200000);
	hist__merge(&empty, &a);
	CHECK_EQ(empty.min, 7);
	CHECK_DONE();
}
