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

/* True when the message is the first seen from its origin with this seq or a later one. NATS delivers one
 * connection's messages in order, one copy per matching subscription, all on the one delivery thread. */
static bool fresh(struct cluster *cl, uint64_t origin, uint64_t seq)
{
	for (size_t i = 0; i < cl->norigins; i++) {
		if (cl->origins[i].id != origin) continue;
		if (seq <= cl->origins[i].seq) return false;
		cl->origins[i].seq = seq;
		return true;
	}
	size_t at = cl->norigins < ORIGINS ? cl->norigins++ : (size_t)(seq % ORIGINS); /* more nodes: forget one */
	cl->origins[at] = (struct origin){origin, seq};
	return true;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub;
	struct cluster *cl = closure;
	struct cluster_msg cm;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
	int n = natsMsg_GetDataLength(msg);
	struct mqtt_str props;
	if (n < 0 || cluster__decode(p, (size_t)n, &cm) ||
	    (props = (struct mqtt_str){cm.props, (uint32_t)cm.props_len},
	     cm.props_len && props__validate(&props, MQTT_PUBLISH, false) != PROTO_OK)) {
		count(&cl->stats.malformed);
	} else if (!fresh(cl, cm.origin, cm.seq)) {
		count(&cl->stats.duplicates);
	} else {
		uint64_t expiry = cm.expiry_s ? clock__ms() + (uint64_t)cm.expiry_s * 1000u : 0;
		struct message *m = msg__new_props(cm.topic, cm.topic_len, cm.payload, cm.payload_len, cm.props,
						   cm.props_len, expiry, cm.qos, cm.retain);
		if (m) {
			m->remote = true;
			broker__publish(cl->b, NULL, m, NULL);
			msg__unref(m);
			count(&cl->stats.received);
		}
	}
	natsMsg_Destroy(msg);
}

/* ---- interest ---- */

/* $SYS topics are each node's own. */
static bool local_only(const uint8_t *t, size_t len) { return len >= 4 && memcmp(t, "$SYS", 4) == 0; }

static void on_interest(void *arg, const uint8_t *f, size_t len, bool on)
{
	struct cluster *cl = arg;
	if (local_only(f, len)) return;
	pthread_mutex_lock(&cl->lock);
	struct interest **pp = &cl->buckets[bucket_of(f, len)];
	while (*pp && ((*pp)->len != len || memcmp((*pp)->filter, f, len) != 0)) pp = &(*pp)->next;
	if (on && !*pp) {
		struct interest *in = calloc(1, sizeof(*in) + len);
		struct buf subj = {0};
		int ns = 0;
		if (in && !cluster__filter_subjects(f, len, &subj, &ns)) {
			memcpy(in->filter, f, len);
			in->len = len;
			const char *s = (const char *)buf__head(&subj);
			for (int i = 0; i < ns; i++, s += strlen(s) + 1) {
				natsStatus st = natsConnection_Subscribe(&in->sub[i], cl->nc, s, on_msg, cl);
				/* cnats drops what waits past 65,536 messages for the delivery thread ("slow consumer"); the
				 * broker bounds its own queues, so this one may hold a burst. */
				if (st == NATS_OK) natsSubscription_SetPendingLimits(in->sub[i], 1000000, 512 * 1024 * 1024);
				if (st != NATS_OK)
					log__printf(&cl->b->log, LOG_T_WARNING, "Cluster: cannot subscribe to %s on NATS: %s.", s,
						    natsStatus_GetText(st));
			}
			*pp = in;
			in = NULL;
		}
		free(in);
		buf__fini(&subj);
	} else if (!on && *pp) {
		struct interest *in = *pp;
		*pp = in->next;
		for (int i = 0; i < 2; i++) {
			if (!in->sub[i]) continue;
			natsSubscription_Unsubscribe(in->sub[i]);
			natsSubscription_Destroy(in->sub[i]);
		}
		free(in);
	}
	pthread_mutex_unlock(&cl->lock);
}

/* ---- out ---- */

