/* The cluster (docs/cluster.md): several midge nodes as one broker on NATS. This first part routes messages: each
 * node subscribes on NATS to the subjects of its local subscriptions (one NATS subscription per filter that has
 * local subscribers), and a message published on a node goes to its local subscribers directly and to NATS once
 * for the other nodes'. Retained messages follow the messages (each node keeps those it saw). $SYS topics stay on
 * their node. A broker without `cluster_nats_url` runs as before. */
#ifndef MIDGE_CLUSTER_H
#define MIDGE_CLUSTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct conn;
struct message;
struct cluster;

/* Counters, written from any thread. */
struct cluster_stats {
	atomic_uint_fast64_t sent;       /* messages published to NATS */
	atomic_uint_fast64_t received;   /* messages from other nodes handed to local subscribers */
	atomic_uint_fast64_t duplicates; /* copies of one message a node got through several of its subscriptions */
	atomic_uint_fast64_t malformed;  /* NATS messages on cluster subjects that did not decode */
	atomic_uint_fast64_t failed;     /* publishes NATS refused (too large for its max_payload, or no buffer
	                                  * while reconnecting) */
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
 * Any thread. */
void cluster__publish(struct cluster *cl, const struct message *m);
/* A CONNECT for client_id was accepted here: the session registry records this node as its owner, and another
 * node that has it connected closes that connection. Cheap (queued for the registry's thread); any thread, also
 * under the sessions' locks. NULL cl is ignored. */
void cluster__claim(struct cluster *cl, const char *client_id);
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
