/* A JetStream key-value bucket of the cluster with its two threads: one writes this node's entries, one watches
 * every node's. Shared by the session registry (cluster_registry.c) and the retained messages
 * (cluster_retained.c). JetStream requests block, so they run here, never on a worker. See cluster_int.h. */
#include <stdlib.h>
#include <time.h>

#include "cluster_int.h"
#include "midge/midge.h"

int cluster_kv__start(struct cluster_kv *k, struct cluster *cl, const char *bucket, void *(*writer)(void *),
		      void *(*watcher)(void *), void *arg)
{
	k->cl = cl;
	k->bucket = bucket;
	pthread_mutex_init(&k->lock, NULL);
	pthread_mutex_init(&k->bind_lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	k->inited = true;
	k->on[0] = pthread_create(&k->t[0], NULL, writer, arg) == 0;
	k->on[1] = pthread_create(&k->t[1], NULL, watcher, arg) == 0;
	return k->on[0] && k->on[1] ? 0 : MIDGE_ERR_NOMEM;
}

void cluster_kv__stop(struct cluster_kv *k)
{
	if (!k->inited) return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	for (int i = 0; i < 2; i++)
		if (k->on[i]) pthread_join(k->t[i], NULL);
	kvStore_Destroy(k->kv);
	k->kv = NULL;
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	pthread_mutex_destroy(&k->bind_lock);
	k->inited = false;
}

bool cluster_kv__stopping(struct cluster_kv *k)
{
	pthread_mutex_lock(&k->lock);
	bool stop = k->stop;
	pthread_mutex_unlock(&k->lock);
	return stop;
}

void cluster_kv__nap(struct cluster_kv *k, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&k->lock);
	if (!k->stop) pthread_cond_timedwait(&k->cond, &k->lock, &ts);
	pthread_mutex_unlock(&k->lock);
}

kvStore *cluster_kv__store(struct cluster_kv *k)
{
	pthread_mutex_lock(&k->bind_lock);
	if (!k->kv && !cluster_kv__stopping(k)) k->kv = cluster__bucket(k->cl, k->bucket);
	kvStore *kv = k->kv;
	pthread_mutex_unlock(&k->bind_lock);
	return kv;
}

void cluster_kv__watch(struct cluster_kv *k, bool ignore_deletes, void (*on_entry)(void *arg, kvEntry *e),
		       void (*on_loaded)(void *arg), void *arg)
{
	kvWatcher *w = NULL;
	bool loaded = false;
	while (!cluster_kv__stopping(k)) {
		kvStore *kv = cluster_kv__store(k);
		if (!kv) {
			cluster_kv__nap(k, 200);
			continue;
		}
		if (!w) {
			kvWatchOptions o;
			kvWatchOptions_Init(&o);
			o.IgnoreDeletes = ignore_deletes;
			if (kvStore_WatchAll(&w, kv, &o) != NATS_OK) {
				w = NULL;
				cluster_kv__nap(k, 500);
				continue;
			}
		}
		kvEntry *e = NULL;
		if (kvWatcher_Next(&e, w, 250) != NATS_OK) continue; /* a timeout */
		if (!e) { /* the entries there were at the start are in */
			if (!loaded && on_loaded) on_loaded(arg);
			loaded = true;
			continue;
		}
		on_entry(arg, e);
		kvEntry_Destroy(e);
	}
	if (w) {
		kvWatcher_Stop(w);
		kvWatcher_Destroy(w);
	}
}
