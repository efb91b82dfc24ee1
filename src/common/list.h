/* Intrusive doubly-linked list: the node lives inside its owner, so linking never allocates. */
#ifndef MIDGE_LIST_H
#define MIDGE_LIST_H

#include <stddef.h>

struct list {
	struct list *next, *prev;
};

#define LIST_INIT(name) {&(name), &(name)}
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each_safe(pos, n, head) \
	for (pos = (head)->next, n = pos->next; pos != (head); pos = n, n = pos->next)

static inline void list__init(struct list *l) { l->next = l->prev = l; }
static inline int list__empty(const struct list *l) { return l->next == l; }
/* A node that is not on any list (after list__init or list__del). */
static inline int list__linked(const struct list *n) { return n->next && n->next != n; }
static inline void list__add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}
static inline void list__add_head(struct list *head, struct list *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}
static inline void list__del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}
static inline struct list *list__pop(struct list *head)
{
	if (list__empty(head)) return NULL;
	struct list *n = head->next;
	list__del(n);
	return n;
}
/* Moves every node of from to the tail of to; from becomes empty. */
static inline void list__splice_tail(struct list *to, struct list *from)
{
	if (list__empty(from)) return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	list__init(from);
}
/* Moves every node of from to the head of to, in order; from becomes empty. */
static inline void list__splice_head(struct list *to, struct list *from)
{
	if (list__empty(from)) return;
	from->prev->next = to->next;
	to->next->prev = from->prev;
	from->next->prev = to;
	to->next = from->next;
	list__init(from);
}

#endif
