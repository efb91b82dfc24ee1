/* snclient: a small synchronous MQTT-SN 1.2 client over one UDP socket, for midge-sn-pub and midge-sn-sub and
 * for tests of the gateway. Each call sends what it has to, waits (poll) for the answer it needs, resending
 * after Tretry up to Nretry times, and handles whatever else the gateway sends meanwhile (its REGISTERs and
 * PUBLISHes, PUBREL, PINGREQ, DISCONNECT). One thread at a time per client; no threads of its own.
 *
 * Ownership: struct snc belongs to the caller (on the stack or in its own struct); snc__init makes it usable,
 * snc__close frees everything it holds and leaves it initialised again. Strings given to the setters are
 * copied. Views handed to callbacks (struct snc_message, struct sn_msg) live until the callback returns. */
#ifndef MIDGE_SNCLIENT_H
#define MIDGE_SNCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netdb.h>
#include <sys/socket.h>

#include "broker/sn_predefined.h"
#include "proto/sn.h"

#define SNC_CLIENT_ID_MAX 23 /* MQTT-SN 1.2: 1 to 23 characters */
#define SNC_WLNID_MAX 252    /* what the envelope's length octet leaves for a wireless node id */
#define SNC_QOS2_TRACKED 32  /* incoming QoS 2 message ids remembered until their PUBREL */

/* The topic registry: names and the normal (TopicIdType 0) ids the gateway gave them, both ways. A zeroed one is
 * a valid empty one; names are owned by it. Small by nature: lookups walk it. */
struct snc_topic_entry {
	uint16_t id;
	char *name; /* NUL-terminated */
	size_t len;
};
struct snc_registry {
	struct snc_topic_entry *v;
	size_t n, cap;
};

/* Records name (len bytes) <-> id, replacing whatever either had before (a gateway may re-register). Returns 0,
 * MIDGE_ERR_INVAL (id 0 or 0xFFFF, or an empty name) or MIDGE_ERR_NOMEM. */
int snc_reg__add(struct snc_registry *r, const char *name, size_t len, uint16_t id);
/* The entry for id / for name, or NULL; pointers live until the next add, remove or fini. */
const struct snc_topic_entry *snc_reg__by_id(const struct snc_registry *r, uint16_t id);
const struct snc_topic_entry *snc_reg__by_name(const struct snc_registry *r, const char *name, size_t len);
/* Forgets id (a gateway that says it no longer knows it). */
void snc_reg__remove(struct snc_registry *r, uint16_t id);
/* Frees every entry; r is then empty. */
void snc_reg__fini(struct snc_registry *r);

/* True when name goes as a short topic (TopicIdType 2) in the topic id field: exactly two characters and no
 * wildcard, as njh's mqtt-sn-tools decide. */
bool snc__is_short_topic(const char *name, size_t len);

/* A topic as the caller names it: by name (a short one goes in the id field; one the predefined table knows goes
 * as its predefined id), or, when name is NULL, by predefined id. */
struct snc_topic {
	const char *name;
	uint16_t predefined_id;
};
#define SNC_TOPIC_NAME(n) ((struct snc_topic){.name = (n)})
#define SNC_TOPIC_PREDEFINED(id) ((struct snc_topic){.predefined_id = (id)})

/* A message the gateway delivered. topic is NULL when the id has no name here (a predefined id missing from the
 * table): then topic_id and topic_type say what it was. */
struct snc_message {
	const char *topic;
	size_t topic_len;
	uint16_t topic_id;
	uint8_t topic_type; /* enum sn_topic_type */
	const void *payload;
	size_t len;
	int qos;
	bool retain, dup;
	uint16_t msg_id;
};

struct snc_callbacks {
	/* Each message once (a QoS 2 message resent before its PUBREL is not delivered again). May be NULL. */
	void (*on_message)(void *ud, const struct snc_message *m);
	/* Every datagram sent (sent true) or received and decoded, the inner message for an encapsulated one;
	 * for -d. May be NULL. */
	void (*on_datagram)(void *ud, bool sent, const struct sn_msg *m);
	void *ud;
};

