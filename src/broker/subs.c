/* The subscription tree: level trees of filters, each node holding a hashed set of its subscribers or the
 * shared-subscription groups on that filter. */
#include "subs.h"

#include "common/topic.h"
#include "midge/midge.h"
#include "topic_tree.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

/* One shared-subscription group on a filter. The members stay in one array in join order because the
 * callback receives them as such; a group is expected to hold a few consumers, so finding and removing
 * a member by scanning it costs no more than the memmove that keeps the order. */
struct share_group {
	struct share_group *next; /* the next group on the same filter */
	struct sub_member *m;
	size_t n, cap;
	atomic_size_t start; /* advanced by matchers under the read lock, hence atomic */
	size_t namelen;
	uint8_t name[];
};

/* A level tree and the hashes of its wildcard levels (seeded per tree), looked up at every level of
 * every match. */
struct filters {
	struct ttree tree;
	uint32_t plus_hash, hash_hash;
};

/* Ordinary and shared subscriptions live in two trees, each with its own lock: node data differs
 * (struct sub_set, a list of struct share_group), subs__match never has to skip groups, and
 * subs__match_shared skips its tree altogether while it is empty. */
struct sub_tree {
	subs_watch_cb watch;   /* a filter's first subscriber came or its last went (cluster.c); under the write lock */
	void *watch_arg;
	struct filters subs;   /* node data: struct sub_set */
	struct filters shared; /* node data: the first struct share_group of that filter */
	size_t count;
	atomic_size_t nshared; /* memberships; written under shared's write lock, read without a lock */
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

static int filters_init(struct filters *f)
{
	if (ttree__init(&f->tree)) return MIDGE_ERR_NOMEM;
	f->plus_hash = ttree__hash(&f->tree, (const uint8_t *)"+", 1);
	f->hash_hash = ttree__hash(&f->tree, (const uint8_t *)"#", 1);
	return 0;
}

static void group_free(struct share_group *g)
{
	free(g->m);
	free(g);
}

static void groups_free(void *data)
{
	for (struct share_group *g = data, *next; g; g = next) {
		next = g->next;
		group_free(g);
	}
}

struct sub_tree *subs__new(void)
{
	struct sub_tree *t = calloc(1, sizeof(*t));
	if (!t) return NULL;
	atomic_init(&t->nshared, 0);
	if (filters_init(&t->subs) || filters_init(&t->shared)) {
		subs__free(t); /* a tree that did not init is zeroed, which fini accepts */
		return NULL;
	}
	return t;
}

void subs__free(struct sub_tree *t)
{
	if (!t) return;
	ttree__fini(&t->subs.tree, free);
	ttree__fini(&t->shared.tree, groups_free);
	free(t);
}

void subs__set_watch(struct sub_tree *t, subs_watch_cb cb, void *arg)
{
	/* Both locks: each tree calls the watcher under its own. */
	pthread_rwlock_wrlock(&t->subs.tree.lock);
	pthread_rwlock_wrlock(&t->shared.tree.lock);
	t->watch = cb;
	t->watch_arg = arg;
	pthread_rwlock_unlock(&t->shared.tree.lock);
	pthread_rwlock_unlock(&t->subs.tree.lock);
}

int subs__add(struct sub_tree *t, const uint8_t *filter, size_t len, struct session *s, uint8_t options,
              uint32_t sub_id)
{
	int rc;
	pthread_rwlock_wrlock(&t->subs.tree.lock);
	struct tnode *n = ttree__walk(&t->subs.tree, filter, len, true);
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
	bool first = !set;
	/* Load factor at most 3/4 keeps probe runs short. */
	if (!set || (set->count + 1) * 4 > (set->mask + 1) * 3) {
		struct sub_set *bigger = set_resize(set, set ? (set->mask + 1) * 2 : SET_MIN);
		if (!bigger) {
			ttree__prune(&t->subs.tree, n);
			rc = MIDGE_ERR_NOMEM;
			goto out;
		}
		n->data = set = bigger;
	}
	set_put(set, s, options, sub_id);
	t->count++;
	rc = 1;
	if (first && t->watch) t->watch(t->watch_arg, NULL, 0, filter, len, true);
out:
	pthread_rwlock_unlock(&t->subs.tree.lock);
	return rc;
}

int subs__remove(struct sub_tree *t, const uint8_t *filter, size_t len, struct session *s)
{
	int rc = MIDGE_ERR_NOT_FOUND;
	pthread_rwlock_wrlock(&t->subs.tree.lock);
	struct tnode *n = ttree__walk(&t->subs.tree, filter, len, false);
	struct sub_set *set = n ? n->data : NULL;
	struct sub_entry *e = set ? set_find(set, s) : NULL;
	if (e) {
		set_del(set, e);
		t->count--;
		rc = 0;
		if (!set->count) {
			free(set);
			n->data = NULL;
			ttree__prune(&t->subs.tree, n);
			if (t->watch) t->watch(t->watch_arg, NULL, 0, filter, len, false);
		} else if (set->mask + 1 > SET_MIN && set->count * 8 < set->mask + 1) {
			/* Give back the memory of a mass unsubscribe; on failure the big set still works. */
			struct sub_set *smaller = set_resize(set, (set->mask + 1) / 4);
			if (smaller) n->data = smaller;
		}
	}
	pthread_rwlock_unlock(&t->subs.tree.lock);
	return rc;
}

/* The per-node step of a match: reports the subscriptions held in n->data (never NULL) to the caller's
 * callback and returns the number of calls. */
typedef size_t (*report_fn)(const struct tnode *n, void *ctx);

static const struct tnode *plus_child(const struct filters *f, const struct tnode *n)
{
	return ttree__child_h(n, (const uint8_t *)"+", 1, f->plus_hash);
}

/* Backtracks from n to the next node to enter: the '+' sibling of an exact-level node, or further up.
 * *start follows (the topic level below the returned node); NULL when the walk is over. */
static const struct tnode *climb(const struct filters *f, const struct tnode *n, const uint8_t *topic, size_t *start,
                                 bool dollar)
{
	const struct tnode *root = f->tree.root;
	while (n != root) {
		const struct tnode *c = n, *p;
		n = n->parent;
		/* The '+' sibling matches the same topic level, so *start stays. */
		if (!ttree__is(c, '+') && (n != root || !dollar) && (p = plus_child(f, n))) return p;
		*start = ttree__level_prev(topic, *start);
	}
	return NULL;
}

/* Calls report for every node of f whose filter matches the topic and holds data; the caller holds the
 * read lock. Returns the sum of what report returned. One walk for both kinds of subscription, so
 * they cannot come to disagree on the matching rules. */
static size_t match(const struct filters *f, const uint8_t *topic, size_t len, report_fn report, void *ctx)
{
	size_t calls = 0;
	/* A '$' topic is not matched by a wildcard at the first level (MQTT 4.7.2). */
	bool dollar = len && topic[0] == '$';
	const struct tnode *root = f->tree.root, *n = root;
	/* Depth first without recursion or a stack (a topic may have 65,536 levels): each node is entered
	 * with start = the first topic byte below it, len + 1 once every level is matched; parent pointers
	 * and ttree__level_prev lead back. At each level the exact child is tried, then '+'. */
	size_t start = 0;
	while (n) {
		bool wild = n != root || !dollar;
		const struct tnode *c;
		/* '#' matches whatever is left, nothing included ("a/#" matches "a"). */
		if (wild && (c = ttree__child_h(n, (const uint8_t *)"#", 1, f->hash_hash)) && c->data)
			calls += report(c, ctx);
		if (start > len) {
			if (n->data) calls += report(n, ctx);
		} else {
			size_t end = ttree__level_end(topic, len, start);
			/* A (invalid) topic level "+" or "#" must not reach the wildcard nodes twice. */
			bool literal = !(end - start == 1 && (topic[start] == '+' || topic[start] == '#'));
			if ((literal && (c = ttree__child(&f->tree, n, topic + start, end - start))) ||
			    (wild && (c = plus_child(f, n)))) {
				n = c;
				start = end + 1;
				continue;
			}
		}
		n = climb(f, n, topic, &start, dollar);
	}
	return calls;
}

struct match_ctx {
	subs_match_cb cb;
	void *arg;
};

static size_t report_set(const struct tnode *n, void *ctx)
{
	const struct match_ctx *m = ctx;
	const struct sub_set *set = n->data;
	size_t calls = 0;
	for (uint32_t i = 0; i <= set->mask; i++) {
		if (!set->e[i].s) continue;
		m->cb(m->arg, set->e[i].s, set->e[i].options, set->e[i].sub_id);
		calls++;
	}
	return calls;
}

size_t subs__match(struct sub_tree *t, const uint8_t *topic, size_t len, subs_match_cb cb, void *arg)
{
	struct match_ctx m = {cb, arg};
	pthread_rwlock_rdlock(&t->subs.tree.lock);
	size_t calls = match(&t->subs, topic, len, report_set, &m);
	pthread_rwlock_unlock(&t->subs.tree.lock);
	return calls;
}

size_t subs__count(struct sub_tree *t)
{
	pthread_rwlock_rdlock(&t->subs.tree.lock);
	size_t n = t->count;
	pthread_rwlock_unlock(&t->subs.tree.lock);
	return n;
}

/* Both trees: the count is a memory statistic, and shared filters hold nodes too. */
size_t subs__node_count(struct sub_tree *t)
{
	pthread_rwlock_rdlock(&t->subs.tree.lock);
	size_t n = t->subs.tree.nodes;
	pthread_rwlock_unlock(&t->subs.tree.lock);
	pthread_rwlock_rdlock(&t->shared.tree.lock);
	n += t->shared.tree.nodes;
	pthread_rwlock_unlock(&t->shared.tree.lock);
	return n;
}

/* ---- shared subscriptions ---- */

#define GROUP_MIN 2u

/* The group of this name on n's filter, or NULL; *prev gets the group before it in the list (NULL when
 * it is the first), for unlinking. */
static struct share_group *group_find(const struct tnode *n, const uint8_t *name, size_t len, struct share_group **prev)
{
	struct share_group *p = NULL;
	for (struct share_group *g = n->data; g; p = g, g = g->next) {
		if (g->namelen == len && memcmp(g->name, name, len) == 0) {
			if (prev) *prev = p;
			return g;
		}
	}
	return NULL;
}

static struct sub_member *member_find(struct share_group *g, const struct session *s)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->m[i].s == s) return &g->m[i];
	return NULL;
}

