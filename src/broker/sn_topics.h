/* One MQTT-SN client's normal topic ids (TopicIdType 0): the names it registered with REGISTER and the ones the
 * gateway registered with it, both ways (name -> id to send, id -> name to route). Pure; owned by the client's
 * gateway state. Bounded in names and in bytes: when full, the least recently used names are forgotten for the new
 * one, which gets a fresh id (a client that still uses an old id gets "invalid topic id" and registers again). */
#ifndef MIDGE_SN_TOPICS_H
#define MIDGE_SN_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sn_topic {
	struct sn_topic *name_next, *id_next; /* hash chains */
	uint64_t used;  /* last use, for eviction */
	uint16_t id;
	uint16_t len;
	bool known;     /* the client knows this id (it registered it, or acknowledged the gateway's REGISTER) */
	char name[];    /* NUL-terminated */
};

struct sn_topics {
	struct sn_topic **by_name, **by_id; /* nb chains each; NULL until the first add, grown as names come */
	size_t nb;
	size_t n, max;
	size_t bytes, max_bytes; /* of the names held, and the most they may take */
	uint16_t next_id;
	uint64_t clock;
};

/* An empty registry holding at most max names (0: a default of 4096) of max_bytes in all (0: 128 KiB). */
void sn_topics__init(struct sn_topics *t, size_t max, size_t max_bytes);
void sn_topics__fini(struct sn_topics *t);
/* Lookups (NULL when absent); each counts as a use. */
struct sn_topic *sn_topics__by_name(struct sn_topics *t, const uint8_t *name, size_t len);
struct sn_topic *sn_topics__by_id(struct sn_topics *t, uint16_t id);
/* The entry for name, made when absent with the next free id (1 .. 0xFFFE), known = false; when the registry is
 * full the least recently used entries are dropped first (*evicted set, else false). NULL when out of memory or the
 * name is longer than 65535 or than max_bytes. */
struct sn_topic *sn_topics__add(struct sn_topics *t, const uint8_t *name, size_t len, bool *evicted);

#endif
