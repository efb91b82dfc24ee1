/* struct midge_client: the state of one client, shared by the files of src/client, and its lock rules.
 *
 * Locking: c->lock guards every field except those marked "loop", which only the thread driving the loop
 * (midge_client_start's thread, or the caller of the loop functions) touches. Functions of src/client whose
 * contract says "lock held" must be called with c->lock held; none of them calls a user callback: they queue
 * notes (notes.h), which the loop thread runs after letting go of the lock. */
#ifndef MIDGE_CLIENT_CLIENT_H
#define MIDGE_CLIENT_CLIENT_H

#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/notes.h"
#include "client/plist.h"
#include "client/url.h"
#include "common/buf.h"
#include "common/idset.h"
#include "common/list.h"
#include "midge/client.h"
#include "net/transport.h"

/* Where the connection is. */
enum conn_state {
	CS_IDLE,      /* no connection and none planned (before connect, after disconnect or a final failure) */
	CS_BACKOFF,   /* waiting until reconnect_at to try again */
	CS_TCP,       /* TCP connect in progress on sock */
	CS_TLS,       /* TCP up, TLS handshake in progress (mqtts://, wss://) */
	CS_WS,        /* TCP (and TLS) up, WebSocket upgrade in progress (ws://, wss://) */
	CS_CONNACK,   /* connection up, CONNECT buffered or sent, waiting for CONNACK */
	CS_CONNECTED, /* CONNACK accepted */
};

/* The options of midge_client_new, with every default applied and every string and list copied. */
struct copts {
	int version;
	char *client_id; /* "" for none */
	bool clean_start, persistent;
	uint16_t keepalive;
	uint32_t session_expiry;
	char *username; /* NULL: none */
	uint8_t *password;
	size_t password_len;
	bool has_password;
	char *will_topic; /* NULL: no will */
	uint8_t *will_payload;
	size_t will_payload_len;
	uint8_t will_qos;
	bool will_retain;
	struct midge_props will_props, connect_props;
	uint16_t max_inflight;
	size_t max_queued;
	bool reconnect;
	unsigned reconnect_min_ms, reconnect_max_ms, connect_timeout_ms;
	char *bind_address; /* NULL: any */
	bool bridge;        /* 3.x: the bridge bit in the CONNECT's protocol level */
	bool manual_ack;    /* incoming QoS 1/2 acknowledged by midge_client_ack (inack.h) */
	/* From connect_props: what this client accepts (0 = no limit / no aliases). */
	uint32_t max_packet_in;
	uint16_t topic_alias_max_in;
};

/* A QoS 0 PUBLISH written to the output buffer, completed (on_publish) once out_sent passes end. */
struct q0_mark {
	uint16_t mid;
	uint64_t end;
};

struct midge_client {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* broadcast on every change a wait or a flushing stop looks at */
	int wake_fd;         /* eventfd: written when another thread gave the loop work */
	bool wake_pending;   /* written and not yet drained */
	struct copts o;
	struct midge_callbacks cb;
	void *userdata;

	/* The server. */
	struct url url;
	bool have_url;
	unsigned url_gen; /* bumped by each midge_client_connect, so a resolution done unlocked can see it is stale */
	struct addrinfo *ai;      /* addresses of the URL's host */
	struct addrinfo *ai_next; /* next address to try in this attempt */
	char *client_id;          /* the one to send: the option's, or the one the server assigned */
	struct tls_ctx *tls;      /* for mqtts:// and wss:// URLs: midge_client_set_tls's, or the defaults once needed */
	bool tls_insecure;        /* no host name check (midge_tls_options.insecure) */

