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

/* The last message seen from one origin node: later copies (one per matching subscription) are dropped. */
struct origin {
	uint64_t id, seq;
};
#define ORIGINS 64

/* The NATS subscriptions of one filter that has local subscribers ("a/#" has two), or of one shared subscription
 * group with local members (queue subscriptions, on the sharing connection). */
struct interest {
	struct interest *next;
	struct interest *snext; /* shared ones: the list the sharing connection's messages are looked up in */
	natsSubscription *sub[2];
	size_t len;            /* of the filter */
	size_t glen;           /* of the group's name */
	bool shared;
	struct origin last[8]; /* shared ones: the last message from each origin, as a resend comes again (lock) */
	size_t nlast;
	uint8_t key[];         /* the filter, then the group's name */
};


struct cluster {
	struct broker *b;
	natsOptions *opts;
	natsConnection *nc;
	/* Shared subscriptions are NATS queue subscriptions on a second connection: nc does not get its own messages
	 * back (NoEcho), and NATS would never pick this node's queue member for a message of this node. */
	natsOptions *share_opts;
	natsConnection *share_nc;
	atomic_bool sharing;        /* share_nc is connected: shared groups get messages through NATS */
	uint64_t id;                /* this node's origin id */
	uint64_t seq;               /* of the messages this node sent (pub_lock) */
	pthread_mutex_t pub_lock;   /* seq and the publish that carries it, together */
	pthread_mutex_t lock;       /* buckets (also under the tree's write lock: the watcher is called there) */
	struct interest *buckets[1024];
	struct interest *shares;    /* the shared ones among them (lock) */
	struct origin origins[ORIGINS]; /* the delivery thread's only */
	size_t norigins;
	struct cluster_stats stats;
	atomic_bool said_failed;
	atomic_bool said_error;
	struct cluster_registry *reg; /* cluster_registry.c */
	struct cluster_retained *ret; /* cluster_retained.c */
	struct cluster_stream *stream; /* cluster_stream.c */
	struct cluster_sessions *sessions; /* cluster_sessions.c */
	atomic_bool stores;           /* the stream is there: QoS 1/2 messages go to it (cluster__stores) */
	struct cluster_wills *wills;  /* cluster_wills.c */
	pthread_mutex_t js_lock;      /* js */
	jsCtx *js;                    /* made at the first cluster__bucket */
};

/* Binds to the JetStream key-value bucket name, making it when it does not exist (history 1; 3 replicas, or 1 on a
 * NATS cluster too small for them). NULL while NATS or JetStream is not there. Blocks on NATS requests (a second
 * or so each): from the cluster's own threads only. The caller destroys the store (kvStore_Destroy). */
kvStore *cluster__bucket(struct cluster *cl, const char *name);


/* ---- cluster_conn.c ---- */
struct config;
/* Sets on o the credentials (cluster_nats_user and _password, _token or _creds) and TLS files (cluster_nats_cafile,
 * _certfile and _keyfile; either asks for TLS) of c, which config__validate passed. 0, or MIDGE_ERR_INVAL with the
 * message in err (it names options and files, never a secret). */
int cluster__auth_options(const struct config *c, natsOptions *o, char *err, size_t errlen);
/* Why the node cannot connect to the NATS servers of c, found by one more attempt (up to half a second per URL):
 * ": " and the reason in out (outlen bytes), "" when that attempt connected. Returns out. The reason names no
 * secret. */
const char *cluster__why_not_connected(const struct config *c, char *out, size_t outlen);
/* Writes into out (outlen bytes, always terminated) the comma-separated urls without the user:password@ or token@
 * each may carry, for logs and messages; returns out. */
const char *cluster__urls_shown(const char *urls, char *out, size_t outlen);

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

/* The JetStream context of the cluster's own threads (made at the first call; NULL while NATS or JetStream is not
 * there). Requests on it block: never on a worker. */
jsCtx *cluster__js(struct cluster *cl);

/* ---- cluster_stream.c ---- */
#define CLUSTER_STREAM "MIDGE_MSGS"
#define CLUSTER_TICKET_FAILED UINT64_MAX
/* On a message sent again to the stream: the nodes' routing subscriptions drop it (they had the first copy);
 * persistent sessions' consumers take it from the stream, once (Nats-Msg-Id). */
#define CLUSTER_RESEND_HEADER "Midge-Resend"
/* Starts the thread that finds or makes the stream and sends again what JetStream did not take. 0 or
 * MIDGE_ERR_NOMEM. */
int cluster_stream__start(struct cluster *cl);
/* Stops the thread; barriers still waiting fire with MIDGE_ERR_IO. Before the NATS connection closes. */
void cluster_stream__stop(struct cluster *cl);
/* Frees it; after the NATS library's threads are gone (its acknowledgement handler uses it). */
void cluster_stream__free(struct cluster *cl);
/* Publishes an encoded message (its origin sequence number seq) on subject to the stream: its ticket, 0 while the
 * stream is not there (the caller publishes it plainly), or CLUSTER_TICKET_FAILED (a ticket that failed at once:
 * too many in flight). Under the caller's pub_lock, so tickets follow sequence numbers. */
uint64_t cluster_stream__publish(struct cluster *cl, const char *subject, const void *data, int len, uint64_t seq);
/* A ticket for some other work whose end a reply must wait for (a subscription's consumers): settled by
 * cluster_stream__settle (ok false: the reply says it failed). CLUSTER_TICKET_FAILED when too many are open. */
uint64_t cluster_stream__ticket(struct cluster *cl);
void cluster_stream__settle(struct cluster *cl, uint64_t ticket, bool ok);

/* ---- cluster_sessions.c ---- */
/* Starts the persistent sessions' bucket threads and the subscription to this node's consumer deliveries. */
int cluster_sessions__start(struct cluster *cl);
/* Stops the threads (subscriptions still waiting for consumers fail); before the connection closes. */
void cluster_sessions__stop(struct cluster *cl);
/* Frees the tables; after the NATS library's threads are gone. */
void cluster_sessions__free(struct cluster *cl);

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
