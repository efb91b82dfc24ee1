/* The cluster's message stream (docs/cluster.md): QoS 1 and 2 messages published on this node go to NATS as
 * JetStream publishes on "mqtt.1.<levels>", which the replicated stream MIDGE_MSGS keeps and which the other nodes'
 * subscriptions receive like any NATS message. The publisher's acknowledgement waits until JetStream has
 * acknowledged the write: every such publish gets a ticket, in the order of the publishes, and a barrier
 * (cluster__barrier) fires once every ticket issued before it is done. A publish JetStream refuses or does not
 * answer (no stream leader for a few seconds, a server stopped) is sent again, with the same message id so the
 * stream keeps one copy, until it is stored or STORE_FOR_MS have passed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster_codec.h"
#include "cluster_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "midge/midge.h"

#define STREAM CLUSTER_STREAM
#define WIN 32768            /* tickets in flight at most (a ring of their states) */
#define ACK_WAIT_MS 5000     /* a publish not acknowledged in this time is sent again (the stream dedupes) */
#define STORE_FOR_MS 30000   /* how long a publish is retried before its publisher is told it was not kept */
#define TICKET_HEADER "Midge-Ticket"

enum { T_PENDING, T_STORED, T_FAILED };

struct retry {
	struct retry *next;
	natsMsg *msg;
	uint64_t ticket;
};

struct waiter {
	struct waiter *next;
	uint64_t target; /* fires once every ticket up to this one is done */
	uint64_t own;    /* the ticket of the waiter's own message, 0 for none */
	int rc;
	cluster_done_cb cb;
	void *arg;
};

struct cluster_stream {
	struct cluster *cl;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* retries queued, or stop */
	bool stop;
	jsCtx *js;            /* with the acknowledgement handler; made by the thread, used under lock by publishers */
	uint64_t issued;      /* the last ticket given */
	uint64_t done_upto;   /* every ticket up to this one is stored or failed */
	uint64_t last_failed; /* the highest ticket that failed: a waiter whose own ticket is not above it is told
	                       * its message was not kept (so an older one that was kept may be refused too; never the
	                       * other way round), since a ticket's slot may be reused by the time its waiter fires */
	uint8_t state[WIN];
	uint64_t since[WIN];  /* when a ticket's first attempt failed (0: it has not) */
	struct waiter *wh, *wt;
	struct retry *rh, *rt;
	bool said_retry;
};

static int rc_of(const struct cluster_stream *st, uint64_t own)
{
	return own && own <= st->last_failed ? MIDGE_ERR_IO : 0;
}

static void fire_waiters(struct cluster_stream *st, struct waiter **out)
{
	while (st->wh && st->wh->target <= st->done_upto) {
		struct waiter *w = st->wh;
		st->wh = w->next;
		if (!st->wh) st->wt = NULL;
		w->rc = rc_of(st, w->own);
		w->next = *out;
		*out = w;
	}
}

/* Calls the waiters taken off the queue, oldest first (they were pushed newest first). */
static void call_waiters(struct waiter *list)
{
	struct waiter *rev = NULL;
	while (list) {
		struct waiter *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct waiter *n = rev->next;
		rev->cb(rev->arg, rev->rc);
		free(rev);
		rev = n;
	}
}

/* Under lock: a ticket's fate is known; done_upto moves over every ticket now done. Waiters it passes go to out
 * (newest first). */
static void settle(struct cluster_stream *st, uint64_t ticket, uint8_t state, struct waiter **out)
{
	if (ticket > st->done_upto && ticket <= st->issued) st->state[ticket % WIN] = state;
	if (state == T_FAILED && ticket > st->last_failed) st->last_failed = ticket;
	while (st->done_upto < st->issued && st->state[(st->done_upto + 1) % WIN] != T_PENDING) st->done_upto++;
	fire_waiters(st, out);
}

static uint64_t ticket_of(natsMsg *msg)
{
	const char *v = NULL;
	if (natsMsgHeader_Get(msg, TICKET_HEADER, &v) != NATS_OK || !v) return 0;
	return strtoull(v, NULL, 10);
}

/* JetStream's answer to one publish, on a thread of cnats. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js, (void)pae;
	struct cluster_stream *st = closure;
	uint64_t ticket = ticket_of(msg);
	struct waiter *out = NULL;
	pthread_mutex_lock(&st->lock);
	if (pa || !ticket || st->stop) {
		if (ticket) settle(st, ticket, pa ? T_STORED : T_FAILED, &out);
		pthread_mutex_unlock(&st->lock);
		natsMsg_Destroy(msg);
		call_waiters(out);
		return;
	}
	/* Refused or unanswered: the thread sends it again (never from here: a publish may wait for this thread). */
	struct retry *r = calloc(1, sizeof(*r));
	if (!r) {
		settle(st, ticket, T_FAILED, &out);
		pthread_mutex_unlock(&st->lock);
		natsMsg_Destroy(msg);
		call_waiters(out);
		return;
	}
	if (!st->since[ticket % WIN]) st->since[ticket % WIN] = clock__ms();
	r->msg = msg;
	r->ticket = ticket;
	if (st->rt) st->rt->next = r;
	else st->rh = r;
	st->rt = r;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/* Under lock: the next ticket, pending; CLUSTER_TICKET_FAILED while the ring is full. */
