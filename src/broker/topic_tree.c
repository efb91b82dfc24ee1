/* The level tree under subs.c and retain.c: hashed children, creation, pruning and teardown. */
#include "topic_tree.h"

#include "midge/midge.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MIN_BUCKETS 2u
/* Prunes put off by a hold, remembered by topic up to this many; past it, a sweep of the tree at the end. */
#define MAX_DEFERRED 4096u

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND()                                                                                                     \
	do {                                                                                                           \
		v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                                              \
		v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                                                 \
		v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                                                 \
		v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                                              \
	} while (0)

/* SipHash-1-3: keyed, so levels chosen by clients cannot be made to collide (hash flooding). */
static uint64_t siphash13(const uint64_t k[2], const uint8_t *p, size_t len)
{
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8); /* host order: the hash never leaves memory */
		v3 ^= m;
		SIPROUND();
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND();
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND();
	SIPROUND();
	SIPROUND();
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t ttree__hash(const struct ttree *t, const uint8_t *key, size_t len)
{
	return (uint32_t)siphash13(t->seed, key, len);
}

static struct tnode *node_new(const uint8_t *key, size_t len, uint32_t hash)
{
	struct tnode *n = calloc(1, sizeof(*n) + len);
	if (!n) return NULL;
	n->hash = hash;
	n->keylen = (uint32_t)len;
	if (len) memcpy(n->key, key, len);
	return n;
}

