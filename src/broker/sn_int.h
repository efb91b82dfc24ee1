/* Internal to the MQTT-SN gateway (sn_gw.c: sockets, clients by address, connectionless messages; sn_in.c: a
 * connected client's datagrams as MQTT packets; sn_link.c: the transport that turns the broker's MQTT packets
 * into datagrams). Not for use outside src/broker/sn_*.c.
 *
 * A connected MQTT-SN client is an ordinary connection of the broker (struct conn) whose transport has no socket:
 * the gateway hands it the MQTT packets its datagrams stand for (worker__feed), and its transport's writev turns
 * the broker's packets back into datagrams. Sessions, QoS, queues, the store and ACLs are therefore the broker's
 * own code. Everything here belongs to the one worker whose loop the gateway's sockets are in: every MQTT-SN
 * connection of the listener is owned by that worker, so no lock guards this state. */
#ifndef MIDGE_SN_INT_H
#define MIDGE_SN_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "broker.h"
#include "common/buf.h"
#include "common/list.h"
#include "net/loop.h"
#include "net/timer.h"
#include "proto/sn.h"
#include "sn_gw.h"
#include "sn_predefined.h"
#include "sn_topics.h"

struct conn;

#define SN_NODE_MAX 32           /* longest wireless node id taken from a forwarder (ZigBee's are 8 octets) */
#define SN_HALF_OPEN_MAX 1024u   /* CONNECTs waiting for their will, per listener: the oldest goes first */
#define SN_HALF_OPEN_BYTES (4u << 20) /* and what they hold (client ids, will topics and messages) in all */
#define SN_CLIENT_ID_MAX 64u     /* MQTT-SN 1.2 says 1 to 23 characters; Midge takes up to 64 */
#define SN_DEFAULT_MAX_CLIENTS 10000u /* when the listener's max_connections is unlimited */
#define SN_PEND_MAX (128u * 1024u)    /* MQTT bytes a client's transport takes ahead of what it sent */
#define SN_IN_IDS 16u             /* recent incoming QoS 1/2 PUBLISHes whose topic id a PUBACK must repeat */
#define SN_SUB_IDS 8u             /* SUBSCRIBEs awaiting SUBACK, with the topic id it will carry */
/* The largest MQTT packet the broker may give an MQTT-SN client: its PUBLISH still fits one UDP datagram over IPv4
 * with the forwarder's envelope (65507 - 35 - 7 octets of payload at least). */
#define SN_MAX_OUT_PACKET 65400u

/* Who sent a datagram: the source address and socket, and behind a forwarder the wireless node id. */
struct sn_key {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	uint8_t node_len; /* 0: not encapsulated */
	uint8_t node[SN_NODE_MAX];
};

enum sn_state {
	SN_WILL_TOPIC, /* CONNECT with the will flag: WILLTOPICREQ sent */
	SN_WILL_MSG,   /* WILLMSGREQ sent */
	SN_ACTIVE,
	SN_ASLEEP,     /* DISCONNECT with a duration: output waits in the connection */
	SN_AWAKE,      /* PINGREQ with the client id: buffered output goes out, then PINGRESP */
};

/* A gateway-initiated message waiting for its answer, resent every Tretry up to Nretry times. */
struct sn_retry {
	struct list node;
	uint64_t due_ms;
	uint16_t msg_id;
	uint8_t answer; /* the type that ends it: REGACK, PUBACK, PUBREC or PUBCOMP */
	uint8_t tries;
	size_t len;
	uint8_t data[]; /* the message as sent (inside the envelope, when forwarded) */
};

struct sn_client {
	struct sn_gw *gw;
	struct sn_client *hash_next;
	struct sn_key key;
	char addr[INET6_ADDRSTRLEN + 16 + 2 * SN_NODE_MAX];
	enum sn_state state;
	struct conn *conn; /* borrowed (the worker owns it); NULL while half-open */
	/* Half-open: the CONNECT waiting for its will. */
	struct list half_node;
	uint64_t half_deadline;
	struct buf connect; /* the client id, then the will topic, then the will message */
	uint16_t id_len, will_topic_len;
	bool clean, will_retain;
	uint8_t will_qos;
	uint16_t duration;
	/* Connected. */
	uint16_t keepalive; /* the CONNECT's duration, back in force when a sleeping client comes back */
	bool connack_ok;    /* CONNACK accepted: a closing connection is told with DISCONNECT */
	/* The client answered a REGISTER of the gateway, whose message id it cannot have guessed: it receives at its
	 * address. Until then it is sent nothing but answers to what it sent (each no larger), and a REGISTER before
	 * the first PUBLISH, so that a CONNECT from a forged address cannot turn a session's messages on it. */
	bool verified;
	struct sn_topics topics;
	struct buf pend;    /* the broker's packets taken by writev and not yet sent (a REGISTER is answered first) */
	bool reg_wait;      /* a gateway REGISTER is unanswered: the packets behind it in pend wait */
	uint16_t reg_msg_id; /* that REGISTER's message id */
	uint16_t next_msg_id; /* of gateway REGISTERs */
	struct list retries;  /* struct sn_retry, oldest first */
	struct timer timer;   /* the next retry, or the check for a PINGRESP owed (always armed while either is) */
	bool pingresp_owed;   /* awake: PINGRESP goes once the buffered messages are delivered */
	struct {
		uint16_t msg_id, topic_id;
	} in_ids[SN_IN_IDS];
	struct {
		uint16_t msg_id, topic_id;
		uint8_t kind; /* enum sn_topic_type of topic_id */
	} sub_ids[SN_SUB_IDS];
	unsigned in_next, sub_next;
	/* A QoS 2 message the client would not take (it refused the REGISTER before it): the broker was told PUBREC,
	 * its PUBREL is not passed on, and the PUBCOMP it needs is handed to it from the timer (never from writev,
	 * which runs under the connection's output lock). */
	uint16_t swallow[SN_SUB_IDS], owed_comp[SN_SUB_IDS];
	unsigned nswallow, nowed;
};

