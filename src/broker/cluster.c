/* The cluster's routing over NATS: interest from the subscription tree, messages out and in. See cluster.h. */
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "broker.h"
#include "cluster.h"
#include "cluster_codec.h"
#include "cluster_int.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "message.h"
#include "midge/midge.h"
#include "proto/props.h"
#include "subs.h"

static void count(atomic_uint_fast64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

static size_t bucket_of(const uint8_t *f, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) h = (h ^ f[i]) * 16777619u;
	return h % 1024;
}

/* ---- in ---- */

/* True when the message is the first seen in tab (n of cap used) from its origin with this seq or a later one.
 * NATS delivers one connection's messages in order, one copy per matching subscription, all on the one delivery
 * thread; a message JetStream did not acknowledge in time is sent again (cluster_stream.c), after later ones. */
static bool fresh_in(struct origin *tab, size_t *n, size_t cap, uint64_t origin, uint64_t seq)
{
	for (size_t i = 0; i < *n; i++) {
		if (tab[i].id != origin) continue;
		if (seq <= tab[i].seq) return false;
		tab[i].seq = seq;
		return true;
	}
	size_t at = *n < cap ? (*n)++ : (size_t)(seq % cap); /* more nodes: forget one */
	tab[at] = (struct origin){origin, seq};
	return true;
}

static bool fresh(struct cluster *cl, uint64_t origin, uint64_t seq)
{
	return fresh_in(cl->origins, &cl->norigins, ORIGINS, origin, seq);
}

/* The message a NATS payload carries, marked as another node's; NULL (counted) when it does not decode, or when
 * it is a resend to the stream (cluster_stream.c) whose first copy came already. */
static struct message *decode(struct cluster *cl, natsMsg *msg, uint64_t *origin, uint64_t *seq)
{
	const char *resent = NULL;
	if (natsMsgHeader_Get(msg, CLUSTER_RESEND_HEADER, &resent) == NATS_OK) {
		count(&cl->stats.duplicates);
		return NULL;
	}
	struct cluster_msg cm;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
	int n = natsMsg_GetDataLength(msg);
	struct mqtt_str props;
	if (n < 0 || cluster__decode(p, (size_t)n, &cm) ||
	    (props = (struct mqtt_str){cm.props, (uint32_t)cm.props_len},
	     cm.props_len && props__validate(&props, MQTT_PUBLISH, false) != PROTO_OK)) {
		count(&cl->stats.malformed);
		return NULL;
	}
	*origin = cm.origin;
	*seq = cm.seq;
	uint64_t expiry = cm.expiry_s ? clock__ms() + (uint64_t)cm.expiry_s * 1000u : 0;
	struct message *m = msg__new_props(cm.topic, cm.topic_len, cm.payload, cm.payload_len, cm.props, cm.props_len,
					   expiry, cm.qos, cm.retain);
	if (m) m->remote = true;
	return m;
}

/* A message for this node's ordinary subscribers. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub;
	struct cluster *cl = closure;
	uint64_t origin, seq;
	struct message *m = decode(cl, msg, &origin, &seq);
	if (m && !fresh(cl, origin, seq)) {
		count(&cl->stats.duplicates);
	} else if (m) {
		broker__publish(cl->b, NULL, m, NULL);
		count(&cl->stats.received);
	}
	msg__unref(m);
	natsMsg_Destroy(msg);
}

/* A message NATS gave this node's members of one shared subscription group (of every node's members, NATS picks
 * one per message): to one of them, like a local publish to the group. Its subscription tells which group; the
 * group's name and filter are copied out of the table, whose lock the tree's watcher also takes. */
