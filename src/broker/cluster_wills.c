/* Wills of the clients of a node that dies (docs/cluster.md, "Wills of a node that dies"). Each node writes the will
 * of every client connected to it to a replicated JetStream key-value bucket ("midge_wills", key: the node's origin
 * id in hexadecimal, ".", the client id escaped as a subject token) and deletes it when the will is no longer due
 * there. Each node says it is alive on a core NATS subject every second or less; a node silent for
 * cluster_node_timeout seconds, while the listener is itself connected to NATS, is dead, and every node that sees it
 * so tries to take each of its entries with a delete that expects the entry's revision: the one node whose delete
 * JetStream accepts publishes the will, so it goes out once in the cluster. A node that stops says so ("bye") and is
 * dead at once; a node counted dead while it lived writes back the wills of the clients it still has. JetStream calls
 * block, so they run on the bucket's two threads (cluster_kv.c); a third sends the heartbeats and declares deaths. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "cluster_codec.h"
#include "cluster_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "conn.h"
#include "message.h"
#include "midge/midge.h"
#include "proto/props.h"
#include "security.h"

#define BUCKET "midge_wills"
#define REGISTRY "midge_sessions" /* cluster_registry.c's bucket: who has a client now */
#define ALIVE "midge.node.alive"
#define SLOTS 4096
#define NODES 256
#define TICK_MS 100
#define BYE " bye" /* after the origin id: a node that stops says so, not to keep its clients' wills waiting */
#define BYE_LEN 4

/* A will of a client connected here, as this node wants the bucket to hold it. */
struct own {
	struct own *next, *qnext;
	bool queued;    /* waits in the writer's queue */
	bool in_bucket; /* a put of it succeeded and no delete since */
	uint8_t *val;   /* the value to put (owned); NULL: delete */
	size_t len;
	uint8_t *kept; /* the value in the bucket (owned), written again should another node delete it */
	size_t kept_len;
	char id[];
};

/* An entry of another node, as the watcher last saw it. */
struct theirs {
	struct theirs *next, *snext;
	uint64_t origin;
	uint32_t delay; /* its Will Delay Interval, seconds */
	uint64_t due;   /* when to try to take it (clock__ms), once its node is dead */
	bool scheduled; /* on the writer's list */
	char key[];
};

/* A node heard of: by its heartbeats, or by its entries in the bucket. */
struct node {
	uint64_t id, seen_ms;
	bool dead;
	bool leaving; /* said goodbye (it stopped): dead without waiting for the timeout */
};

struct cluster_wills {
	struct cluster_kv k; /* k.lock guards everything below but the writer's own sessions binding */
	struct own *own[SLOTS], *qhead, *qtail;
	struct own *writing; /* the one the writer has out of the queue, on its way to the bucket */
	struct theirs *theirs[SLOTS], *sched;
	struct node nodes[NODES];
	size_t nnodes;
	uint64_t up_since; /* since when this node is connected to NATS (clock__ms), 0 while it is not */
	uint64_t timeout_ms;
	pthread_cond_t hb_cond;
	bool hb_stop, hb_on;
	pthread_t hb;
	natsSubscription *alive;
	pthread_mutex_t done_lock; /* done: the heartbeat subscription's handler will not run again */
	pthread_cond_t done_cond;
	bool done;
	kvStore *registry; /* the writer's */
	char me[17];
};

