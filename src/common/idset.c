/* Packet identifier sets: see idset.h. */
#include "idset.h"

#include <stdlib.h>

#include "midge/midge.h"

static bool bit(const uint64_t *b, uint16_t id) { return (b[id >> 6] >> (id & 63)) & 1; }

int idset__add(struct idset *s, uint16_t id)
{
	if (s->bits) {
		if (bit(s->bits, id)) return 0;
		s->bits[id >> 6] |= 1ull << (id & 63);
		s->count++;
		return 1;
	}
	for (uint32_t i = 0; i < s->count; i++)
		if (s->small[i] == id) return 0;
	if (s->count == s->cap && s->cap < IDSET_SMALL) {
		uint16_t cap = s->cap ? (uint16_t)(s->cap * 2) : 4;
		uint16_t *n = realloc(s->small, cap * sizeof(*n));
		if (!n) return MIDGE_ERR_NOMEM;
		s->small = n;
		s->cap = cap;
	}
	if (s->count < s->cap) {
		s->small[s->count++] = id;
		return 1;
	}
	uint64_t *b = calloc(65536 / 64, sizeof(*b));
	if (!b) return MIDGE_ERR_NOMEM;
	for (uint32_t i = 0; i < s->count; i++) b[s->small[i] >> 6] |= 1ull << (s->small[i] & 63);
	b[id >> 6] |= 1ull << (id & 63);
	free(s->small);
	s->small = NULL;
	s->cap = 0;
	s->bits = b;
	s->count++;
	return 1;
}

bool idset__has(const struct idset *s, uint16_t id)
{
	if (s->bits) return bit(s->bits, id);
	for (uint32_t i = 0; i < s->count; i++)
		if (s->small[i] == id) return true;
	return false;
}

bool idset__remove(struct idset *s, uint16_t id)
{
	if (s->bits) {
		if (!bit(s->bits, id)) return false;
		s->bits[id >> 6] &= ~(1ull << (id & 63));
		s->count--;
		return true;
	}
	for (uint32_t i = 0; i < s->count; i++) {
		if (s->small[i] == id) {
			s->small[i] = s->small[--s->count];
			return true;
		}
	}
	return false;
}

void idset__fini(struct idset *s)
{
	free(s->bits);
	free(s->small);
	s->bits = NULL;
	s->small = NULL;
	s->cap = 0;
	s->count = 0;
}
