/* Inside a bridge (bridge.h): what bridge.c (the remote side: connecting, addresses, start types, notifications)
 * and bridge_link.c (the local side: the broker connection the bridge is to its own broker, and the messages
 * between the two) share. Everything here belongs to the bridge's worker thread, except the counters. */
#ifndef MIDGE_BRIDGE_INT_H
#define MIDGE_BRIDGE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge.h"
#include "common/buf.h"
#include "common/list.h"
#include "config.h"
#include "midge/client.h"
#include "net/loop.h"
#include "net/timer.h"
#include "worker.h"

struct broker;
struct worker;
struct conn;

/* The local side's window for the messages the broker gives the bridge (its CONNECT's Receive Maximum). */
#define BRIDGE_LOCAL_WINDOW 1000u
/* QoS 0 messages that may wait in the remote client (besides the QoS 1/2 ones the window bounds); past it the
 * link takes nothing more from the broker until some are written, so the rest waits in the local connection's
 * output and session within the broker's limits (max_output_bytes, max_queued_messages), as for a slow client. */
#define BRIDGE_QOS0_SLACK 10000u
/* Messages from the remote waiting for room in the local broker's window; QoS 1/2 ones are bounded by the
 * remote's own window since they are acknowledged only once the local broker has them. */
#define BRIDGE_BACKLOG_MAX 20000u

/* A message from the remote waiting for the local broker's window. */
struct bridge_pending {
	struct list node;
	uint16_t remote_mid;
	uint8_t qos;
	bool retain;
	uint32_t topic_len, props_len, payload_len;
	uint8_t data[]; /* local topic, MQTT 5 properties, payload */
};

/* Where a message from the broker to the remote stands, by the remote client's message id. */
struct bridge_out {
	uint16_t local_pid; /* 0 = none */
	uint8_t qos;
};

/* Where a message from the remote to the broker stands, by the local packet id. */
struct bridge_in {
	struct bridge_pending *msg; /* kept until the broker's PUBACK/PUBREC, to send again after the local side
	                             * comes back (owned); NULL past PUBREC */
	uint16_t remote_mid;        /* to acknowledge to the remote; 0 = nothing to acknowledge */
	uint8_t qos;
	bool used;
};

struct bridge {
	struct broker *b;
	const struct bridge_conf *conf; /* in b->conf, which outlives the bridge */
	struct worker *w;
	char remote_id[256];       /* the client id on the remote broker */
	char local_id[300];        /* the client id of the local side */
	char *state_topic;         /* the notification topic, owned */

	/* remote side (bridge.c) */
	struct midge_client *mc;   /* NULL while stopped */
	struct loop_io sock_io, wake_io;
	int sock_fd;               /* registered in sock_io, -1 when none */
	struct timer tick;         /* every second: the client's timers, restarts, lazy start and idle stop */
	enum bridge_state state;
	size_t addr;               /* the address in use or tried next */
	uint64_t retry_at_ms;      /* BRIDGE_WAITING: when the next attempt starts */
	uint64_t backoff_ms;       /* the last backoff delay (decorrelated jitter) */
	uint64_t last_traffic_ms;  /* lazy: messages last went either way */
	bool once_done;            /* start_type once: its one connection ended */
	bool attempt_connected;    /* the current or last attempt got a CONNACK */
	bool idling;               /* lazy: the bridge disconnected itself after idle_timeout */
	bool rereg;                /* the socket is registered again at the next sync_io (bridge.c) */
	size_t index;              /* in broker.bridges */
	/* Not round_robin, connected to a later address: a TCP connect to the first, now and then (bridge_probe). */
	struct loop_io probe_io;
	int probe_fd;              /* -1 when no probe runs */
	uint64_t probe_at_ms;      /* when the next probe may start */
	bool switching;            /* the first address answered: reconnect there at once */
	struct worker_task lost_task; /* the local side was closed: restart (bridge.c) */
	uint64_t local_retry_at_ms;   /* when the local side may open again */

	/* local side (bridge_link.c) */
	struct conn *conn;         /* the broker connection, NULL while there is none (not referenced: its close
	                            * clears this) */
	bool local_up;             /* CONNACK received */
	atomic_bool subscribed;    /* the local side's SUBACK came once: bridge__wait_ready may return */
	uint16_t local_window;     /* the broker's Receive Maximum for what the bridge publishes */
	uint16_t in_flight;        /* messages from the remote the broker has not acknowledged */
	uint16_t next_pid;
	struct buf pend;           /* bytes from the broker not yet a whole packet */
	struct buf owed;           /* packets for the broker, fed at the end of the turn (not from inside a write) */
	struct worker_task owed_task;
	struct timer owed_timer;   /* the broker's input was full: try again shortly */
	bool ready_owed;           /* CONNACK came: the remote side may start (bridge__local_ready), at the task */
	struct bridge_out *out;    /* [65536] by remote message id */
	uint16_t *out_mid;         /* [65536] by local packet id: the remote message id + 1, 0 = none */
	struct bridge_in *in;      /* [65536] by local packet id */
	struct list backlog;       /* struct bridge_pending */
	uint32_t nbacklog;
	uint32_t out_pending;      /* QoS 1/2 messages handed to the remote client, not yet acknowledged */
	uint32_t out_qos0;         /* QoS 0 messages handed to it, not yet written (on_publish); a connection that
	                            * ends loses those (bridge_link__remote_gone) */
	struct buf scratch;

	struct bridge_stats stats; /* read by $SYS and the HTTP API from other threads */
};

/* ---- bridge.c, for bridge_link.c ---- */
/* The local connection is gone: the remote client is dropped too (what it held comes back from the local
 * session) and both sides start again shortly. */
void bridge__local_lost(struct bridge *br);
/* The local side is up (CONNACK, subscriptions sent): the remote side may start. */
void bridge__local_ready(struct bridge *br);

/* ---- bridge_probe.c ---- */
/* From the tick: starts a probe of the first address when one is due (connected elsewhere, not round_robin). */
void bridge_probe__tick(struct bridge *br, uint64_t now);
/* Stops a running probe. */
void bridge_probe__stop(struct bridge *br);
/* The interval between probes, and the delay before the next attempt after a failure: restart_timeout, or the
 * backoff's base. */
uint64_t bridge__base_delay_ms(const struct bridge *br);
/* The first address is back: leave the current connection for it. */
void bridge__switch_to_first(struct bridge *br);

/* ---- bridge_link.c ---- */
/* Opens the local connection: CONNECT (MQTT 5, the local client id and username, clean start as
 * local_cleansession) and a SUBSCRIBE of every out/both line's local filter. 0 or MIDGE_ERR_*. */
int bridge_link__open(struct bridge *br);
/* A message from the remote (the client's on_message): published locally, or kept until the window has room. */
void bridge_link__from_remote(struct bridge *br, const struct midge_message *m);
/* The remote client finished a message the broker gave (on_publish): acknowledged locally. */
void bridge_link__remote_done(struct bridge *br, uint16_t mid, int reason);
/* The remote connection ended: QoS 1 messages from it not yet acknowledged never will be (the remote resends
 * them; an acknowledgement on the next connection could answer another message under the same id). QoS 2 ones
 * are acknowledged on the next connection, which answers the remote's resend (libmidge keeps their ids). */
void bridge_link__remote_gone(struct bridge *br);
/* The remote kept no session: nothing from before is acknowledged to it any more. */
void bridge_link__remote_fresh(struct bridge *br);
/* Frees what the link holds (after the connection is gone). */
void bridge_link__fini(struct bridge *br);

#endif
