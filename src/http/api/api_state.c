/* The HTTP API's view of the broker as a whole: /api/v1/stats, /api/v1/listeners and /metrics (api.h); the
 * bridges' part of stats and metrics comes from api_bridges.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "broker/broker.h"
#include "broker/figures.h"
#include "broker/guard.h"
#include "broker/security.h"
#include "broker/sn_gw.h"
#include "common/jsonw.h"
#include "http/http_static.h"
#include "midge/midge.h"

int api__stats(struct api_req *r)
{
	struct figures f;
	figures__read(r->b, &f);
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__cstr(&j, "version", MIDGE_VERSION);
	jsonw__u64(&j, "uptime", f.uptime_s);
	jsonw__i64(&j, "time", f.now);
	jsonw__obj(&j, "clients");
	jsonw__i64(&j, "connected", f.connected);
	jsonw__i64(&j, "disconnected", f.offline);
	jsonw__i64(&j, "total", (int64_t)f.connected + f.offline);
	jsonw__i64(&j, "maximum", f.connected_max);
	jsonw__u64(&j, "expired", f.expired);
	jsonw__end(&j);
	jsonw__obj(&j, "messages");
	jsonw__u64(&j, "received", f.msgs_received);
	jsonw__u64(&j, "sent", f.msgs_sent);
	jsonw__end(&j);
	jsonw__obj(&j, "publish");
	jsonw__u64(&j, "received", f.pub_received);
	jsonw__u64(&j, "sent", f.pub_sent);
	jsonw__u64(&j, "dropped", f.pub_dropped);
	jsonw__u64(&j, "withheld", f.pub_withheld);
	jsonw__end(&j);
	jsonw__obj(&j, "bytes");
	jsonw__u64(&j, "received", f.bytes_received);
	jsonw__u64(&j, "sent", f.bytes_sent);
	jsonw__end(&j);
	jsonw__u64(&j, "subscriptions", f.subscriptions);
	jsonw__u64(&j, "retained", f.retained);
	jsonw__obj(&j, "heap");
	jsonw__u64(&j, "current", f.heap);
	jsonw__u64(&j, "maximum", f.heap_max);
	jsonw__end(&j);
	if (f.store_on) {
		jsonw__obj(&j, "store");
		jsonw__u64(&j, "commits", f.store.commits);
		jsonw__u64(&j, "changes", f.store.changes);
		jsonw__u64(&j, "failures", f.store.failures);
		jsonw__u64(&j, "queued", f.store.queued);
		jsonw__u64(&j, "commit_us_last", f.store.last_commit_us);
		jsonw__u64(&j, "commit_us_max", f.store.max_commit_us);
		jsonw__u64(&j, "bytes", f.store.file_bytes);
		jsonw__bool(&j, "failing", f.store_failing);
		jsonw__end(&j);
	} else {
		jsonw__null(&j, "store");
	}
	api__bridges_summary(r->b, &j);
	jsonw__end(&j);
	if (jsonw__done(&j)) {
		buf__fini(&body);
		return MIDGE_ERR_NOMEM;
	}
	return api__send_json(r, &body);
}

static const char *protocol(const struct listener_conf *lc)
{
	return lc->mqttsn ? "mqttsn" : lc->websockets ? "websockets" : "mqtt";
}

/* Connections open on listener l now (MQTT-SN: clients), HTTP requests being answered included. */
static size_t listener_connections(const struct listener_rt *l)
{
	if (l->sn) return sn_gw__clients(l->sn);
	int n = atomic_load(&l->nconns);
	return n > 0 ? (size_t)n : 0;
}

int api__listeners(struct api_req *r)
{
	struct broker *b = r->b;
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__arr(&j, "listeners");
	bool guarded = false;
	for (size_t i = 0; i < b->nlisteners; i++) {
		const struct listener_rt *l = &b->listeners[i];
		const struct listener_conf *lc = l->conf;
		guarded |= lc->encrypted_only;
		jsonw__obj(&j, NULL);
		jsonw__u64(&j, "port", lc->port);
		jsonw__cstr(&j, "protocol", protocol(lc));
		jsonw__cstr(&j, "address", lc->bind_address);
		jsonw__cstr(&j, "interface", lc->bind_interface);
		jsonw__bool(&j, "encrypted", l->encrypted);
		jsonw__bool(&j, "client_certificates", lc->require_certificate);
		jsonw__bool(&j, "exposed", l->exposed);
		jsonw__bool(&j, "encrypted_only", lc->encrypted_only);
		jsonw__u64(&j, "connections", listener_connections(l));
		jsonw__end(&j);
	}
	jsonw__end(&j);
	/* The encryption guard (docs/security.md): on when a listener or a topic is marked. */
	struct security *sec = security__get(b);
	size_t ntopics = sec->nencrypted_topics;
	jsonw__obj(&j, "guard");
	jsonw__bool(&j, "active", guarded || ntopics > 0);
	jsonw__bool(&j, "encrypted_only_listener", guarded);
	jsonw__arr(&j, "encrypted_topics");
	for (size_t i = 0; i < ntopics; i++) jsonw__cstr(&j, NULL, sec->encrypted_topics[i]);
	jsonw__end(&j);
	jsonw__end(&j);
	security__unref(sec);
	jsonw__end(&j);
	if (jsonw__done(&j)) {
		buf__fini(&body);
		return MIDGE_ERR_NOMEM;
	}
	return api__send_json(r, &body);
}