	/* The connection. */
	enum conn_state state;
	int sock;               /* the socket, -1 when none; t.fd once the transport is set up */
	struct transport t;     /* TCP, or TLS from CS_TLS on, WebSocket (around either) from CS_WS on; ops NULL
	                         * while the TCP connect is under way */
	unsigned conn_gen;  /* bumped for every socket opened: loop data of an older one is stale */
	bool clean_next;    /* Clean Session / Clean Start of the next CONNECT */
	bool user_stop;     /* midge_client_disconnect: no reconnect after this connection */
	bool disconnecting; /* DISCONNECT buffered: close once out is written */
	bool disc_req;      /* midge_client_disconnect before CONNACK: close at the next loop_misc */
	struct buf out;     /* bytes to write, whole packets */
	uint64_t out_sent;  /* bytes written from out on this connection (so out_sent + its length were added) */
	struct q0_mark *q0;
	size_t q0_n, q0_cap;
	uint64_t deadline;     /* CS_TCP / CS_CONNACK: the connect timeout */
	uint64_t reconnect_at; /* CS_BACKOFF */
	uint64_t last_in, last_out, ping_sent;
	bool ping_out;     /* PINGREQ sent, PINGRESP not yet seen */
	unsigned failures; /* attempts failed in a row, for the backoff */
	uint64_t rng;      /* xorshift state for the backoff jitter */
	char errtext[224]; /* why the current attempt or connection is failing, for the log */
	char last_error[224]; /* why the last one ended (midge_client_error_text) */

	/* What waits look at. */
	int last_outcome;     /* of the last connection attempt: 0, CONNACK code (> 0) or MIDGE_ERR_* */
	unsigned outcome_seq; /* bumped with each outcome */
	int last_end;         /* reason the last connection ended, as given to on_disconnect */
	int loop_rc;          /* loop: what the running loop call returns */

	/* Negotiated at CONNACK (MQTT 5 properties, defaults otherwise). */
	uint16_t keepalive;
	uint16_t server_receive_max;
	uint32_t server_max_packet; /* 0: no limit */
	uint8_t server_max_qos;
	bool server_retain;

	/* The session (session.h). */
	struct list items;      /* struct item, in the order the application gave them */
	struct list *next_send; /* first item not yet sent on this connection (&items when none) */
	size_t n_queued;        /* PUBLISH items never sent */
	size_t n_unacked;       /* QoS 1/2 PUBLISH items not completed */
	uint32_t window_used;   /* QoS 1/2 PUBLISH items sent on this connection and not completed */
	struct idset ids;       /* packet ids held by items */
	uint16_t last_mid;
	struct idset qos2_in;   /* incoming QoS 2 ids delivered and not yet released (PUBREL); see inack.h */
	struct idset qos2_wait; /* manual_ack: those of qos2_in the application has not acknowledged */
	struct idset qos1_wait; /* manual_ack: incoming QoS 1 ids delivered on this connection, not acknowledged */

	/* Callbacks to run (notes.h). */
	struct notes notes, notes_spare;
	bool notes_running; /* a batch is being run (by the loop thread): waits return only after it */

	/* The library's thread. */
	pthread_t thread;
	bool thread_active;   /* running its loop */
	bool thread_joinable; /* created and not yet joined */
	bool stop_req;
	unsigned loop_depth; /* a loop function is running, in loop_thread: it needs no wake-up */
	pthread_t loop_thread;

	/* loop: input of the current connection. */
	struct buf in;
	unsigned in_gen; /* conn_gen the contents of in and aliases belong to */
	char *topic_buf;
	size_t topic_cap;
	struct buf *aliases; /* topic_alias_max_in + 1 entries, the server's topic aliases */
};

/* Wakes the loop through the eventfd (once until it drains). Lock held. */
void client__wake(struct midge_client *c);
/* The loop has bytes to write, or a TCP connect, TLS record or WebSocket frame of the transport's own waits for the socket to be writable. Lock held. */
static inline bool client__want_write(const struct midge_client *c)
{
	if (c->sock < 0) return false;
	if (c->state == CS_TCP || c->t.want_write) return true;
	return c->state != CS_TLS && c->state != CS_WS && buf__len(&c->out) > 0;
}
/* The window of QoS 1/2 publishes in flight: min(max_inflight, the server's Receive Maximum). Lock held. */
static inline uint32_t client__window(const struct midge_client *c)
{
	return c->o.max_inflight < c->server_receive_max ? c->o.max_inflight : c->server_receive_max;
}

#endif