static uint64_t issue(struct cluster_stream *st)
{
	if (st->issued - st->done_upto >= WIN - 1) return CLUSTER_TICKET_FAILED;
	uint64_t ticket = ++st->issued;
	st->state[ticket % WIN] = T_PENDING;
	st->since[ticket % WIN] = 0;
	return ticket;
}

uint64_t cluster_stream__publish(struct cluster *cl, const char *subject, const void *data, int len, uint64_t seq)
{
	struct cluster_stream *st = cl->stream;
	if (!st || !atomic_load(&cl->stores)) return 0;
	natsMsg *msg = NULL;
	char id[40], t[24];
	if (natsMsg_Create(&msg, subject, NULL, data, len) != NATS_OK) return CLUSTER_TICKET_FAILED;
	pthread_mutex_lock(&st->lock);
	uint64_t ticket = issue(st);
	if (ticket != CLUSTER_TICKET_FAILED) {
		/* The message id lets the stream drop the copy a resend makes when the first one was kept after all. */
		snprintf(id, sizeof(id), "%016" PRIx64 "-%" PRIu64, cl->id, seq);
		snprintf(t, sizeof(t), "%" PRIu64, ticket);
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = ACK_WAIT_MS;
		natsStatus s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
		if (s == NATS_OK) s = natsMsgHeader_Set(msg, TICKET_HEADER, t);
		if (s == NATS_OK) s = js_PublishMsgAsync(st->js, &msg, &po);
		if (s != NATS_OK) {
			struct waiter *out = NULL;
			settle(st, ticket, T_FAILED, &out);
			pthread_mutex_unlock(&st->lock);
			call_waiters(out);
			natsMsg_Destroy(msg);
			return ticket;
		}
	}
	pthread_mutex_unlock(&st->lock);
	natsMsg_Destroy(msg); /* NULL when cnats took it */
	return ticket;
}

uint64_t cluster_stream__ticket(struct cluster *cl)
{
	struct cluster_stream *st = cl->stream;
	pthread_mutex_lock(&st->lock);
	uint64_t ticket = issue(st);
	pthread_mutex_unlock(&st->lock);
	return ticket;
}

void cluster_stream__settle(struct cluster *cl, uint64_t ticket, bool ok)
{
	struct cluster_stream *st = cl->stream;
	struct waiter *out = NULL;
	pthread_mutex_lock(&st->lock);
	settle(st, ticket, ok ? T_STORED : T_FAILED, &out);
	pthread_mutex_unlock(&st->lock);
	call_waiters(out);
}

void cluster__barrier(struct cluster *cl, uint64_t own, cluster_done_cb cb, void *arg)
{
	struct cluster_stream *st = cl ? cl->stream : NULL;
	if (!st) {
		cb(arg, 0);
		return;
	}
	struct waiter *w = calloc(1, sizeof(*w));
	pthread_mutex_lock(&st->lock);
	if (st->done_upto == st->issued || !w) {
		/* Nothing in flight (or no memory to wait: answer now, as the store does when it closes). */
		int rc = rc_of(st, own);
		pthread_mutex_unlock(&st->lock);
		free(w);
		cb(arg, rc);
		return;
	}
	w->target = st->issued;
	w->own = own;
	w->cb = cb;
	w->arg = arg;
	if (st->wt) st->wt->next = w;
	else st->wh = w;
	st->wt = w;
	pthread_mutex_unlock(&st->lock);
}

bool cluster__stores(const struct cluster *cl) { return cl && atomic_load(&cl->stores); }

/* Finds or makes the stream: replicated (3, or 1 on a NATS cluster too small), kept on disk, its messages kept
 * while a consumer still wants them (persistent sessions'), for a day at most. */
static bool make_stream(struct cluster_stream *st)
{
	struct cluster *cl = st->cl;
	if (!atomic_load(&cl->stats.connected)) return false;
	if (!st->js) {
		jsOptions jo;
		jsOptions_Init(&jo);
		jo.Wait = 1000;
		jo.PublishAsync.AckHandler = on_ack;
		jo.PublishAsync.AckHandlerClosure = st;
		jo.PublishAsync.MaxPending = 4 * WIN; /* never reached: tickets stop at WIN */
		jsCtx *js = NULL;
		if (natsConnection_JetStream(&js, cl->nc, &jo) != NATS_OK) return false;
		pthread_mutex_lock(&st->lock);
		st->js = js;
		pthread_mutex_unlock(&st->lock);
	}
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	bool ok = js_GetStreamInfo(&si, st->js, STREAM, NULL, &jerr) == NATS_OK;
	for (int replicas = 3; !ok && replicas >= 1; replicas -= 2) {
		const char *subjects[] = {CLUSTER_STORED_SUBJECTS};
		jsStreamConfig sc;
		jsStreamConfig_Init(&sc);
		sc.Name = STREAM;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Retention = js_InterestPolicy;
		sc.MaxAge = (int64_t)24 * 3600 * 1000000000;
		sc.Replicas = replicas;
		ok = js_AddStream(&si, st->js, &sc, NULL, &jerr) == NATS_OK;
		if (ok) log__printf(&cl->b->log, LOG_T_NOTICE, "Cluster: JetStream stream %s ready (%d replica%s).", STREAM,
				    replicas, replicas > 1 ? "s" : "");
		/* Made by another node meanwhile? */
		if (!ok) ok = js_GetStreamInfo(&si, st->js, STREAM, NULL, &jerr) == NATS_OK;
	}
	jsStreamInfo_Destroy(si);
	return ok;
}

