/* A tree of topic levels with hashed children, shared by the subscription tree and the retained store. */
#ifndef MIDGE_TOPIC_TREE_H
#define MIDGE_TOPIC_TREE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One level. Children live in a chained hash table (buckets) so a level with 100,000 siblings is found
 * in O(1); the parent pointer and the stored hash let walkers iterate without a stack. */
struct tnode {
	struct tnode *parent;   /* NULL for the root */
	struct tnode *hnext;    /* next child in the same bucket of parent */
	struct tnode **buckets; /* NULL when there are no children */
	void *data;             /* the owner's payload; a node with no data and no children is pruned */
	uint32_t nchildren;
	uint32_t nbuckets; /* power of two, or 0 */
	uint32_t hash;     /* of key, with the tree's seed */
	uint32_t keylen;
	uint8_t key[];
};

/* The root stands for the empty prefix and is never pruned. The owner takes lock for reading around
 * lookups and walks and for writing around changes: the functions here do not lock.
 * A zeroed tree (root NULL) is safe to fini, but only ttree__init makes it usable. */
struct ttree {
	pthread_rwlock_t lock;
	struct tnode *root;
	size_t nodes;     /* nodes besides the root */
	uint64_t seed[2]; /* random per tree, so clients cannot choose levels that collide */
	/* Walks that let go of the lock between steps (ttree__hold): while any is on, no node is freed and no
	 * child table is resized, so a node a walk stands on and its siblings' order stay put. */
	atomic_uint holds;
	/* Prunes put off meanwhile: the topics of the nodes (freed by ttree__settle), or, past a bound, a sweep
	 * of the whole tree. */
	struct ttree_deferred {
		uint8_t *topic;
		size_t len;
	} *deferred;
	size_t ndeferred;
	bool sweep;
};

/* Allocates the root, picks a seed and makes a writer-preferring lock (so a stream of PUBLISH matching
 * cannot starve SUBSCRIBE). Returns 0 or MIDGE_ERR_NOMEM; on failure root is NULL and fini is a no-op. */
int ttree__init(struct ttree *t);
/* Frees every node and the lock; free_data (may be NULL) is called with each non-NULL data. */
void ttree__fini(struct ttree *t, void (*free_data)(void *data));
/* The seeded hash of a level, for ttree__child_h when the same key is looked up often. */
uint32_t ttree__hash(const struct ttree *t, const uint8_t *key, size_t len);
/* The child of n with this key (hash from ttree__hash), or NULL. */
struct tnode *ttree__child_h(const struct tnode *n, const uint8_t *key, size_t len, uint32_t hash);
/* The child of n with this key, or NULL. */
struct tnode *ttree__child(const struct ttree *t, const struct tnode *n, const uint8_t *key, size_t len);
/* The child of n with this key, created empty when missing. NULL when out of memory (nothing changed). */
struct tnode *ttree__add_child(struct ttree *t, struct tnode *n, const uint8_t *key, size_t len);
/* Iteration over the children of n in no particular order; valid while the tree does not change. */
struct tnode *ttree__first_child(const struct tnode *n);
struct tnode *ttree__next_child(const struct tnode *c);
/* The node of a topic name or filter, one node per '/'-separated level; with create, missing nodes are
 * made. NULL when missing, or out of memory (the nodes made by this call are pruned again). */
struct tnode *ttree__walk(struct ttree *t, const uint8_t *p, size_t len, bool create);
/* Frees n and then each ancestor below the root while it has neither data nor children. While the tree is
 * held, only notes n for ttree__settle. */
void ttree__prune(struct ttree *t, struct tnode *n);
/* A walk that will release the lock between steps starts holding the tree (any lock state, any thread) and
 * releases it when done; ttree__release returns true when it was the last hold and prunes were put off
 * meanwhile: the caller then takes the write lock and calls ttree__settle. */
void ttree__hold(struct ttree *t);
bool ttree__release(struct ttree *t);
/* Write lock held: carries out the prunes put off while the tree was held, unless it is held again. */
void ttree__settle(struct ttree *t);

/* End of the level that starts at start in a '/'-separated string of len bytes (start <= len). */
static inline size_t ttree__level_end(const uint8_t *p, size_t len, size_t start)
{
	const uint8_t *q = start < len ? memchr(p + start, '/', len - start) : NULL;
	return q ? (size_t)(q - p) : len;
}
/* Start of the level before the one that starts at next (next > 0; next == len + 1 after the last). */
static inline size_t ttree__level_prev(const uint8_t *p, size_t next)
{
	size_t i = next - 1; /* the '/' (or end) closing the previous level */
	while (i > 0 && p[i - 1] != '/')
		i--;
	return i;
}
/* True when the node's key is exactly the one-byte level c ('+' or '#'). */
static inline int ttree__is(const struct tnode *n, uint8_t c)
{
	return n->keylen == 1 && n->key[0] == c;
}

#endif