/* One metric with its HELP and TYPE lines (Prometheus text format 0.0.4). */
static void metric(struct buf *o, bool *failed, const char *name, const char *type, const char *help, const char *fmt,
		   ...)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s ", name, help, name, type, name);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		*failed = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m) + 1 >= sizeof(line)) {
		*failed = true;
		return;
	}
	line[n + m] = '\n';
	if (buf__append(o, line, (size_t)(n + m + 1))) *failed = true;
}

#define U64(v) (unsigned long long)(v)

int api__metrics(struct api_req *r)
{
	struct broker *b = r->b;
	struct figures f;
	figures__read(b, &f);
	struct buf o = {0};
	bool bad = false;
	metric(&o, &bad, "midge_uptime_seconds", "gauge", "Seconds since the broker started.", "%llu", U64(f.uptime_s));
	metric(&o, &bad, "midge_clients_connected", "gauge", "Clients connected now.", "%d", f.connected);
	metric(&o, &bad, "midge_clients_disconnected", "gauge", "Persistent sessions whose client is offline.", "%d",
	       f.offline);
	metric(&o, &bad, "midge_clients_maximum", "gauge", "The most clients connected at once.", "%d", f.connected_max);
	metric(&o, &bad, "midge_clients_expired_total", "counter", "Persistent sessions ended by their expiry.", "%llu",
	       U64(f.expired));
	metric(&o, &bad, "midge_connections_total", "counter", "CONNECTs accepted.", "%llu", U64(f.clients_ever));
	metric(&o, &bad, "midge_messages_received_total", "counter", "MQTT packets received.", "%llu",
	       U64(f.msgs_received));
	metric(&o, &bad, "midge_messages_sent_total", "counter", "MQTT packets sent.", "%llu", U64(f.msgs_sent));
	metric(&o, &bad, "midge_publish_received_total", "counter", "PUBLISH packets received.", "%llu",
	       U64(f.pub_received));
	metric(&o, &bad, "midge_publish_sent_total", "counter", "PUBLISH packets sent.", "%llu", U64(f.pub_sent));
	metric(&o, &bad, "midge_publish_dropped_total", "counter",
	       "Messages dropped at a queue or output limit (QoS 0 to slow clients, QoS 1/2 past max_queued_messages).",
	       "%llu", U64(f.pub_dropped));
	metric(&o, &bad, "midge_publish_withheld_total", "counter",
	       "Deliveries the encryption guard kept off plain listeners.", "%llu", U64(f.pub_withheld));
	metric(&o, &bad, "midge_bytes_received_total", "counter", "Bytes received.", "%llu", U64(f.bytes_received));
	metric(&o, &bad, "midge_bytes_sent_total", "counter", "Bytes sent.", "%llu", U64(f.bytes_sent));
	metric(&o, &bad, "midge_subscriptions", "gauge", "Subscriptions.", "%zu", f.subscriptions);
	metric(&o, &bad, "midge_retained_messages", "gauge", "Retained messages.", "%zu", f.retained);
	metric(&o, &bad, "midge_heap_bytes", "gauge", "Bytes allocated (malloc).", "%zu", f.heap);
	if (f.store_on) {
		metric(&o, &bad, "midge_store_commits_total", "counter", "Store transactions committed.", "%llu",
		       U64(f.store.commits));
		metric(&o, &bad, "midge_store_failures_total", "counter", "Store commits that failed.", "%llu",
		       U64(f.store.failures));
		metric(&o, &bad, "midge_store_queued", "gauge", "Changes waiting for the store.", "%llu",
		       U64(f.store.queued));
		metric(&o, &bad, "midge_store_commit_seconds_last", "gauge", "Duration of the last commit.", "%.6f",
		       (double)f.store.last_commit_us / 1e6);
		metric(&o, &bad, "midge_store_commit_seconds_max", "gauge", "Longest commit.", "%.6f",
		       (double)f.store.max_commit_us / 1e6);
		metric(&o, &bad, "midge_store_bytes", "gauge", "Size of the store's files.", "%llu",
		       U64(f.store.file_bytes));
	}
	if (api__bridge_metrics(b, &o)) bad = true;
	/* One family with a sample per listener. */
	static const char fam[] = "# HELP midge_listener_connections Connections open on a listener (MQTT-SN: clients).\n"
				  "# TYPE midge_listener_connections gauge\n";
	if (buf__append(&o, fam, sizeof(fam) - 1)) bad = true;
	for (size_t i = 0; i < b->nlisteners; i++) {
		const struct listener_rt *l = &b->listeners[i];
		char line[160];
		int n = snprintf(line, sizeof(line), "midge_listener_connections{port=\"%u\",protocol=\"%s\"} %zu\n",
				 l->conf->port, protocol(l->conf), listener_connections(l));
		if (n < 0 || (size_t)n >= sizeof(line) || buf__append(&o, line, (size_t)n)) bad = true;
	}
	int rc = bad ? MIDGE_ERR_NOMEM
		     : http__response_head(r->out, 200, "text/plain; version=0.0.4; charset=utf-8", buf__len(&o),
					   "Cache-Control: no-store\r\n");
	if (!rc) rc = buf__append(r->out, buf__head(&o), buf__len(&o));
	buf__fini(&o);
	return rc ? MIDGE_ERR_NOMEM : 200;
}
