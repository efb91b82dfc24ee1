/* The broker context: routing a published message to its receivers, and shared helpers. */
#include "broker.h"

#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "retain.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

struct collect {
	struct receiver *r;
	size_t n, cap;
};

static void on_match(void *arg, struct session *s, uint8_t options, uint32_t sub_id)
{
	struct collect *col = arg;
	if (col->n == col->cap) {
		size_t cap = col->cap ? col->cap * 2 : 64;
		struct receiver *p = realloc(col->r, cap * sizeof(*p));
		if (!p) return; /* out of memory: this receiver misses the message */
		col->r = p;
		col->cap = cap;
	}
	col->r[col->n].s = session__ref(s);
	col->r[col->n].qos = options & 3;
	col->n++;
}

static int by_session(const void *a, const void *b)
{
	const struct receiver *x = a, *y = b;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* Overlapping subscriptions of one session give one delivery at the highest QoS (MQTT 3.1.1 3.3.5). */
static size_t dedupe(struct receiver *r, size_t n)
{
	if (n < 2) return n;
	qsort(r, n, sizeof(*r), by_session);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out && r[out - 1].s == r[i].s) {
			if (r[i].qos > r[out - 1].qos) r[out - 1].qos = r[i].qos;
			session__unref(r[i].s);
		} else {
			r[out++] = r[i];
		}
	}
	return out;
}

size_t broker__publish(struct broker *b, struct worker *w, struct message *m)
{
	if (m->retain && b->conf.retain_available) retain__set(b->retained, m);

	/* Receivers are collected under the tree's read lock and served after it is released. */
	struct collect col = {0};
	if (w) {
		col.r = w->recv;
		col.cap = w->recv_cap;
	}
	subs__match(b->subs, m->topic, m->topic_len, on_match, &col);
	size_t n = dedupe(col.r, col.n);
	for (size_t i = 0; i < n; i++) {
		uint8_t qos = b->conf.upgrade_outgoing_qos ? col.r[i].qos : (m->qos < col.r[i].qos ? m->qos : col.r[i].qos);
		session__deliver(b, w, col.r[i].s, m, qos, false);
		session__unref(col.r[i].s);
	}
	if (w) {
		w->recv = col.r;
		w->recv_cap = col.cap;
	} else {
		free(col.r);
	}
	return n;
}

void broker__publish_text(struct broker *b, const char *topic, const char *text, size_t len, bool retain)
{
	struct message *m = msg__new((const uint8_t *)topic, strlen(topic), (const uint8_t *)text, len, 0, retain);
	if (!m) return;
	broker__publish(b, NULL, m);
	msg__unref(m);
}

struct worker *broker__pick_worker(struct broker *b)
{
	unsigned i = atomic_fetch_add_explicit(&b->next_worker, 1, memory_order_relaxed);
	return &b->workers[i % (unsigned)b->nworkers];
}

uint64_t broker__stat_sum(struct broker *b, size_t offset)
{
	uint64_t sum = 0;
	for (int i = 0; i < b->nworkers; i++) {
		atomic_uint_fast64_t *p = (atomic_uint_fast64_t *)((char *)&b->workers[i].stats + offset);
		sum += atomic_load_explicit(p, memory_order_relaxed);
	}
	return sum;
}
