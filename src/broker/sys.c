/* $SYS: broker statistics published as retained messages every sys_interval seconds, with Mosquitto's
 * topic names, so existing dashboards keep working. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cluster.h"
#include "broker.h"
#include "common/clock.h"
#include "figures.h"
#include "midge/midge.h"
#include "sn_gw.h"
#include "worker.h"

/* One rate with its 1, 5 and 15 minute moving averages (per minute, as Mosquitto reports them). */
struct load {
	const char *name;
	uint64_t last;
	double avg[3];
};

enum { L_MSG_RX, L_MSG_TX, L_PUB_RX, L_PUB_TX, L_PUB_DROP, L_BYTES_RX, L_BYTES_TX, L_CONNECTIONS, L_SOCKETS, L_COUNT };

struct sys_state {
	struct broker *b;
	struct timer timer;
	uint64_t last_ms;
	struct load load[L_COUNT];
};

static void pub(struct broker *b, const char *topic, const char *fmt, ...)
{
	char payload[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(payload, sizeof(payload), fmt, ap);
	va_end(ap);
	if (n < 0) return;
	/* vsnprintf returns the untruncated length: never send past the buffer. */
	size_t len = (size_t)n < sizeof(payload) ? (size_t)n : sizeof(payload) - 1;
	broker__publish_text(b, topic, payload, len, true);
}

static uint64_t load_value(const struct figures *f, int i)
{
	switch (i) {
	case L_MSG_RX: return f->msgs_received;
	case L_MSG_TX: return f->msgs_sent;
	case L_PUB_RX: return f->pub_received;
	case L_PUB_TX: return f->pub_sent;
	case L_PUB_DROP: return f->pub_dropped;
	case L_BYTES_RX: return f->bytes_received;
	case L_BYTES_TX: return f->bytes_sent;
	case L_CONNECTIONS: return f->clients_ever;
	default: return f->sockets_ever;
	}
}

static void publish_all(struct sys_state *st)
{
	struct broker *b = st->b;
	struct figures f;
	figures__read(b, &f);
	uint64_t now = clock__ms();
	double interval = (double)(now - st->last_ms) / 1000.0;
	st->last_ms = now;

	pub(b, "$SYS/broker/uptime", "%llu seconds", (unsigned long long)f.uptime_s);
	pub(b, "$SYS/broker/clients/connected", "%d", f.connected);
	pub(b, "$SYS/broker/clients/active", "%d", f.connected);
	pub(b, "$SYS/broker/clients/disconnected", "%d", f.offline);
	pub(b, "$SYS/broker/clients/inactive", "%d", f.offline);
	pub(b, "$SYS/broker/clients/total", "%d", f.connected + f.offline);
	pub(b, "$SYS/broker/clients/maximum", "%d", f.connected_max);
	pub(b, "$SYS/broker/clients/expired", "%llu", (unsigned long long)f.expired);

	pub(b, "$SYS/broker/messages/received", "%llu", (unsigned long long)f.msgs_received);
	pub(b, "$SYS/broker/messages/sent", "%llu", (unsigned long long)f.msgs_sent);
	pub(b, "$SYS/broker/publish/messages/received", "%llu", (unsigned long long)f.pub_received);
	pub(b, "$SYS/broker/publish/messages/sent", "%llu", (unsigned long long)f.pub_sent);
	pub(b, "$SYS/broker/publish/messages/dropped", "%llu", (unsigned long long)f.pub_dropped);
	/* Midge's own: deliveries the encryption guard kept off plain listeners (docs/security.md). */
	pub(b, "$SYS/broker/publish/messages/withheld", "%llu", (unsigned long long)f.pub_withheld);
	pub(b, "$SYS/broker/bytes/received", "%llu", (unsigned long long)f.bytes_received);
	pub(b, "$SYS/broker/bytes/sent", "%llu", (unsigned long long)f.bytes_sent);
	pub(b, "$SYS/broker/subscriptions/count", "%zu", f.subscriptions);
	pub(b, "$SYS/broker/retained messages/count", "%zu", f.retained);

	for (size_t i = 0; i < b->nlisteners; i++) {
		/* Midge's own: each MQTT-SN gateway, by its UDP port (docs/mqtt-sn.md). */
		const struct sn_gw *g = b->listeners[i].sn;
		if (!g) continue;
		const struct sn_gw_stats *gs = sn_gw__stats(g);
		static const struct {
			const char *name;
			size_t off;
		} sf[] = {
#define SN_STAT(n) {#n, offsetof(struct sn_gw_stats, n)}
		    SN_STAT(received), SN_STAT(sent),    SN_STAT(malformed), SN_STAT(unknown),    SN_STAT(unexpected),
		    SN_STAT(congested), SN_STAT(retries), SN_STAT(lost),     SN_STAT(qos_minus1),
#undef SN_STAT
		};
		char topic[96];
		unsigned port = b->listeners[i].conf->port;
		for (size_t k = 0; k < sizeof(sf) / sizeof(sf[0]); k++) {
			const atomic_uint_fast64_t *v = (const atomic_uint_fast64_t *)((const char *)gs + sf[k].off);
			snprintf(topic, sizeof(topic), "$SYS/broker/mqttsn/%u/%s", port, sf[k].name);
			pub(b, topic, "%llu", (unsigned long long)atomic_load(v));
		}
		snprintf(topic, sizeof(topic), "$SYS/broker/mqttsn/%u/clients", port);
		pub(b, topic, "%zu", sn_gw__clients(g));
	}
	for (size_t i = 0; i < bridge__count(b); i++) {
		/* Midge's own: each bridge by its connection name (docs/bridges.md). */
		const struct bridge_stats *bs = bridge__stats(b, i);
		const char *name = bridge__name(b, i);
		char topic[300], addr[300];
		snprintf(topic, sizeof(topic), "$SYS/broker/bridges/%s/state", name);
		pub(b, topic, "%s", bridge__state_name(atomic_load(&bs->state)));
		bridge__address(b, i, addr, sizeof(addr));
		snprintf(topic, sizeof(topic), "$SYS/broker/bridges/%s/address", name);
		pub(b, topic, "%s", addr);
		snprintf(topic, sizeof(topic), "$SYS/broker/bridges/%s/queued", name);
		pub(b, topic, "%llu", (unsigned long long)bridge__queued(b, i));
		snprintf(topic, sizeof(topic), "$SYS/broker/bridges/%s/connects", name);
		pub(b, topic, "%llu", (unsigned long long)atomic_load(&bs->connects));
		static const char *const what[] = {"sent", "received", "dropped"};
		const atomic_uint_fast64_t *v[] = {&bs->sent, &bs->received, &bs->dropped};
		for (size_t k = 0; k < 3; k++) {
			snprintf(topic, sizeof(topic), "$SYS/broker/bridges/%s/messages/%s", name, what[k]);
			pub(b, topic, "%llu", (unsigned long long)atomic_load(v[k]));
		}
	}
	const struct cluster_stats *cs = cluster__stats(b->cluster);
	if (cs) {
		/* Midge's own: the cluster (docs/cluster.md). */
		pub(b, "$SYS/broker/cluster/connected", "%d", atomic_load(&cs->connected));
		pub(b, "$SYS/broker/cluster/messages/sent", "%llu", (unsigned long long)atomic_load(&cs->sent));
		pub(b, "$SYS/broker/cluster/messages/received", "%llu", (unsigned long long)atomic_load(&cs->received));
		pub(b, "$SYS/broker/cluster/messages/duplicates", "%llu", (unsigned long long)atomic_load(&cs->duplicates));
		pub(b, "$SYS/broker/cluster/messages/malformed", "%llu", (unsigned long long)atomic_load(&cs->malformed));
		pub(b, "$SYS/broker/cluster/messages/failed", "%llu", (unsigned long long)atomic_load(&cs->failed));
		pub(b, "$SYS/broker/cluster/messages/unshared", "%llu", (unsigned long long)atomic_load(&cs->unshared));
		pub(b, "$SYS/broker/cluster/wills/published", "%llu", (unsigned long long)atomic_load(&cs->wills));
	}
	if (f.store_on) {
		/* Midge's own: the durable store (docs/storage.md). */
		const struct store_stats *ss = &f.store;
		pub(b, "$SYS/broker/store/commits", "%llu", (unsigned long long)ss->commits);
		pub(b, "$SYS/broker/store/changes", "%llu", (unsigned long long)ss->changes);
		pub(b, "$SYS/broker/store/failures", "%llu", (unsigned long long)ss->failures);
		pub(b, "$SYS/broker/store/queued", "%llu", (unsigned long long)ss->queued);
		pub(b, "$SYS/broker/store/commit_us/last", "%llu", (unsigned long long)ss->last_commit_us);
		pub(b, "$SYS/broker/store/commit_us/max", "%llu", (unsigned long long)ss->max_commit_us);
		pub(b, "$SYS/broker/store/bytes", "%llu", (unsigned long long)ss->file_bytes);
		pub(b, "$SYS/broker/store/failing", "%d", f.store_failing ? 1 : 0);
	}

	pub(b, "$SYS/broker/heap/current", "%zu", f.heap);
	pub(b, "$SYS/broker/heap/maximum", "%zu", f.heap_max);

	/* Exponentially weighted per-minute rates, like Unix load averages. */
	static const double window[3] = {60.0, 300.0, 900.0};
	static const char *suffix[3] = {"1min", "5min", "15min"};
	for (int i = 0; i < L_COUNT && interval > 0; i++) {
		struct load *l = &st->load[i];
		uint64_t v = load_value(&f, i);
		double rate = (double)(v - l->last) * 60.0 / interval;
		l->last = v;
		for (int k = 0; k < 3; k++) {
			double e = exp(-interval / window[k]);
			l->avg[k] = l->avg[k] * e + rate * (1.0 - e);
			char topic[96];
			snprintf(topic, sizeof(topic), "$SYS/broker/load/%s/%s", l->name, suffix[k]);
			pub(b, topic, "%.2f", l->avg[k]);
		}
	}
}

static void on_sys_timer(struct timer *t)
{
	struct sys_state *st = container_of(t, struct sys_state, timer);
	publish_all(st);
	timer__arm(&st->b->loop.timers, &st->timer, clock__ms() + (uint64_t)st->b->conf.sys_interval * 1000u,
		   on_sys_timer);
}

int sys__start(struct broker *b)
{
	if (b->conf.sys_interval == 0) return 0;
	struct sys_state *st = calloc(1, sizeof(*st));
	if (!st) return MIDGE_ERR_NOMEM;
	static const char *names[L_COUNT] = {"messages/received", "messages/sent", "publish/received",
					     "publish/sent", "publish/dropped", "bytes/received",
					     "bytes/sent", "connections", "sockets"};
	for (int i = 0; i < L_COUNT; i++) st->load[i].name = names[i];
	st->b = b;
	st->last_ms = clock__ms();
	list__init(&st->timer.node);
	b->sys = st;
	pub(b, "$SYS/broker/version", "midge version %s", MIDGE_VERSION);
	publish_all(st);
	timer__arm(&b->loop.timers, &st->timer, clock__ms() + (uint64_t)b->conf.sys_interval * 1000u, on_sys_timer);
	return 0;
}

void sys__stop(struct broker *b)
{
	struct sys_state *st = b->sys;
	if (!st) return;
	timer__cancel(&b->loop.timers, &st->timer);
	free(st);
	b->sys = NULL;
}