enum snc_state {
	SNC_DISCONNECTED = 0, /* no session: only QoS -1 publishes */
	SNC_ACTIVE,           /* connected */
	SNC_ASLEEP,           /* DISCONNECT with a duration answered; the gateway buffers for us */
};

struct snc {
	/* settings (snc__init sets the defaults; the setters check them) */
	char client_id[SNC_CLIENT_ID_MAX + 1];
	uint16_t keepalive; /* seconds, CONNECT's duration; 0: no PINGREQ */
	bool clean;         /* CONNECT's CleanSession flag, default true */
	int retry_ms;       /* Tretry, default 10000 */
	int retries;        /* Nretry, default 5 */
	struct snc_callbacks cb;
	/* the will (snc__set_will) */
	char *will_topic;
	uint8_t *will_payload;
	size_t will_len;
	int will_qos;
	bool will_retain;
	/* forwarder encapsulation (snc__set_forwarder) */
	bool fe;
	uint8_t wlnid[SNC_WLNID_MAX];
	size_t wlnid_len;
	/* the socket: addrs is the getaddrinfo list; cur the address in use, moved on while nothing answered */
	int fd;
	struct addrinfo *addrs, *cur;
	bool heard;   /* something came from the gateway: no more moving between addresses */
	bool refused; /* an ICMP port unreachable came back since the last answer */
	/* session */
	enum snc_state state;
	uint16_t last_msg_id;
	uint64_t last_sent_ms; /* for the keepalive */
	struct snc_registry reg;
	struct sn_predefs predefs;
	uint16_t qos2_in[SNC_QOS2_TRACKED]; /* received, PUBREC sent, PUBREL not yet seen; 0 = free */
	unsigned qos2_next;
	/* I/O buffers: rx holds the last datagram (decoded views point into it), tx the one being built */
	uint8_t rx[65536 + 256]; /* the longest message, and an envelope around it */
	struct buf tx, wrap;
	char err[256];
};

/* Defaults: no client id, keepalive 60, clean session, Tretry 10 s, Nretry 5, no will, no forwarder, no socket.
 * Does not allocate. */
void snc__init(struct snc *c);
/* Closes the socket (without a DISCONNECT: see snc__disconnect) and frees everything c holds; c is initialised
 * again, its settings back to the defaults. */
void snc__close(struct snc *c);

/* Settings, before snc__connect. Each returns 0 or MIDGE_ERR_INVAL with the reason in snc__error. */
int snc__set_client_id(struct snc *c, const char *id);          /* 1 to 23 characters */
int snc__set_keepalive(struct snc *c, int seconds);             /* 0 to 65535 */
int snc__set_retry(struct snc *c, double seconds, int retries); /* Tretry > 0 (ms precision), Nretry 0 to 255 */
/* The will: topic a name (no wildcards), payload copied (len may be 0), qos 0..2. Also MIDGE_ERR_NOMEM. */
int snc__set_will(struct snc *c, const char *topic, const void *payload, size_t len, int qos, bool retain);
/* Wraps every datagram in a forwarder's envelope with this wireless node id (1 to 252 octets), and unwraps
 * replies. */
int snc__set_forwarder(struct snc *c, const void *wlnid, size_t len);
/* Reads a predefined topic file ("ID TOPIC" lines, the gateway's mqttsn_predefined_file format) into c's table,
 * replacing it. 0, MIDGE_ERR_IO, MIDGE_ERR_NOMEM or MIDGE_ERR_INVAL ("FILE: line N: ..." in snc__error). */
int snc__load_predefined(struct snc *c, const char *path);