void cluster__publish(struct cluster *cl, const struct message *m)
{
	if (!cl || m->remote || local_only(m->topic, m->topic_len)) return;
	uint64_t now = m->expiry_ms ? clock__ms() : 0;
	if (m->expiry_ms && now >= m->expiry_ms) return;
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
	if (!cluster__topic_subject(m->topic, m->topic_len, &subj) && !cluster__encode(&cm, &data) &&
	    buf__len(&data) <= INT32_MAX) {
		/* Sequence numbers go out in their order, from every worker: a receiver keeps only a message newer than
		 * the last it had from this node (fresh()). */
		pthread_mutex_lock(&cl->pub_lock);
		cluster__set_seq(data.data + data.start, ++cl->seq);
		st = natsConnection_Publish(cl->nc, (const char *)buf__head(&subj), buf__head(&data), (int)buf__len(&data));
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
}

/* ---- JetStream ---- */

kvStore *cluster__bucket(struct cluster *cl, const char *name)
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
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	atomic_store(&cl->stats.connected, 1);
	log__printf(&cl->b->log, LOG_T_NOTICE, "Cluster: connected to NATS at %s.", url);
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
	/* The URLs as a list: cnats 3.4 takes a comma-separated one in natsOptions_SetURL, but then reaches none of
	 * them when there are several. */
	char *urls = strdup(c->cluster_nats_url);
	const char *list[64];
	int nurls = 0;
	for (char *save = NULL, *u = urls ? strtok_r(urls, ",", &save) : NULL; u && nurls < 64; u = strtok_r(NULL, ",", &save))
		list[nurls++] = u;
	natsStatus st = urls ? natsOptions_Create(&cl->opts) : NATS_NO_MEMORY;
	if (st == NATS_OK) st = natsOptions_SetServers(cl->opts, list, nurls);
	free(urls);
	if (st == NATS_OK) st = natsOptions_SetName(cl->opts, name);
	/* A node never needs its own messages back: its local subscribers had them already. */
	if (st == NATS_OK) st = natsOptions_SetNoEcho(cl->opts, true);
	if (st == NATS_OK) st = natsOptions_SetMaxReconnect(cl->opts, -1);
	if (st == NATS_OK) st = natsOptions_SetReconnectWait(cl->opts, 250);
	if (st == NATS_OK) st = natsOptions_SetReconnectBufSize(cl->opts, 64 * 1024 * 1024);
	/* One delivery thread for every subscription, so copies of one message come in order (fresh()). */
	if (st == NATS_OK) st = natsOptions_UseGlobalMessageDelivery(cl->opts, true);
	if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(cl->opts, on_disconnected, cl);
	if (st == NATS_OK) st = natsOptions_SetErrorHandler(cl->opts, on_error, cl);
	if (st == NATS_OK) st = natsOptions_SetReconnectedCB(cl->opts, on_connected, cl);
	if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(cl->opts, true, on_connected, cl);
	if (st != NATS_OK) return err__set(err, errlen, MIDGE_ERR_INVAL, "cluster_nats_url: %s", natsStatus_GetText(st));
	st = natsConnection_Connect(&cl->nc, cl->opts);
	if (st == NATS_OK) {
		on_connected(cl->nc, cl);
	} else if (st == NATS_NOT_YET_CONNECTED) {
		log__printf(&b->log, LOG_T_WARNING, "Cluster: no NATS server of %s answers yet; trying in the background.",
			    c->cluster_nats_url);
	} else {
		return err__set(err, errlen, MIDGE_ERR_IO, "cluster: cannot connect to NATS at %s: %s", c->cluster_nats_url,
				natsStatus_GetText(st));
	}
	log__printf(&b->log, LOG_T_NOTICE, "Cluster node %s (origin %016llx) on NATS %s.", name,
		    (unsigned long long)cl->id, c->cluster_nats_url);
	subs__set_watch(b->subs, on_interest, cl);
	if (cluster_registry__start(cl) || cluster_retained__start(cl) || cluster_wills__start(cl))
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
	cluster_wills__stop(cl);
	jsCtx_Destroy(cl->js);
	if (cl->nc) {
		natsConnection_Close(cl->nc);
	}
	for (size_t i = 0; i < 1024; i++) {
		while (cl->buckets[i]) {
			struct interest *in = cl->buckets[i];
			cl->buckets[i] = in->next;
			for (int k = 0; k < 2; k++) natsSubscription_Destroy(in->sub[k]);
			free(in);
		}
	}
	natsConnection_Destroy(cl->nc);
	natsOptions_Destroy(cl->opts);
	/* The library's threads (the delivery one may be inside on_msg) are gone before cl is. */
	nats_CloseAndWait(2000);
	pthread_mutex_destroy(&cl->lock);
	pthread_mutex_destroy(&cl->js_lock);
	pthread_mutex_destroy(&cl->pub_lock);
	free(cl);
	b->cluster = NULL;
}

const struct cluster_stats *cluster__stats(const struct cluster *cl) { return cl ? &cl->stats : NULL; }
