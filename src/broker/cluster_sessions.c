/* Persistent sessions across the cluster (docs/cluster.md, "Persistent sessions"). A persistent session of a node
 * whose cluster stores QoS 1/2 messages (cluster__stores) is "clustered":
 * - its entry in the replicated bucket midge_psess (key: the client id escaped) names the node that has it and
 *   holds its subscriptions; every node keeps a copy of the bucket (the mirror), so a CONNECT finds a session
 *   another node had without waiting for NATS;
 * - each of its filters has a durable JetStream consumer on the message stream (one per NATS subject of the
 *   filter), pushing to a subject of the node that has the session; its QoS 1/2 messages come from there only
 *   (broker.c skips it for them), and a message is acknowledged to JetStream once the client has it (PUBACK,
 *   PUBREC; at once for a QoS 0 delivery), so what a dead node held is delivered again;
 * - a node that gets the client of a session another node had takes its consumers over: it makes its own,
 *   starting after the old ones' acknowledgement floor, then deletes the old ones (in that order: the stream keeps
 *   a message only while a consumer wants it);
 * - the old node, told by the registry that the client went elsewhere, ends its copy without acknowledging
 *   anything (cluster__session_moved).
 * JetStream calls block: they run on the bucket's writer thread, in the order they were asked for. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cluster_codec.h"
#include "cluster_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/topic.h"
#include "message.h"
#include "midge/midge.h"
#include "midge/mqtt.h"
#include "session.h"
#include "subs.h"

#define BUCKET "midge_psess"
#define TABLE 1024
#define SEEN 64                                      /* stream sequences remembered per session, for copies */
#define ACK_WAIT_NS ((int64_t)600 * 1000000000)      /* unacknowledged that long: JetStream sends it again */
#define MAX_ACK_PENDING 1000                         /* per consumer: the rest waits in the stream */
#define RETRY_FOR_MS 15000                           /* a JetStream request retried while a leader is elected */

/* One subscription of a clustered session of this node. */
struct psub {
	struct psub *next;
	uint8_t options;
	uint32_t sub_id;
	size_t len;
	uint8_t filter[];
};

/* A clustered session this node has. */
struct csess {
	struct csess *next;
	uint64_t hid; /* hash64 of the id: in its consumers' names, and its slot in the table */
	struct psub *subs;
	uint32_t expiry;
	uint64_t seen[SEEN]; /* stream sequences delivered lately: one copy through overlapping filters */
	unsigned seen_at;
	char id[];
};

/* Another node's (or this one's) entry, as the watcher saw it last. */
struct mirror {
	struct mirror *next;
	uint64_t rev;
	size_t len;
	uint8_t *val;
	char id[];
};

enum job_kind { J_PUT, J_DEL, J_SUB, J_UNSUB, J_TAKE, J_GONE };

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t owner;  /* J_DEL, J_TAKE: the node whose consumers go */
	uint64_t ticket; /* J_SUB: settled once its consumers are there */
	struct buf val;  /* J_DEL, J_TAKE: the session's entry (its subscriptions) */
	char *id;
	uint8_t options;
	size_t len;
	uint8_t filter[]; /* J_SUB, J_UNSUB */
};

/* This node's subscription to one of its consumers' deliver subject. (One each: NATS 2.9 pushes to a consumer's
 * deliver subject only while it has a subscriber to that subject itself; a wildcard one does not count.) */
struct dsub {
	struct dsub *next;
	natsSubscription *sub;
	char name[96];
};

struct cluster_sessions {
	struct cluster_kv k; /* k.lock: the queue; lock below: the tables */
	pthread_mutex_t lock;
	struct csess *mine[TABLE];
	struct mirror *seen[TABLE];
	struct job *qh, *qt;
	struct dsub *dsubs;  /* the writer thread's only */
	char me[17];
	bool said_ready;
};

