/* The cluster (docs/cluster.md): several midge nodes as one broker on NATS. This first part routes messages: each
 * node subscribes on NATS to the subjects of its local subscriptions (one NATS subscription per filter that has
 * local subscribers), and a message published on a node goes to its local subscribers directly and to NATS once
 * for the other nodes'. Retained messages follow the messages (each node keeps those it saw). $SYS topics stay on
 * their node. A broker without `cluster_nats_url` runs as before. */
#ifndef MIDGE_CLUSTER_H
#define MIDGE_CLUSTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct conn;
struct message;
struct session;
struct cluster;

/* Counters, written from any thread. */
struct cluster_stats {
	atomic_uint_fast64_t sent;       /* messages published to NATS */
	atomic_uint_fast64_t received;   /* messages from other nodes handed to local subscribers */
	atomic_uint_fast64_t duplicates; /* copies of one message a node got through several of its subscriptions */
	atomic_uint_fast64_t malformed;  /* NATS messages on cluster subjects that did not decode */
	atomic_uint_fast64_t failed;     /* publishes NATS refused (too large for its max_payload, or no buffer
	                                  * while reconnecting) */
	atomic_uint_fast64_t unshared;   /* messages NATS gave this node for a shared group that had just lost its
	                                  * last member here */
	atomic_uint_fast64_t wills;      /* wills of clients of dead nodes this node published */
	atomic_int connected;            /* 1 while the NATS connection is up */
};

/* Connects to the NATS servers of b->conf.cluster_nats_url (in the background: a node starts while NATS is down
 * and catches up) and watches the subscription tree. Call before anything subscribes (before the store's
 * sessions are restored). 0 (also when no cluster is configured: b->cluster stays NULL), or MIDGE_ERR_* with a
 * message in err. */
int cluster__start(struct broker *b, char *err, size_t errlen);
/* Closes the NATS connection and frees the cluster; after the workers stopped. NULL-safe. */
void cluster__stop(struct broker *b);
/* A message published on this node: to NATS for the other nodes, unless it came from one or is a $SYS topic.
 * Any thread. True when shared subscription groups get the message through NATS (which picks one member per group
 * among every node's, this one's included), so the caller must not deliver it to local groups; false (a $SYS
 * topic, or NATS not there) when the local groups are to have it as on a broker alone. A QoS 1 or 2 message goes
 * to the cluster's JetStream stream once it is there (cluster__stores): *ticket gets the number its publisher's
 * acknowledgement waits for (cluster__barrier), else 0. */
bool cluster__publish(struct cluster *cl, const struct message *m, uint64_t *ticket);

/* Whether QoS 1 and 2 messages published on this node are acknowledged only once JetStream keeps them: true once
 * the node found or made the stream. NULL-safe. */
bool cluster__stores(const struct cluster *cl);
typedef void (*cluster_done_cb)(void *arg, int rc);
/* Calls cb(arg, rc) once every message this node sent to the stream before the call is kept or given up on: rc is
 * MIDGE_ERR_IO when the message of ticket own (0: none) was not kept (JetStream did not take it within 30 s), else
 * 0. Barriers fire in the order they were made; at once, on the calling thread, when nothing is in flight. Any
 * thread. */
void cluster__barrier(struct cluster *cl, uint64_t own, cluster_done_cb cb, void *arg);
/* A CONNECT for client_id was accepted here: the session registry records this node as its owner, and another
 * node that has it connected closes that connection. Cheap (queued for the registry's thread); any thread, also
 * under the sessions' locks. NULL cl is ignored. */
void cluster__claim(struct cluster *cl, const char *client_id);
/* ---- persistent sessions across nodes (cluster_sessions.c) ----
 * A persistent session attached while the cluster stores QoS 1/2 messages is "clustered" (s->clustered): its
 * subscriptions are kept in the cluster, and its QoS 1/2 messages come from JetStream consumers. */

/* s (its lock and the sessions' lock held) was just attached for a CONNECT: it becomes clustered when persistent.
 * A session another node had (its entry in the cluster) is taken over when s is persistent and not a clean start
 * (its subscriptions are added to s), else ended there. True when they were (the CONNACK says a session was present). */
bool cluster__session_attach(struct cluster *cl, struct session *s, bool clean_start);
/* A clustered session subscribed (under its lock): its consumers are made. Returns the ticket the SUBACK waits
 * for (cluster__barrier), 0 when there is nothing to wait for (not clustered, a shared or a replaced
 * subscription), or CLUSTER_TICKET_FAILED (defined in cluster_int.h; UINT64_MAX). */
uint64_t cluster__session_sub(struct cluster *cl, struct session *s, const uint8_t *filter, size_t len,
			      uint8_t options, uint32_t sub_id);
/* A clustered session unsubscribed (under its lock): its consumers go. */
void cluster__session_unsub(struct cluster *cl, struct session *s, const uint8_t *filter, size_t len);
/* The registry saw its client connect to another node: s ends here without touching the cluster's copy (its
 * consumers are the other node's now), and its messages are not acknowledged to JetStream. */
void cluster__session_moved(struct cluster *cl, struct session *s);
/* A session ends (session__end): a clustered one's consumers and entry go, unless it moved to another node. */
void cluster__session_end(struct cluster *cl, struct session *s);
/* A message from a JetStream consumer is done with (the client acknowledged it, or had it at QoS 0): JetStream
 * is told so. Nothing for other messages (m->jsack NULL). Any thread. */
void cluster__consumed(struct cluster *cl, struct message *m);

/* c was accepted here (its session attached): its will, or none (NULL c->will), is what the other nodes publish
 * should this node die while c is connected (docs/cluster.md, "Wills of a node that dies"). Cheap (queued for
 * the wills' thread; the will is copied); any thread. Call in the order the client's connections attach (under the
 * session's lock). NULL cl is ignored. */
void cluster__will(struct cluster *cl, const struct conn *c);
/* The will of client_id's connection here is no longer for the other nodes to publish: published, discarded, or
 * now this node's alone. Cheap when the client had none; any thread, in the same order as cluster__will. */
void cluster__will_gone(struct cluster *cl, const char *client_id);
/* The counters, or NULL without a cluster. */
const struct cluster_stats *cluster__stats(const struct cluster *cl);

#endif
