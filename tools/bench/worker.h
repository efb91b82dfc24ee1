/* worker: one thread of the load generator: one epoll loop over the clients it owns, connecting them at its
 * share of --connect-rate, pacing its publishers (a token bucket each, topped up every loop turn, at least
 * every millisecond while rate-limited), and batching every client's output into one write per turn. */
#ifndef MIDGE_BENCH_WORKER_H
#define MIDGE_BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hist.h"

struct bench;
struct bclient;
struct sysmon;

/* Counters of one worker: written only by it (relaxed load + store, no locked instruction), read by the
 * main thread for progress and the drain. */
struct bstats {
	_Atomic uint64_t sent;     /* measured PUBLISHes written */
	_Atomic uint64_t acked;    /* measured QoS 1/2 PUBLISHes completed */
	_Atomic uint64_t inflight; /* QoS 1/2 in flight, measured or not */
	_Atomic uint64_t all_sent; /* every PUBLISH written, warm-up included */
	_Atomic uint64_t received; /* measured PUBLISHes received, duplicates included */
	_Atomic uint64_t unique;   /* measured PUBLISHes received for the first time by their receiver */
	_Atomic uint64_t all_received;
	_Atomic uint64_t foreign; /* PUBLISHes without a midge-bench header */
	_Atomic uint64_t connected, ready, failed, lost_conn, errors;
	_Atomic uint64_t pubs_done;
	/* While draining: publishers with output not yet written, + 1 (0: not counted yet). */
	_Atomic uint64_t unwritten;
	_Atomic uint64_t last_send_ns, first_recv_ns, last_recv_ns, last_connect_ns;
};

static inline void bstat_add(_Atomic uint64_t *a, uint64_t n)
{
	atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void bstat_set(_Atomic uint64_t *a, uint64_t v) { atomic_store_explicit(a, v, memory_order_relaxed); }
static inline uint64_t bstat_get(_Atomic uint64_t *a) { return atomic_load_explicit(a, memory_order_relaxed); }

struct bworker {
	struct bench *b;
	struct sysmon *sysmon; /* the $SYS watcher whose worker this is; NULL for the load's workers */
	uint32_t idx;
	pthread_t thread;
	int ep;
	struct bclient *clients; /* owned, nclients of them */
	uint32_t nclients;
	uint32_t next_connect; /* clients before it have been started */
	double connect_tokens;
	double connect_rate; /* this worker's share, per second */
	uint64_t last_tick_ns;
	uint64_t last_ping_ms;
	struct bclient *dirty; /* flush list of this turn */
	uint8_t *scratch;      /* reads land here; only a partial packet is copied to the client */
	struct hist hist;      /* latencies, ns */
	struct bstats st;
	char first_error[200]; /* written once by the worker; readable once has_error is set */
	_Atomic int error_claimed;
	_Atomic int has_error;
};

#define WORKER_SCRATCH (256 * 1024)

/* Makes w's epoll set and scratch buffer and its nclients clients (zeroed, for the caller to init).
 * 0 or -1. */
int bworker__init(struct bworker *w, struct bench *b, uint32_t idx, uint32_t nclients);
/* The thread's body: runs until the phase is PH_STOP, then closes its clients. */
void *bworker__main(void *arg);
/* Records the first error reason of the worker (later ones are only counted). */
void bworker__note_error(struct bworker *w, const char *reason);
void bworker__fini(struct bworker *w);

#endif