static void on_shared(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	struct cluster *cl = closure;
	struct buf key = {0};
	size_t flen = 0;
	uint64_t origin, seq;
	struct message *m = decode(cl, msg, &origin, &seq);
	bool again = false;
	pthread_mutex_lock(&cl->lock);
	for (struct interest *in = cl->shares; m && in; in = in->snext) {
		if (in->sub[0] != sub && in->sub[1] != sub) continue;
		again = !fresh_in(in->last, &in->nlast, 8, origin, seq);
		if (!again && !buf__append(&key, in->key, in->len + in->glen)) flen = in->len;
		break;
	}
	pthread_mutex_unlock(&cl->lock);
	if (again) count(&cl->stats.duplicates);
	if (m && flen) {
		const uint8_t *f = buf__head(&key);
		/* No member left here (the last one just went): the message is lost to the group, as NATS picked this
		 * node; a QoS 0 subscription's fate anyway, rare for the others (docs/cluster.md). */
		if (broker__redeliver_shared(cl->b, NULL, f + flen, buf__len(&key) - flen, f, flen, NULL, m))
			count(&cl->stats.received);
		else
			count(&cl->stats.unshared);
	}
	msg__unref(m);
	buf__fini(&key);
	natsMsg_Destroy(msg);
}

/* ---- interest ---- */

/* $SYS topics are each node's own. */
static bool local_only(const uint8_t *t, size_t len) { return len >= 4 && memcmp(t, "$SYS", 4) == 0; }

static void drop_interest(struct interest *in)
{
	for (int i = 0; i < 2; i++) {
		if (!in->sub[i]) continue;
		natsSubscription_Unsubscribe(in->sub[i]);
		natsSubscription_Destroy(in->sub[i]);
	}
	free(in);
}

/* A filter's first local subscriber came or its last went (group NULL), or a shared group's first member or last:
 * NATS subscriptions follow. */
static void on_interest(void *arg, const uint8_t *group, size_t glen, const uint8_t *f, size_t len, bool on)
{
	struct cluster *cl = arg;
	if (local_only(f, len)) return;
	bool shared = group != NULL;
	size_t klen = len + glen;
	pthread_mutex_lock(&cl->lock);
	size_t h = (bucket_of(f, len) ^ (shared ? bucket_of(group, glen) * 31 + 1 : 0)) % 1024;
	struct interest **pp = &cl->buckets[h];
	while (*pp && ((*pp)->shared != shared || (*pp)->len != len || (*pp)->glen != glen ||
		       memcmp((*pp)->key, f, len) != 0 || (glen && memcmp((*pp)->key + len, group, glen) != 0)))
		pp = &(*pp)->next;
	if (on && !*pp) {
		struct interest *in = calloc(1, sizeof(*in) + klen);
		struct buf subj = {0}, queue = {0};
		int ns = 0;
		if (in && !cluster__filter_subjects(f, len, &subj, &ns) && (!shared || !cluster__key(group, glen, &queue))) {
			memcpy(in->key, f, len);
			if (glen) memcpy(in->key + len, group, glen);
			in->len = len;
			in->glen = glen;
			in->shared = shared;
			const char *s = (const char *)buf__head(&subj);
			for (int i = 0; i < ns; i++, s += strlen(s) + 1) {
				natsStatus st = shared ? natsConnection_QueueSubscribe(&in->sub[i], cl->share_nc, s,
										       (const char *)buf__head(&queue), on_shared, cl)
						       : natsConnection_Subscribe(&in->sub[i], cl->nc, s, on_msg, cl);
				/* cnats drops what waits past 65,536 messages for the delivery thread ("slow consumer"); the
				 * broker bounds its own queues, so this one may hold a burst. */
				if (st == NATS_OK) natsSubscription_SetPendingLimits(in->sub[i], 1000000, 512 * 1024 * 1024);
				if (st != NATS_OK)
					log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: cannot subscribe to %s on NATS: %s.", s,
						    natsStatus_GetText(st));
			}
			*pp = in;
			if (shared) {
				in->snext = cl->shares;
				cl->shares = in;
			}
			in = NULL;
		}
		free(in);
		buf__fini(&subj);
		buf__fini(&queue);
	} else if (!on && *pp) {
		struct interest *in = *pp;
		*pp = in->next;
		for (struct interest **sp = &cl->shares; *sp; sp = &(*sp)->snext) {
			if (*sp != in) continue;
			*sp = in->snext;
			break;
		}
		drop_interest(in);
	}
	pthread_mutex_unlock(&cl->lock);
}

