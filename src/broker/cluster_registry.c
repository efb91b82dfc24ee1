/* The cluster's session registry: which node has each client, in a replicated JetStream key-value bucket
 * ("midge_sessions", key: the client id escaped as a subject token; value: the owning node's origin id and the
 * client id). A node that accepts a CONNECT writes its claim; every node watches the bucket, and one that sees a
 * newer claim by another node for a client it has connected closes that connection (MQTT 5: 0x8E Session taken
 * over), so that of two connections with one client id on two nodes the later survives, as on one broker.
 * JetStream calls block on replies, so they run on two threads of this file, never on a worker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster_codec.h"
#include "cluster_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "conn.h"
#include "midge/midge.h"
#include "session.h"
#include "worker.h"

#define BUCKET "midge_sessions"
#define CLAIMS 4096 /* buckets of the claims table */

/* A client this node claimed: the revision its claim got (0 while it is being written). */
struct claim {
	struct claim *next;
	uint64_t rev;
	bool queued; /* waits in the queue for the writer */
	struct claim *qnext;
	char id[];
};

struct cluster_registry {
	struct cluster_kv k;          /* k.lock guards the claims and the queue */
	struct claim *table[CLAIMS];
	struct claim *qhead, *qtail;
	bool said_ready;
	char me[17];                  /* this node's origin id in hexadecimal */
};