static size_t slot(const char *id)
{
	uint32_t h = 2166136261u;
	for (const char *p = id; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
	return h % TABLE;
}

static uint64_t hash64(const void *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
	return h;
}

/* The durable name of the consumer of subject i of a filter of a session, made by node owner. Names are the
 * same on every node, so any node finds a dead one's. */
static void consumer_name(char *out, size_t n, const char *id, const uint8_t *f, size_t flen, int i, uint64_t owner)
{
	snprintf(out, n, "ps%016" PRIx64 "%016" PRIx64 "%d_%016" PRIx64, hash64(id, strlen(id)), hash64(f, flen), i,
		 owner);
}

static struct csess *find_mine(struct cluster_sessions *x, const char *id)
{
	for (struct csess *c = x->mine[hash64(id, strlen(id)) % TABLE]; c; c = c->next)
		if (!strcmp(c->id, id)) return c;
	return NULL;
}

static struct mirror *find_seen(struct cluster_sessions *x, const char *id)
{
	for (struct mirror *m = x->seen[slot(id)]; m; m = m->next)
		if (!strcmp(m->id, id)) return m;
	return NULL;
}

static void free_subs(struct psub *p)
{
	while (p) {
		struct psub *n = p->next;
		free(p);
		p = n;
	}
}

static void queue_job(struct cluster_sessions *x, struct job *j)
{
	pthread_mutex_lock(&x->k.lock);
	if (x->qt) x->qt->next = j;
	else x->qh = j;
	x->qt = j;
	pthread_cond_signal(&x->k.cond);
	pthread_mutex_unlock(&x->k.lock);
}

static struct job *new_job(enum job_kind kind, const char *id, const uint8_t *f, size_t len)
{
	struct job *j = calloc(1, sizeof(*j) + len);
	if (!j) return NULL;
	j->kind = kind;
	j->id = strdup(id);
	if (!j->id) {
		free(j);
		return NULL;
	}
	if (len) memcpy(j->filter, f, len);
	j->len = len;
	return j;
}

static void free_job(struct job *j)
{
	buf__fini(&j->val);
	free(j->id);
	free(j);
}

/* ---- the hooks ---- */

static struct cluster_sessions *of(struct cluster *cl) { return cl && cluster__stores(cl) ? cl->sessions : NULL; }

/* Under x->lock: the session's record, made when missing. */
static struct csess *mine(struct cluster_sessions *x, const char *id)
{
	struct csess *c = find_mine(x, id);
	if (c || !(c = calloc(1, sizeof(*c) + strlen(id) + 1))) return c;
	strcpy(c->id, id);
	c->hid = hash64(id, strlen(id));
	c->next = x->mine[c->hid % TABLE];
	x->mine[c->hid % TABLE] = c;
	return c;
}

static void put_later(struct cluster_sessions *x, const char *id)
{
	struct job *j = new_job(J_PUT, id, NULL, 0);
	if (j) queue_job(x, j);
}

static int restore_one(void *arg, const struct cluster_psub *p)
{
	struct psub ***tail = arg;
	struct psub *n = calloc(1, sizeof(*n) + p->len);
	if (!n) return MIDGE_ERR_NOMEM;
	n->options = p->options;
	n->sub_id = p->sub_id;
	n->len = p->len;
	memcpy(n->filter, p->filter, p->len);
	**tail = n;
	*tail = &n->next;
	return 0;
}

bool cluster__session_attach(struct cluster *cl, struct session *s, bool clean_start)
{
	struct cluster_sessions *x = of(cl);
	if (!x) return false;
	struct broker *b = cl->b;
	bool restored = false;
	bool persistent = !s->clean;
	pthread_mutex_lock(&x->lock);
	struct mirror *m = find_seen(x, s->client_id);
	struct csess *c = persistent ? mine(x, s->client_id) : NULL;
	uint64_t owner = 0;
	uint32_t expiry = 0;
	struct psub *subs = NULL, **tail = &subs;
	bool other = m && !cluster__psess_decode(m->val, m->len, &owner, &expiry, NULL, NULL) && owner != cl->id;
	struct job *j = NULL;
	if (other && (j = new_job(clean_start || !persistent ? J_DEL : J_TAKE, s->client_id, NULL, 0)) &&
	    !buf__append(&j->val, m->val, m->len)) {
		j->owner = owner;
		if (j->kind == J_TAKE && c && !c->subs &&
		    !cluster__psess_decode(m->val, m->len, &owner, &expiry, restore_one, &tail)) {
			c->subs = subs;
			subs = NULL;
			restored = true;
		}
	}
	free_subs(subs);
	if (c) c->expiry = s->expiry_interval;
	pthread_mutex_unlock(&x->lock);
	atomic_store(&s->clustered, c != NULL);
	if (restored) {
		/* The session's subscriptions, as its last node had them (lock order: session, then tree). */
		for (struct psub *p = c->subs; p; p = p->next) {
			if (session__remember_sub(s, p->filter, p->len, p->options) >= 0)
				subs__add(b->subs, p->filter, p->len, s, p->options, p->sub_id);
		}
		log__printf(&b->log, LOG_T_NOTICE, "Cluster: session of %s taken over from node %016" PRIx64 ".",
			    s->client_id, owner);
	}
	if (j) queue_job(x, j);
	if (c) put_later(x, s->client_id);
	return restored;
}

uint64_t cluster__session_sub(struct cluster *cl, struct session *s, const uint8_t *f, size_t len, uint8_t options,
			      uint32_t sub_id)
{
	struct cluster_sessions *x = of(cl);
	if (!x || !atomic_load(&s->clustered)) return 0;
	/* Shared subscriptions are NATS queue groups, not consumers (docs/cluster.md). */
	if (len >= 7 && !memcmp(f, "$share/", 7)) return 0;
	struct job *j = new_job(J_SUB, s->client_id, f, len);
	if (!j) return CLUSTER_TICKET_FAILED;
	j->options = options;
	pthread_mutex_lock(&x->lock);
	struct csess *c = mine(x, s->client_id);
	struct psub *p = c ? calloc(1, sizeof(*p) + len) : NULL;
	bool fresh = true;
	if (p) {
		for (struct psub **pp = &c->subs; *pp; pp = &(*pp)->next) {
			if ((*pp)->len != len || memcmp((*pp)->filter, f, len)) continue;
			/* Replaced: the consumers stay, with the new options. */
			(*pp)->options = options;
			(*pp)->sub_id = sub_id;
			fresh = false;
			break;
		}
		if (fresh) {
			p->options = options;
			p->sub_id = sub_id;
			p->len = len;
			memcpy(p->filter, f, len);
			p->next = c->subs;
			c->subs = p;
			p = NULL;
		}
	}
	free(p);
	pthread_mutex_unlock(&x->lock);
	if (!c) {
		free_job(j);
		return CLUSTER_TICKET_FAILED;
	}
	if (!fresh) {
		free_job(j);
		put_later(x, s->client_id);
		return 0;
	}
	j->ticket = cluster_stream__ticket(cl);
	uint64_t t = j->ticket;
	queue_job(x, j);
	put_later(x, s->client_id);
	return t;
}

void cluster__session_unsub(struct cluster *cl, struct session *s, const uint8_t *f, size_t len)
{
	struct cluster_sessions *x = of(cl);
	if (!x || !atomic_load(&s->clustered)) return;
	bool had = false;
	pthread_mutex_lock(&x->lock);
	struct csess *c = find_mine(x, s->client_id);
	for (struct psub **pp = c ? &c->subs : NULL; pp && *pp; pp = &(*pp)->next) {
		if ((*pp)->len != len || memcmp((*pp)->filter, f, len)) continue;
		struct psub *p = *pp;
		*pp = p->next;
		free(p);
		had = true;
		break;
	}
	pthread_mutex_unlock(&x->lock);
	if (!had) return;
	struct job *j = new_job(J_UNSUB, s->client_id, f, len);
	if (j) queue_job(x, j);
	put_later(x, s->client_id);
}

void cluster__session_moved(struct cluster *cl, struct session *s)
{
	struct cluster_sessions *x = cl ? cl->sessions : NULL;
	if (!x || !atomic_load(&s->clustered) || atomic_exchange(&s->cluster_moved, true)) return;
	pthread_mutex_lock(&x->lock);
	struct csess **pp = &x->mine[hash64(s->client_id, strlen(s->client_id)) % TABLE];
	while (*pp && strcmp((*pp)->id, s->client_id)) pp = &(*pp)->next;
	struct csess *c = *pp;
	if (c) *pp = c->next;
	pthread_mutex_unlock(&x->lock);
	if (c) free_subs(c->subs);
	free(c);
	/* Its deliveries' subscriptions here go (the consumers are the other node's). */
	struct job *j = new_job(J_GONE, s->client_id, NULL, 0);
	if (j) queue_job(x, j);
}

void cluster__session_end(struct cluster *cl, struct session *s)
{
	struct cluster_sessions *x = cl ? cl->sessions : NULL;
	if (!x || !atomic_load(&s->clustered) || atomic_load(&s->cluster_moved)) return;
	pthread_mutex_lock(&x->lock);
	struct csess **pp = &x->mine[hash64(s->client_id, strlen(s->client_id)) % TABLE];
	while (*pp && strcmp((*pp)->id, s->client_id)) pp = &(*pp)->next;
	struct csess *c = *pp;
	if (c) *pp = c->next;
	struct job *j = NULL;
	/* Moved to another node: that one has the consumers and the entry now. */
	if (c && !atomic_load(&s->cluster_moved) && (j = new_job(J_DEL, s->client_id, NULL, 0))) {
		j->owner = cl->id;
		if (cluster__psess_begin(&j->val, cl->id, c->expiry)) j->val.end = j->val.start;
		for (struct psub *p = c->subs; p; p = p->next)
			cluster__psess_add(&j->val, &(struct cluster_psub){p->options, p->sub_id, p->filter, p->len});
	}
	pthread_mutex_unlock(&x->lock);
	if (c) free_subs(c->subs);
	free(c);
	if (j) queue_job(x, j);
}

void cluster__consumed(struct cluster *cl, struct message *m)
{
	if (!m->jsack || !cl || atomic_load(&cl->b->shutting_down)) return;
	/* "+ACK" to the reply subject JetStream gave the delivery: done with it. */
	natsConnection_Publish(cl->nc, m->jsack, "+ACK", 4);
	free(m->jsack);
	m->jsack = NULL;
}

/* ---- deliveries ---- */

/* The consumer's name (into name) and the stream sequence of a delivery, from its reply subject:
 * $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending> (NATS 2.9; a domain form
 * adds two tokens in front). A push delivery keeps the message's own subject: the reply is what names the
 * consumer. 0 when it is not that form. */
static uint64_t parse_reply(const char *reply, char *name, size_t n)
{
	const char *t[16];
	int k = 0;
	for (const char *p = reply; p && k < 16; p = strchr(p, '.')) {
		if (*p == '.') p++;
		t[k++] = p;
	}
	if (k < 9) return 0;
	size_t len = (size_t)(t[k - 5] - t[k - 6] - 1);
	if (len >= n) return 0;
	memcpy(name, t[k - 6], len);
	name[len] = 0;
	return strtoull(t[k - 4], NULL, 10);
}

/* The subscription a consumer's name stands for: found among this node's sessions. */
struct found {
	uint8_t options;
	uint32_t sub_id;
	bool copy;
};

static bool lookup(struct cluster_sessions *x, const char *name, uint64_t sseq, struct found *f, char *id,
		   size_t idlen)
{
	/* The name starts with the hashes of the client id and of the filter (consumer_name). */
	char hex[17];
	if (strlen(name) < 35 || strncmp(name, "ps", 2)) return false;
	memcpy(hex, name + 2, 16);
	hex[16] = 0;
	uint64_t hid = strtoull(hex, NULL, 16);
	for (struct csess *c = x->mine[hid % TABLE]; c; c = c->next) {
		if (c->hid != hid) continue;
		for (struct psub *p = c->subs; p; p = p->next) {
			char want[96];
			consumer_name(want, sizeof(want), c->id, p->filter, p->len, name[34] - '0', 0);
			/* Compared without the owner part: this node's consumers only reach this node. */
			if (strncmp(name, want, 35)) continue;
			f->options = p->options;
			f->sub_id = p->sub_id;
			f->copy = false;
			for (unsigned s = 0; s < SEEN; s++)
				if (c->seen[s] == sseq) f->copy = true;
			if (!f->copy) c->seen[c->seen_at++ % SEEN] = sseq;
			snprintf(id, idlen, "%s", c->id);
			return true;
		}
	}
	return false;
}

static void on_delivery(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub;
	struct cluster *cl = closure;
	struct cluster_sessions *x = cl->sessions;
	struct broker *b = cl->b;
	const char *reply = natsMsg_GetReply(msg);
	char name[96];
	struct found f = {0};
	char id[1024];
	bool known = false;
	uint64_t sseq = reply ? parse_reply(reply, name, sizeof(name)) : 0;
	if (sseq) {
		pthread_mutex_lock(&x->lock);
		known = lookup(x, name, sseq, &f, id, sizeof(id));
		pthread_mutex_unlock(&x->lock);
	}
	struct cluster_msg cm;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
	int n = natsMsg_GetDataLength(msg);
	struct session *s = NULL;
	if (known && !f.copy) {
		lock__acquire(&b->sessions.lock);
		s = sessions__find_locked(&b->sessions, id, strlen(id));
		if (s) session__ref(s);
		lock__release(&b->sessions.lock);
	}
	if (!s || n < 0 || cluster__decode(p, (size_t)n, &cm)) {
		/* A copy through another filter, or for a session gone meanwhile (its consumers go too): done. A message
		 * that does not decode never will. */
		if (reply && (f.copy || (known && !s) || n < 0 || (s && cluster__decode(p, (size_t)n, &cm))))
			natsConnection_Publish(cl->nc, reply, "+ACK", 4);
		if (s) session__unref(s);
		natsMsg_Destroy(msg);
		return;
	}
	uint64_t expiry = cm.expiry_s ? clock__ms() + (uint64_t)cm.expiry_s * 1000u : 0;
	struct message *m = msg__new_props(cm.topic, cm.topic_len, cm.payload, cm.payload_len, cm.props, cm.props_len,
					   expiry, cm.qos, cm.retain);
	if (m) {
		m->remote = true;
		m->jsack = strdup(reply);
		uint8_t sq = f.options & MQTT_SUBOPT_QOS;
		uint32_t ids[1] = {f.sub_id};
		struct delivery d = {
		    .qos = b->conf.upgrade_outgoing_qos || m->qos > sq ? sq : m->qos,
		    .retain = (f.options & MQTT_SUBOPT_RAP) && m->retain,
		    .nsubids = f.sub_id ? 1 : 0,
		    .subids = ids,
		};
		session__deliver(b, NULL, s, m, &d);
		/* At QoS 0 the client will not say it had it: handed over is done. */
		if (d.qos == 0) cluster__consumed(cl, m);
		atomic_fetch_add(&cl->stats.received, 1);
		msg__unref(m);
	}
	session__unref(s);
	natsMsg_Destroy(msg);
}

/* ---- the writer: JetStream requests in order ---- */

/* The consumer (subject i of the filter) for this node: from the stream's next message, or after start. */
static bool add_consumer(struct cluster_sessions *x, jsCtx *js, const char *id, const uint8_t *f, size_t len, int i,
			 const char *subject, uint64_t start)
{
	char name[96], deliver[160];
	consumer_name(name, sizeof(name), id, f, len, i, x->k.cl->id);
	snprintf(deliver, sizeof(deliver), "_midge.d.%s.%s", x->me, name);
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = name;
	cc.DeliverSubject = deliver;
	cc.FilterSubject = subject;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = ACK_WAIT_NS;
	cc.MaxAckPending = MAX_ACK_PENDING;
	cc.DeliverPolicy = start ? js_DeliverByStartSequence : js_DeliverNew;
	cc.OptStartSeq = start;
	/* Subscribed before the consumer exists, so that it pushes from the start. */
	struct dsub *d = x->dsubs;
	while (d && strcmp(d->name, name)) d = d->next;
	if (!d && (d = calloc(1, sizeof(*d)))) {
		snprintf(d->name, sizeof(d->name), "%s", name);
		if (natsConnection_Subscribe(&d->sub, x->k.cl->nc, deliver, on_delivery, x->k.cl) != NATS_OK) {
			free(d);
			return false;
		}
		natsSubscription_SetPendingLimits(d->sub, 1000000, 512 * 1024 * 1024);
		d->next = x->dsubs;
		x->dsubs = d;
	}
	if (!d) return false;
	/* The subscription reaches this node's NATS server before the consumer is asked for. */
	natsConnection_FlushTimeout(x->k.cl->nc, 1000);
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus st = js_AddConsumer(&ci, js, CLUSTER_STREAM, &cc, NULL, &jerr);
	bool bound = st == NATS_OK && ci && ci->PushBound;
	jsConsumerInfo_Destroy(ci);
	/* The consumer's leader, on another server, may not have heard of the subscription yet: NATS 2.9 then waits
	 * for news of one, which a subscription made before it does not give. Asked again until it says it sees it;
	 * a new subscription is news. */
	for (int tries = 0; st == NATS_OK && !bound && tries < 20; tries++) {
		cluster_kv__nap(&x->k, 20);
		if (js_GetConsumerInfo(&ci, js, CLUSTER_STREAM, name, NULL, &jerr) == NATS_OK) bound = ci->PushBound;
		jsConsumerInfo_Destroy(ci);
		ci = NULL;
	}
	if (st == NATS_OK && !bound)
		log__printf(&x->k.cl->b->log, LOG_T_WARNING, "Cluster: consumer %s does not see this node's subscription.",
			    name);
	return st == NATS_OK;
}

/* Drops this node's subscriptions to the deliver subjects whose consumer names start with prefix. */
static void drop_dsubs(struct cluster_sessions *x, const char *prefix)
{
	size_t n = strlen(prefix);
	for (struct dsub **pp = &x->dsubs; *pp;) {
		struct dsub *d = *pp;
		if (strncmp(d->name, prefix, n)) {
			pp = &d->next;
			continue;
		}
		*pp = d->next;
		natsSubscription_Unsubscribe(d->sub);
		natsSubscription_Destroy(d->sub);
		free(d);
	}
}

/* The stream subjects of a filter (class 1 only: the consumers want QoS 1/2 messages). */
static int stored_subjects(const uint8_t *f, size_t len, struct buf *out)
{
	int n = 0;
	if (cluster__filter_subjects(f, len, out, &n)) return 0;
	char *s = (char *)buf__head(out);
	for (int i = 0; i < n; i++, s += strlen(s) + 1) s[sizeof(CLUSTER_SUBJECT_PREFIX)] = CLUSTER_CLASS_STORED[0];
	return n;
}

/* Runs fn until it succeeds, JetStream being without a leader for a few seconds after a server is lost. */
#define RETRY(x, ok_expr)                                                                                           \
	do {                                                                                                        \
		uint64_t until_ = clock__ms() + RETRY_FOR_MS;                                                       \
		while (!(ok_expr) && clock__ms() < until_ && !cluster_kv__stopping(&(x)->k))                        \
			cluster_kv__nap(&(x)->k, 250);                                                              \
	} while (0)

static bool do_sub(struct cluster_sessions *x, jsCtx *js, struct job *j, uint64_t start)
{
	struct buf subj = {0};
	int n = stored_subjects(j->filter, j->len, &subj);
	bool ok = n > 0;
	const char *s = (const char *)buf__head(&subj);
	for (int i = 0; i < n; i++, s += strlen(s) + 1) {
		bool done = false;
		RETRY(x, (done = add_consumer(x, js, j->id, j->filter, j->len, i, s, start)));
		ok = ok && done;
	}
	buf__fini(&subj);
	return ok;
}

static void del_consumers(struct cluster_sessions *x, jsCtx *js, const char *id, const uint8_t *f, size_t len,
			  uint64_t owner)
{
	for (int i = 0; i < 2; i++) {
		char name[96];
		consumer_name(name, sizeof(name), id, f, len, i, owner);
		jsErrCode jerr = 0;
		natsStatus st;
		RETRY(x, ((st = js_DeleteConsumer(js, CLUSTER_STREAM, name, NULL, &jerr)) == NATS_OK ||
			  jerr == JSConsumerNotFoundErr));
		if (owner == x->k.cl->id) drop_dsubs(x, name);
	}
}

struct take_ctx {
	struct cluster_sessions *x;
	jsCtx *js;
	struct job *j;
	uint64_t owner;
	bool del_only;
};

/* One filter of a session another node had: this node's consumers from where the old ones' acknowledgements
 * stopped, then the old ones go. */
static int take_one(void *arg, const struct cluster_psub *p)
{
	struct take_ctx *t = arg;
	struct cluster_sessions *x = t->x;
	if (p->len >= 7 && !memcmp(p->filter, "$share/", 7)) return 0;
	if (!t->del_only) {
		struct buf subj = {0};
		int n = stored_subjects(p->filter, p->len, &subj);
		const char *s = (const char *)buf__head(&subj);
		for (int i = 0; i < n; i++, s += strlen(s) + 1) {
			char old[96];
			consumer_name(old, sizeof(old), t->j->id, p->filter, p->len, i, t->owner);
			jsConsumerInfo *ci = NULL;
			jsErrCode jerr = 0;
			uint64_t start = 0;
			natsStatus st;
			RETRY(x, ((st = js_GetConsumerInfo(&ci, t->js, CLUSTER_STREAM, old, NULL, &jerr)) == NATS_OK ||
				  jerr == JSConsumerNotFoundErr));
			if (st == NATS_OK && ci) start = ci->AckFloor.Stream + 1;
			jsConsumerInfo_Destroy(ci);
			bool done = false;
			RETRY(x, (done = add_consumer(x, t->js, t->j->id, p->filter, p->len, i, s, start)));
		}
		buf__fini(&subj);
	}
	del_consumers(x, t->js, t->j->id, p->filter, p->len, t->owner);
	return 0;
}

static void put_entry(struct cluster_sessions *x, kvStore *kv, const char *id, bool del)
{
	struct buf key = {0}, val = {0};
	bool ok = !cluster__key((const uint8_t *)id, strlen(id), &key);
	if (!del) {
		pthread_mutex_lock(&x->lock);
		struct csess *c = find_mine(x, id);
		if (!c) ok = false; /* ended meanwhile: its J_DEL follows */
		else if (cluster__psess_begin(&val, x->k.cl->id, c->expiry)) ok = false;
		for (struct psub *p = c ? c->subs : NULL; ok && p; p = p->next)
			if (cluster__psess_add(&val, &(struct cluster_psub){p->options, p->sub_id, p->filter, p->len})) ok = false;
		pthread_mutex_unlock(&x->lock);
	}
	if (ok) {
		uint64_t rev = 0;
		natsStatus st;
		if (del)
			RETRY(x, ((st = kvStore_Delete(kv, (const char *)buf__head(&key))) == NATS_OK));
		else
			RETRY(x, ((st = kvStore_Put(&rev, kv, (const char *)buf__head(&key), buf__head(&val),
						      (int)buf__len(&val))) == NATS_OK));
	}
	buf__fini(&key);
	buf__fini(&val);
}

static void run(struct cluster_sessions *x, kvStore *kv, jsCtx *js, struct job *j)
{
	struct cluster *cl = x->k.cl;
	switch (j->kind) {
	case J_PUT:
		put_entry(x, kv, j->id, false);
		break;
	case J_SUB: {
		bool ok = do_sub(x, js, j, 0);
		cluster_stream__settle(cl, j->ticket, ok);
		if (!ok)
			log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: no JetStream consumer for %s's subscription to %.*s.",
				    j->id, (int)j->len, (const char *)j->filter);
		break;
	}
	case J_UNSUB:
		del_consumers(x, js, j->id, j->filter, j->len, cl->id);
		break;
	case J_GONE: {
		char prefix[24];
		snprintf(prefix, sizeof(prefix), "ps%016" PRIx64, hash64(j->id, strlen(j->id)));
		drop_dsubs(x, prefix);
		break;
	}
	case J_TAKE:
	case J_DEL: {
		struct take_ctx t = {x, js, j, j->owner, j->kind == J_DEL};
		uint64_t owner;
		uint32_t expiry;
		cluster__psess_decode(buf__head(&j->val), buf__len(&j->val), &owner, &expiry, take_one, &t);
		/* An ended session's entry goes too (a taken one is overwritten by the J_PUT that follows). */
		if (j->kind == J_DEL) put_entry(x, kv, j->id, true);
		break;
	}
	}
}

