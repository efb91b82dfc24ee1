/* Bridges: Mosquitto's `connection` sections at run time. Each bridge is a libmidge client to the remote broker
 * running on one worker's loop, and a connection of the broker to itself (without a socket) for the local side,
 * whose session holds what waits for the remote: in the durable store when it is on. docs/bridges.md. */
#ifndef MIDGE_BRIDGE_H
#define MIDGE_BRIDGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct bridge;
struct config;

enum bridge_state {
	BRIDGE_STOPPED,    /* not running: start_type once after its connection, or the broker stopping */
	BRIDGE_IDLE,       /* start_type lazy: waiting for `threshold` messages */
	BRIDGE_WAITING,    /* waiting before the next attempt (restart_timeout or the backoff) */
	BRIDGE_CONNECTING, /* TCP, TLS, WebSocket and CONNECT under way */
	BRIDGE_CONNECTED,
};

/* Counters of one bridge, written by its worker, read from any thread. */
struct bridge_stats {
	atomic_int state;                    /* enum bridge_state */
	atomic_uint_fast64_t sent;           /* messages the remote took (QoS 0 written, QoS 1/2 acknowledged) */
	atomic_uint_fast64_t received;       /* messages from the remote the local broker took */
	atomic_uint_fast64_t dropped;        /* refused by the remote or the local broker, too large, or QoS 0 past
	                                      * the bound */
	atomic_uint_fast64_t connects;       /* connections accepted by the remote */
	atomic_uint_fast64_t waiting;        /* messages for the remote not yet acknowledged, in the bridge */
	atomic_uint_fast64_t backlog;        /* messages from the remote waiting for the local window */
	atomic_uint address;                 /* index of the address in use or tried next */
};

/* Creates every configured bridge (its remote client and TLS settings: files are read now) and arms their start on
 * their workers' loops; call before the workers run and before privileges are dropped. 0, or MIDGE_ERR_* with a
 * message naming the bridge in err. */
int bridge__start_all(struct broker *b, char *err, size_t errlen);
/* After the workers started, before clients are accepted: waits (at most timeout_ms) until every bridge's local
 * subscriptions are in place, so that no message a client publishes first misses its bridges. */
void bridge__wait_ready(struct broker *b, unsigned timeout_ms);
/* For --test-config: makes and frees each bridge's remote client, reading its TLS files. 0 or MIDGE_ERR_* with err. */
int bridge__check_files(const struct config *cf, char *err, size_t errlen);
/* After the workers are halted and drained: frees every bridge (their remote connections close without
 * DISCONNECT, so remote brokers publish the notification will). */
void bridge__free_all(struct broker *b);
/* The bridges, for $SYS and the HTTP API: count, name, stats and the address text ("host:port" or the URL) of
 * the address in use. Any thread. */
size_t bridge__count(const struct broker *b);
const char *bridge__name(const struct broker *b, size_t i);
const struct bridge_stats *bridge__stats(const struct broker *b, size_t i);
/* Messages of bridge i waiting for the remote, in its local session too (queued and in flight). */
uint64_t bridge__queued(struct broker *b, size_t i);
/* Writes the address bridge i uses or tries next into out. */
void bridge__address(const struct broker *b, size_t i, char *out, size_t n);
/* "connected", "connecting", "waiting", "idle" or "stopped". */
const char *bridge__state_name(int state);

#endif