static size_t slot(const char *id)
{
	uint32_t h = 2166136261u;
	for (const char *p = id; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
	return h % CLAIMS;
}

static struct claim *find(struct cluster_registry *r, const char *id)
{
	for (struct claim *c = r->table[slot(id)]; c; c = c->next)
		if (!strcmp(c->id, id)) return c;
	return NULL;
}

void cluster__claim(struct cluster *cl, const char *client_id)
{
	struct cluster_registry *r = cl ? cl->reg : NULL;
	if (!r) return;
	pthread_mutex_lock(&r->k.lock);
	struct claim *c = find(r, client_id);
	if (!c && (c = calloc(1, sizeof(*c) + strlen(client_id) + 1))) {
		strcpy(c->id, client_id);
		size_t s = slot(client_id);
		c->next = r->table[s];
		r->table[s] = c;
	}
	if (c) {
		c->rev = 0; /* a claim on its way: no older entry of another node may close this connection */
		if (!c->queued) {
			c->queued = true;
			c->qnext = NULL;
			if (r->qtail) r->qtail->qnext = c;
			else r->qhead = c;
			r->qtail = c;
			pthread_cond_signal(&r->k.cond);
		}
	}
	pthread_mutex_unlock(&r->k.lock);
}

static kvStore *bucket(struct cluster_registry *r)
{
	kvStore *kv = cluster_kv__store(&r->k);
	if (kv && !r->said_ready) {
		r->said_ready = true;
		log__printf(&r->k.cl->b->log, LOG_T_NOTICE, "Cluster: session registry (bucket %s) in use.", BUCKET);
	}
	return kv;
}

/* Writes the queued claims, retrying while JetStream elects a leader. */
static void *writer_main(void *arg)
{
	struct cluster_registry *r = arg;
	struct buf key = {0}, val = {0};
	pthread_mutex_lock(&r->k.lock);
	while (!r->k.stop) {
		if (!r->qhead) {
			pthread_cond_wait(&r->k.cond, &r->k.lock);
			continue;
		}
		pthread_mutex_unlock(&r->k.lock);
		kvStore *kv = bucket(r);
		if (!kv) cluster_kv__nap(&r->k, 200); /* NATS or JetStream not there yet */
		pthread_mutex_lock(&r->k.lock);
		struct claim *c = r->qhead;
		if (!kv || !c) continue;
		r->qhead = c->qnext;
		if (!r->qhead) r->qtail = NULL;
		c->queued = false;
		char id[512];
		snprintf(id, sizeof(id), "%s", c->id);
		pthread_mutex_unlock(&r->k.lock);
		buf__clear(&val);
		uint64_t rev = 0;
		natsStatus st = NATS_NO_MEMORY;
		if (!cluster__key((const uint8_t *)id, strlen(id), &key) && !buf__append(&val, r->me, 16) &&
		    !buf__append(&val, " ", 1) && !buf__append(&val, id, strlen(id)))
			st = kvStore_Put(&rev, kv, (const char *)buf__head(&key), buf__head(&val), (int)buf__len(&val));
		pthread_mutex_lock(&r->k.lock);
		struct claim *now = find(r, id);
		if (st == NATS_OK) {
			if (now && !now->queued) now->rev = rev;
		} else if (now && !now->queued && !r->k.stop) {
			/* JetStream without a leader for a few seconds (a server lost): again, after a pause. */
			now->queued = true;
			now->qnext = NULL;
			if (r->qtail) r->qtail->qnext = now;
			else r->qhead = now;
			r->qtail = now;
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

/* Another node claimed client_id with revision rev: this node's connection of that client goes, unless this
 * node's own claim is newer or still on its way. */
static void seen(struct cluster_registry *r, const char *client_id, uint64_t rev)
{
	pthread_mutex_lock(&r->k.lock);
	struct claim *c = find(r, client_id);
	bool older = c && (c->rev == 0 || c->rev > rev);
	pthread_mutex_unlock(&r->k.lock);
	if (older) return;
	struct broker *b = r->k.cl->b;
	struct conn *conn = NULL;
	lock__acquire(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, client_id, strlen(client_id));
	if (s) {
		lock__acquire(&s->lock);
		if (s->conn && !s->conn->internal) conn = conn__ref(s->conn);
		/* A clustered session is the other node's now: it ends here (offline: at the next scan; else once its
		 * connection is closed, worker.c). */
		if (atomic_load(&s->clustered) && (!s->conn || !s->conn->internal)) {
			cluster__session_moved(r->k.cl, s);
			if (!s->conn) s->expire_at_ms = clock__ms();
		}
		lock__release(&s->lock);
	}
	lock__release(&b->sessions.lock);
	if (!conn) return;
	log__printf(&b->log, LOG_T_NOTICE, "Client %s connected on another node of the cluster: closing it here.",
		    client_id);
	atomic_store(&conn->kick, KICK_CLUSTER);
	worker__post(conn->worker, conn);
	conn__unref(conn);
}

static void on_entry(void *arg, kvEntry *e)
{
	struct cluster_registry *r = arg;
	const char *v = (const char *)kvEntry_Value(e);
	int n = kvEntry_ValueLen(e);
	if (!v || n <= 17 || v[16] != ' ' || memcmp(v, r->me, 16) == 0) return;
	char id[512];
	size_t len = (size_t)n - 17 < sizeof(id) - 1 ? (size_t)n - 17 : sizeof(id) - 1;
	memcpy(id, v + 17, len);
	id[len] = 0;
	seen(r, id, kvEntry_Revision(e));
}

static void *watcher_main(void *arg)
{
	struct cluster_registry *r = arg;
	bucket(r);
	cluster_kv__watch(&r->k, true, on_entry, NULL, r);
	return NULL;
}

int cluster_registry__start(struct cluster *cl)
{
	struct cluster_registry *r = calloc(1, sizeof(*r));
	if (!r) return MIDGE_ERR_NOMEM;
	snprintf(r->me, sizeof(r->me), "%016llx", (unsigned long long)cl->id);
	cl->reg = r;
	return cluster_kv__start(&r->k, cl, BUCKET, writer_main, watcher_main, r);
}

void cluster_registry__stop(struct cluster *cl)
{
	struct cluster_registry *r = cl->reg;
	if (!r) return;
	cluster_kv__stop(&r->k);
	for (size_t i = 0; i < CLAIMS; i++) {
		while (r->table[i]) {
			struct claim *c = r->table[i];
			r->table[i] = c->next;
			free(c);
		}
	}
	free(r);
	cl->reg = NULL;
}