/* ---- out ---- */

bool cluster__publish(struct cluster *cl, const struct message *m, uint64_t *ticket)
{
	*ticket = 0;
	if (m->remote) return true;
	if (local_only(m->topic, m->topic_len)) return false;
	uint64_t now = m->expiry_ms ? clock__ms() : 0;
	if (m->expiry_ms && now >= m->expiry_ms) return true; /* expired: for nobody */
	struct cluster_msg cm = {
	    .origin = cl->id,
	    .qos = m->qos,
	    .retain = m->retain,
	    .topic = m->topic,
	    .topic_len = m->topic_len,
	    .props = m->props,
	    .props_len = m->props_len,
	    .expiry_s = m->expiry_ms ? (uint32_t)((m->expiry_ms - now + 999) / 1000) : 0,
	    .payload = m->payload,
	    .payload_len = m->payload_len,
	};
	struct buf subj = {0}, data = {0};
	natsStatus st = NATS_NO_MEMORY;
	if (!cluster__topic_subject(m->topic, m->topic_len, m->qos > 0, &subj) && !cluster__encode(&cm, &data) &&
	    buf__len(&data) <= INT32_MAX) {
		/* Sequence numbers go out in their order, from every worker: a receiver keeps only a message newer than
		 * the last it had from this node (fresh()). */
		pthread_mutex_lock(&cl->pub_lock);
		uint64_t seq = ++cl->seq;
		cluster__set_seq(data.data + data.start, seq);
		if (m->qos) *ticket = cluster_stream__publish(cl, (const char *)buf__head(&subj), buf__head(&data),
							      (int)buf__len(&data), seq);
		if (*ticket == CLUSTER_TICKET_FAILED) st = NATS_INSUFFICIENT_BUFFER;
		else if (*ticket) st = NATS_OK;
		else st = natsConnection_Publish(cl->nc, (const char *)buf__head(&subj), buf__head(&data),
						 (int)buf__len(&data));
		pthread_mutex_unlock(&cl->pub_lock);
	}
	if (m->retain) cluster_retained__put(cl, (struct message *)m);
	if (st == NATS_OK) {
		count(&cl->stats.sent);
	} else {
		count(&cl->stats.failed);
		if (!atomic_exchange(&cl->said_failed, true))
			log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: a message on %.*s was not sent to the other nodes: %s "
				    "(said once; $SYS/broker/cluster/messages/failed counts them).",
				    (int)m->topic_len, (const char *)m->topic, natsStatus_GetText(st));
	}
	buf__fini(&subj);
	buf__fini(&data);
	return st == NATS_OK && atomic_load(&cl->sharing);
}

/* ---- JetStream ---- */

jsCtx *cluster__js(struct cluster *cl)
{
	if (!atomic_load(&cl->stats.connected)) return NULL;
	pthread_mutex_lock(&cl->js_lock);
	/* Short waits: a request to a NATS cluster that lost its servers must not hold up a shutdown. */
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = 1000;
	if (!cl->js && natsConnection_JetStream(&cl->js, cl->nc, &jo) != NATS_OK) cl->js = NULL;
	jsCtx *js = cl->js;
	pthread_mutex_unlock(&cl->js_lock);
	return js;
}

kvStore *cluster__bucket(struct cluster *cl, const char *name)
{
	jsCtx *js = cluster__js(cl);
	kvStore *kv = NULL;
	if (!js) return NULL;
	if (js_KeyValue(&kv, js, name) == NATS_OK) return kv;
	for (int replicas = 3; replicas >= 1; replicas -= 2) {
		kvConfig cfg;
		kvConfig_Init(&cfg);
		cfg.Bucket = name;
		cfg.History = 1;
		cfg.Replicas = replicas;
		if (js_CreateKeyValue(&kv, js, &cfg) == NATS_OK) {
			log__printf(&cl->b->log, LOG_T_NOTICE, "Cluster: JetStream bucket %s ready (%d replica%s).", name, replicas,
				    replicas > 1 ? "s" : "");
			return kv;
		}
		/* Made by another node meanwhile? */
		if (js_KeyValue(&kv, js, name) == NATS_OK) return kv;
	}
	return NULL;
}

