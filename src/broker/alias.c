/* Topic aliases of one connection: see alias.h. */
#include "alias.h"

#include <stdlib.h>
#include <string.h>

#include "midge/midge.h"

int alias__in_set(struct alias_in *a, uint16_t alias, const uint8_t *topic, size_t len)
{
	if (alias == 0 || alias > a->max || len > 65535) return MIDGE_ERR_INVAL;
	if (!a->topics && !(a->topics = calloc(a->max, sizeof(*a->topics)))) return MIDGE_ERR_NOMEM;
	char *t = malloc(2 + len);
	if (!t) return MIDGE_ERR_NOMEM;
	t[0] = (char)(len >> 8);
	t[1] = (char)len;
	memcpy(t + 2, topic, len);
	free(a->topics[alias - 1]);
	a->topics[alias - 1] = t;
	return 0;
}

const uint8_t *alias__in_get(const struct alias_in *a, uint16_t alias, size_t *len)
{
	if (alias == 0 || alias > a->max || !a->topics || !a->topics[alias - 1]) return NULL;
	const uint8_t *t = (const uint8_t *)a->topics[alias - 1];
	*len = (size_t)t[0] << 8 | t[1];
	return t + 2;
}

void alias__in_fini(struct alias_in *a)
{
	for (size_t i = 0; a->topics && i < a->max; i++) free(a->topics[i]);
	free(a->topics);
	a->topics = NULL;
}

struct alias_out_entry {
	uint32_t hash;
	uint16_t alias; /* 0 = free slot */
	uint16_t len;
	char *topic;
};

static uint32_t hash_topic(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
	return h;
}

void alias__out_lookup(struct alias_out *a, const uint8_t *topic, size_t len, bool peek, uint16_t *alias,
		       bool *known)
{
	*alias = 0;
	*known = false;
	if (a->max == 0 || len > 65535) return;
	uint32_t h = hash_topic(topic, len);
	if (a->e) {
		for (uint32_t i = h & a->mask;; i = (i + 1) & a->mask) {
			struct alias_out_entry *e = &a->e[i];
			if (!e->alias) break;
			if (e->hash == h && e->len == len && memcmp(e->topic, topic, len) == 0) {
				*alias = e->alias;
				*known = true;
				return;
			}
		}
	}
	if (peek || a->count >= a->max) return;
	if (!a->e) {
		/* Twice the aliases the client takes, rounded to a power of two: probes stay short. */
		uint32_t cap = 4;
		while (cap < 2u * a->max) cap *= 2;
		if (!(a->e = calloc(cap, sizeof(*a->e)))) return;
		a->mask = cap - 1;
	}
	char *copy = malloc(len ? len : 1);
	if (!copy) return; /* sent in full: an alias is an optimisation */
	memcpy(copy, topic, len);
	uint32_t i = h & a->mask;
	while (a->e[i].alias) i = (i + 1) & a->mask;
	a->e[i] = (struct alias_out_entry){.hash = h, .alias = ++a->count, .len = (uint16_t)len, .topic = copy};
	*alias = a->e[i].alias;
}

void alias__out_fini(struct alias_out *a)
{
	for (uint32_t i = 0; a->e && i <= a->mask; i++) free(a->e[i].topic);
	free(a->e);
	a->e = NULL;
	a->count = 0;
}