int ttree__init(struct ttree *t)
{
	memset(t, 0, sizeof(*t));
	if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed)) {
		/* Early boot without entropy: a weaker seed still beats a fixed one. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		t->seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
		t->seed[1] = (uint64_t)(uintptr_t)t * 0xc2b2ae3d27d4eb4full ^ (uint64_t)clock();
	}
	t->root = node_new(NULL, 0, 0);
	if (!t->root) return MIDGE_ERR_NOMEM;
	pthread_rwlockattr_t attr;
	int rc = pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
	/* glibc prefers readers by default; matching is constant under load, so changes would wait forever. */
	if (!rc) pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	if (!rc) {
		rc = pthread_rwlock_init(&t->lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	if (rc) {
		free(t->root);
		t->root = NULL;
		return MIDGE_ERR_NOMEM;
	}
	return 0;
}

void ttree__fini(struct ttree *t, void (*free_data)(void *data))
{
	struct tnode *n = t->root;
	if (!n) return;
	/* Depth first without a stack: pop a child from the last non-empty bucket and descend; free a node
	 * once it is childless and climb. nbuckets doubles as a cursor, so a wide node costs O(buckets). */
	while (n) {
		if (n->nchildren) {
			while (!n->buckets[n->nbuckets - 1])
				n->nbuckets--;
			struct tnode *c = n->buckets[n->nbuckets - 1];
			n->buckets[n->nbuckets - 1] = c->hnext;
			n->nchildren--;
			n = c;
			continue;
		}
		struct tnode *parent = n->parent;
		if (n->data && free_data) free_data(n->data);
		free(n->buckets);
		free(n);
		n = parent;
	}
	pthread_rwlock_destroy(&t->lock);
	t->root = NULL;
	t->nodes = 0;
	for (size_t i = 0; i < t->ndeferred; i++) free(t->deferred[i].topic);
	free(t->deferred);
	t->deferred = NULL;
	t->ndeferred = 0;
}

struct tnode *ttree__child_h(const struct tnode *n, const uint8_t *key, size_t len, uint32_t hash)
{
	if (!n->nchildren) return NULL;
	for (struct tnode *c = n->buckets[hash & (n->nbuckets - 1)]; c; c = c->hnext)
		if (c->hash == hash && c->keylen == len && memcmp(c->key, key, len) == 0) return c;
	return NULL;
}

struct tnode *ttree__child(const struct ttree *t, const struct tnode *n, const uint8_t *key, size_t len)
{
	if (!n->nchildren) return NULL;
	return ttree__child_h(n, key, len, ttree__hash(t, key, len));
}

/* Rehashes n's children into nb buckets. On allocation failure the old table stays: longer chains,
 * still correct. */
static void rehash(struct tnode *n, uint32_t nb)
{
	struct tnode **b = calloc(nb, sizeof(*b));
	if (!b) return;
	for (uint32_t i = 0; i < n->nbuckets; i++) {
		struct tnode *c = n->buckets[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			c->hnext = b[c->hash & (nb - 1)];
			b[c->hash & (nb - 1)] = c;
		}
	}
	free(n->buckets);
	n->buckets = b;
	n->nbuckets = nb;
}

struct tnode *ttree__add_child(struct ttree *t, struct tnode *n, const uint8_t *key, size_t len)
{
	if (len > UINT32_MAX) return NULL;
	uint32_t h = ttree__hash(t, key, len);
	struct tnode *c = ttree__child_h(n, key, len, h);
	if (c) return c;
	if (!n->buckets) {
		n->buckets = calloc(MIN_BUCKETS, sizeof(*n->buckets));
		if (!n->buckets) return NULL;
		n->nbuckets = MIN_BUCKETS;
	}
	c = node_new(key, len, h);
	if (!c) return NULL;
	/* Load factor at most 1 (when the table could grow): chains stay around one node long. Not while held:
	 * a held walk's place among the siblings is their order in this table. After a hold the table may be
	 * several doublings behind. */
	if (n->nchildren >= n->nbuckets && !atomic_load_explicit(&t->holds, memory_order_relaxed)) {
		uint32_t nb = n->nbuckets;
		while (nb <= n->nchildren && nb <= UINT32_MAX / 2)
			nb *= 2;
		if (nb != n->nbuckets) rehash(n, nb);
	}
	c->parent = n;
	c->hnext = n->buckets[h & (n->nbuckets - 1)];
	n->buckets[h & (n->nbuckets - 1)] = c;
	n->nchildren++;
	t->nodes++;
	return c;
}

struct tnode *ttree__first_child(const struct tnode *n)
{
	for (uint32_t i = 0; i < n->nbuckets && n->nchildren; i++)
		if (n->buckets[i]) return n->buckets[i];
	return NULL;
}

struct tnode *ttree__next_child(const struct tnode *c)
{
	if (c->hnext) return c->hnext;
	const struct tnode *p = c->parent;
	for (uint32_t i = (c->hash & (p->nbuckets - 1)) + 1; i < p->nbuckets; i++)
		if (p->buckets[i]) return p->buckets[i];
	return NULL;
}

struct tnode *ttree__walk(struct ttree *t, const uint8_t *p, size_t len, bool create)
{
	struct tnode *n = t->root;
	for (size_t start = 0;;) {
		size_t end = ttree__level_end(p, len, start);
		struct tnode *c = create ? ttree__add_child(t, n, p + start, end - start)
		                         : ttree__child(t, n, p + start, end - start);
		if (!c) {
			if (create) ttree__prune(t, n);
			return NULL;
		}
		n = c;
		if (end >= len) return n;
		start = end + 1;
	}
}

/* Takes c out of its parent's table; shrinks the table when it is mostly empty, so a level that once
 * held 100,000 device ids does not keep their buckets forever. */
static void unlink_child(struct tnode *p, struct tnode *c)
{
	struct tnode **pp = &p->buckets[c->hash & (p->nbuckets - 1)];
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	p->nchildren--;
	if (!p->nchildren) {
		free(p->buckets);
		p->buckets = NULL;
		p->nbuckets = 0;
	} else if (p->nbuckets > MIN_BUCKETS && p->nchildren < p->nbuckets / 8) {
		rehash(p, p->nbuckets / 4);
	}
}

/* The topic of n ('/'-joined levels from below the root), malloc'd; NULL when out of memory. */
static uint8_t *topic_of(const struct tnode *n, size_t *len)
{
	size_t l = 0;
	for (const struct tnode *a = n; a->parent; a = a->parent)
		l += a->keylen + (a->parent->parent ? 1 : 0);
	uint8_t *p = malloc(l ? l : 1);
	if (!p) return NULL;
	size_t end = l;
	for (const struct tnode *a = n; a->parent; a = a->parent) {
		end -= a->keylen;
		memcpy(p + end, a->key, a->keylen);
		if (a->parent->parent) p[--end] = '/';
	}
	*len = l;
	return p;
}

static void defer(struct ttree *t, struct tnode *n)
{
	if (t->sweep) return;
	if (t->ndeferred % 64 == 0) {
		if (t->ndeferred >= MAX_DEFERRED) {
			t->sweep = true;
			return;
		}
		struct ttree_deferred *d = realloc(t->deferred, (t->ndeferred + 64) * sizeof(*d));
		if (!d) {
			t->sweep = true;
			return;
		}
		t->deferred = d;
	}
	struct ttree_deferred *d = &t->deferred[t->ndeferred];
	if (!(d->topic = topic_of(n, &d->len))) t->sweep = true;
	else t->ndeferred++;
}

/* Frees n and each emptied ancestor below the root, whatever the holds. */
static void prune_now(struct ttree *t, struct tnode *n)
{
	while (n && n != t->root && !n->data && !n->nchildren) {
		struct tnode *p = n->parent;
		unlink_child(p, n);
		free(n->buckets);
		free(n);
		t->nodes--;
		n = p;
	}
}

void ttree__prune(struct ttree *t, struct tnode *n)
{
	if (n && n != t->root && atomic_load_explicit(&t->holds, memory_order_relaxed)) {
		if (!n->data && !n->nchildren) defer(t, n);
		return;
	}
	prune_now(t, n);
}

void ttree__hold(struct ttree *t)
{
	atomic_fetch_add_explicit(&t->holds, 1, memory_order_relaxed);
}

bool ttree__release(struct ttree *t)
{
	if (atomic_fetch_sub_explicit(&t->holds, 1, memory_order_acq_rel) != 1) return false;
	pthread_rwlock_rdlock(&t->lock);
	bool pending = t->ndeferred || t->sweep;
	pthread_rwlock_unlock(&t->lock);
	return pending;
}

/* Fits p's child table to its children after removals (none: no table). */
static void fit_table(struct tnode *p)
{
	if (!p->nchildren) {
		free(p->buckets);
		p->buckets = NULL;
		p->nbuckets = 0;
		return;
	}
	uint32_t nb = p->nbuckets;
	while (nb > MIN_BUCKETS && p->nchildren < nb / 8)
		nb /= 4;
	if (nb != p->nbuckets) rehash(p, nb);
}

/* Frees every node below the root that has neither data nor children, children before parents (a parent
 * emptied by its children's removal goes too). Post-order without a stack; a table is fitted only once its
 * node's children are all done, so the sibling order being followed stays put. */
static void sweep(struct ttree *t)
{
	struct tnode *n = t->root, *c;
	for (;;) {
		while ((c = ttree__first_child(n)))
			n = c;
		/* n's children (if any are left) are done. */
		for (;;) {
			if (n == t->root) {
				fit_table(n);
				return;
			}
			fit_table(n);
			struct tnode *next = ttree__next_child(n), *p = n->parent;
			if (!n->data && !n->nchildren) {
				struct tnode **pp = &p->buckets[n->hash & (p->nbuckets - 1)];
				while (*pp != n)
					pp = &(*pp)->hnext;
				*pp = n->hnext;
				p->nchildren--;
				free(n);
				t->nodes--;
			}
			if (next) {
				n = next;
				break;
			}
			n = p;
		}
	}
}

void ttree__settle(struct ttree *t)
{
	/* A hold taken before the write lock may belong to a walk already past the root: nothing is freed. One
	 * taken from here on belongs to a walk that has not started (it reads only under the read lock, from the
	 * root), so the prunes go ahead regardless: prune_now, never ttree__prune, which would defer again into
	 * the array being read. */
	if (atomic_load_explicit(&t->holds, memory_order_relaxed)) return;
	for (size_t i = 0; i < t->ndeferred; i++) {
		struct ttree_deferred *d = &t->deferred[i];
		struct tnode *n = t->sweep ? NULL : ttree__walk(t, d->topic, d->len, false);
		if (n && !n->data && !n->nchildren) prune_now(t, n);
		free(d->topic);
	}
	free(t->deferred);
	t->deferred = NULL;
	t->ndeferred = 0;
	if (t->sweep) {
		t->sweep = false;
		sweep(t);
	}
}