/* ---- the connection ---- */

/* Asynchronous errors: a slow consumer is a subscription that dropped messages (counted). */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	(void)nc, (void)sub;
	struct cluster *cl = closure;
	if (err == NATS_SLOW_CONSUMER) count(&cl->stats.failed);
	if (!atomic_exchange(&cl->said_error, true))
		log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: NATS reports %s (said once).", natsStatus_GetText(err));
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	struct cluster *cl = closure;
	atomic_store(&cl->stats.connected, 0);
	log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: disconnected from NATS; reconnecting.");
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct cluster *cl = closure;
	char url[256] = "", shown[256];
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	atomic_store(&cl->stats.connected, 1);
	log__printf(&cl->b->log, LOG_T_NOTICE, "Cluster: connected to NATS at %s.",
		    cluster__urls_shown(url, shown, sizeof(shown)));
}

static void on_share_down(natsConnection *nc, void *closure)
{
	(void)nc;
	atomic_store(&((struct cluster *)closure)->sharing, false);
}

static void on_share_up(natsConnection *nc, void *closure)
{
	(void)nc;
	atomic_store(&((struct cluster *)closure)->sharing, true);
}

/* The options of a connection to the NATS servers of c: the routing one (share false) or the sharing one. */
static natsStatus make_options(struct cluster *cl, const char *name, bool share, natsOptions **out)
{
	const struct config *c = &cl->b->conf;
	/* The URLs as a list: cnats 3.4 takes a comma-separated one in natsOptions_SetURL, but then reaches none of
	 * them when there are several. */
	char *urls = strdup(c->cluster_nats_url);
	const char *list[64];
	int nurls = 0;
	for (char *save = NULL, *u = urls ? strtok_r(urls, ",", &save) : NULL; u && nurls < 64; u = strtok_r(NULL, ",", &save))
		list[nurls++] = u;
	natsOptions *o = NULL;
	natsStatus st = urls ? natsOptions_Create(&o) : NATS_NO_MEMORY;
	if (st == NATS_OK) st = natsOptions_SetServers(o, list, nurls);
	free(urls);
	if (st == NATS_OK) st = natsOptions_SetName(o, name);
	/* A node never needs its own messages back: its local subscribers had them already. The sharing connection
	 * does: NATS may pick this node's member of a group. */
	if (st == NATS_OK) st = natsOptions_SetNoEcho(o, !share);
	if (st == NATS_OK) st = natsOptions_SetMaxReconnect(o, -1);
	if (st == NATS_OK) st = natsOptions_SetReconnectWait(o, 250);
	if (st == NATS_OK) st = natsOptions_SetReconnectBufSize(o, share ? 8 * 1024 * 1024 : 64 * 1024 * 1024);
	/* One delivery thread for every subscription, so copies of one message come in order (fresh()). */
	if (st == NATS_OK) st = natsOptions_UseGlobalMessageDelivery(o, true);
	if (st == NATS_OK) st = natsOptions_SetErrorHandler(o, on_error, cl);
	if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(o, share ? on_share_down : on_disconnected, cl);
	if (st == NATS_OK) st = natsOptions_SetReconnectedCB(o, share ? on_share_up : on_connected, cl);
	if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(o, true, share ? on_share_up : on_connected, cl);
	if (st != NATS_OK) natsOptions_Destroy(o);
	else *out = o;
	return st;
}

