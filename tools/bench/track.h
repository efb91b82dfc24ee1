/* track: what one receiver saw of one publisher's sequence numbers (a "stream"), as a growable bitmap, to
 * count lost, duplicated and reordered messages; and the per-receiver set of streams by publisher index.
 * Owned by one thread; streams seen by several threads (a shared subscription's members) are kept apart
 * and merged at the end (track__merge), so no atomics are needed on the hot path. */
#ifndef MIDGE_BENCH_TRACK_H
#define MIDGE_BENCH_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sequence numbers past this are refused (a foreign or corrupt payload must not make us allocate GiBs). */
#define TRACK_MAX_SEQ ((uint64_t)1 << 36)

/* A zeroed struct track is an empty stream; track__fini frees its bitmap. */
struct track {
	uint64_t *bits; /* bit s set once sequence number s was seen */
	size_t words;
	uint64_t distinct;  /* sequence numbers seen at least once */
	uint64_t dup;       /* sequence numbers seen again */
	uint64_t reordered; /* seen for the first time after a higher one */
	uint64_t min_seq, max_seq; /* valid when distinct > 0 */
};

/* Records seq. Returns 1 when it is new, 0 for a duplicate, -1 when it is past TRACK_MAX_SEQ or memory
 * runs out (nothing recorded). */
int track__see(struct track *t, uint64_t seq);
/* How many distinct sequence numbers in [lo, hi) were seen. */
uint64_t track__count(const struct track *t, uint64_t lo, uint64_t hi);
/* Adds src into dst as if dst had seen src's messages too: numbers both saw count as duplicates; src's own
 * duplicates and reorders are added (order across two receivers means nothing). 0, or -1 out of memory. */
int track__merge(struct track *dst, const struct track *src);
void track__fini(struct track *t);

/* The streams of one receiver, indexed by publisher. A zeroed struct streams is empty; streams__fini frees. */
struct streams {
	struct track *t;
	uint32_t n;
};
#define STREAMS_MAX_PUBLISHERS (1u << 20)

/* The stream of publisher p, made on first use; NULL when p is at or past STREAMS_MAX_PUBLISHERS or out of
 * memory. The pointer stays valid until the next streams__get of a higher p. */
struct track *streams__get(struct streams *s, uint32_t p);
void streams__fini(struct streams *s);

#endif
