/* SUBSCRIBE: filter checks, the subscription tree, SUBACK, then the retained messages that match. */
#include <stdlib.h>

#include "broker.h"
#include "common/topic.h"
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "retain.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

struct retained_batch {
	struct message **msgs;
	size_t n, cap;
};

static void collect_retained(void *arg, struct message *m)
{
	struct retained_batch *rb = arg;
	if (rb->n == rb->cap) {
		size_t cap = rb->cap ? rb->cap * 2 : 16;
		struct message **p = realloc(rb->msgs, cap * sizeof(*p));
		if (!p) return; /* a retained message not sent is better than a failed subscription */
		rb->msgs = p;
		rb->cap = cap;
	}
	rb->msgs[rb->n++] = msg__ref(m);
}

/* Sends the retained messages matching filter with the retain flag set [MQTT-3.3.1-8]. */
static void send_retained(struct worker *w, struct conn *c, const uint8_t *filter, size_t len, uint8_t qos)
{
	struct broker *b = w->broker;
	struct retained_batch rb = {0};
	retain__match(b->retained, filter, len, collect_retained, &rb);
	for (size_t i = 0; i < rb.n; i++) {
		struct message *m = rb.msgs[i];
		uint8_t q = m->qos < qos ? m->qos : qos;
		session__deliver(b, w, c->session, m, b->conf.upgrade_outgoing_qos ? qos : q, true);
		msg__unref(m);
	}
	free(rb.msgs);
}

int handle__subscribe(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_subscribe sub;
	int r = proto__decode_subscribe(f, c->version, &sub);
	if (r) return dispatch__codec_err(r);

	size_t n = 0, pos = 0;
	struct mqtt_str filter;
	uint8_t opts;
	while (proto__subscribe_next(&sub, &pos, &filter, &opts)) n++;
	uint8_t *codes = malloc(n);
	if (!codes) return MIDGE_ERR_NOMEM;

	size_t i = 0;
	pos = 0;
	while (proto__subscribe_next(&sub, &pos, &filter, &opts)) {
		uint8_t qos = opts & 3;
		codes[i] = MQTT_SUBACK_FAILURE;
		if (topic__valid_filter(filter.p, filter.len)) {
			/* Under the session lock, so a session ended by a takeover meanwhile leaves nothing
			 * behind in the tree (lock order: session, then tree). */
			struct session *s = c->session;
			pthread_mutex_lock(&s->lock);
			if (!s->dead && session__remember_sub(s, filter.p, filter.len, qos) == 0) {
				if (subs__add(b->subs, filter.p, filter.len, s, qos, 0) >= 0) codes[i] = qos;
				else session__forget_sub(s, filter.p, filter.len);
			}
			pthread_mutex_unlock(&s->lock);
		}
		i++;
	}

	struct buf out = {0};
	r = proto__encode_suback(&out, MQTT_SUBACK, c->version, sub.packet_id, codes, n, NULL);
	if (!r) r = conn__queue_bytes(c, buf__head(&out), buf__len(&out));
	buf__fini(&out);

	/* Retained messages follow the SUBACK, for every accepted filter, repeated subscriptions included.
	 * So do the log lines, which may themselves be published to this client (log_dest topic). */
	i = 0;
	pos = 0;
	while (r == 0 && proto__subscribe_next(&sub, &pos, &filter, &opts)) {
		log__printf(&b->log, LOG_T_SUBSCRIBE, "%s %u %.*s", c->client_id, codes[i], (int)filter.len,
			    (const char *)filter.p);
		if (codes[i] != MQTT_SUBACK_FAILURE) send_retained(w, c, filter.p, filter.len, codes[i]);
		i++;
	}
	free(codes);
	conn__schedule(c, w);
	return r;
}