int cluster__start(struct broker *b, char *err, size_t errlen)
{
	const struct config *c = &b->conf;
	if (!c->cluster_nats_url) return 0;
	struct cluster *cl = calloc(1, sizeof(*cl));
	if (!cl) return err__set(err, errlen, MIDGE_ERR_NOMEM, "out of memory");
	cl->b = b;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_mutex_init(&cl->js_lock, NULL);
	pthread_mutex_init(&cl->pub_lock, NULL);
	if (getrandom(&cl->id, sizeof(cl->id), 0) != sizeof(cl->id)) cl->id = clock__ms() ^ ((uint64_t)getpid() << 32);
	char host[128] = "midge";
	gethostname(host, sizeof(host) - 1);
	const char *name = c->cluster_node_name ? c->cluster_node_name : host;
	b->cluster = cl;
	natsStatus st = make_options(cl, name, false, &cl->opts);
	if (st == NATS_OK) st = make_options(cl, name, true, &cl->share_opts);
	if (st != NATS_OK) return err__set(err, errlen, MIDGE_ERR_INVAL, "cluster_nats_url: %s", natsStatus_GetText(st));
	if (cluster__auth_options(c, cl->opts, err, errlen) || cluster__auth_options(c, cl->share_opts, err, errlen))
		return MIDGE_ERR_INVAL;
	/* The URLs may carry credentials: logs get them without. */
	char shown[1024];
	cluster__urls_shown(c->cluster_nats_url, shown, sizeof(shown));
	st = natsConnection_Connect(&cl->nc, cl->opts);
	if (st == NATS_OK) {
		on_connected(cl->nc, cl);
	} else if (st == NATS_NOT_YET_CONNECTED) {
		char why[512];
		log__printf(&b->log, LOG_T_WARNING, "Cluster: no NATS server of %s answers yet%s; trying in the background.",
			    shown, cluster__why_not_connected(c, why, sizeof(why)));
	} else {
		return err__set(err, errlen, MIDGE_ERR_IO, "cluster: cannot connect to NATS at %s: %s", shown,
				natsStatus_GetText(st));
	}
	st = natsConnection_Connect(&cl->share_nc, cl->share_opts);
	if (st == NATS_OK) on_share_up(cl->share_nc, cl);
	else if (st != NATS_NOT_YET_CONNECTED)
		return err__set(err, errlen, MIDGE_ERR_IO, "cluster: cannot connect to NATS at %s: %s", shown,
				natsStatus_GetText(st));
	log__printf(&b->log, LOG_T_NOTICE, "Cluster node %s (origin %016llx) on NATS %s.", name,
		    (unsigned long long)cl->id, shown);
	subs__set_watch(b->subs, on_interest, cl);
	if (cluster_registry__start(cl) || cluster_retained__start(cl) || cluster_stream__start(cl) ||
	    cluster_sessions__start(cl) || cluster_wills__start(cl))
		return err__set(err, errlen, MIDGE_ERR_NOMEM, "cluster: cannot start its threads");
	return 0;
}

void cluster__stop(struct broker *b)
{
	struct cluster *cl = b->cluster;
	if (!cl) return;
	if (b->subs) subs__set_watch(b->subs, NULL, NULL);
	cluster_registry__stop(cl);
	cluster_retained__stop(cl);
	cluster_sessions__stop(cl);
	cluster_stream__stop(cl);
	cluster_wills__stop(cl);
	jsCtx_Destroy(cl->js);
	if (cl->nc) natsConnection_Close(cl->nc);
	if (cl->share_nc) natsConnection_Close(cl->share_nc);
	for (size_t i = 0; i < 1024; i++) {
		while (cl->buckets[i]) {
			struct interest *in = cl->buckets[i];
			cl->buckets[i] = in->next;
			for (int k = 0; k < 2; k++) natsSubscription_Destroy(in->sub[k]);
			free(in);
		}
	}
	natsConnection_Destroy(cl->nc);
	natsConnection_Destroy(cl->share_nc);
	natsOptions_Destroy(cl->opts);
	natsOptions_Destroy(cl->share_opts);
	/* The library's threads (the delivery one may be inside on_msg) are gone before cl is. */
	nats_CloseAndWait(2000);
	cluster_stream__free(cl);
	cluster_sessions__free(cl);
	pthread_mutex_destroy(&cl->lock);
	pthread_mutex_destroy(&cl->js_lock);
	pthread_mutex_destroy(&cl->pub_lock);
	free(cl);
	b->cluster = NULL;
}

const struct cluster_stats *cluster__stats(const struct cluster *cl) { return cl ? &cl->stats : NULL; }
