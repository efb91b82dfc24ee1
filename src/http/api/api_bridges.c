/* The HTTP API's bridges: /api/v1/bridges, the summary in /api/v1/stats and the midge_bridge_* metrics (api.h),
 * read through bridge.h's accessors, which any thread may call. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "broker/bridge.h"
#include "broker/broker.h"
#include "common/jsonw.h"
#include "midge/midge.h"

int api__bridges(struct api_req *r)
{
	struct broker *b = r->b;
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__arr(&j, "bridges");
	for (size_t i = 0; i < bridge__count(b); i++) {
		const struct bridge_stats *bs = bridge__stats(b, i);
		char addr[512];
		bridge__address(b, i, addr, sizeof(addr));
		jsonw__obj(&j, NULL);
		jsonw__cstr(&j, "name", bridge__name(b, i));
		jsonw__cstr(&j, "state", bridge__state_name(atomic_load(&bs->state)));
		jsonw__cstr(&j, "address", addr);
		jsonw__u64(&j, "queued", bridge__queued(b, i));
		jsonw__u64(&j, "connects", atomic_load(&bs->connects));
		jsonw__u64(&j, "sent", atomic_load(&bs->sent));
		jsonw__u64(&j, "received", atomic_load(&bs->received));
		jsonw__u64(&j, "dropped", atomic_load(&bs->dropped));
		jsonw__end(&j);
	}
	jsonw__end(&j);
	jsonw__end(&j);
	if (jsonw__done(&j)) {
		buf__fini(&body);
		return MIDGE_ERR_NOMEM;
	}
	return api__send_json(r, &body);
}

void api__bridges_summary(struct broker *b, struct jsonw *j)
{
	size_t n = bridge__count(b), connected = 0;
	for (size_t i = 0; i < n; i++)
		if (atomic_load(&bridge__stats(b, i)->state) == BRIDGE_CONNECTED) connected++;
	jsonw__obj(j, "bridges");
	jsonw__u64(j, "total", n);
	jsonw__u64(j, "connected", connected);
	jsonw__end(j);
}

/* name as a Prometheus label value (backslash, double quote and newline escaped) into out. False when it does
 * not fit. */
static bool label(const char *name, char *out, size_t n)
{
	size_t k = 0;
	for (const char *p = name; *p; p++) {
		bool esc = *p == '\\' || *p == '"' || *p == '\n';
		if (k + 2 + esc >= n) return false;
		if (esc) out[k++] = '\\';
		out[k++] = *p == '\n' ? 'n' : *p;
	}
	out[k] = 0;
	return true;
}

int api__bridge_metrics(struct broker *b, struct buf *o)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {"midge_bridge_connected", "gauge", "1 when the bridge is connected to its remote broker, else 0."},
	    {"midge_bridge_queued", "gauge", "Messages waiting for the remote broker (queued and in flight)."},
	    {"midge_bridge_connects_total", "counter", "Connections the remote broker accepted."},
	    {"midge_bridge_messages_sent_total", "counter", "Messages the remote broker took."},
	    {"midge_bridge_messages_received_total", "counter", "Messages from the remote broker taken locally."},
	    {"midge_bridge_messages_dropped_total", "counter", "Messages of the bridge dropped or refused."},
	};
	size_t n = bridge__count(b);
	if (!n) return 0;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		char line[1024];
		int len = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
		                   fam[f].name, fam[f].type);
		if (len < 0 || (size_t)len >= sizeof(line) || buf__append(o, line, (size_t)len)) return MIDGE_ERR_NOMEM;
		for (size_t i = 0; i < n; i++) {
			const struct bridge_stats *bs = bridge__stats(b, i);
			const uint64_t v[] = {atomic_load(&bs->state) == BRIDGE_CONNECTED,
			                      f == 1 ? bridge__queued(b, i) : 0,
			                      atomic_load(&bs->connects),
			                      atomic_load(&bs->sent),
			                      atomic_load(&bs->received),
			                      atomic_load(&bs->dropped)};
			char name[512];
			if (!label(bridge__name(b, i), name, sizeof(name))) continue; /* a name this long: not shown */
			len = snprintf(line, sizeof(line), "%s{bridge=\"%s\"} %llu\n", fam[f].name, name,
			               (unsigned long long)v[f]);
			if (len < 0 || (size_t)len >= sizeof(line) || buf__append(o, line, (size_t)len))
				return MIDGE_ERR_NOMEM;
		}
	}
	return 0;
}
