/* The retained-message store: at most one message per topic name, found by topic filter.
 * Thread-safe: lookups take a read lock, changes the write lock. */
#ifndef MIDGE_RETAIN_H
#define MIDGE_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct message;
struct retain_store;

typedef void (*retain_match_cb)(void *arg, struct message *m);

/* A new, empty store or NULL. Free with retain__free (drops every stored reference). */
struct retain_store *retain__new(void);
void retain__free(struct retain_store *r);
/* Stores m under its topic, replacing what was there; the store takes its own reference (msg__ref).
 * A message with an empty payload clears the topic and is not stored.
 * Returns 0 or MIDGE_ERR_NOMEM. */
int retain__set(struct retain_store *r, struct message *m);
/* Calls cb for every retained message whose topic matches filter (assumed valid), under the read lock.
 * cb takes its own reference if it keeps m. '$' topics are not matched by a leading '+' or '#'.
 * Returns the number of calls. */
size_t retain__match(struct retain_store *r, const uint8_t *filter, size_t len, retain_match_cb cb, void *arg);
/* A match done in steps, for filters that may match very many messages (a '#' over a million topics): each
 * step holds the read lock only briefly, so writers and other workers wait microseconds, not the whole walk.
 * The tree keeps every node and its order while a cursor is on (clears are pruned afterwards), so nothing is
 * reported twice or skipped except topics retained or cleared meanwhile, which may or may not be seen.
 * retain__cursor_new copies filter (assumed valid); NULL when out of memory. */
struct retain_cursor *retain__cursor_new(struct retain_store *r, const uint8_t *filter, size_t len);
/* Visits at most *steps nodes (taken off *steps), storing up to max matching messages in out, each with its
 * own reference (msg__ref); returns how many. */
size_t retain__cursor_next(struct retain_store *r, struct retain_cursor *k, struct message **out, size_t max,
			   size_t *steps);
/* True once every match has been returned. */
bool retain__cursor_done(const struct retain_cursor *k);
/* Ends the walk, done or not (NULL is a no-op). */
void retain__cursor_free(struct retain_store *r, struct retain_cursor *k);
/* Number of retained messages. */
size_t retain__count(struct retain_store *r);
/* Number of topic-level nodes (root excluded): 0 once every message is cleared. For memory statistics
 * and for tests of pruning. */
size_t retain__node_count(struct retain_store *r);

#endif
