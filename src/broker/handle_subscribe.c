/* SUBSCRIBE: filter checks, the subscription tree, SUBACK, then the retained messages that match. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster.h"
#include "common/topic.h"
#include "conn.h"
#include "dispatch.h"
#include "midge/midge.h"
#include "persist.h"
#include "proto/props.h"
#include "retained_send.h"
#include "security.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

/* The retained messages to send after a SUBACK: its filters that asked for them. */
struct retained_item {
	uint8_t *filter;
	size_t len;
	uint8_t qos;
};
struct retained_todo {
	uint32_t sub_id;
	size_t n;
	struct retained_item items[];
};

/* Once the SUBACK is queued (in the worker, or from the store thread after the commit). */
static void todo_send(struct broker *b, struct conn *c, void *arg)
{
	struct retained_todo *t = arg;
	for (size_t i = 0; i < t->n; i++)
		retained__send(b, NULL, c, t->items[i].filter, t->items[i].len, t->items[i].qos, t->sub_id);
}

static void todo_free(void *arg)
{
	struct retained_todo *t = arg;
	for (size_t i = 0; i < t->n; i++) free(t->items[i].filter);
	free(t);
}

/* One entry's verdict: the SUBACK code, and whether retained messages follow. */
struct verdict {
	uint8_t code;
	bool send_retained;
};

/* Subscribes c's session to one filter. Returns the SUBACK code (granted QoS or a failure). */
static struct verdict subscribe_one(struct broker *b, struct worker *w, struct conn *c, struct mqtt_str filter,
				    uint8_t opts, uint32_t sub_id)
{
	bool v5 = c->version == MQTT_V5;
	struct verdict v = {.code = v5 ? MQTT_RC_TOPIC_FILTER_INVALID : MQTT_SUBACK_FAILURE};
	uint8_t qos = opts & MQTT_SUBOPT_QOS;
	if (qos > b->conf.max_qos) qos = b->conf.max_qos; /* granted lower [MQTT-3.9.3-?] as Mosquitto does */
	opts = (uint8_t)((opts & ~MQTT_SUBOPT_QOS) | qos);
	const uint8_t *group, *real;
	size_t glen, rlen;
	int share = topic__parse_share(filter.p, filter.len, &group, &glen, &real, &rlen);
	if (share < 0 || (share == 0 && !topic__valid_filter(filter.p, filter.len))) return v;
	/* A bridge gets back neither what it forwarded (a loop between two brokers) nor retain flags lost on the
	 * way, as Mosquitto treats a try_private bridge; a shared group may not be No Local [MQTT-3.8.3-4]. */
	if (c->bridge && share == 0) opts |= MQTT_SUBOPT_NO_LOCAL | MQTT_SUBOPT_RAP;
	if (!security__may_subscribe(b, security__domain(b, c->listener), c->client_id, c->username,
				     (const char *)(share ? real : filter.p), share ? rlen : filter.len)) {
		v.code = v5 ? MQTT_RC_NOT_AUTHORIZED : MQTT_SUBACK_FAILURE;
		return v;
	}
	/* Under the session lock, so a session ended by a takeover meanwhile leaves nothing behind in the tree
	 * (lock order: session, then tree). */
	struct session *s = c->session;
	lock__acquire(&s->lock);
	int added = s->dead ? MIDGE_ERR_CLOSED : session__remember_sub(s, filter.p, filter.len, opts);
	if (added >= 0) {
		int r = share ? subs__add_shared(b->subs, group, glen, real, rlen, s, opts, sub_id)
			      : subs__add(b->subs, filter.p, filter.len, s, opts, sub_id);
		if (r >= 0) {
			persist__sub_put(b, w, s, filter.p, filter.len, opts, sub_id);
			/* A clustered session's consumers: its SUBACK waits for them (persist.c). */
			uint64_t t = cluster__session_sub(b->cluster, s, filter.p, filter.len, opts, sub_id);
			if (t) w->cluster_ticket = t;
			v.code = qos;
			/* Retain Handling 0: always; 1: only for a new subscription; 2: never. Never for a shared
			 * subscription (MQTT 5.0 4.8.2). */
			uint8_t rh = v5 ? MQTT_SUBOPT_RH(opts) : 0;
			v.send_retained = !share && (rh == 0 || (rh == 1 && added == 1));
		} else if (added == 1) {
			session__forget_sub(s, filter.p, filter.len);
		}
	}
	lock__release(&s->lock);
	return v;
}

int handle__subscribe(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_subscribe sub;
	int r = proto__decode_subscribe(f, c->version, &sub);
	if (r) return dispatch__codec_err(r);

	uint32_t sub_id = 0;
	size_t pos = 0, n = 0;
	struct mqtt_prop pr;
	while (props__next(&sub.props, &pos, &pr))
		if (pr.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER) sub_id = pr.u32;
	struct mqtt_str filter;
	uint8_t opts;
	const uint8_t *g, *fl;
	size_t gl, fll;
	for (pos = 0; proto__subscribe_next(&sub, &pos, &filter, &opts); n++) {
		/* No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]. */
		if (c->version == MQTT_V5 && (opts & MQTT_SUBOPT_NO_LOCAL) &&
		    topic__parse_share(filter.p, filter.len, &g, &gl, &fl, &fll) == 1)
			return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "no local on a shared subscription",
					      MIDGE_ERR_PROTOCOL);
	}
	struct verdict *v = malloc(n * sizeof(*v));
	uint8_t *codes = malloc(n);
	if (!v || !codes) {
		free(v);
		free(codes);
		return MIDGE_ERR_NOMEM;
	}
	size_t i = 0;
	persist__group_begin(b); /* every filter of the packet is kept, or none */
	for (pos = 0; proto__subscribe_next(&sub, &pos, &filter, &opts); i++) {
		v[i] = subscribe_one(b, w, c, filter, opts, sub_id);
		codes[i] = v[i].code;
	}

	/* The filters whose retained messages follow the SUBACK, copied: with the store on, the SUBACK and they
	 * may wait for the subscriptions' commit. */
	struct retained_todo *todo = calloc(1, sizeof(*todo) + n * sizeof(todo->items[0]));
	if (!todo) {
		persist__group_end(b);
		free(v);
		free(codes);
		return MIDGE_ERR_NOMEM;
	}
	todo->sub_id = sub_id;
	for (i = 0, pos = 0; proto__subscribe_next(&sub, &pos, &filter, &opts); i++) {
		if (!v[i].send_retained) continue;
		struct retained_item *it = &todo->items[todo->n];
		if (!(it->filter = malloc(filter.len ? filter.len : 1))) continue; /* better a subscription without them */
		memcpy(it->filter, filter.p, filter.len);
		it->len = filter.len;
		it->qos = codes[i];
		todo->n++;
	}
	struct buf out = {0};
	r = proto__encode_suback(&out, MQTT_SUBACK, c->version, sub.packet_id, codes, n, NULL);
	if (!r) r = persist__reply(b, w, c, buf__head(&out), buf__len(&out), todo_send, todo_free, todo);
	else todo_free(todo);
	persist__group_end(b);
	buf__fini(&out);
	/* Logged after the SUBACK: the line may itself be published to this client (log_dest topic). */
	for (i = 0, pos = 0; proto__subscribe_next(&sub, &pos, &filter, &opts); i++)
		log__printf(&b->log, LOG_T_SUBSCRIBE, "%s %u %.*s", c->client_id, codes[i], (int)filter.len,
			    (const char *)filter.p);
	free(v);
	free(codes);
	conn__schedule(c, w);
	return r;
}