static void *writer_main(void *arg)
{
	struct cluster_sessions *x = arg;
	struct cluster *cl = x->k.cl;
	pthread_mutex_lock(&x->k.lock);
	while (!x->k.stop) {
		if (!x->qh) {
			pthread_cond_wait(&x->k.cond, &x->k.lock);
			continue;
		}
		pthread_mutex_unlock(&x->k.lock);
		kvStore *kv = cluster_kv__store(&x->k);
		jsCtx *js = cluster__js(cl);
		if (!kv || !js) cluster_kv__nap(&x->k, 200);
		pthread_mutex_lock(&x->k.lock);
		struct job *j = x->qh;
		if (!kv || !js || !j) continue;
		x->qh = j->next;
		if (!x->qh) x->qt = NULL;
		pthread_mutex_unlock(&x->k.lock);
		run(x, kv, js, j);
		free_job(j);
		pthread_mutex_lock(&x->k.lock);
	}
	/* Subscriptions still waiting for their consumers are not kept: their SUBACKs say so. */
	while (x->qh) {
		struct job *j = x->qh;
		x->qh = j->next;
		if (j->kind == J_SUB) cluster_stream__settle(cl, j->ticket, false);
		free_job(j);
	}
	x->qt = NULL;
	pthread_mutex_unlock(&x->k.lock);
	return NULL;
}

