/* The subscription tree: topic filters by level, each node holding the sessions subscribed to it.
 * Thread-safe: matching takes a read lock, changes take the write lock (one rwlock per tree). */
#ifndef MIDGE_SUBS_H
#define MIDGE_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session; /* opaque here: the tree only stores and compares the pointer */
struct sub_tree;

/* Called once per matching subscription, under the tree's read lock: it must not call into the tree
 * and must take its own reference on s if it keeps it past the call. */
typedef void (*subs_match_cb)(void *arg, struct session *s, uint8_t options, uint32_t sub_id);

/* Told when a filter gets its first subscriber (on) or loses its last (off), with the filter's bytes (valid during
 * the call only); for a shared subscription group, when the group (group, filter) gets its first member or loses
 * its last, with group non-NULL. Called under the tree's write lock: it must not call into the tree, and be
 * quick. */
typedef void (*subs_watch_cb)(void *arg, const uint8_t *group, size_t glen, const uint8_t *filter, size_t len,
			      bool on);

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
/* Sets the watcher of ordinary filters and shared groups; NULL cb for none. */
void subs__set_watch(struct sub_tree *t, subs_watch_cb cb, void *arg);
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

/* ---- shared subscriptions ($share/{group}/{filter}, MQTT 5.0 4.8.2) ----
 * Kept apart from ordinary subscriptions: subs__match never reports them and subs__count does not count
 * them. A group is identified by its name and filter; its members are sessions. */

/* One member of a shared subscription group. */
struct sub_member {
	struct session *s;
	uint8_t options;
	uint32_t sub_id;
	uint32_t group_hash; /* topic__hash of the group name: which group a delivery came through */
};

/* Called once per group, under the tree's read lock (same rules as subs_match_cb): members[0..n) with
 * n >= 1, in a stable order (join order), and start, a per-group counter that each call advances
 * atomically, so that successive messages begin their search for a receiver at successive members
 * (the callback picks one, typically the first acceptable one from start % n). */
typedef void (*subs_share_cb)(void *arg, const struct sub_member *members, size_t n, size_t start);

/* Adds s to the group (group name, filter) with options and subscription identifier; a member already
 * there gets the new options. group and filter are assumed valid (topic__parse_share). Returns 1 when
 * added, 0 when replaced, MIDGE_ERR_NOMEM. Copies what it keeps. */
int subs__add_shared(struct sub_tree *t, const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
		     struct session *s, uint8_t options, uint32_t sub_id);
/* Removes s from the group; the group goes when its last member does. 0 or MIDGE_ERR_NOT_FOUND. */
int subs__remove_shared(struct sub_tree *t, const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
			struct session *s);
/* Calls cb once for every group whose filter matches the topic name (same matching rules as
 * subs__match, '$' rule included). Returns the number of calls. Costs one atomic load when the tree
 * holds no shared subscription. */
size_t subs__match_shared(struct sub_tree *t, const uint8_t *topic, size_t len, subs_share_cb cb, void *arg);
/* Calls cb once for the members of one group (to redeliver a message of a member that left).
 * Returns 0, or MIDGE_ERR_NOT_FOUND when the group does not exist (cb not called). */
int subs__shared_group(struct sub_tree *t, const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
		       subs_share_cb cb, void *arg);
/* Number of shared memberships in the tree (a session in two groups counts twice). */
size_t subs__shared_count(struct sub_tree *t);

#endif
