/* Tests of the stream tracker: in order, lost, duplicated, reordered, counted ranges, merging of a shared
 * group's members, the per-receiver stream set. */
#include "check.h"
#include "track.h"

int main(void)
{
	struct track t = {0};
	/* In order, no loss. */
	for (uint64_t s = 0; s < 1000; s++) CHECK_EQ(track__see(&t, s), 1);
	CHECK_EQ(t.distinct, 1000);
	CHECK_EQ(t.dup, 0);
	CHECK_EQ(t.reordered, 0);
	CHECK_EQ(track__count(&t, 0, 1000), 1000);
	CHECK_EQ(track__count(&t, 10, 20), 10);
	CHECK_EQ(track__count(&t, 0, 5000), 1000); /* past the bitmap counts nothing */
	track__fini(&t);

	/* Lost: every third missing; counted over the sent range. */
	for (uint64_t s = 0; s < 300; s++)
		if (s % 3) track__see(&t, s);
	CHECK_EQ(t.distinct, 200);
	CHECK_EQ(300 - track__count(&t, 0, 300), 100);
	/* The range of measured messages only: 100..199 has 33 missing (102, 105, ..., 198). */
	CHECK_EQ(100 - track__count(&t, 100, 200), 33);
	track__fini(&t);

	/* Duplicates. */
	CHECK_EQ(track__see(&t, 5), 1);
	CHECK_EQ(track__see(&t, 5), 0);
	CHECK_EQ(track__see(&t, 6), 1);
	CHECK_EQ(track__see(&t, 5), 0);
	CHECK_EQ(t.dup, 2);
	CHECK_EQ(t.distinct, 2);
	/* A duplicate of an older one is not a reorder. */
	CHECK_EQ(t.reordered, 0);
	track__fini(&t);

	/* Reordered: 0 1 3 2 4 -> one; the late one is not lost. */
	uint64_t seq[] = {0, 1, 3, 2, 4, 7, 5, 6};
	for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) track__see(&t, seq[i]);
	CHECK_EQ(t.reordered, 3);
	CHECK_EQ(t.distinct, 8);
	CHECK_EQ(t.min_seq, 0);
	CHECK_EQ(t.max_seq, 7);
	CHECK_EQ(track__count(&t, 0, 8), 8);
	track__fini(&t);

	/* Growth across many words, and the refusal of absurd numbers. */
	CHECK_EQ(track__see(&t, 1000000), 1);
	CHECK_EQ(track__see(&t, 3), 1);
	CHECK_EQ(t.reordered, 1);
	CHECK_EQ(track__count(&t, 0, 2000000), 2);
	CHECK_EQ(track__see(&t, TRACK_MAX_SEQ), -1);
	CHECK_EQ(t.distinct, 2);
	track__fini(&t);

	/* A shared group: two members split a stream, one message reached both. */
	struct track a = {0}, b = {0}, g = {0};
	for (uint64_t s = 0; s < 100; s++) track__see(s % 2 ? &a : &b, s);
	track__see(&b, 1); /* also delivered to b */
	track__see(&a, 99); /* a's own duplicate */
	CHECK_EQ(track__merge(&g, &a), 0);
	CHECK_EQ(track__merge(&g, &b), 0);
	CHECK_EQ(g.distinct, 100);
	CHECK_EQ(g.dup, 2);
	CHECK_EQ(track__count(&g, 0, 100), 100);
	CHECK_EQ(g.min_seq, 0);
	CHECK_EQ(g.max_seq, 99);
	struct track e = {0};
	CHECK_EQ(track__merge(&g, &e), 0);
	CHECK_EQ(g.distinct, 100);
	track__fini(&a);
	track__fini(&b);
	track__fini(&g);

	/* The stream set grows by publisher index and keeps what it had. */
	struct streams ss = {0};
	struct track *p3 = streams__get(&ss, 3);
	CHECK(p3 != NULL);
	track__see(p3, 42);
	struct track *p100 = streams__get(&ss, 100);
	CHECK(p100 != NULL);
	CHECK(ss.n > 100);
	CHECK_EQ(ss.t[3].distinct, 1);
	CHECK(streams__get(&ss, STREAMS_MAX_PUBLISHERS) == NULL);
	streams__fini(&ss);
	CHECK_EQ(ss.n, 0);
	CHECK_DONE();
}