static size_t slot(const char *s)
{
	uint32_t h = 2166136261u;
	for (const char *p = s; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % SLOTS;
}

static struct own *find_own(struct cluster_wills *w, const char *id)
{
	for (struct own *o = w->own[slot(id)]; o; o = o->next)
		if (!strcmp(o->id, id)) return o;
	return NULL;
}

static struct theirs **find_theirs(struct cluster_wills *w, const char *key)
{
	struct theirs **pp = &w->theirs[slot(key)];
	while (*pp && strcmp((*pp)->key, key))
		pp = &(*pp)->next;
	return pp;
}

/* The node with origin id, added (alive, seen now) when new. NULL when the table is full. k.lock held. */
static struct node *node_of(struct cluster_wills *w, uint64_t id, uint64_t now)
{
	for (size_t i = 0; i < w->nnodes; i++)
		if (w->nodes[i].id == id) return &w->nodes[i];
	for (size_t i = 0; i < w->nnodes; i++) /* a dead node with nothing left in the bucket is forgotten */
		if (w->nodes[i].dead) {
			bool left = false;
			for (size_t s = 0; s < SLOTS && !left; s++)
				for (struct theirs *t = w->theirs[s]; t && !left; t = t->next)
					left = t->origin == w->nodes[i].id;
			if (!left) {
				w->nodes[i] = (struct node){.id = id, .seen_ms = now};
				return &w->nodes[i];
			}
		}
	if (w->nnodes == NODES) return NULL;
	w->nodes[w->nnodes] = (struct node){.id = id, .seen_ms = now};
	return &w->nodes[w->nnodes++];
}

static void schedule(struct cluster_wills *w, struct theirs *t, uint64_t due)
{
	t->due = due;
	if (!t->scheduled) {
		t->scheduled = true;
		t->snext = w->sched;
		w->sched = t;
	}
	pthread_cond_broadcast(&w->k.cond);
}

static void unschedule(struct cluster_wills *w, struct theirs *t)
{
	if (!t->scheduled) return;
	for (struct theirs **pp = &w->sched; *pp; pp = &(*pp)->snext)
		if (*pp == t) {
			*pp = t->snext;
			break;
		}
	t->scheduled = false;
}

static void enqueue(struct cluster_wills *w, struct own *o)
{
	if (o->queued) return;
	o->queued = true;
	o->qnext = NULL;
	if (w->qtail)
		w->qtail->qnext = o;
	else
		w->qhead = o;
	w->qtail = o;
	pthread_cond_broadcast(&w->k.cond);
}

/* ---- this node's wills ---- */

/* The bucket's value for a will: Will Delay Interval (u32), client id (u16 length, bytes), then the message in the
 * cluster's envelope (cluster_codec.h; its seq unused). Returns a malloc'd buffer or NULL. */
static uint8_t *will_value(struct cluster *cl, const struct conn *c, size_t *len)
{
	const struct message *m = c->will;
	size_t idlen = strlen(c->client_id);
	if (idlen > UINT16_MAX) return NULL;
	struct cluster_msg cm = {
	    .origin = cl->id,
	    .qos = c->will_qos,
	    .retain = c->will_retain,
	    .topic = m->topic,
	    .topic_len = m->topic_len,
	    .props = m->props,
	    .props_len = m->props_len,
	    .expiry_s = c->will_expiry,
	    .payload = m->payload,
	    .payload_len = m->payload_len,
	};
	struct buf env = {0};
	uint8_t *v = NULL;
	if (!cluster__encode(&cm, &env) && (v = malloc(6 + idlen + buf__len(&env)))) {
		uint32_t d = c->will_delay;
		v[0] = (uint8_t)(d >> 24), v[1] = (uint8_t)(d >> 16), v[2] = (uint8_t)(d >> 8), v[3] = (uint8_t)d;
		v[4] = (uint8_t)(idlen >> 8), v[5] = (uint8_t)idlen;
		memcpy(v + 6, c->client_id, idlen);
		memcpy(v + 6 + idlen, buf__head(&env), buf__len(&env));
		*len = 6 + idlen + buf__len(&env);
	}
	buf__fini(&env);
	return v;
}

/* Sets what the bucket should hold for id: val (taken) or, NULL, nothing. k.lock not held. */
static void want(struct cluster_wills *w, const char *id, uint8_t *val, size_t len)
{
	pthread_mutex_lock(&w->k.lock);
	struct own *o = find_own(w, id);
	if (!o && val && (o = calloc(1, sizeof(*o) + strlen(id) + 1))) {
		strcpy(o->id, id);
		size_t s = slot(id);
		o->next = w->own[s];
		w->own[s] = o;
	}
	if (o) {
		free(o->val);
		o->val = val;
		o->len = len;
		val = NULL;
		enqueue(w, o);
	}
	pthread_mutex_unlock(&w->k.lock);
	free(val); /* no will, and none in the bucket or on its way there */
}

void cluster__will(struct cluster *cl, const struct conn *c)
{
	struct cluster_wills *w = cl ? cl->wills : NULL;
	if (!w) return;
	struct broker *b = cl->b;
	uint8_t *val = NULL;
	size_t len = 0;
	/* A will the ACL would stop now is not published by another node either (the ACL as of the CONNECT: the
	 * other node knows neither the username's rules as this listener applies them nor later changes). */
	if (c->will &&
	    (!security__has_acl(b) || security__allowed(b, security__domain(b, c->listener), c->client_id, c->username,
	                                                (const char *)c->will->topic, c->will->topic_len, ACL_WRITE)))
		val = will_value(cl, c, &len);
	want(w, c->client_id, val, len);
}

void cluster__will_gone(struct cluster *cl, const char *client_id)
{
	struct cluster_wills *w = cl ? cl->wills : NULL;
	if (w) want(w, client_id, NULL, 0);
}

/* ---- the writer: this node's puts and deletes, and taking dead nodes' entries ---- */

static int own_key(struct cluster_wills *w, const char *id, struct buf *key, struct buf *tmp)
{
	buf__clear(key);
	if (cluster__key((const uint8_t *)id, strlen(id), tmp) || buf__append(key, w->me, 16) ||
	    buf__append(key, ".", 1) || buf__append(key, buf__head(tmp), buf__len(tmp) + 1))
		return MIDGE_ERR_NOMEM;
	return 0;
}

/* Drops o from the table when nothing is left to do for it. */
static void forget(struct cluster_wills *w, struct own *o)
{
	if (o->queued || o->in_bucket || o->val) return;
	free(o->kept);
	for (struct own **pp = &w->own[slot(o->id)]; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	free(o);
}

/* Writes the head of the queue. k.lock held on entry and on return; only this thread frees an own. */
static void write_own(struct cluster_wills *w, kvStore *kv, struct buf *key, struct buf *tmp)
{
	struct own *o = w->qhead;
	w->qhead = o->qnext;
	if (!w->qhead) w->qtail = NULL;
	o->queued = false;
	uint8_t *val = o->val;
	size_t len = o->len;
	o->val = NULL;
	bool del = !val;
	if (del && !o->in_bucket) { /* never got there */
		forget(w, o);
		return;
	}
	w->writing = o;
	pthread_mutex_unlock(&w->k.lock);
	/* o->id is not changed by anyone, and o stays while the writer is here. */
	natsStatus st = NATS_NO_MEMORY;
	if (!own_key(w, o->id, key, tmp)) {
		const char *k = (const char *)buf__head(key);
		st = del ? kvStore_Delete(kv, k) : kvStore_Put(NULL, kv, k, val, (int)len);
	}
	/* A key or a will NATS refuses as such (too long for its control line, past max_payload) stays refused. */
	bool retry = st != NATS_OK && st != NATS_INVALID_ARG && st != NATS_MAX_PAYLOAD && st != NATS_NO_MEMORY;
	if (st != NATS_OK && !retry)
		log__printf(&w->k.cl->b->log, LOG_T_WARNING,
		            "Cluster: the will of client %s cannot be kept in %s (%s): no other node publishes it.",
		            o->id, BUCKET, natsStatus_GetText(st));
	pthread_mutex_lock(&w->k.lock);
	w->writing = NULL;
	if (st == NATS_OK) {
		o->in_bucket = !del;
		free(o->kept);
		o->kept = del ? NULL : val;
		o->kept_len = del ? 0 : len;
		if (!del) val = NULL;
	}
	if (retry && !w->k.stop && !o->queued) {
		/* JetStream without a leader for a few seconds: again after a pause (unless a newer wish replaced it).
		 */
		o->val = val;
		o->len = len;
		enqueue(w, o);
		pthread_mutex_unlock(&w->k.lock);
		cluster_kv__nap(&w->k, 250);
		pthread_mutex_lock(&w->k.lock);
		return;
	}
	free(val);
	forget(w, o);
}

/* True when the session registry names another node than origin (hex) as the client's: it connected there since. */
static bool moved(struct cluster_wills *w, const char *escaped_id, const char *origin)
{
	if (!w->registry) w->registry = cluster__bucket(w->k.cl, REGISTRY);
	kvEntry *e = NULL;
	if (!w->registry || kvStore_Get(&e, w->registry, escaped_id) != NATS_OK) return false;
	const char *v = (const char *)kvEntry_Value(e);
	bool other = v && kvEntry_ValueLen(e) >= 16 && memcmp(v, origin, 16) != 0;
	kvEntry_Destroy(e);
	return other;
}

/* Deletes key only while its last revision is rev: of several nodes trying at once, one succeeds. NATS_OK when
 * this one did, NATS_ERR when another node's came first, another status to try again. */
static natsStatus take(struct cluster_wills *w, const char *key, uint64_t rev)
{
	struct cluster *cl = w->k.cl;
	pthread_mutex_lock(&cl->js_lock);
	jsCtx *js = cl->js; /* made when the bucket was bound, freed after this thread stopped */
	pthread_mutex_unlock(&cl->js_lock);
	if (!js) return NATS_NOT_YET_CONNECTED;
	char subj[1100];
	if (snprintf(subj, sizeof(subj), "$KV.%s.%s", BUCKET, key) >= (int)sizeof(subj)) return NATS_ERR;
	natsMsg *msg = NULL;
	natsStatus st = natsMsg_Create(&msg, subj, NULL, NULL, 0);
	/* kvStore_Delete with an expected revision, which cnats 3.4 does not offer: the marker it writes, plus the
	 * header JetStream checks against the subject's last sequence (the entry's revision). */
	if (st == NATS_OK) st = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.ExpectLastSubjectSeq = rev;
	jsErrCode jerr = 0;
	jsPubAck *ack = NULL;
	if (st == NATS_OK) st = js_PublishMsg(&ack, js, msg, &po, &jerr);
	jsPubAck_Destroy(ack);
	natsMsg_Destroy(msg);
	if (st != NATS_OK && jerr == JSStreamWrongLastSequenceErr) return NATS_ERR;
	return st == NATS_OK ? NATS_OK : NATS_TIMEOUT;
}

/* The will in value v[0..n) goes out from this node, as the client's own node would have sent it. */
static void publish(struct cluster_wills *w, const uint8_t *v, size_t n, const char *origin)
{
	struct broker *b = w->k.cl->b;
	size_t idlen = n >= 6 ? (size_t)v[4] << 8 | v[5] : 0;
	struct cluster_msg cm;
	struct mqtt_str props;
	if (n < 6 + idlen || cluster__decode(v + 6 + idlen, n - 6 - idlen, &cm) ||
	    (props = (struct mqtt_str){cm.props, (uint32_t)cm.props_len},
	     cm.props_len && props__validate(&props, MQTT_PUBLISH, false) != PROTO_OK)) {
		atomic_fetch_add(&w->k.cl->stats.malformed, 1);
		return;
	}
	uint64_t expiry = cm.expiry_s ? clock__ms() + (uint64_t)cm.expiry_s * 1000u : 0;
	struct message *m = msg__new_props(cm.topic, cm.topic_len, cm.payload, cm.payload_len, cm.props, cm.props_len,
	                                   expiry, cm.qos, cm.retain);
	if (!m) return;
	/* Not remote: published on this node, so it also goes to the other nodes (and a retained one to the bucket). */
	broker__publish(b, NULL, m, NULL);
	msg__unref(m);
	atomic_fetch_add(&w->k.cl->stats.wills, 1);
	log__printf(&b->log, LOG_T_NOTICE, "Cluster: published the will of client %.*s of node %s, which is gone.",
	            (int)idlen, (const char *)v + 6, origin);
}

/* Tries to take a scheduled entry of a dead node (removed from the list). k.lock held on entry and on return. */
static void take_theirs(struct cluster_wills *w, kvStore *kv, struct theirs *t)
{
	unschedule(w, t);
	char *key = strdup(t->key), origin[17];
	if (!key) {
		schedule(w, t, clock__ms() + 250);
		return;
	}
	snprintf(origin, sizeof(origin), "%s", t->key);
	bool delayed = t->delay > 0;
	pthread_mutex_unlock(&w->k.lock);
	kvEntry *e = NULL;
	natsStatus st = kvStore_Get(&e, kv, key);
	bool won = false, gone = st == NATS_NOT_FOUND, away = false;
	if (st == NATS_OK) {
		/* With a delay, a client back on any node within it keeps its will unsent [MQTT-3.1.3-9]. */
		away = delayed && moved(w, key + 17, origin);
		st = take(w, key, kvEntry_Revision(e));
		won = st == NATS_OK;
		gone = st == NATS_ERR; /* another node took it */
		if (gone)
			log__printf(&w->k.cl->b->log, LOG_T_INFO, "Cluster: will %s of node %s taken by another node.",
			            key + 17, origin);
		if (won && !away) publish(w, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), origin);
		if (won && away)
			log__printf(
			    &w->k.cl->b->log, LOG_T_INFO,
			    "Cluster: will %s of node %s not published: its client connected again within the will's "
			    "delay.",
			    key + 17, origin);
	}
	kvEntry_Destroy(e);
	pthread_mutex_lock(&w->k.lock);
	/* JetStream busy electing a leader: again soon, unless the entry went meanwhile (the watcher freed it). */
	if (!won && !gone && !w->k.stop && *find_theirs(w, key) == t) schedule(w, t, clock__ms() + 250);
	free(key);
}

static void *writer_main(void *arg)
{
	struct cluster_wills *w = arg;
	struct buf key = {0}, tmp = {0};
	pthread_mutex_lock(&w->k.lock);
	while (!w->k.stop) {
		uint64_t now = clock__ms(), next = 0;
		struct theirs *due = NULL;
		for (struct theirs *t = w->sched; t; t = t->snext) {
			if (t->due <= now)
				due = t;
			else if (!next || t->due < next)
				next = t->due;
		}
		if (!w->qhead && !due) {
			if (!next) {
				pthread_cond_wait(&w->k.cond, &w->k.lock);
			} else {
				pthread_mutex_unlock(&w->k.lock);
				cluster_kv__nap(&w->k, (unsigned)(next - now));
				pthread_mutex_lock(&w->k.lock);
			}
			continue;
		}
		pthread_mutex_unlock(&w->k.lock);
		kvStore *kv = cluster_kv__store(&w->k);
		if (!kv) cluster_kv__nap(&w->k, 200); /* NATS or JetStream not there yet */
		pthread_mutex_lock(&w->k.lock);
		if (!kv || w->k.stop) continue;
		if (w->qhead) {
			write_own(w, kv, &key, &tmp);
			continue;
		}
		/* Found again: the watcher may have freed the one above meanwhile (its node's delete came). */
		now = clock__ms();
		for (due = w->sched; due && due->due > now; due = due->snext) {
		}
		if (due) take_theirs(w, kv, due);
	}
	pthread_mutex_unlock(&w->k.lock);
	buf__fini(&key);
	buf__fini(&tmp);
	return NULL;
}

/* ---- the watcher: the other nodes' entries ---- */

static bool parse_origin(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char ch = s[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
		if (d < 0) return false;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return true;
}

/* The client id of an escaped one (cluster__key: "=HH" for a byte, "=" alone for an empty id), malloc'd. */
static char *unescape(const char *k)
{
	char *id = malloc(strlen(k) + 1), *o = id;
	for (const char *p = k; id && *p; p++) {
		unsigned v;
		if (*p == '=' && p[1] && p[2] && sscanf(p + 1, "%2X", &v) == 1) {
			*o++ = (char)v;
			p += 2;
		} else if (*p != '=') {
			*o++ = *p;
		}
	}
	if (id) *o = 0;
	return id;
}

/* One of this node's keys is gone. Unless this node deleted it, another node took it, having counted this one dead
 * (cut from NATS, or the process stopped, longer than the timeout) while the client stayed connected here: its will
 * goes back to the bucket, for a death still to come. */
static void own_gone(struct cluster_wills *w, const char *escaped)
{
	char *id = unescape(escaped);
	if (!id) return;
	pthread_mutex_lock(&w->k.lock);
	struct own *o = find_own(w, id);
	if (o && o->in_bucket && o->kept && !o->queued && w->writing != o) {
		o->in_bucket = false;
		o->val = o->kept;
		o->len = o->kept_len;
		o->kept = NULL;
		enqueue(w, o);
		log__printf(
		    &w->k.cl->b->log, LOG_T_NOTICE,
		    "Cluster: the will of client %s was taken by another node; it is still connected here: writing "
		    "it again.",
		    id);
	}
	pthread_mutex_unlock(&w->k.lock);
	free(id);
}

static void on_entry(void *arg, kvEntry *e)
{
	struct cluster_wills *w = arg;
	const char *key = kvEntry_Key(e);
	uint64_t origin;
	if (!key || strlen(key) < 18 || key[16] != '.' || !parse_origin(key, &origin)) return;
	if (!memcmp(key, w->me, 16)) {
		if (kvEntry_Operation(e) != kvOp_Put) own_gone(w, key + 17);
		return;
	}
	const uint8_t *v = kvEntry_Value(e);
	int n = kvEntry_ValueLen(e);
	bool put = kvEntry_Operation(e) == kvOp_Put && v && n >= 6;
	uint64_t now = clock__ms();
	pthread_mutex_lock(&w->k.lock);
	struct theirs **pp = find_theirs(w, key), *t = *pp;
	if (!put && t) {
		*pp = t->next;
		unschedule(w, t);
		free(t);
	} else if (put) {
		if (!t && (t = calloc(1, sizeof(*t) + strlen(key) + 1))) {
			strcpy(t->key, key);
			t->origin = origin;
			*pp = t;
		}
		struct node *nd = node_of(w, origin, now);
		if (t) {
			t->delay = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
			/* Written late by a node already counted dead (its last words, replicated after): taken too. */
			if (nd && nd->dead) schedule(w, t, now + (uint64_t)t->delay * 1000u);
		}
	}
	pthread_mutex_unlock(&w->k.lock);
}

static void *watcher_main(void *arg)
{
	struct cluster_wills *w = arg;
	cluster_kv__watch(&w->k, false, on_entry, NULL, w);
	return NULL;
}

/* ---- liveness ---- */

static void on_alive(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub;
	struct cluster_wills *w = closure;
	uint64_t id;
	int n = natsMsg_GetDataLength(msg);
	const char *d = natsMsg_GetData(msg);
	bool bye = n == 16 + BYE_LEN && !memcmp(d + 16, BYE, BYE_LEN);
	if ((n == 16 || bye) && parse_origin(d, &id)) {
		uint64_t now = clock__ms();
		pthread_mutex_lock(&w->k.lock);
		struct node *nd = node_of(w, id, now);
		if (nd && bye) {
			nd->leaving = true; /* dead at the next check */
		} else if (nd) {
			nd->seen_ms = now;
			if (nd->dead && !nd->leaving) {
				/* Back after a partition longer than the timeout: what was not taken yet stays its own.
				 */
				nd->dead = false;
				for (struct theirs **pp = &w->sched; *pp;) {
					struct theirs *t = *pp;
					if (t->origin == id) {
						*pp = t->snext;
						t->scheduled = false;
					} else {
						pp = &t->snext;
					}
				}
				log__printf(&w->k.cl->b->log, LOG_T_NOTICE,
				            "Cluster: node %016" PRIx64 " is alive again.", id);
			}
		}
		pthread_mutex_unlock(&w->k.lock);
	}
	natsMsg_Destroy(msg);
}

static void on_alive_done(void *closure)
{
	struct cluster_wills *w = closure;
	pthread_mutex_lock(&w->done_lock);
	w->done = true;
	pthread_cond_broadcast(&w->done_cond);
	pthread_mutex_unlock(&w->done_lock);
}

/* Declares the nodes silent for the timeout dead and schedules their entries. k.lock held. */
static void check(struct cluster_wills *w, uint64_t now)
{
	if (!w->up_since) return;
	/* Until this node has listened for a whole timeout, a silence may be only the beats it has not had yet. */
	bool listened = now - w->up_since >= w->timeout_ms;
	for (size_t i = 0; i < w->nnodes; i++) {
		struct node *nd = &w->nodes[i];
		uint64_t last = nd->seen_ms > w->up_since ? nd->seen_ms : w->up_since;
		if (nd->dead || (!nd->leaving && (!listened || now - last < w->timeout_ms))) continue;
		nd->dead = true;
		size_t n = 0;
		for (size_t s = 0; s < SLOTS; s++)
			for (struct theirs *t = w->theirs[s]; t; t = t->next)
				if (t->origin == nd->id) {
					schedule(w, t, now + (uint64_t)t->delay * 1000u);
					n++;
				}
		if (nd->leaving)
			log__printf(&w->k.cl->b->log, LOG_T_NOTICE,
			            "Cluster: node %016" PRIx64 " left: taking its %zu will%s.", nd->id, n,
			            n == 1 ? "" : "s");
		else
			log__printf(&w->k.cl->b->log, LOG_T_NOTICE,
			            "Cluster: node %016" PRIx64 " silent for %" PRIu64 " ms: taking its %zu will%s.",
			            nd->id, now - last, n, n == 1 ? "" : "s");
	}
}

static void *heartbeat_main(void *arg)
{
	struct cluster_wills *w = arg;
	struct cluster *cl = w->k.cl;
	/* Several beats per timeout: one lost or late beat does not make a node dead. */
	uint64_t every = w->timeout_ms / 4 < 1000 ? w->timeout_ms / 4 : 1000, next = 0, last = 0;
	pthread_mutex_lock(&w->k.lock);
	while (!w->hb_stop) {
		uint64_t now = clock__ms();
		bool up = atomic_load(&cl->stats.connected);
		/* This node stood still (SIGSTOP, a VM paused, swapping): the others' beats are still on their way to
		 * it, not missing, and the others may have counted this one dead. A whole timeout again before this
		 * node counts anyone dead; without it, a node frozen past the timeout took every other node's wills. */
		if (last && now - last > w->timeout_ms / 2 && w->up_since) {
			w->up_since = now;
			log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: this node stood still for %" PRIu64 " ms.",
			            now - last);
		}
		last = now;
		if (up && now >= next) {
			pthread_mutex_unlock(&w->k.lock);
			natsConnection_Publish(cl->nc, ALIVE, w->me, 16); /* buffered by cnats: does not block */
			pthread_mutex_lock(&w->k.lock);
			next = now + every;
		}
		/* After a disconnection the others' beats were missed: everyone gets a whole timeout again. */
		if (!up)
			w->up_since = 0;
		else if (!w->up_since)
			w->up_since = now;
		check(w, now);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->hb_cond, &w->k.lock, &ts);
	}
	pthread_mutex_unlock(&w->k.lock);
	return NULL;
}

