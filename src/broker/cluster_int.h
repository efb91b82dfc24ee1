/* Inside the cluster (cluster.h): what cluster.c (routing) and cluster_registry.c (which node has which client)
 * share. */
#ifndef MIDGE_CLUSTER_INT_H
#define MIDGE_CLUSTER_INT_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

struct broker;

/* The NATS subscriptions of one filter that has local subscribers ("a/#" has two). */
struct interest {
	struct interest *next;
	natsSubscription *sub[2];
	size_t len;
	uint8_t filter[];
};

/* The last message seen from one origin node: later copies (one per matching subscription) are dropped. */
struct origin {
	uint64_t id, seq;
};
#define ORIGINS 64

struct cluster {
	struct broker *b;
	natsOptions *opts;
	natsConnection *nc;
	uint64_t id;                /* this node's origin id */
	uint64_t seq;               /* of the messages this node sent (pub_lock) */
	pthread_mutex_t pub_lock;   /* seq and the publish that carries it, together */
	pthread_mutex_t lock;       /* buckets (also under the tree's write lock: the watcher is called there) */
	struct interest *buckets[1024];
	struct origin origins[ORIGINS]; /* the delivery thread's only */
	size_t norigins;
	struct cluster_stats stats;
	atomic_bool said_failed;
	atomic_bool said_error;
	struct cluster_registry *reg; /* cluster_registry.c */
	struct cluster_retained *ret; /* cluster_retained.c */
	struct cluster_wills *wills;  /* cluster_wills.c */
	pthread_mutex_t js_lock;      /* js */
	jsCtx *js;                    /* made at the first cluster__bucket */
};

/* Binds to the JetStream key-value bucket name, making it when it does not exist (history 1; 3 replicas, or 1 on a
 * NATS cluster too small for them). NULL while NATS or JetStream is not there. Blocks on NATS requests (a second
 * or so each): from the cluster's own threads only. The caller destroys the store (kvStore_Destroy). */
kvStore *cluster__bucket(struct cluster *cl, const char *name);


/* ---- cluster_kv.c: a bucket and its two threads ---- */
struct cluster_kv {
	struct cluster *cl;
	const char *bucket;
	pthread_mutex_t lock; /* stop, and the owner's own queue and tables; never held across a NATS request */
	pthread_cond_t cond;  /* signalled when work is queued or stop is set */
	bool stop, inited;
	pthread_t t[2];
	bool on[2];
	pthread_mutex_t bind_lock; /* kv */
	kvStore *kv;
};
/* Starts writer and watcher (each given arg) on bucket. 0 or MIDGE_ERR_NOMEM (cluster_kv__stop still needed). */
int cluster_kv__start(struct cluster_kv *k, struct cluster *cl, const char *bucket, void *(*writer)(void *),
		      void *(*watcher)(void *), void *arg);
/* Sets stop, wakes and joins both threads, frees the bucket's store. Safe on a k never started. */
void cluster_kv__stop(struct cluster_kv *k);
bool cluster_kv__stopping(struct cluster_kv *k);
/* Waits ms, or less when woken (work or stop). Without k->lock held. */
void cluster_kv__nap(struct cluster_kv *k, unsigned ms);
/* The bucket's store, bound at the first call that finds NATS and JetStream there; NULL until then. Blocks on NATS
 * requests: without k->lock held. */
kvStore *cluster_kv__store(struct cluster_kv *k);
/* The watcher's loop until stop: on_entry for every entry (the existing ones first, then each change, in revision
 * order), on_loaded (may be NULL) once the existing ones are in. */
void cluster_kv__watch(struct cluster_kv *k, bool ignore_deletes, void (*on_entry)(void *arg, kvEntry *e),
		       void (*on_loaded)(void *arg), void *arg);

/* ---- cluster_retained.c ---- */
/* Starts the retained store's threads: one writes this node's retained messages to the bucket, one applies the
 * bucket's entries (every node's, in revision order) to the local store. 0 or MIDGE_ERR_NOMEM. */
int cluster_retained__start(struct cluster *cl);
void cluster_retained__stop(struct cluster *cl);
/* A retained message published on this node: queued for the bucket (a reference is taken). */
void cluster_retained__put(struct cluster *cl, struct message *m);

/* ---- cluster_registry.c ---- */
/* Starts the registry's threads: one writes this node's claims, one watches the others'. 0 or MIDGE_ERR_NOMEM. */
int cluster_registry__start(struct cluster *cl);
/* Stops and joins them (before the NATS connection closes) and frees what the registry holds. */
void cluster_registry__stop(struct cluster *cl);

/* ---- cluster_wills.c ---- */
/* Starts the wills' threads (writer, watcher, heartbeat) and the heartbeat subscription. 0 or MIDGE_ERR_NOMEM. */
int cluster_wills__start(struct cluster *cl);
/* Stops them (before the NATS connection closes) and frees what the wills hold. */
void cluster_wills__stop(struct cluster *cl);

#endif