/* Gives g room for cap members (cap >= g->n). On failure g is unchanged. */
static int members_resize(struct share_group *g, size_t cap)
{
	if (cap > SIZE_MAX / sizeof(g->m[0])) return MIDGE_ERR_NOMEM;
	struct sub_member *m = realloc(g->m, cap * sizeof(g->m[0]));
	if (!m) return MIDGE_ERR_NOMEM;
	g->m = m;
	g->cap = cap;
	return 0;
}

int subs__add_shared(struct sub_tree *t, const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
                     struct session *s, uint8_t options, uint32_t sub_id)
{
	int rc;
	pthread_rwlock_wrlock(&t->shared.tree.lock);
	struct tnode *n = ttree__walk(&t->shared.tree, filter, flen, true);
	if (!n) {
		rc = MIDGE_ERR_NOMEM;
		goto out;
	}
	struct share_group *g = group_find(n, group, glen, NULL);
	bool fresh = !g;
	if (fresh) {
		g = calloc(1, sizeof(*g) + glen);
		if (!g) {
			ttree__prune(&t->shared.tree, n);
			rc = MIDGE_ERR_NOMEM;
			goto out;
		}
		atomic_init(&g->start, 0);
		g->namelen = glen;
		memcpy(g->name, group, glen);
	} else {
		struct sub_member *m = member_find(g, s);
		if (m) {
			m->options = options;
			m->sub_id = sub_id;
			rc = 0;
			goto out;
		}
	}
	if (g->n == g->cap && members_resize(g, g->cap ? g->cap * 2 : GROUP_MIN)) {
		if (fresh) {
			group_free(g);
			ttree__prune(&t->shared.tree, n);
		}
		rc = MIDGE_ERR_NOMEM;
		goto out;
	}
	g->m[g->n++] = (struct sub_member){.s = s, .options = options, .sub_id = sub_id,
					   .group_hash = topic__hash(group, glen)};
	/* Linked only now that nothing can fail, so a failed add leaves no empty group behind. */
	if (fresh) {
		g->next = n->data;
		n->data = g;
		if (t->watch) t->watch(t->watch_arg, group, glen, filter, flen, true);
	}
	atomic_fetch_add_explicit(&t->nshared, 1, memory_order_relaxed);
	rc = 1;
out:
	pthread_rwlock_unlock(&t->shared.tree.lock);
	return rc;
}