/* ---- start, stop ---- */

int cluster_wills__start(struct cluster *cl)
{
	struct cluster_wills *w = calloc(1, sizeof(*w));
	if (!w) return MIDGE_ERR_NOMEM;
	snprintf(w->me, sizeof(w->me), "%016" PRIx64, cl->id);
	w->timeout_ms = (uint64_t)(cl->b->conf.cluster_node_timeout ? cl->b->conf.cluster_node_timeout : 5) * 1000u;
	pthread_cond_init(&w->hb_cond, NULL);
	pthread_mutex_init(&w->done_lock, NULL);
	pthread_cond_init(&w->done_cond, NULL);
	cl->wills = w;
	int rc = cluster_kv__start(&w->k, cl, BUCKET, writer_main, watcher_main, w);
	if (rc) return rc;
	/* cnats sends it again after each reconnect; made while NATS is down, it goes at the first connect. */
	if (natsConnection_Subscribe(&w->alive, cl->nc, ALIVE, on_alive, w) != NATS_OK ||
	    natsSubscription_SetOnCompleteCB(w->alive, on_alive_done, w) != NATS_OK) {
		natsSubscription_Destroy(w->alive);
		w->alive = NULL;
		log__printf(&cl->b->log, LOG_T_WARNING,
		            "Cluster: cannot subscribe to %s: other nodes' deaths go unnoticed "
		            "here.",
		            ALIVE);
	}
	w->hb_on = pthread_create(&w->hb, NULL, heartbeat_main, w) == 0;
	return w->hb_on ? 0 : MIDGE_ERR_NOMEM;
}

