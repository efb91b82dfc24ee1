/* A set of 16-bit packet identifiers: nothing while never used, a short array while small, a 8 KiB bitmap once
 * large, so idle sessions cost 24 bytes, sessions with a few ids in flight stay small and those with thousands stay
 * fast. */
#ifndef MIDGE_IDSET_H
#define MIDGE_IDSET_H

#include <stdbool.h>
#include <stdint.h>

#define IDSET_SMALL 32

/* A zeroed idset is a valid empty set. It owns its storage; idset__fini frees it. */
struct idset {
	uint16_t *small; /* cap ids, allocated on the first add and kept (no allocation per id in a steady flow) */
	uint32_t count;
	uint16_t cap;    /* grows 4, 8, 16, IDSET_SMALL */
	uint64_t *bits;  /* 65536 bits once the set outgrew IDSET_SMALL; then small is freed */
};

/* Adds id. Returns 1 when added, 0 when already present, MIDGE_ERR_NOMEM (set unchanged). */
int idset__add(struct idset *s, uint16_t id);
bool idset__has(const struct idset *s, uint16_t id);
/* Removes id; returns true when it was present. */
bool idset__remove(struct idset *s, uint16_t id);
static inline uint32_t idset__count(const struct idset *s) { return s->count; }
/* Empties the set and frees its storage. */
void idset__fini(struct idset *s);

#endif