/* One of the listener's sockets, as its worker's loop sees it. */
struct sn_sock {
	struct loop_io io;
	struct sn_gw *g;
};

struct sn_gw {
	struct broker *b;
	struct listener_rt *l;
	struct worker *w;
	int fds[LISTENER_MAX_FDS];
	struct sn_sock socks[LISTENER_MAX_FDS];
	int nfds;
	struct sn_predefs predef;
	struct sn_client **buckets;
	size_t nbuckets;
	atomic_size_t nclients; /* connected ones ($SYS reads it from its thread) */
	size_t max_clients;
	struct list half; /* half-open clients, oldest first */
	size_t nhalf;
	size_t half_bytes; /* their connect buffers' capacity */
	struct timer tick; /* once a second: half-open expiry, ADVERTISE */
	uint64_t next_advertise_ms;
	struct sockaddr_storage adv_addr;
	socklen_t adv_len;
	int adv_fd;
	uint64_t retry_ms; /* Tretry */
	uint8_t retries;   /* Nretry */
	struct buf out;    /* scratch for encoding a message */
	struct buf env;    /* and for its forwarder's envelope */
	struct sn_gw_stats stats;
	uint8_t rx[65536];
};

/* ---- sn_gw.c ---- */

/* Sends m to the client at key (in an envelope when it came through a forwarder), encoded in g->out, where it
 * stays until the next send. Dropped quietly when the socket will not take it: a datagram may be lost anyway,
 * and what needs an answer is retried. Returns 0, or the encoder's error (nothing sent). */
int sn_gw__send(struct sn_gw *g, const struct sn_key *key, const struct sn_msg *m);
/* The same for a message already encoded (a retry); p must not point into g->env. */
void sn_gw__send_raw(struct sn_gw *g, const struct sn_key *key, const uint8_t *p, size_t len);
/* Forgets a client (its connection closed): out of the table, counts. Does not free it. */
void sn_gw__unlink(struct sn_gw *g, struct sn_client *cl);
/* The topic name for a topic id of type kind (normal: cl's, which may be NULL; predefined; short), or NULL with
 * *len 0 when there is none. Short names point into id_field (two octets, network order). */
const uint8_t *sn_gw__topic_of(struct sn_gw *g, struct sn_client *cl, uint8_t kind, uint16_t topic_id, const uint8_t id_field[2],
			       size_t *len);

/* ---- sn_in.c ---- */

/* Completes a CONNECT (its will, if any, gathered): makes the connection and hands the broker its CONNECT. */
void sn_in__connect(struct sn_client *cl);
/* A message from a connected client (any state but half-open). cl may be freed on return. */
void sn_in__handle(struct sn_client *cl, const struct sn_msg *m);

/* ---- sn_link.c ---- */

extern const struct transport_ops sn_link__ops;
/* Sends the packets writev took that are not blocked behind a REGISTER. */
void sn_link__drain(struct sn_client *cl);
/* An answer (type, msg_id) to a gateway-initiated message: stops its retries. Returns true when one waited. */
bool sn_link__answered(struct sn_client *cl, uint8_t type, uint16_t msg_id);
/* A sleeping client woke up (PINGREQ with its client id): resends what waits for an answer, lets output go. */
void sn_link__wake(struct sn_client *cl);
/* Sends a REGISTER of e's name and id (answered by REGACK, retried) without holding anything behind it. */
void sn_link__register(struct sn_client *cl, struct sn_topic *e);
/* Frees a client (half-open, or after its connection's transport closed). */
void sn_link__free(struct sn_client *cl);
/* (Re)arms the client's timer for its next retry or owed PINGRESP. */
void sn_link__arm(struct sn_client *cl);

#endif
