/* MQTT 5 topic aliases of one connection (spec 3.3.2.3.4): the ones the client set for its PUBLISHes
 * (inbound) and the ones the broker assigns for what it sends (outbound). Both are per connection and
 * forgotten when it closes. Not thread-safe: the owner says which lock guards each table. */
#ifndef MIDGE_ALIAS_H
#define MIDGE_ALIAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Aliases set by the client: alias -> topic. A zeroed table is an empty one. */
struct alias_in {
	uint16_t max;   /* Topic Alias Maximum the broker announced */
	char **topics;  /* [max], allocated on first use; topics[i] is "len-prefixed" (u16 length, bytes) */
};
/* Records topic for alias (1..max). 0, MIDGE_ERR_INVAL (alias 0 or past max) or MIDGE_ERR_NOMEM. */
int alias__in_set(struct alias_in *a, uint16_t alias, const uint8_t *topic, size_t len);
/* The topic of alias, or NULL when alias is out of range or was never set. */
const uint8_t *alias__in_get(const struct alias_in *a, uint16_t alias, size_t *len);
void alias__in_fini(struct alias_in *a);

/* Aliases the broker assigns: topic -> alias, the first `max` distinct topics sent keep theirs for the
 * connection's life (later ones are sent in full). A zeroed table with max 0 assigns none. */
struct alias_out_entry;
struct alias_out {
	uint16_t max;   /* the client's Topic Alias Maximum */
	uint16_t count; /* aliases given */
	uint32_t mask;  /* hash capacity - 1 */
	struct alias_out_entry *e;
};
/* The alias for topic: *alias set (0 = send the topic in full, no alias), *known true when the client
 * already has it (send an empty topic) and false when this PUBLISH must carry the topic with the new
 * alias. peek: look only, assign nothing (to size a packet before sending it). */
void alias__out_lookup(struct alias_out *a, const uint8_t *topic, size_t len, bool peek, uint16_t *alias,
		       bool *known);
void alias__out_fini(struct alias_out *a);

#endif
