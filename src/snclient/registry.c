/* snclient's topic registry: the names the client knows by a normal topic id, and which names go as short
 * topics. See snclient.h. */
#include <stdlib.h>
#include <string.h>

#include "midge/midge.h"
#include "snclient/snclient.h"

/* Drops entry i, keeping the others (order does not matter: lookups walk). */
static void drop(struct snc_registry *r, size_t i)
{
	free(r->v[i].name);
	r->v[i] = r->v[--r->n];
}

int snc_reg__add(struct snc_registry *r, const char *name, size_t len, uint16_t id)
{
	if (id == 0 || id == 0xFFFF || len == 0) return MIDGE_ERR_INVAL;
	const struct snc_topic_entry *same = snc_reg__by_name(r, name, len);
	if (same && same->id == id) return 0;
	char *copy = malloc(len + 1);
	if (!copy) return MIDGE_ERR_NOMEM;
	memcpy(copy, name, len);
	copy[len] = 0;
	/* A gateway that registers an id again, or a name under a new id, means the old pairing is gone. */
	for (size_t i = r->n; i-- > 0;)
		if (r->v[i].id == id || (r->v[i].len == len && !memcmp(r->v[i].name, name, len))) drop(r, i);
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;
		struct snc_topic_entry *v = realloc(r->v, nc * sizeof(*v));
		if (!v) {
			free(copy);
			return MIDGE_ERR_NOMEM;
		}
		r->v = v;
		r->cap = nc;
	}
	r->v[r->n++] = (struct snc_topic_entry){.id = id, .name = copy, .len = len};
	return 0;
}

const struct snc_topic_entry *snc_reg__by_id(const struct snc_registry *r, uint16_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].id == id) return &r->v[i];
	return NULL;
}

const struct snc_topic_entry *snc_reg__by_name(const struct snc_registry *r, const char *name, size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].len == len && !memcmp(r->v[i].name, name, len)) return &r->v[i];
	return NULL;
}

void snc_reg__remove(struct snc_registry *r, uint16_t id)
{
	for (size_t i = r->n; i-- > 0;)
		if (r->v[i].id == id) drop(r, i);
}

void snc_reg__fini(struct snc_registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].name);
	free(r->v);
	*r = (struct snc_registry){0};
}

bool snc__is_short_topic(const char *name, size_t len)
{
	return len == 2 && !memchr(name, '+', len) && !memchr(name, '#', len);
}