static void *stream_main(void *arg)
{
	struct cluster_stream *st = arg;
	struct cluster *cl = st->cl;
	unsigned tries = 0;
	pthread_mutex_lock(&st->lock);
	while (!st->stop) {
		if (!atomic_load(&cl->stores)) {
			pthread_mutex_unlock(&st->lock);
			bool ok = make_stream(st);
			if (ok) {
				atomic_store(&cl->stores, true);
				log__printf(&cl->b->log, LOG_T_NOTICE, "Cluster: QoS 1 and 2 messages are acknowledged once "
					    "JetStream has them (stream %s).", STREAM);
			} else if (++tries == 10) {
				log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: no JetStream stream %s yet; QoS 1 and 2 "
					    "messages are acknowledged without it meanwhile.", STREAM);
			}
			pthread_mutex_lock(&st->lock);
			if (!ok && !st->stop) {
				struct timespec ts = clock__abstime(clock__ms() + 500);
				pthread_cond_timedwait(&st->cond, &st->lock, &ts);
			}
			continue;
		}
		if (!st->rh) {
			pthread_cond_wait(&st->cond, &st->lock);
			continue;
		}
		/* A pause first: a stream without a leader needs a few seconds, and every retry costs a request. */
		struct timespec ts = clock__abstime(clock__ms() + 200);
		pthread_cond_timedwait(&st->cond, &st->lock, &ts);
		struct retry *list = st->rh;
		st->rh = st->rt = NULL;
		if (!st->said_retry) {
			st->said_retry = true;
			log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: JetStream did not take a message; sending again "
				    "(said once).");
		}
		struct waiter *out = NULL;
		uint64_t now = clock__ms();
		while (list) {
			struct retry *r = list;
			list = r->next;
			natsStatus s = NATS_ERR;
			if (!st->stop && now - st->since[r->ticket % WIN] < STORE_FOR_MS) {
				/* The other nodes' subscriptions had the first copy (a publish reaches them whatever JetStream
				 * answers): this one is for the stream alone (cluster.c drops it). */
				natsMsgHeader_Set(r->msg, CLUSTER_RESEND_HEADER, "1");
				jsPubOptions po;
				jsPubOptions_Init(&po);
				po.MaxWait = ACK_WAIT_MS;
				s = js_PublishMsgAsync(st->js, &r->msg, &po);
			}
			if (s != NATS_OK) {
				atomic_fetch_add(&cl->stats.failed, 1);
				settle(st, r->ticket, T_FAILED, &out);
			}
			natsMsg_Destroy(r->msg);
			free(r);
		}
		if (out) {
			pthread_mutex_unlock(&st->lock);
			call_waiters(out);
			pthread_mutex_lock(&st->lock);
		}
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

int cluster_stream__start(struct cluster *cl)
{
	struct cluster_stream *st = calloc(1, sizeof(*st));
	if (!st) return MIDGE_ERR_NOMEM;
	st->cl = cl;
	pthread_mutex_init(&st->lock, NULL);
	clock__cond_init(&st->cond); /* monotonic, as clock__abstime wants */
	cl->stream = st;
	if (pthread_create(&st->thread, NULL, stream_main, st)) return MIDGE_ERR_NOMEM;
	st->started = true;
	return 0;
}

void cluster_stream__stop(struct cluster *cl)
{
	struct cluster_stream *st = cl->stream;
	if (!st) return;
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (st->started) pthread_join(st->thread, NULL);
	atomic_store(&cl->stores, false);
	/* Publishes still unanswered are not known to be kept: their publishers are told so. */
	pthread_mutex_lock(&st->lock);
	jsCtx *js = st->js;
	st->js = NULL;
	for (struct retry *r = st->rh, *n; r; r = n) {
		n = r->next;
		natsMsg_Destroy(r->msg);
		free(r);
	}
	st->rh = st->rt = NULL;
	struct waiter *out = st->wh;
	st->wh = st->wt = NULL;
	pthread_mutex_unlock(&st->lock);
	/* (call_waiters takes them newest first) */
	struct waiter *rev = NULL;
	while (out) {
		struct waiter *n = out->next;
		out->rc = MIDGE_ERR_IO;
		out->next = rev;
		rev = out;
		out = n;
	}
	call_waiters(rev);
	jsCtx_Destroy(js);
}

void cluster_stream__free(struct cluster *cl)
{
	struct cluster_stream *st = cl->stream;
	if (!st) return;
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	free(st);
	cl->stream = NULL;
}