/* Resolves host (IPv4 or IPv6, getaddrinfo) and opens a UDP socket to port. Sends nothing. 0, MIDGE_ERR_IO
 * (lookup or socket failure) or MIDGE_ERR_INVAL (port out of range, or a socket open already). */
int snc__open(struct snc *c, const char *host, int port);

/* The errors of the calls below: 0, MIDGE_ERR_TIMEOUT (no answer after Nretry resends: "gateway lost"; the
 * session is then given up), MIDGE_ERR_CLOSED (the gateway sent DISCONNECT: it dropped us; or not connected),
 * MIDGE_ERR_INVAL (bad arguments), MIDGE_ERR_IO (socket), MIDGE_ERR_NOMEM, or a refusal by return code:
 * MIDGE_ERR_AGAIN (congestion, 1), MIDGE_ERR_NOT_FOUND (invalid topic id, 2), MIDGE_ERR_NOT_SUPPORTED (3).
 * snc__error says what happened in a sentence, e.g. "connection refused: not supported (3)". */

/* CONNECT, with the will flow when a will is set (WILLTOPICREQ -> WILLTOPIC, WILLMSGREQ -> WILLMSG), until
 * CONNACK. From SNC_DISCONNECTED or SNC_ASLEEP; the state is SNC_ACTIVE on 0. */
int snc__connect(struct snc *c);
/* REGISTERs name (no wildcards) and records the id REGACK gives; *id (may be NULL) is set. A name registered
 * before is not sent again. */
int snc__register(struct snc *c, const char *name, uint16_t *id);
/* PUBLISHes payload to t at qos -1, 0, 1 or 2 (msg_id, may be NULL, is set for 1 and 2): -1 needs a short or
 * predefined topic and no connection; 0..2 need SNC_ACTIVE and REGISTER a normal name first. Returns once sent
 * (0, -1), PUBACK (1) or PUBCOMP (2) came; a PUBACK with a return code is its error. */
int snc__publish(struct snc *c, struct snc_topic t, const void *payload, size_t len, int qos, bool retain,
                 uint16_t *msg_id);
/* SUBSCRIBEs to t (a name may have wildcards) at qos 0..2 (-1 is not a subscription). On 0, *granted (may be
 * NULL) is the QoS SUBACK granted and a plain name is recorded with the id SUBACK gave. */
int snc__subscribe(struct snc *c, struct snc_topic t, int qos, int *granted);
/* UNSUBSCRIBEs from t, until UNSUBACK. */
int snc__unsubscribe(struct snc *c, struct snc_topic t);
/* PINGREQ (no client id), until PINGRESP. */
int snc__ping(struct snc *c);
/* Waits up to timeout_ms (negative: until something arrives) handling what the gateway sends, and PINGREQs
 * when nothing was sent for the keepalive period (SNC_ACTIVE). Returns 0 when the time is up or after one
 * datagram (so the caller's counters get a look between messages). */
int snc__loop(struct snc *c, int timeout_ms);
/* DISCONNECT with duration (seconds, 1..65535): the gateway keeps the session and buffers for us until
 * snc__wake. From SNC_ACTIVE (or asleep, to change the duration); SNC_ASLEEP on 0. */
int snc__sleep(struct snc *c, int duration);
/* From SNC_ASLEEP: PINGREQ with the client id; delivers (acknowledging) what the gateway buffered until its
 * PINGRESP, and stays asleep. */
int snc__wake(struct snc *c);
/* DISCONNECT until the gateway answers DISCONNECT; SNC_DISCONNECTED afterwards, whatever the result. */
int snc__disconnect(struct snc *c);

/* The sentence about the last error (or "" before any). Lives as long as c. */
const char *snc__error(const struct snc *c);
/* The next message id: 1 .. 65535, then 1 again (0 is not a message id). */
uint16_t snc__next_msg_id(struct snc *c);
/* "accepted", "congestion", "invalid topic id", "not supported" (else "unknown"): MQTT-SN return codes. */
const char *snc__rc_string(int rc);

#endif
