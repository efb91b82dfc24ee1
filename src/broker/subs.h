/* The subscription tree: topic filters by level, each node holding the sessions subscribed to it.
 * Thread-safe: matching takes a read lock, changes take the write lock (one rwlock per tree). */
#ifndef MIDGE_SUBS_H
#define MIDGE_SUBS_H

#include <stddef.h>
#include <stdint.h>

struct session; /* opaque here: the tree only stores and compares the pointer */
struct sub_tree;

/* Called once per matching subscription, under the tree's read lock: it must not call into the tree
 * and must take its own reference on s if it keeps it past the call. */
typedef void (*subs_match_cb)(void *arg, struct session *s, uint8_t options, uint32_t sub_id);

/* A new, empty tree, or NULL when out of memory. Free with subs__free. */
struct sub_tree *subs__new(void);
/* Frees the tree and every node; sessions are not touched. NULL is ignored. */
void subs__free(struct sub_tree *t);
/* Subscribes s to filter (assumed valid: topic__valid_filter) with the given options byte
 * (QoS in bits 0-1) and subscription identifier (0 = none). A repeated subscription of the same
 * session to the same filter replaces the options. Returns 1 when added, 0 when replaced,
 * MIDGE_ERR_NOMEM. The tree copies the filter. */
int subs__add(struct sub_tree *t, const uint8_t *filter, size_t len, struct session *s, uint8_t options,
	      uint32_t sub_id);
/* Removes the subscription of s to filter. Returns 0, or MIDGE_ERR_NOT_FOUND. Prunes empty nodes. */
int subs__remove(struct sub_tree *t, const uint8_t *filter, size_t len, struct session *s);
/* Calls cb for every subscription whose filter matches the topic name (a session subscribed through
 * several matching filters is reported once per filter). '$' topics are not matched by a leading
 * '+' or '#'. Returns the number of calls. */
size_t subs__match(struct sub_tree *t, const uint8_t *topic, size_t len, subs_match_cb cb, void *arg);
/* Number of subscriptions in the tree. */
size_t subs__count(struct sub_tree *t);
/* Number of filter-level nodes (root excluded): 0 once every subscription is removed. For memory
 * statistics and for tests of pruning. */
size_t subs__node_count(struct sub_tree *t);

#endif