int subs__remove_shared(struct sub_tree *t, const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
                        struct session *s)
{
	int rc = MIDGE_ERR_NOT_FOUND;
	pthread_rwlock_wrlock(&t->shared.tree.lock);
	struct tnode *n = ttree__walk(&t->shared.tree, filter, flen, false);
	struct share_group *prev = NULL, *g = n ? group_find(n, group, glen, &prev) : NULL;
	struct sub_member *m = g ? member_find(g, s) : NULL;
	if (m) {
		/* memmove, not the last member into the hole: the callback is promised join order. */
		size_t i = (size_t)(m - g->m);
		memmove(&g->m[i], &g->m[i + 1], (g->n - i - 1) * sizeof(g->m[0]));
		g->n--;
		atomic_fetch_sub_explicit(&t->nshared, 1, memory_order_relaxed);
		rc = 0;
		if (!g->n) {
			if (prev)
				prev->next = g->next;
			else
				n->data = g->next;
			group_free(g);
			ttree__prune(&t->shared.tree, n);
			if (t->watch) t->watch(t->watch_arg, group, glen, filter, flen, false);
		} else if (g->cap > GROUP_MIN && g->n * 4 <= g->cap) {
			/* Give back the memory of members that left; on failure the bigger array still works. */
			members_resize(g, g->cap / 2);
		}
	}
	pthread_rwlock_unlock(&t->shared.tree.lock);
	return rc;
}

