/* options: midge-bench's command line (scenario, connection, load shape, output), parsed and checked into
 * struct bench_opts. Flags follow mosquitto_pub where they overlap. */
#ifndef MIDGE_BENCH_OPTIONS_H
#define MIDGE_BENCH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bench_scenario {
	SC_PUB,    /* C publishers, no subscribers */
	SC_SUB,    /* S subscribers on a filter, counting what others publish */
	SC_CONN,   /* C idle connections made at --connect-rate */
	SC_FANIN,  /* C publishers -> 1 subscriber on a wildcard */
	SC_FANOUT, /* 1 publisher -> S subscribers on its topic */
	SC_P2P,    /* C pairs: publisher i -> subscriber i */
	SC_SHARED, /* C publishers -> S subscribers in one shared group */
};

enum bench_transport { BT_TCP, BT_TLS, BT_WS, BT_WSS };

struct bench_opts {
	enum bench_scenario scenario;
	char host[256];
	uint16_t port;
	enum bench_transport transport;
	char path[256];     /* WebSocket request path */
	const char *cafile; /* borrowed from argv */
	bool insecure;
	uint8_t version; /* 4 (3.1.1) or 5 */
	uint8_t qos;
	uint32_t payload;     /* bytes, >= PAYLOAD_HEADER */
	double rate;          /* total offered messages/s over all publishers; 0 = as fast as allowed */
	uint32_t interval_ms; /* per publisher, 0 = unset (then rate applies) */
	uint64_t count;       /* measured messages per publisher, 0 = unset (then duration applies) */
	double duration;      /* seconds of measurement (conn: idle time once all are connected) */
	double warmup;        /* seconds published before measuring */
	uint32_t window;      /* QoS 1/2 messages in flight per publisher */
	char id_prefix[64];
	char topic[256];  /* publishers' topic pattern, %i = publisher index */
	char filter[256]; /* what subscribers subscribe to (before any $share prefix) */
	uint32_t publishers;
	uint32_t subscribers;
	uint32_t connect_rate;
	uint32_t threads;
	bool json;
	uint16_t keepalive;
	bool clean;
	bool no_sys;     /* --no-sys: the broker's drop counter is not read (drops_reported is null) */
	double sys_wait; /* seconds to wait after the load for a $SYS update of that counter */
};

const char *bench_opts__scenario_name(enum bench_scenario s);

/* Parses argv into o (defaults first) and checks the whole. Returns 0, 1 when --help was asked (nothing
 * else done), or -1 with a one-line reason (no "Error: ") in err. o's cafile points into argv. Resets getopt,
 * so it may be called again. */
int bench_opts__parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen);

/* Fills the topic of publisher i from o->topic into out (%i replaced by i, %% by %). False when it does not
 * fit in outlen. */
bool bench_opts__topic(const struct bench_opts *o, uint32_t i, char *out, size_t outlen);

#endif
