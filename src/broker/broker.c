/* The broker context: routing a published message to its receivers, and shared helpers. */
#include "broker.h"
#include "cluster.h"

#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "midge/mqtt.h"
#include "persist.h"
#include "retain.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

struct collect {
	struct broker *b;
	struct receiver *r;
	size_t n, cap;
	struct message *m;
	struct session *from;    /* publisher, for No Local */
	struct session *exclude; /* a shared member that is leaving */
};

static void add(struct collect *col, struct session *s, uint8_t options, uint32_t sub_id, uint32_t share)
{
	if (col->n == col->cap) {
		size_t cap = col->cap ? col->cap * 2 : 64;
		struct receiver *p = realloc(col->r, cap * sizeof(*p));
		if (!p) return; /* out of memory: this receiver misses the message */
		col->r = p;
		col->cap = cap;
	}
	col->r[col->n++] = (struct receiver){.s = session__ref(s), .qos = options & MQTT_SUBOPT_QOS,
					     .retain = (options & MQTT_SUBOPT_RAP) && col->m->retain, .share = share,
					     .sub_id = sub_id};
}

static void on_match(void *arg, struct session *s, uint8_t options, uint32_t sub_id)
{
	struct collect *col = arg;
	/* No Local: not back to the session that published it [MQTT-3.8.3-3]. */
	if ((options & MQTT_SUBOPT_NO_LOCAL) && s == col->from) return;
	/* A clustered persistent session has its QoS 1/2 messages from the cluster's stream (cluster.h). */
	if (col->m->qos && atomic_load_explicit(&s->clustered, memory_order_relaxed) && cluster__stores(col->b->cluster))
		return;
	add(col, s, options, sub_id, 0);
}

/* One member of a shared group takes the message: the next one in turn that is connected, so messages
 * are spread over the members that can take them now; any member when none is connected. */
static void on_share(void *arg, const struct sub_member *mb, size_t n, size_t start)
{
	struct collect *col = arg;
	const struct sub_member *pick = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct sub_member *c = &mb[(start + i) % n];
		/* A member the ACL or the encryption guard would refuse it cannot take it for the group. */
		if (c->s == col->exclude || !session__may_receive(col->b, c->s, col->m)) continue;
		if (atomic_load_explicit(&c->s->online, memory_order_relaxed)) {
			pick = c;
			break;
		}
		if (!pick) pick = c;
	}
	if (pick) add(col, pick->s, pick->options, pick->sub_id, pick->group_hash);
}

static int by_session(const void *a, const void *b)
{
	const struct receiver *x = a, *y = b;
	if (!x->share != !y->share) return x->share ? 1 : -1;
	return x->s < y->s ? -1 : x->s > y->s;
}

static uint8_t out_qos(struct broker *b, const struct message *m, uint8_t sub_qos)
{
	return b->conf.upgrade_outgoing_qos || m->qos > sub_qos ? sub_qos : m->qos;
}

/* Delivers to the collected receivers. Ordinary ones of one session are merged into one delivery at the
 * highest QoS with all their identifiers (MQTT 5.0 3.3.4); shared ones go one by one. */
static size_t deliver_all(struct broker *b, struct worker *w, struct collect *col)
{
	struct receiver *r = col->r;
	size_t n = col->n, count = 0;
	if (n > 1) qsort(r, n, sizeof(*r), by_session);
	uint32_t ids_local[16], *ids = ids_local;
	size_t ids_cap = 16;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && !r[i].share && !r[j].share && r[j].s == r[i].s) j++;
		if (j - i > ids_cap) {
			uint32_t *p = malloc((j - i) * sizeof(*p));
			if (p) {
				if (ids != ids_local) free(ids);
				ids = p;
				ids_cap = j - i;
			}
		}
		struct delivery d = {.qos = 0, .share = r[i].share, .subids = ids};
		for (size_t k = i; k < j; k++) {
			if (r[k].qos > d.qos) d.qos = r[k].qos;
			d.retain |= r[k].retain;
			if (r[k].sub_id && d.nsubids < ids_cap) ids[d.nsubids++] = r[k].sub_id;
		}
		d.qos = out_qos(b, col->m, d.qos);
		session__deliver(b, w, r[i].s, col->m, &d);
		count++;
		for (size_t k = i; k < j; k++) session__unref(r[k].s);
		i = j;
	}
	if (ids != ids_local) free(ids);
	return count;
}

size_t broker__publish(struct broker *b, struct worker *w, struct message *m, struct session *from)
{
	/* A retained message from another node is stored from the cluster's bucket, in its order (cluster_retained.c). */
	if (m->retain && b->conf.retain_available && !m->remote && retain__set(b->retained, m) == 0)
		persist__retain(b, w, m);
	/* The other nodes' subscribers get it through NATS (nothing without a cluster, or for one of theirs); so do
	 * shared groups, whose members may be on any node, unless NATS is not there. */
	uint64_t ticket = 0;
	bool shared_by_nats = b->cluster && cluster__publish(b->cluster, m, &ticket);
	/* Its publisher's acknowledgement waits for JetStream's (persist.c). */
	if (ticket && w) w->cluster_ticket = ticket;

	/* Receivers are collected under the tree's read lock and served after it is released. */
	struct collect col = {.b = b, .m = m, .from = from};
	if (w) {
		col.r = w->recv;
		col.cap = w->recv_cap;
	}
	subs__match(b->subs, m->topic, m->topic_len, on_match, &col);
	if (!shared_by_nats) subs__match_shared(b->subs, m->topic, m->topic_len, on_share, &col);
	size_t n = deliver_all(b, w, &col);
	if (w) {
		w->recv = col.r;
		w->recv_cap = col.cap;
	} else {
		free(col.r);
	}
	return n;
}

bool broker__redeliver_shared(struct broker *b, struct worker *w, const uint8_t *group, size_t glen,
			      const uint8_t *filter, size_t flen, struct session *leaving, struct message *m)
{
	struct collect col = {.b = b, .m = m, .exclude = leaving};
	subs__shared_group(b->subs, group, glen, filter, flen, on_share, &col);
	size_t n = deliver_all(b, w, &col);
	free(col.r);
	return n > 0;
}

void broker__publish_text(struct broker *b, const char *topic, const char *text, size_t len, bool retain)
{
	struct message *m = msg__new((const uint8_t *)topic, strlen(topic), (const uint8_t *)text, len, 0, retain);
	if (!m) return;
	broker__publish(b, NULL, m, NULL);
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
