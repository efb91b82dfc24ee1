/* Worker threads: each runs one epoll loop over its share of the connections. */
#ifndef MIDGE_WORKER_H
#define MIDGE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"
#include "net/loop.h"

struct broker;
struct conn;
struct session;
struct message;

/* Counters written by the worker that owns the event, read by $SYS from another thread. */
struct worker_stats {
	atomic_uint_fast64_t msgs_received;     /* every packet */
	atomic_uint_fast64_t msgs_sent;
	atomic_uint_fast64_t pub_received;      /* PUBLISH only */
	atomic_uint_fast64_t pub_sent;
	atomic_uint_fast64_t pub_dropped;
	atomic_uint_fast64_t bytes_received;
	atomic_uint_fast64_t bytes_sent;
};

/* A receiver found by matching, collected before delivery (see broker__publish). */
struct receiver {
	struct session *s; /* reference */
	uint8_t qos;       /* QoS of the matching subscription */
	bool retain;       /* retain flag to send (Retain As Published) */
	uint32_t share;    /* chosen for a shared subscription group (its name's hash): delivered on its own */
	uint32_t sub_id;   /* Subscription Identifier of the matching subscription, 0 = none */
};

/* Work a module of the worker's own asks to run at the end of this loop turn (worker__defer), embedded in its owner. */
struct worker_task {
	struct list node;
	void (*run)(struct worker_task *t);
};

struct worker {
	struct broker *broker;
	int id;
	pthread_t thread;
	struct loop loop;
	pthread_mutex_t inbox_lock;
	struct list inbox;   /* conns with work from other threads (new, flush, kick) */
	struct list conns;   /* open connections */
	struct list flush;   /* conns to flush at the end of this loop turn */
	struct list closing; /* closed this turn; unreferenced after the turn */
	struct list tasks;   /* struct worker_task to run at the end of this turn (owner only) */
	struct list retained;    /* retained-message sends in progress (retained_send.h) */
	struct list retained_in; /* sends handed over by other threads, under inbox_lock */
	atomic_bool retained_posted; /* retained_in may have some: checked each turn without taking the lock */
	size_t nconns;
	atomic_bool stop;
	struct worker_stats stats;
	bool store_touched;    /* the packet being handled enqueued store writes: its reply waits for them */
	uint64_t cluster_ticket; /* the packet being handled sent a message to the cluster's stream: its reply waits
	                          * for JetStream (cluster.h); 0 when not */
	struct receiver *recv; /* scratch array for broker__publish */
	uint8_t *scratch;      /* READ_CHUNK bytes: reads land here for connections that keep no input (worker.c) */
	size_t recv_cap;
};

/* Sets up w (loop, lists); 0 or MIDGE_ERR_*. */
int worker__init(struct worker *w, struct broker *b, int id);
int worker__start(struct worker *w);
/* Stops the loop and joins the thread. */
void worker__halt(struct worker *w);
/* After every worker is halted (so none can post any more): releases the inbox and closes every
 * connection, without wills. */
void worker__drain(struct worker *w);
void worker__fini(struct worker *w);
/* Hands a new connection to w (any thread); w takes over the reference. */
void worker__adopt(struct worker *w, struct conn *c);
/* Registers c, whose transport has no descriptor of its own (an MQTT-SN client, sn_gw.h), with w at once;
 * from w's thread only, which takes over the caller's reference. */
void worker__add_local(struct worker *w, struct conn *c);
/* Input for c that its transport did not read (an MQTT-SN gateway's translation into MQTT packets): handled as
 * read bytes are, now unless reading is paused. Owner only. Returns 0, MIDGE_ERR_AGAIN (input is already waiting
 * past the bound: dropped), MIDGE_ERR_NOMEM or MIDGE_ERR_CLOSED; c may be closed on return. */
int worker__feed(struct worker *w, struct conn *c, const void *p, size_t n);
/* True when worker__feed would take input for c now (it is open and not past the bound). */
bool worker__can_feed(const struct conn *c);
/* Runs t->run at the end of this loop turn, before the connections are flushed; once however often it is asked
 * before it runs. Owner only. For work that must not run where it is noticed (inside a connection's write). */
void worker__defer(struct worker *w, struct worker_task *t);
/* Takes t off the list if it waits there. Owner only. */
void worker__undefer(struct worker *w, struct worker_task *t);
/* Adds c to w's inbox (any thread) and wakes w; takes a reference while queued. */
void worker__post(struct worker *w, struct conn *c);
/* Closes c in its owner worker: publishes the will unless disconnected cleanly or shutting down,
 * detaches or ends the session. reason is logged. */
void worker__close(struct worker *w, struct conn *c, const char *reason);
/* Publishes a will now (from: the session it belongs to), its Message Expiry Interval counting from now,
 * when the ACL lets username (NULL = anonymous) of security domain domain, the client that left it, write
 * its topic. The caller holds the only reference to will besides its own keeping. */
void worker__publish_will(struct broker *b, struct worker *w, struct message *will, uint32_t expiry, bool retain,
			  struct session *from, const char *username, size_t domain);
/* (Re)starts c's keepalive check after CONNECT: closes c after 1.5 x keepalive of silence. */
void worker__arm_keepalive(struct worker *w, struct conn *c);

#endif
