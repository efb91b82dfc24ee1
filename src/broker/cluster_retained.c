/* The cluster's retained messages in a replicated JetStream key-value bucket ("midge_retained", key: the topic
 * escaped as a subject token; value: the message in the cluster's envelope, an empty payload for a clear). A node
 * writes the retained messages published on it; every node applies the bucket's entries, its own included, in
 * revision order to its local store, so all nodes end with the same retained messages, and a node that starts
 * later gets them all. Messages routed from other nodes are not stored on arrival (broker.c): the bucket's order
 * decides. JetStream calls block, so both run on threads of this file. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	struct cluster *cl;
	pthread_t writer, watcher;
	bool writer_on, watcher_on;
	pthread_mutex_t lock; /* queue, stop */
	pthread_cond_t cond;
	bool stop;
	struct list queue;
	pthread_mutex_t bind_lock;
	kvStore *kv;
	atomic_uint_fast64_t seq;
};

static bool stopping(struct cluster_retained *r)
{
	pthread_mutex_lock(&r->lock);
	bool stop = r->stop;
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static void nap(struct cluster_retained *r, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&r->lock);
	if (!r->stop) pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	pthread_mutex_unlock(&r->lock);
}

static kvStore *bucket(struct cluster_retained *r)
{
	pthread_mutex_lock(&r->bind_lock);
	if (!r->kv && !stopping(r)) r->kv = cluster__bucket(r->cl, BUCKET);
	kvStore *kv = r->kv;
	pthread_mutex_unlock(&r->bind_lock);
	return kv;
}

void cluster_retained__put(struct cluster *cl, struct message *m)
{
	struct cluster_retained *r = cl->ret;
	if (!r) return;
	struct pending_put *p = malloc(sizeof(*p));
	if (!p) return; /* the other nodes still had it routed; a later start misses it */
	p->m = msg__ref(m);
	pthread_mutex_lock(&r->lock);
	p->seq = atomic_fetch_add(&r->seq, 1) + 1;
	list__add_tail(&r->queue, &p->node);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *writer_main(void *arg)
{
	struct cluster_retained *r = arg;
	struct buf key = {0}, val = {0};
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		if (list__empty(&r->queue)) {
			pthread_cond_wait(&r->cond, &r->lock);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		kvStore *kv = bucket(r);
		if (!kv) nap(r, 200);
		pthread_mutex_lock(&r->lock);
		if (!kv || list__empty(&r->queue)) continue;
		struct pending_put *p = list_entry(r->queue.next, struct pending_put, node);
		pthread_mutex_unlock(&r->lock);
		const struct message *m = p->m;
		uint64_t now = clock__ms();
		struct cluster_msg cm = {
		    .origin = r->cl->id,
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
		pthread_mutex_lock(&r->lock);
		if (st == NATS_OK || r->stop) {
			list__del(&p->node);
			msg__unref(p->m);
			free(p);
		} else {
			/* JetStream without a leader for a few seconds: again, after a pause (in order: it stays first). */
			pthread_mutex_unlock(&r->lock);
			nap(r, 250);
			pthread_mutex_lock(&r->lock);
		}
	}
	pthread_mutex_unlock(&r->lock);
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
		atomic_fetch_add(&r->cl->stats.malformed, 1);
		return;
	}
	uint64_t expiry = cm.expiry_s ? clock__ms() + (uint64_t)cm.expiry_s * 1000u : 0;
	struct message *m = msg__new_props(cm.topic, cm.topic_len, cm.payload, cm.payload_len, cm.props, cm.props_len,
					   expiry, cm.qos, true);
	if (!m) return;
	m->remote = true;
	retain__set(r->cl->b->retained, m);
	msg__unref(m);
}

static void *watcher_main(void *arg)
{
	struct cluster_retained *r = arg;
	kvWatcher *w = NULL;
	bool loaded = false;
	size_t n = 0;
	while (!stopping(r)) {
		kvStore *kv = bucket(r);
		if (!kv) {
			nap(r, 200);
			continue;
		}
		if (!w) {
			kvWatchOptions o;
			kvWatchOptions_Init(&o);
			if (kvStore_WatchAll(&w, kv, &o) != NATS_OK) {
				w = NULL;
				nap(r, 500);
				continue;
			}
		}
		kvEntry *e = NULL;
		if (kvWatcher_Next(&e, w, 250) != NATS_OK) continue;
		if (!e) { /* the values there were at the start are in */
			if (!loaded)
				log__printf(&r->cl->b->log, LOG_T_NOTICE, "Cluster: %zu retained message%s loaded from the bucket %s.",
					    n, n == 1 ? "" : "s", BUCKET);
			loaded = true;
			continue;
		}
		if (kvEntry_Operation(e) == kvOp_Put) {
			apply(r, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
			n++;
		}
		kvEntry_Destroy(e);
	}
	if (w) {
		kvWatcher_Stop(w);
		kvWatcher_Destroy(w);
	}
	return NULL;
}

int cluster_retained__start(struct cluster *cl)
{
	struct cluster_retained *r = calloc(1, sizeof(*r));
	if (!r) return MIDGE_ERR_NOMEM;
	r->cl = cl;
	list__init(&r->queue);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->bind_lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	cl->ret = r;
	r->writer_on = pthread_create(&r->writer, NULL, writer_main, r) == 0;
	r->watcher_on = pthread_create(&r->watcher, NULL, watcher_main, r) == 0;
	return r->writer_on && r->watcher_on ? 0 : MIDGE_ERR_NOMEM;
}

void cluster_retained__stop(struct cluster *cl)
{
	struct cluster_retained *r = cl->ret;
	if (!r) return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->writer_on) pthread_join(r->writer, NULL);
	if (r->watcher_on) pthread_join(r->watcher, NULL);
	while (!list__empty(&r->queue)) {
		struct pending_put *p = list_entry(r->queue.next, struct pending_put, node);
		list__del(&p->node);
		msg__unref(p->m);
		free(p);
	}
	kvStore_Destroy(r->kv);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->bind_lock);
	free(r);
	cl->ret = NULL;
}
