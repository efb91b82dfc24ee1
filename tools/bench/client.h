/* client: one MQTT connection of the load generator (publisher, subscriber or idle client), owned by one
 * worker thread: connecting through TCP, TLS and WebSocket, framing input, the output buffer and its
 * batched writes (client.c); and what it does with each packet and how a publisher fills its output
 * (packets.c). Nothing here allocates per message. */
#ifndef MIDGE_BENCH_CLIENT_H
#define MIDGE_BENCH_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "net/transport.h"
#include "track.h"

struct bworker;

enum bclient_state {
	BC_IDLE,       /* not connected yet */
	BC_CONNECTING, /* TCP connect in progress */
	BC_TLS,        /* TLS handshake */
	BC_WS,         /* WebSocket upgrade */
	BC_CONNACK,    /* CONNECT sent */
	BC_SUBACK,     /* SUBSCRIBE sent */
	BC_READY,
	BC_DEAD,
};

/* ROLE_SYS: the one client of the $SYS watcher (sysmon.h), on a worker of its own. */
enum bclient_role { ROLE_PUB, ROLE_SUB, ROLE_IDLE, ROLE_SYS };

struct bclient {
	struct bworker *w;
	enum bclient_role role;
	uint32_t idx; /* publisher or subscriber index */
	enum bclient_state state;
	struct transport t; /* ops NULL until the TCP connect completes */
	int fd;
	bool epollout;   /* EPOLLOUT is being watched */
	bool dirty;      /* on the worker's flush list */
	struct bclient *next_dirty;
	struct buf in;  /* a partial packet left from the last read; empty most of the time */
	struct buf out; /* bytes not written yet */
	uint64_t last_out_ms;
	char topic[256]; /* publisher: its topic; subscriber: its filter */

	/* publisher */
	struct buf tmpl;          /* one whole PUBLISH, copied and patched per message */
	size_t pid_off, pay_off;  /* offsets of the packet id (QoS > 0) and the payload in tmpl */
	uint64_t seq;             /* next sequence number */
	uint64_t first_measured;  /* seq of the first measured message */
	uint64_t measured;        /* measured messages sent */
	double tokens;            /* rate control: messages due */
	uint64_t last_refill_ns;
	uint32_t inflight;
	uint32_t window;          /* -w, capped by an MQTT 5 server's Receive Maximum */
	uint16_t next_id;
	uint64_t *ids;            /* 65536 bits: packet id in flight; then 65536 bits: it was measured */
	bool done;                /* sent all it will */

	/* subscriber */
	struct streams streams; /* by publisher index */
};

/* Sets c up (zeroed before) as role/idx of worker w; topic is its publish topic or subscription filter.
 * A publisher's template and id map are made here. 0, or -1 out of memory. */
int bclient__init(struct bclient *c, struct bworker *w, enum bclient_role role, uint32_t idx, const char *topic);
/* Starts the non-blocking TCP connect. 0, or -1 when it failed at once (c is then BC_DEAD, counted). */
int bclient__connect(struct bclient *c);
/* Handles an epoll event on c. */
void bclient__event(struct bclient *c, uint32_t events);
/* Writes what c has buffered (one write call per turn, repeated while the socket takes it; EPOLLOUT when
 * it does not). */
void bclient__flush(struct bclient *c);
/* How many more of publisher c's messages its output takes now: none once it holds 256 KiB not written
 * (the broker's push-back), and at least one otherwise, however large the payload. */
uint32_t bclient__room(const struct bclient *c);
/* Puts c on its worker's end-of-turn flush list. */
void bclient__mark(struct bclient *c);
/* Ends c: closes the transport; counted as a failure (before READY) or an error (after) with reason. */
void bclient__fail(struct bclient *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends a DISCONNECT if connected, then closes, uncounted. */
void bclient__close(struct bclient *c);
/* Frees what c owns (after close). */
void bclient__fini(struct bclient *c);

/* packets.c */
/* Handles one whole packet (type, flags, body) from the server; now_ns is the time of the read. 0, or -1
 * when c was failed. */
struct mqtt_frame;
int bclient__packet(struct bclient *c, const struct mqtt_frame *f, uint64_t now_ns);
/* The connection is up (TCP, TLS, WebSocket as asked): CONNECT goes out. */
void bclient__send_connect(struct bclient *c);
/* Appends up to n PUBLISH packets of publisher c to its output, stamped now_ns; returns how many. */
uint32_t bclient__publish(struct bclient *c, uint32_t n, uint64_t now_ns, bool measured);
/* Sends a PINGREQ. */
void bclient__ping(struct bclient *c);

#endif