struct share_ctx {
	subs_share_cb cb;
	void *arg;
};

/* Reports one group: start is taken with a fetch-add because matchers run in parallel under the read
 * lock, and each message must get its own starting member. */
static void report_group(struct share_group *g, subs_share_cb cb, void *arg)
{
	size_t start = atomic_fetch_add_explicit(&g->start, 1, memory_order_relaxed);
	cb(arg, g->m, g->n, start);
}

static size_t report_groups(const struct tnode *n, void *ctx)
{
	const struct share_ctx *c = ctx;
	size_t calls = 0;
	for (struct share_group *g = n->data; g; g = g->next) {
		report_group(g, c->cb, c->arg);
		calls++;
	}
	return calls;
}

size_t subs__match_shared(struct sub_tree *t, const uint8_t *topic, size_t len, subs_share_cb cb, void *arg)
{
	/* Most brokers have no shared subscription: every PUBLISH then pays one load, not a lock and a walk.
	 * Relaxed is enough: an add that happened before this call is seen (coherence), and one racing it
	 * may be missed either way. */
	if (!atomic_load_explicit(&t->nshared, memory_order_relaxed)) return 0;
	struct share_ctx c = {cb, arg};
	pthread_rwlock_rdlock(&t->shared.tree.lock);
	size_t calls = match(&t->shared, topic, len, report_groups, &c);
	pthread_rwlock_unlock(&t->shared.tree.lock);
	return calls;
}

int subs__shared_group(struct sub_tree *t, const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
                       subs_share_cb cb, void *arg)
{
	int rc = MIDGE_ERR_NOT_FOUND;
	pthread_rwlock_rdlock(&t->shared.tree.lock);
	/* Without create, ttree__walk only looks, so the read lock is enough. */
	struct tnode *n = ttree__walk(&t->shared.tree, filter, flen, false);
	struct share_group *g = n ? group_find(n, group, glen, NULL) : NULL;
	if (g) {
		report_group(g, cb, arg);
		rc = 0;
	}
	pthread_rwlock_unlock(&t->shared.tree.lock);
	return rc;
}

size_t subs__shared_count(struct sub_tree *t)
{
	return atomic_load_explicit(&t->nshared, memory_order_relaxed);
}
