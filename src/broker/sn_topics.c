/* MQTT-SN normal topic ids of one client: see sn_topics.h. */
#include "sn_topics.h"

#include <stdlib.h>
#include <string.h>

#include "common/topic.h"

/* A client usually has a handful of topics: its tables start small and double (up to the cap) as names come. */
#define SN_TOPICS_MIN_BUCKETS 4u
#define SN_TOPICS_MAX_BUCKETS 1024u
#define SN_TOPICS_DEFAULT_MAX 4096u
#define SN_TOPICS_DEFAULT_BYTES (128u * 1024u)

void sn_topics__init(struct sn_topics *t, size_t max, size_t max_bytes)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : SN_TOPICS_DEFAULT_MAX;
	t->max_bytes = max_bytes ? max_bytes : SN_TOPICS_DEFAULT_BYTES;
	t->next_id = 1;
}

void sn_topics__fini(struct sn_topics *t)
{
	if (t->by_name) {
		for (size_t i = 0; i < t->nb; i++) {
			for (struct sn_topic *e = t->by_name[i], *n; e; e = n) {
				n = e->name_next;
				free(e);
			}
		}
	}
	free(t->by_name);
	free(t->by_id);
	size_t max = t->max, max_bytes = t->max_bytes;
	sn_topics__init(t, max, max_bytes);
}

static size_t name_slot(const struct sn_topics *t, const uint8_t *name, size_t len)
{
	return topic__hash(name, len) & (t->nb - 1);
}
static size_t id_slot(const struct sn_topics *t, uint16_t id) { return id & (t->nb - 1); }

/* Rehashes into nb chains (a power of two). False when out of memory (the old tables stay). */
static bool resize(struct sn_topics *t, size_t nb)
{
	struct sn_topic **bn = calloc(nb, sizeof(*bn)), **bi = calloc(nb, sizeof(*bi));
	if (!bn || !bi) {
		free(bn);
		free(bi);
		return false;
	}
	size_t old = t->nb;
	struct sn_topic **on = t->by_name, **oi = t->by_id;
	t->by_name = bn;
	t->by_id = bi;
	t->nb = nb;
	for (size_t i = 0; i < old; i++) {
		for (struct sn_topic *e = on[i], *n; e; e = n) {
			n = e->name_next;
			size_t ns = name_slot(t, (const uint8_t *)e->name, e->len), is = id_slot(t, e->id);
			e->name_next = bn[ns];
			bn[ns] = e;
			e->id_next = bi[is];
			bi[is] = e;
		}
	}
	free(on);
	free(oi);
	return true;
}

struct sn_topic *sn_topics__by_name(struct sn_topics *t, const uint8_t *name, size_t len)
{
	if (!t->by_name) return NULL;
	for (struct sn_topic *e = t->by_name[name_slot(t, name, len)]; e; e = e->name_next) {
		if (e->len == len && !memcmp(e->name, name, len)) {
			e->used = ++t->clock;
			return e;
		}
	}
	return NULL;
}

struct sn_topic *sn_topics__by_id(struct sn_topics *t, uint16_t id)
{
	if (!t->by_id) return NULL;
	for (struct sn_topic *e = t->by_id[id_slot(t, id)]; e; e = e->id_next) {
		if (e->id == id) {
			e->used = ++t->clock;
			return e;
		}
	}
	return NULL;
}

static void unlink_entry(struct sn_topics *t, struct sn_topic *e)
{
	struct sn_topic **p = &t->by_name[name_slot(t, (const uint8_t *)e->name, e->len)];
	while (*p != e) p = &(*p)->name_next;
	*p = e->name_next;
	p = &t->by_id[id_slot(t, e->id)];
	while (*p != e) p = &(*p)->id_next;
	*p = e->id_next;
	t->n--;
	t->bytes -= e->len;
}

/* The least recently used entry; only called when full, so a scan is cheap next to the REGISTER it causes. */
static struct sn_topic *oldest(struct sn_topics *t)
{
	struct sn_topic *best = NULL;
	for (size_t i = 0; i < t->nb; i++)
		for (struct sn_topic *e = t->by_name[i]; e; e = e->name_next)
			if (!best || e->used < best->used) best = e;
	return best;
}

struct sn_topic *sn_topics__add(struct sn_topics *t, const uint8_t *name, size_t len, bool *evicted)
{
	*evicted = false;
	struct sn_topic *e = sn_topics__by_name(t, name, len);
	if (e) return e;
	if (len > UINT16_MAX || len > t->max_bytes) return NULL;
	if (!t->by_name && !resize(t, SN_TOPICS_MIN_BUCKETS)) return NULL;
	/* Chains of two on average at most; a failed growth only makes them longer. */
	if (t->n >= 2 * t->nb && t->nb < SN_TOPICS_MAX_BUCKETS) resize(t, t->nb * 2);
	e = malloc(sizeof(*e) + len + 1);
	if (!e) return NULL;
	memcpy(e->name, name, len);
	e->name[len] = 0;
	e->len = (uint16_t)len;
	e->known = false;
	while (t->n && (t->n >= t->max || t->bytes + len > t->max_bytes)) {
		/* Full: the oldest names go. Their ids are not handed on at once: the client may still use one for
		 * its name, and must hear "invalid topic id" rather than have its messages go to another topic. */
		struct sn_topic *old = oldest(t);
		unlink_entry(t, old);
		free(old);
		*evicted = true;
	}
	/* Ids are handed out in turn, skipping ones in use (after a wrap) and the reserved 0 and 0xFFFF. */
	uint16_t id;
	for (;;) {
		id = t->next_id;
		t->next_id = t->next_id >= 0xFFFE ? 1 : (uint16_t)(t->next_id + 1);
		bool used = false;
		for (struct sn_topic *x = t->by_id[id_slot(t, id)]; x && !used; x = x->id_next) used = x->id == id;
		if (!used) break;
	}
	e->id = id;
	e->used = ++t->clock;
	size_t ns = name_slot(t, name, len), is = id_slot(t, id);
	e->name_next = t->by_name[ns];
	t->by_name[ns] = e;
	e->id_next = t->by_id[is];
	t->by_id[is] = e;
	t->n++;
	t->bytes += len;
	return e;
}