/* A node that stops: its last puts and deletes go out (a client that said goodbye just before must not have its will
 * published), then it tells the others, which take the wills of the clients it still had at once. */
static void leave(struct cluster_wills *w)
{
	struct cluster *cl = w->k.cl;
	if (!atomic_load(&cl->stats.connected)) return; /* they will find it silent */
	uint64_t until = clock__ms() + 2000;            /* JetStream may have no leader: not for ever */
	pthread_mutex_lock(&w->k.lock);
	while ((w->qhead || w->writing) && clock__ms() < until) {
		pthread_mutex_unlock(&w->k.lock);
		nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
		pthread_mutex_lock(&w->k.lock);
	}
	pthread_mutex_unlock(&w->k.lock);
	char bye[16 + BYE_LEN];
	memcpy(bye, w->me, 16);
	memcpy(bye + 16, BYE, BYE_LEN);
	if (natsConnection_Publish(cl->nc, ALIVE, bye, (int)sizeof(bye)) == NATS_OK)
		natsConnection_FlushTimeout(cl->nc, 1000);
}

void cluster_wills__stop(struct cluster *cl)
{
	struct cluster_wills *w = cl->wills;
	if (!w) return;
	if (w->hb_on) {
		pthread_mutex_lock(&w->k.lock);
		w->hb_stop = true;
		pthread_cond_broadcast(&w->hb_cond);
		pthread_mutex_unlock(&w->k.lock);
		pthread_join(w->hb, NULL);
	}
	if (w->k.inited) leave(w); /* after the last heartbeat */
	if (w->alive) {
		/* The handler may be running on the delivery thread: w stays until it says it is done. */
		if (natsSubscription_Unsubscribe(w->alive) == NATS_OK) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 5;
			pthread_mutex_lock(&w->done_lock);
			while (!w->done && pthread_cond_timedwait(&w->done_cond, &w->done_lock, &ts) == 0) {
			}
			pthread_mutex_unlock(&w->done_lock);
		}
		natsSubscription_Destroy(w->alive);
	}
	cluster_kv__stop(&w->k);
	kvStore_Destroy(w->registry);
	for (size_t i = 0; i < SLOTS; i++) {
		while (w->own[i]) {
			struct own *o = w->own[i];
			w->own[i] = o->next;
			free(o->val);
			free(o->kept);
			free(o);
		}
		while (w->theirs[i]) {
			struct theirs *t = w->theirs[i];
			w->theirs[i] = t->next;
			free(t);
		}
	}
	pthread_cond_destroy(&w->hb_cond);
	pthread_cond_destroy(&w->done_cond);
	pthread_mutex_destroy(&w->done_lock);
	free(w);
	cl->wills = NULL;
}
