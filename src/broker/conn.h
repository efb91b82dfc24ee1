/* A client connection: its transport, input buffer, output queue and MQTT connection state.
 * Owned by one worker; other threads may only queue output (under out_lock, while holding the
 * session lock of the session the connection is attached to) and schedule a flush. */
#ifndef MIDGE_CONN_H
#define MIDGE_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lock.h"
#include "alias.h"
#include "common/list.h"
#include "net/loop.h"
#include "net/transport.h"

struct broker;
struct worker;
struct session;
struct message;
struct listener_rt;

enum conn_state {
	CONN_NEW,    /* accepted, not yet registered with its worker's loop */
	CONN_OPEN,   /* waiting for CONNECT */
	CONN_ACTIVE, /* CONNECT accepted */
	CONN_CLOSED, /* closed; freed when the last reference goes */
};

/* One queued outgoing packet: either bytes of its own (data, len) or a PUBLISH made of a small header,
 * the message's shared topic bytes (or an empty topic when a topic alias stands for it), an optional
 * packet id, for MQTT 5 the properties of this receiver (in data: their length, expiry, alias,
 * subscription identifiers) followed by the message's shared properties, and the shared payload. */
struct out_item {
	struct list node;
	struct message *msg; /* reference; NULL for a packet of its own bytes */
	size_t len;          /* bytes to write: one packet, or several small ones of their own bytes */
	size_t sent;         /* bytes already written */
	size_t cap;          /* room in data (own bytes only) */
	size_t charge;       /* memory it holds, counted against max_output_bytes */
	uint32_t packets;    /* packets in it, for $SYS messages/sent */
	uint8_t hdr_len;
	uint8_t hdr[5];
	uint8_t pid[2];
	bool has_pid;
	bool alias_only; /* the topic is replaced by an empty one: the client knows the alias */
	uint32_t vp_len; /* MQTT 5 PUBLISH: bytes of per-receiver properties in data (0 for 3.x) */
	uint8_t data[];  /* own bytes when msg is NULL, else the per-receiver properties */
};

/* An MQTT 5 connection's topic aliases, apart from struct conn so that a 3.x connection does not carry them. */
struct conn_alias {
	struct alias_in in;   /* the client's (owner only) */
	struct alias_out out; /* the broker's, guarded by out_lock */
};

/* Why another thread asks a connection's worker to close it (conn.kick). */
enum conn_kick {
	KICK_NONE = 0,
	KICK_TAKEOVER, /* a new connection takes its session: finish what was received, then close */
	KICK_ADMIN,    /* the HTTP API's DELETE /api/v1/clients/{id}: close at once, will published */
	KICK_CLUSTER,  /* its client id connected on another node of the cluster since: close (0x8E), will published */
};

struct conn {
	struct loop_io io;
	struct transport tp;
	struct worker *worker;
	struct listener_rt *listener;
	struct list node;         /* worker's list of connections */
	struct list flush_node;   /* worker's local flush list (owner thread only) */
	struct list pending_node; /* worker's inbox (worker inbox lock) */
	struct conn *successor;   /* reference: the connection taking over its session (session lock) */
	struct session *session; /* reference, from CONNECT on */
	struct message *will;    /* reference or NULL */
	char *client_id; /* for logs: a copy until the session is attached, then the session's own */
	char *username;  /* from CONNECT (or the TLS identity); NULL = anonymous. Owned */

	/* MQTT 5, from CONNECT (defaults for 3.x) */
	struct buf *connack_props; /* MQTT 5 CONNACK properties while the CONNECT is answered (owned), else NULL */
	struct conn_alias *alias; /* MQTT 5 topic aliases both ways; NULL for 3.x (owned) */
	const char *disconnect_why; /* its Reason String (static), or NULL */

	uint64_t last_rx_ms; /* also what a transport's probes (WebSocket pings) count from */
	struct timer timer; /* connect timeout, then keepalive */
	struct buf in;     /* input not yet handled; empty (no allocation) between reads unless a packet is cut */

	struct list out;     /* struct out_item, guarded by out_lock */
	size_t out_bytes;    /* memory held by queued output (items and bytes), guarded by out_lock */

	/* Four-, two- and one-byte fields last, so that padding costs little on every connection (and the whole
	 * stays in a smaller malloc size class: bench/idle-memory). */
	struct lock out_lock;
	atomic_uint refs;
	enum conn_state state;
	atomic_int replies_held;  /* replies waiting for a store commit (persist.h): later ones queue behind */
	atomic_int auth_state;  /* enum auth_state: a password check off the loop (authq.c) */
	uint32_t max_out_packet;  /* the client's Maximum Packet Size; 0 = protocol maximum */
	uint32_t session_expiry;  /* Session Expiry Interval asked in CONNECT (or DISCONNECT), seconds */
	uint32_t will_delay;      /* Will Delay Interval, seconds */
	uint32_t will_expiry;     /* the will's Message Expiry Interval, seconds; 0 = none */
	uint32_t auth_failures; /* failed checks from this client's address so far (set with auth_state) */
	uint16_t keepalive;
	uint16_t send_max;        /* the client's Receive Maximum: unacknowledged QoS 1/2 it accepts */
	uint16_t recv_max;        /* the broker's Receive Maximum announced in CONNACK (a reload keeps it) */
	uint8_t version;
	uint8_t disconnect_rc;      /* MQTT 5 reason of the DISCONNECT sent when the broker closes it */
	uint8_t will_qos;

