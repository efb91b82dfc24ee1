/* The retained-message store: a level tree of topic names, each node holding at most one message. */
#include "retain.h"

#include "message.h"
#include "midge/midge.h"
#include "topic_tree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct retain_store {
	struct ttree tree; /* node data: the struct message * retained under that topic, with its reference */
	size_t count;
};

struct retain_store *retain__new(void)
{
	struct retain_store *r = calloc(1, sizeof(*r));
	if (!r) return NULL;
	if (ttree__init(&r->tree)) {
		free(r);
		return NULL;
	}
	return r;
}

static void unref(void *m)
{
	msg__unref(m);
}

void retain__free(struct retain_store *r)
{
	if (!r) return;
	ttree__fini(&r->tree, unref);
	free(r);
}

int retain__set(struct retain_store *r, struct message *m)
{
	bool clear = m->payload_len == 0;
	int rc = 0;
	pthread_rwlock_wrlock(&r->tree.lock);
	/* Clearing must not create nodes only to prune them. */
	struct tnode *n = ttree__walk(&r->tree, m->topic, m->topic_len, !clear);
	if (!n) {
		if (!clear) rc = MIDGE_ERR_NOMEM;
		goto out;
	}
	/* Reference the new message before dropping the old: they may be the same one. */
	struct message *old = n->data;
	n->data = clear ? NULL : msg__ref(m);
	r->count += (n->data != NULL) - (old != NULL);
	msg__unref(old);
	if (clear) ttree__prune(&r->tree, n);
out:
	pthread_rwlock_unlock(&r->tree.lock);
	return rc;
}

/* Children of the root whose level starts with '$' are hidden from a leading wildcard (MQTT 4.7.2). */
static bool hidden(const struct tnode *root, const struct tnode *c)
{
	return c->parent == root && c->keylen && c->key[0] == '$';
}

static const struct tnode *first_visible(const struct tnode *root, const struct tnode *n)
{
	const struct tnode *c = ttree__first_child(n);
	while (c && hidden(root, c))
		c = ttree__next_child(c);
	return c;
}

static const struct tnode *next_visible(const struct tnode *root, const struct tnode *c)
{
	do
		c = ttree__next_child(c);
	while (c && hidden(root, c));
	return c;
}

static size_t report(const struct tnode *n, retain_match_cb cb, void *arg)
{
	if (!n->data) return 0;
	cb(arg, n->data);
	return 1;
}

/* The node after n in a preorder walk of the subtree under s (s itself first), or NULL when it is done. */
static const struct tnode *subtree_next(const struct tnode *root, const struct tnode *s, const struct tnode *n)
{
	const struct tnode *c = first_visible(root, n);
	if (c) return c;
	for (;;) {
		if (n == s) return NULL;
		if ((c = next_visible(root, n))) return c;
		n = n->parent;
	}
}

/* Backtracks from n to the next node to enter: the next sibling when n's filter level is '+', else
 * further up. *start follows (the filter level below the returned node); NULL when the walk is over. */
static const struct tnode *climb(const struct tnode *root, const struct tnode *n, const uint8_t *filter, size_t *start)
{
	while (n != root) {
		size_t prev = ttree__level_prev(filter, *start);
		if (*start - 1 - prev == 1 && filter[prev] == '+') {
			const struct tnode *c = next_visible(root, n);
			if (c) return c;
		}
		n = n->parent;
		*start = prev;
	}
	return NULL;
}

/* Where a match stands: depth first without recursion or a stack, as in subs__match. n is the next node to
 * enter, with start = the first filter byte below it (len + 1 once every level is matched); inside the
 * subtree of a '#' level (sub), n is the next node of that subtree to report. */
struct retain_cursor {
	const struct tnode *n; /* NULL: the walk is over */
	const struct tnode *sub;
	size_t start;
	const uint8_t *filter;
	size_t len;
	bool held;
};

static void cursor_init(struct retain_cursor *k, const struct retain_store *r, const uint8_t *filter, size_t len)
{
	*k = (struct retain_cursor){.n = r->tree.root, .filter = filter, .len = len};
}

