/* The broker context: configuration, shared stores, workers and listeners. Passed down everywhere
 * instead of globals. */
#ifndef MIDGE_BROKER_H
#define MIDGE_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/log.h"
#include "config.h"
#include "net/loop.h"
#include "net/ws.h"
#include "session.h"

struct worker;
struct message;
struct sub_tree;
struct retain_store;
struct accept_io;
struct security;
struct authq;
struct store;
struct sn_gw;

#define LISTENER_MAX_FDS 8

/* A configured listener at run time. */
struct listener_rt {
	const struct listener_conf *conf;
	int fds[LISTENER_MAX_FDS];
	struct accept_io *accept[LISTENER_MAX_FDS]; /* loop registrations, owned */
	int nfds;
	atomic_int nconns; /* for max_connections */
	struct broker *broker;
	bool encrypted; /* TLS */
	bool exposed;   /* plain and not loopback-only: guarded messages never go out through it (guard.h) */
	/* A TLS listener's context, NULL for a plain one. Main thread only (accept, reload): each
	 * connection takes its own reference, so a reload can swap it. */
	struct tls_ctx *tls;
	bool websockets;            /* `protocol websockets`: each connection is wrapped in the ws transport */
	struct ws_settings ws;      /* its settings, borrowed by those connections */
	struct http_app app;        /* the HTTP API on it (src/http/api), ws.app */
	struct sn_gw *sn;           /* `protocol mqttsn`: its gateway (sn_gw.h), owned; NULL for the others */
};

/* Broker-wide counters that are not per worker. */
struct broker_stats {
	atomic_uint_fast64_t clients_total_ever; /* CONNECTs accepted */
	atomic_uint_fast64_t sockets_total_ever; /* TCP connections accepted */
	atomic_uint_fast64_t clients_expired;    /* persistent sessions ended by persistent_client_expiration */
	atomic_int clients_connected;
	atomic_int clients_max; /* the most connected at once (figures.h) */
	atomic_int clients_persistent_offline;
	atomic_int offline_deadlines; /* offline sessions with an expiry or a delayed will (session__track_locked) */
	atomic_uint_fast64_t pub_dropped;
	atomic_uint_fast64_t guard_withheld; /* deliveries the encryption guard kept off plain listeners */
	atomic_long heap_current; /* approximate: bytes of messages alive */
	atomic_size_t heap_max;   /* the most malloc said was allocated when figures were read (figures.h) */
};

struct broker {
	struct config conf;
	struct logger log;
	struct sub_tree *subs;
	struct retain_store *retained;
	struct session_table sessions;
	struct worker *workers;
	int nworkers;
	int workers_started;
	atomic_uint next_worker;
	struct listener_rt *listeners;
	size_t nlisteners;
	struct loop loop; /* main thread: accept, signals, $SYS, session expiry */
	struct broker_stats stats;
	uint64_t start_ms;
	time_t start_time;
	atomic_bool shutting_down;
	const char *config_path; /* for SIGHUP reload; NULL without -c */
	bool local_only;         /* no listener configured: anonymous clients are let in by default */
	void *sys;               /* $SYS state (sys.c) */
	/* Security (security.c): the current snapshot, swapped under sec_lock on reload. */
	pthread_rwlock_t sec_lock;
	bool sec_lock_ready;
	struct security *sec;
	atomic_bool sec_has_acl; /* some domain has an acl_file: deliveries are checked */
	atomic_bool sec_has_encrypted_topics; /* the snapshot has encrypted_topic filters */
	struct authq *authq;     /* password checks off the workers' loops (authq.c) */
	struct store *store;     /* durable state (persist.h); NULL without persistence */
	atomic_bool store_failing; /* the last commit failed: said once in the log, and again when it recovers */
	struct bridge **bridges;   /* one per `connection` section (bridge.h), owned */
	struct cluster *cluster;   /* the NATS cluster (cluster.h), owned; NULL for a single node */
	size_t nbridges;
};

/* Sets up b from the configuration in b->conf (already loaded): logging, stores, workers.
 * Returns 0 or MIDGE_ERR_* with a message in err. A zeroed broker after failure is safe to fini. */
int broker__init(struct broker *b, char *err, size_t errlen);
/* Reads every file the configuration names (TLS certificates, keys, CRLs and PSK files, password and ACL
 * files) as start-up would, and frees them again: for --test-config. 0 or MIDGE_ERR_* with err. */
int broker__check_files(const struct config *cf, char *err, size_t errlen);
/* Opens every listener and starts the workers. 0 or MIDGE_ERR_* with a message in err. */
int broker__start(struct broker *b, char *err, size_t errlen);
/* Runs the main thread's loop (accept, signals, $SYS, session expiry) until SIGINT/SIGTERM. */
void broker__run(struct broker *b);
/* Stops the workers (no wills are sent) and frees everything. */
void broker__fini(struct broker *b);
/* Re-reads the configuration file and applies what can change at run time (SIGHUP). */
void broker__reload(struct broker *b);

/* $SYS (sys.c): starts the periodic publication; stops and frees it. */
int sys__start(struct broker *b);
void sys__stop(struct broker *b);

/* Routes m (reference kept by the caller) to every matching subscriber and, when m->retain is set,
 * stores or clears it in the retained store. w is the calling worker or NULL (main thread); from is the
 * publishing session (for No Local) or NULL. Overlapping subscriptions of one session give one delivery
 * at the highest QoS with every Subscription Identifier; each matching shared group gives one delivery
 * to one member. Returns the number of deliveries (queued ones included). */
size_t broker__publish(struct broker *b, struct worker *w, struct message *m, struct session *from);
/* Gives m, which member `leaving` held through the shared group (group, filter), to another member of
 * that group. Returns true when one took it. */
bool broker__redeliver_shared(struct broker *b, struct worker *w, const uint8_t *group, size_t glen,
			      const uint8_t *filter, size_t flen, struct session *leaving, struct message *m);
/* Publishes a QoS 0 message the broker makes itself ($SYS values, log lines), from any thread. */
void broker__publish_text(struct broker *b, const char *topic, const char *text, size_t len, bool retain);
/* Picks a worker for a new connection, round-robin. */
struct worker *broker__pick_worker(struct broker *b);
/* Sum of one per-worker counter (offset of the field in struct worker_stats). */
uint64_t broker__stat_sum(struct broker *b, size_t offset);
#define BROKER_STAT(b, field) broker__stat_sum((b), offsetof(struct worker_stats, field))

#endif