	bool pending;             /* on the inbox (worker inbox lock) */
	bool adopting;            /* new, not yet registered with the worker (worker inbox lock) */
	atomic_uchar kick;        /* enum conn_kick, set by another thread; the owner closes the connection */
	atomic_bool takeover_ready; /* the connection it took over is gone: complete the CONNECT */
	bool waiting_takeover;    /* CONNECT received, waiting for the old connection to close (owner) */
	bool clean_start;         /* the CONNECT's clean session flag */
	atomic_bool need_pump;    /* its session queued messages while online: pump after a flush */
	atomic_bool store_failed; /* a store commit failed for one of its packets: close it (3.x cannot be told) */
	bool store_paused;        /* not read while the store catches up (persist__throttle; owner only) */
	atomic_bool store_resume; /* the store caught up: read it again */
	bool read_paused;         /* output over the cap: input is not read until it drains (owner) */
	bool expiry_changed;      /* the DISCONNECT changed it: the session takes the new value */
	bool problem_info;        /* Request Problem Information: reason strings and user properties allowed */
	bool in_borrowed;  /* in is the worker's scratch buffer, during one read (owner only) */
	bool clean_disconnect;
	bool writable_wait;  /* EPOLLOUT armed (owner only) */
	bool acked;          /* acknowledgements handled in this read: flush at its end (owner only) */
	bool closing;        /* a DISCONNECT is queued: nothing more is (guarded by out_lock) */
	bool will_retain;
	bool internal;       /* the broker's own client (a bridge's local side, bridge.h): no password is asked */
	bool bridge;         /* a 3.x bridge (CONNECT level | 0x80): its subscriptions get No Local and Retain As Published */
	atomic_bool auth_cancel; /* closed while its check was pending: the check is skipped */

	char addr[48]; /* "ip:port" (an IPv6 one is at most 45 characters), or an MQTT-SN client's, cut */
};

/* A new connection for an accepted fd, with one reference (the worker's). NULL when out of memory. */
struct conn *conn__new(struct listener_rt *l, int fd, const char *addr);
static inline struct conn *conn__ref(struct conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}
/* Drops a reference; the last one frees everything the connection holds. */
void conn__unref(struct conn *c);

/* Queues a PUBLISH of m (shared, not copied) at qos with packet id pid. For an MQTT 5 client it carries
 * m's properties, the remaining Message Expiry Interval, a topic alias when the client takes them and
 * the subscription identifiers subids[0..nsubids). Caller holds the session lock when c is attached to a
 * session. Returns 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_TOO_LARGE when the packet would exceed the client's
 * Maximum Packet Size (nothing queued: the caller drops the message for this client, MQTT-3.1.2-25). */
int conn__queue_publish(struct conn *c, struct message *m, uint8_t qos, uint16_t pid, bool dup, bool retain,
			const uint32_t *subids, size_t nsubids);
/* Queues n bytes of a packet (copied). Small packets (acks) share one item, so a client that never
 * reads its acks costs bytes, not an allocation per packet. 0 or MIDGE_ERR_NOMEM. */
int conn__queue_bytes(struct conn *c, const void *p, size_t n);
/* Queues a PUBACK, PUBREC, PUBREL or PUBCOMP for packet id pid. 0 or MIDGE_ERR_NOMEM. */
int conn__queue_ack(struct conn *c, uint8_t type, uint16_t pid);
/* The same with an MQTT 5 reason code (ignored for 3.x) and, when the client allows problem information
 * and why is not NULL, a Reason String. */
int conn__queue_ack_rc(struct conn *c, uint8_t type, uint16_t pid, uint8_t reason, const char *why);
/* Refuses every later queueing call with MIDGE_ERR_CLOSED (what is queued is still flushed). Any thread. */
void conn__close_output(struct conn *c);
/* Queues an MQTT 5 DISCONNECT with reason and an optional Reason String (nothing for 3.x); from then on
 * every queueing call returns MIDGE_ERR_CLOSED. */
int conn__queue_disconnect(struct conn *c, uint8_t reason, const char *why);
/* Memory held by queued output, what max_output_bytes bounds: wire bytes plus per-item overhead. */
size_t conn__out_bytes(struct conn *c);
/* Asks the owning worker to write c's output: immediately batched when w is the owner, else through
 * the owner's inbox and a wake-up. Any thread. */
void conn__schedule(struct conn *c, struct worker *w);
/* Writes as much queued output as the socket takes; arms EPOLLOUT for the rest. Owner only.
 * Returns 0, or MIDGE_ERR_IO when the connection failed (caller closes it). */
int conn__flush(struct conn *c);
/* Sets the epoll interest from read_paused, writable_wait and the transport's want_write. Owner only. */
void conn__update_events(struct conn *c);

#endif