/* ---- the mirror ---- */

static void on_entry(void *arg, kvEntry *e)
{
	struct cluster_sessions *x = arg;
	const char *key = kvEntry_Key(e);
	const uint8_t *v = (const uint8_t *)kvEntry_Value(e);
	int n = kvEntry_ValueLen(e);
	bool gone = kvEntry_Operation(e) != kvOp_Put || n <= 0;
	/* The key is the escaped client id; the mirror is looked up by the client id: unescape. */
	char id[1024];
	size_t at = 0;
	for (const char *p = key; *p && at < sizeof(id) - 1; p++) {
		if (*p == '=' && p[1] && p[2]) {
			unsigned c = 0;
			sscanf(p + 1, "%2x", &c);
			id[at++] = (char)c;
			p += 2;
		} else if (*p != '=') {
			id[at++] = *p;
		}
	}
	id[at] = 0;
	if (!at) return;
	pthread_mutex_lock(&x->lock);
	struct mirror **pp = &x->seen[slot(id)];
	while (*pp && strcmp((*pp)->id, id)) pp = &(*pp)->next;
	if (*pp) {
		struct mirror *m = *pp;
		*pp = m->next;
		free(m->val);
		free(m);
	}
	struct mirror *m = gone ? NULL : calloc(1, sizeof(*m) + at + 1);
	if (m && (m->val = malloc((size_t)n))) {
		memcpy(m->val, v, (size_t)n);
		m->len = (size_t)n;
		m->rev = kvEntry_Revision(e);
		memcpy(m->id, id, at + 1);
		m->next = x->seen[slot(id)];
		x->seen[slot(id)] = m;
		m = NULL;
	}
	free(m);
	pthread_mutex_unlock(&x->lock);
}

