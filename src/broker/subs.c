/* The subscription tree: a level tree of filters, each node holding a hashed set of its subscribers. */
#include "subs.h"

#include "midge/midge.h"
#include "topic_tree.h"

#include <stdbool.h>
#include <stdlib.h>

struct sub_entry {
	struct session *s; /* NULL = free slot */
	uint32_t sub_id;
	uint8_t options;
};

/* The subscribers of one filter, keyed by session pointer with linear probing: a re-subscribe among
 * 100,000 sessions on one filter is found in O(1), and all entries sit in one allocation. */
struct sub_set {
	uint32_t count;
	uint32_t mask; /* capacity - 1; capacity is a power of two */
	struct sub_entry e[];
};

struct sub_tree {
	struct ttree tree;
	size_t count;
	uint32_t plus_hash, hash_hash; /* of "+" and "#", looked up at every level of every match */
};

#define SET_MIN 2u

static uint32_t home(const struct session *s, uint32_t mask)
{
	/* Fibonacci hashing: allocator addresses differ mostly in their middle bits. */
	return (uint32_t)(((uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static struct sub_entry *set_find(struct sub_set *set, const struct session *s)
{
	for (uint32_t i = home(s, set->mask);; i = (i + 1) & set->mask) {
		if (set->e[i].s == s) return &set->e[i];
		if (!set->e[i].s) return NULL;
	}
}

/* Caller guarantees a free slot and that s is not in the set yet. */
static void set_put(struct sub_set *set, struct session *s, uint8_t options, uint32_t sub_id)
{
	uint32_t i = home(s, set->mask);
	while (set->e[i].s)
		i = (i + 1) & set->mask;
	set->e[i] = (struct sub_entry){.s = s, .sub_id = sub_id, .options = options};
	set->count++;
}

/* A copy of set (NULL = empty) with cap slots, or NULL when out of memory (set untouched). */
static struct sub_set *set_resize(struct sub_set *set, uint32_t cap)
{
	struct sub_set *n = calloc(1, sizeof(*n) + (size_t)cap * sizeof(n->e[0]));
	if (!n) return NULL;
	n->mask = cap - 1;
	for (uint32_t i = 0; set && i <= set->mask; i++)
		if (set->e[i].s) set_put(n, set->e[i].s, set->e[i].options, set->e[i].sub_id);
	free(set);
	return n;
}

/* Empties e's slot and shifts later entries of its probe run back, so lookups need no tombstones. */
static void set_del(struct sub_set *set, struct sub_entry *e)
{
	uint32_t i = (uint32_t)(e - set->e), j = i;
	for (;;) {
		j = (j + 1) & set->mask;
		if (!set->e[j].s) break;
		/* The entry at j may fill the hole at i only if i lies on its probe path from home to j. */
		uint32_t k = home(set->e[j].s, set->mask);
		if (((j - k) & set->mask) >= ((j - i) & set->mask)) {
			set->e[i] = set->e[j];
			i = j;
		}
	}
	set->e[i].s = NULL;
	set->count--;
}

struct sub_tree *subs__new(void)
{
	struct sub_tree *t = calloc(1, sizeof(*t));
	if (!t) return NULL;
	if (ttree__init(&t->tree)) {
		free(t);
		return NULL;
	}
	t->plus_hash = ttree__hash(&t->tree, (const uint8_t *)"+", 1);
	t->hash_hash = ttree__hash(&t->tree, (const uint8_t *)"#", 1);
	return t;
}

void subs__free(struct sub_tree *t)
{
	if (!t) return;
	ttree__fini(&t->tree, free);
	free(t);
}

int subs__add(struct sub_tree *t, const uint8_t *filter, size_t len, struct session *s, uint8_t options,
              uint32_t sub_id)
{
	int rc;
	pthread_rwlock_wrlock(&t->tree.lock);
	struct tnode *n = ttree__walk(&t->tree, filter, len, true);
	if (!n) {
		rc = MIDGE_ERR_NOMEM;
		goto out;
	}
	struct sub_set *set = n->data;
	struct sub_entry *e = set ? set_find(set, s) : NULL;
	if (e) {
		e->options = options;
		e->sub_id = sub_id;
		rc = 0;
		goto out;
	}
	/* Load factor at most 3/4 keeps probe runs short. */
	if (!set || (set->count + 1) * 4 > (set->mask + 1) * 3) {
		struct sub_set *bigger = set_resize(set, set ? (set->mask + 1) * 2 : SET_MIN);
		if (!bigger) {
			ttree__prune(&t->tree, n);
			rc = MIDGE_ERR_NOMEM;
			goto out;
		}
		n->data = set = bigger;
	}
	set_put(set, s, options, sub_id);
	t->count++;
	rc = 1;
out:
	pthread_rwlock_unlock(&t->tree.lock);
	return rc;
}

int subs__remove(struct sub_tree *t, const uint8_t *filter, size_t len, struct session *s)
{
	int rc = MIDGE_ERR_NOT_FOUND;
	pthread_rwlock_wrlock(&t->tree.lock);
	struct tnode *n = ttree__walk(&t->tree, filter, len, false);
	struct sub_set *set = n ? n->data : NULL;
	struct sub_entry *e = set ? set_find(set, s) : NULL;
	if (e) {
		set_del(set, e);
		t->count--;
		rc = 0;
		if (!set->count) {
			free(set);
			n->data = NULL;
			ttree__prune(&t->tree, n);
		} else if (set->mask + 1 > SET_MIN && set->count * 8 < set->mask + 1) {
			/* Give back the memory of a mass unsubscribe; on failure the big set still works. */
			struct sub_set *smaller = set_resize(set, (set->mask + 1) / 4);
			if (smaller) n->data = smaller;
		}
	}
	pthread_rwlock_unlock(&t->tree.lock);
	return rc;
}

static size_t report(const struct tnode *n, subs_match_cb cb, void *arg)
{
	const struct sub_set *set = n ? n->data : NULL;
	if (!set) return 0;
	size_t calls = 0;
	for (uint32_t i = 0; i <= set->mask; i++) {
		if (!set->e[i].s) continue;
		cb(arg, set->e[i].s, set->e[i].options, set->e[i].sub_id);
		calls++;
	}
	return calls;
}

static const struct tnode *plus_child(const struct sub_tree *t, const struct tnode *n)
{
	return ttree__child_h(n, (const uint8_t *)"+", 1, t->plus_hash);
}

/* Backtracks from n to the next node to enter: the '+' sibling of an exact-level node, or further up.
 * *start follows (the topic level below the returned node); NULL when the walk is over. */
static const struct tnode *climb(const struct sub_tree *t, const struct tnode *n, const uint8_t *topic, size_t *start,
                                 bool dollar)
{
	const struct tnode *root = t->tree.root;
	while (n != root) {
		const struct tnode *c = n, *p;
		n = n->parent;
		/* The '+' sibling matches the same topic level, so *start stays. */
		if (!ttree__is(c, '+') && (n != root || !dollar) && (p = plus_child(t, n))) return p;
		*start = ttree__level_prev(topic, *start);
	}
	return NULL;
}

size_t subs__match(struct sub_tree *t, const uint8_t *topic, size_t len, subs_match_cb cb, void *arg)
{
	size_t calls = 0;
	/* A '$' topic is not matched by a wildcard at the first level (MQTT 4.7.2). */
	bool dollar = len && topic[0] == '$';
	pthread_rwlock_rdlock(&t->tree.lock);
	const struct tnode *root = t->tree.root, *n = root;
	/* Depth first without recursion or a stack (a topic may have 65,536 levels): each node is entered
	 * with start = the first topic byte below it, len + 1 once every level is matched; parent pointers
	 * and ttree__level_prev lead back. At each level the exact child is tried, then '+'. */
	size_t start = 0;
	while (n) {
		bool wild = n != root || !dollar;
		const struct tnode *c;
		/* '#' matches whatever is left, nothing included ("a/#" matches "a"). */
		if (wild) calls += report(ttree__child_h(n, (const uint8_t *)"#", 1, t->hash_hash), cb, arg);
		if (start > len) {
			calls += report(n, cb, arg);
		} else {
			size_t end = ttree__level_end(topic, len, start);
			/* A (invalid) topic level "+" or "#" must not reach the wildcard nodes twice. */
			bool literal = !(end - start == 1 && (topic[start] == '+' || topic[start] == '#'));
			if ((literal && (c = ttree__child(&t->tree, n, topic + start, end - start))) ||
			    (wild && (c = plus_child(t, n)))) {
				n = c;
				start = end + 1;
				continue;
			}
		}
		n = climb(t, n, topic, &start, dollar);
	}
	pthread_rwlock_unlock(&t->tree.lock);
	return calls;
}

size_t subs__count(struct sub_tree *t)
{
	pthread_rwlock_rdlock(&t->tree.lock);
	size_t n = t->count;
	pthread_rwlock_unlock(&t->tree.lock);
	return n;
}

size_t subs__node_count(struct sub_tree *t)
{
	pthread_rwlock_rdlock(&t->tree.lock);
	size_t n = t->tree.nodes;
	pthread_rwlock_unlock(&t->tree.lock);
	return n;
}
