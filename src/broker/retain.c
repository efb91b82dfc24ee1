/* The retained-message store: a level tree of topic names, each node holding at most one message. */
#include "retain.h"

#include "message.h"
#include "midge/midge.h"
#include "topic_tree.h"

#include <stdbool.h>
#include <stdlib.h>

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

/* Reports the messages of s and of all its descendants, preorder, without a stack. */
static size_t report_subtree(const struct tnode *root, const struct tnode *s, retain_match_cb cb, void *arg)
{
	size_t calls = 0;
	const struct tnode *n = s, *c;
	for (;;) {
		calls += report(n, cb, arg);
		if ((c = first_visible(root, n))) {
			n = c;
			continue;
		}
		for (;;) {
			if (n == s) return calls;
			if ((c = next_visible(root, n))) break;
			n = n->parent;
		}
		n = c;
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

size_t retain__match(struct retain_store *r, const uint8_t *filter, size_t len, retain_match_cb cb, void *arg)
{
	size_t calls = 0;
	pthread_rwlock_rdlock(&r->tree.lock);
	const struct tnode *root = r->tree.root, *n = root;
	/* Depth first without recursion or a stack, as in subs__match: n is entered with start = the first
	 * filter byte below it (len + 1 once every level is matched). */
	size_t start = 0;
	while (n) {
		const struct tnode *c = NULL;
		if (start > len) {
			calls += report(n, cb, arg);
		} else {
			size_t end = ttree__level_end(filter, len, start);
			bool one = end - start == 1;
			if (one && filter[start] == '#')
				calls += report_subtree(root, n, cb, arg); /* "a/#" includes "a" itself */
			else if (one && filter[start] == '+')
				c = first_visible(root, n);
			else
				c = ttree__child(&r->tree, n, filter + start, end - start);
			if (c) {
				n = c;
				start = end + 1;
				continue;
			}
		}
		n = climb(root, n, filter, &start);
	}
	pthread_rwlock_unlock(&r->tree.lock);
	return calls;
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