static void *watcher_main(void *arg)
{
	struct cluster_sessions *x = arg;
	cluster_kv__store(&x->k);
	cluster_kv__watch(&x->k, false, on_entry, NULL, x);
	return NULL;
}

int cluster_sessions__start(struct cluster *cl)
{
	struct cluster_sessions *x = calloc(1, sizeof(*x));
	if (!x) return MIDGE_ERR_NOMEM;
	pthread_mutex_init(&x->lock, NULL);
	snprintf(x->me, sizeof(x->me), "%016" PRIx64, cl->id);
	cl->sessions = x;
	return cluster_kv__start(&x->k, cl, BUCKET, writer_main, watcher_main, x);
}

void cluster_sessions__stop(struct cluster *cl)
{
	struct cluster_sessions *x = cl->sessions;
	if (!x) return;
	cluster_kv__stop(&x->k);
}

void cluster_sessions__free(struct cluster *cl)
{
	struct cluster_sessions *x = cl->sessions;
	if (!x) return;
	while (x->dsubs) {
		struct dsub *d = x->dsubs;
		x->dsubs = d->next;
		natsSubscription_Destroy(d->sub);
		free(d);
	}
	for (size_t i = 0; i < TABLE; i++) {
		while (x->mine[i]) {
			struct csess *c = x->mine[i];
			x->mine[i] = c->next;
			free_subs(c->subs);
			free(c);
		}
		while (x->seen[i]) {
			struct mirror *m = x->seen[i];
			x->seen[i] = m->next;
			free(m->val);
			free(m);
		}
	}
	pthread_mutex_destroy(&x->lock);
	free(x);
	cl->sessions = NULL;
}
