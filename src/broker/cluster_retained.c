/* The cluster's retained messages in a replicated JetStream key-value bucket ("midge_retained", key: the topic
 * escaped as a subject token; value: the message in the cluster's envelope, an empty payload for a clear). A node
 * writes the retained messages published on it; every node applies the bucket's entries, its own included, in
 * revision order to its local store, so all nodes end with the same retained messages, and a node that starts
 * later gets them all. Messages routed from other nodes are not stored on arrival (broker.c): the bucket's order
 * decides. JetStream calls block, so both run on threads of this file. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster_codec.h"
#include "cluster_int.h"
#include "common/clock.h"
#include "common/list.h"
#include "common/log.h"
#include "message.h"
#include "midge/midge.h"
#include "proto/props.h"
#include "retain.h"

#define BUCKET "midge_retained"

struct pending_put {
	struct list node;
	struct message *m; /* reference */
	uint64_t seq;      /* this node's sequence number of it */
};

struct cluster_retained {
	struct cluster_kv k;        /* k.lock guards the queue */
	struct list queue;
	atomic_uint_fast64_t seq;
	size_t loaded;              /* entries applied before the watcher caught up */
};

void cluster_retained__put(struct cluster *cl, struct message *m)
{
	struct cluster_retained *r = cl->ret;
	if (!r) return;
	struct pending_put *p = malloc(sizeof(*p));
	if (!p) return; /* the other nodes still had it routed; a later start misses it */
	p->m = msg__ref(m);
	pthread_mutex_lock(&r->k.lock);
	p->seq = atomic_fetch_add(&r->seq, 1) + 1;
	list__add_tail(&r->queue, &p->node);
	pthread_cond_signal(&r->k.cond);
	pthread_mutex_unlock(&r->k.lock);
}

static void *writer_main(void *arg)
{
	struct cluster_retained *r = arg;
	struct buf key = {0}, val = {0};
	pthread_mutex_lock(&r->k.lock);
	while (!r->k.stop) {
		if (list__empty(&r->queue)) {
			pthread_cond_wait(&r->k.cond, &r->k.lock);
			continue;
		}
		pthread_mutex_unlock(&r->k.lock);
		kvStore *kv = cluster_kv__store(&r->k);
		if (!kv) cluster_kv__nap(&r->k, 200);
		pthread_mutex_lock(&r->k.lock);
		if (!kv || list__empty(&r->queue)) continue;
		struct pending_put *p = list_entry(r->queue.next, struct pending_put, node);
		pthread_mutex_unlock(&r->k.lock);
		const struct message *m = p->m;
		uint64_t now = clock__ms();
		struct cluster_msg cm = {
		    .origin = r->k.cl->id,
		    .seq = p->seq,
		    .qos = m->qos,
		    .retain = true,
		    .topic = m->topic,
		    .topic_len = m->topic_len,
		    .props = m->props,
		    .props_len = m->props_len,
		    .expiry_s = m->expiry_ms > now ? (uint32_t)((m->expiry_ms - now + 999) / 1000) : 0,
		    .payload = m->payload,
		    .payload_len = m->payload_len,
		};
		natsStatus st = NATS_NO_MEMORY;
		bool expired = m->expiry_ms && m->expiry_ms <= now;
		if (expired) st = NATS_OK; /* nothing to keep */
		else if (!cluster__key(m->topic, m->topic_len, &key) && !cluster__encode(&cm, &val))
			st = kvStore_Put(NULL, kv, (const char *)buf__head(&key), buf__head(&val), (int)buf__len(&val));
		pthread_mutex_lock(&r->k.lock);
		if (st == NATS_OK || r->k.stop) {
			list__del(&p->node);
			msg__unref(p->m);
			free(p);
		} else {
			/* JetStream without a leader for a few seconds: again, after a pause (in order: it stays first). */
			pthread_mutex_unlock(&r->k.lock);
			cluster_kv__nap(&r->k, 250);
			pthread_mutex_lock(&r->k.lock);
		}
	}
	pthread_mutex_unlock(&r->k.lock);
	buf__fini(&key);
	buf__fini(&val);
	return NULL;
}

/* One entry of the bucket into the local store. */
static void apply(struct cluster_retained *r, const uint8_t *p, size_t n)
{
	struct cluster_msg cm;
	struct mqtt_str props;
	if (cluster__decode(p, n, &cm) ||
	    (props = (struct mqtt_str){cm.props, (uint32_t)cm.props_len},
	     cm.props_len && props__validate(&props, MQTT_PUBLISH, false) != PROTO_OK)) {
		atomic_fetch_add(&r->k.cl->stats.malformed, 1);
		return;
	}
	uint64_t expiry = cm.expiry_s ? clock__ms() + (uint64_t)cm.expiry_s * 1000u : 0;
	struct message *m = msg__new_props(cm.topic, cm.topic_len, cm.payload, cm.payload_len, cm.props, cm.props_len,
					   expiry, cm.qos, true);
	if (!m) return;
	m->remote = true;
	retain__set(r->k.cl->b->retained, m);
	msg__unref(m);
}

static void on_entry(void *arg, kvEntry *e)
{
	struct cluster_retained *r = arg;
	if (kvEntry_Operation(e) != kvOp_Put) return;
	apply(r, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
	r->loaded++;
}

static void on_loaded(void *arg)
{
	struct cluster_retained *r = arg;
	log__printf(&r->k.cl->b->log, LOG_T_NOTICE, "Cluster: %zu retained message%s loaded from the bucket %s.", r->loaded,
		    r->loaded == 1 ? "" : "s", BUCKET);
}

static void *watcher_main(void *arg)
{
	struct cluster_retained *r = arg;
	cluster_kv__watch(&r->k, false, on_entry, on_loaded, r);
	return NULL;
}

int cluster_retained__start(struct cluster *cl)
{
	struct cluster_retained *r = calloc(1, sizeof(*r));
	if (!r) return MIDGE_ERR_NOMEM;
	list__init(&r->queue);
	cl->ret = r;
	return cluster_kv__start(&r->k, cl, BUCKET, writer_main, watcher_main, r);
}

void cluster_retained__stop(struct cluster *cl)
{
	struct cluster_retained *r = cl->ret;
	if (!r) return;
	cluster_kv__stop(&r->k);
	while (!list__empty(&r->queue)) {
		struct pending_put *p = list_entry(r->queue.next, struct pending_put, node);
		list__del(&p->node);
		msg__unref(p->m);
		free(p);
	}
	free(r);
	cl->ret = NULL;
}