/* Read lock held: moves k on by at most steps nodes, or until max messages are reported. Returns the calls. */
static size_t advance(struct retain_store *r, struct retain_cursor *k, size_t *steps, size_t max, retain_match_cb cb,
		      void *arg)
{
	const struct tnode *root = r->tree.root;
	const uint8_t *filter = k->filter;
	size_t len = k->len, calls = 0;
	for (; k->n && *steps && calls < max; --*steps) {
		const struct tnode *n = k->n, *c = NULL;
		if (k->sub) {
			calls += report(n, cb, arg);
			if (!(k->n = subtree_next(root, k->sub, n))) {
				k->n = climb(root, k->sub, filter, &k->start);
				k->sub = NULL;
			}
			continue;
		}
		if (k->start > len) {
			calls += report(n, cb, arg);
		} else {
			size_t end = ttree__level_end(filter, len, k->start);
			bool one = end - k->start == 1;
			if (one && filter[k->start] == '#') {
				k->sub = n; /* "a/#" includes "a" itself: n is reported next */
				continue;
			}
			if (one && filter[k->start] == '+')
				c = first_visible(root, n);
			else
				c = ttree__child(&r->tree, n, filter + k->start, end - k->start);
			if (c) {
				k->n = c;
				k->start = end + 1;
				continue;
			}
		}
		k->n = climb(root, n, filter, &k->start);
	}
	return calls;
}

/* Ends k's hold on the tree, carrying out the prunes it put off when it was the last. */
static void release(struct retain_store *r, struct retain_cursor *k)
{
	if (!k->held) return;
	k->held = false;
	if (!ttree__release(&r->tree)) return;
	pthread_rwlock_wrlock(&r->tree.lock);
	ttree__settle(&r->tree);
	pthread_rwlock_unlock(&r->tree.lock);
}

size_t retain__match(struct retain_store *r, const uint8_t *filter, size_t len, retain_match_cb cb, void *arg)
{
	struct retain_cursor k;
	cursor_init(&k, r, filter, len);
	pthread_rwlock_rdlock(&r->tree.lock);
	size_t steps = SIZE_MAX;
	size_t calls = advance(r, &k, &steps, SIZE_MAX, cb, arg);
	pthread_rwlock_unlock(&r->tree.lock);
	return calls;
}

struct retain_cursor *retain__cursor_new(struct retain_store *r, const uint8_t *filter, size_t len)
{
	struct retain_cursor *k = malloc(sizeof(*k) + (len ? len : 1));
	if (!k) return NULL;
	uint8_t *copy = (uint8_t *)(k + 1);
	memcpy(copy, filter, len);
	cursor_init(k, r, copy, len);
	return k;
}

static void collect(void *arg, struct message *m)
{
	struct message ***out = arg;
	*(*out)++ = msg__ref(m);
}

size_t retain__cursor_next(struct retain_store *r, struct retain_cursor *k, struct message **out, size_t max,
			   size_t *steps)
{
	if (!k->n) return 0;
	/* Held from the first step on: between calls the tree keeps every node and its siblings' order. */
	if (!k->held) {
		ttree__hold(&r->tree);
		k->held = true;
	}
	struct message **p = out;
	pthread_rwlock_rdlock(&r->tree.lock);
	size_t n = advance(r, k, steps, max, collect, &p);
	pthread_rwlock_unlock(&r->tree.lock);
	if (!k->n) release(r, k);
	return n;
}

bool retain__cursor_done(const struct retain_cursor *k)
{
	return !k->n;
}

void retain__cursor_free(struct retain_store *r, struct retain_cursor *k)
{
	if (!k) return;
	release(r, k);
	free(k);
}

size_t retain__count(struct retain_store *r)
{
	pthread_rwlock_rdlock(&r->tree.lock);
	size_t n = r->count;
	pthread_rwlock_unlock(&r->tree.lock);
	return n;
}

size_t retain__node_count(struct retain_store *r)
{
	pthread_rwlock_rdlock(&r->tree.lock);
	size_t n = r->tree.nodes;
	pthread_rwlock_unlock(&r->tree.lock);
	return n;
}
