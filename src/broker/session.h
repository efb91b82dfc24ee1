/* Sessions: the state of one client id that outlives its connections (subscriptions, QoS 1/2 messages
 * in flight and queued), and the table that finds them by client id.
 * Locking: session->lock guards every field below it; lock order is table -> session -> conn out_lock. */
#ifndef MIDGE_SESSION_H
#define MIDGE_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/idset.h"
#include "common/lock.h"
#include "common/list.h"

struct conn;
struct message;
struct broker;
struct worker;

/* With the store on, a session keeps at most this many queued messages (or bytes) in memory; later ones wait on
 * disk only and are read back in batches as the client drains its queue (persist.h). */
#define SESSION_QUEUE_MEM 1000u
#define SESSION_QUEUE_MEM_BYTES (8u << 20)

enum inflight_state {
	IF_WAIT_PUBACK,  /* QoS 1 sent */
	IF_WAIT_PUBREC,  /* QoS 2 sent */
	IF_WAIT_PUBCOMP, /* QoS 2, PUBREL sent */
};

/* How a message goes to one session, as its matching subscriptions decided. */
struct delivery {
	uint8_t qos;
	bool retain;
	uint32_t share;          /* through a shared subscription: topic__hash of the group name, else 0 */
	uint16_t nsubids;
	const uint32_t *subids;  /* Subscription Identifiers to send with it (borrowed) */
};

/* What inflight and queued messages keep of their delivery; subids owned (NULL when nsubids is 0). */
struct dmeta {
	uint8_t qos;
	bool retain;
	uint32_t share;
	uint16_t nsubids;
	uint32_t *subids;
};

/* An outgoing QoS 1/2 message given a packet id and not yet acknowledged. Holds a message reference (NULL once
 * only a PUBREL is left). */
struct inflight {
	struct list node; /* on the session's inflight list, or its unsent list while its row commits */
	struct message *msg;
	uint64_t seq; /* its row in the store (persist.h); 0 = not stored */
	uint16_t pid;
	uint8_t state;
	bool held; /* resumed but not resent yet: waits for room in the client's Receive Maximum */
	bool sent; /* the PUBLISH went out at least once: a resend carries DUP */
	bool rel_wait; /* PUBREC received: its PUBREL waits for the commit of that state (durable mode); its message
	                * is kept until then, in case that commit fails */
	bool requeue;  /* in unsent, with a queued row marked with its packet id: back to the queue if that fails */
	struct dmeta d;
};

/* A message waiting for room in the inflight window or for the client to come back. */
struct queued {
	struct list node;
	struct message *msg;
	uint64_t seq; /* its row in the store; 0 = not stored */
	struct dmeta d;
};

/* One subscription as the session remembers it, to remove it from the tree when the session ends. */
struct sess_sub {
	struct list node;
	struct sess_sub *hnext; /* chain in the session's sub_index */
	uint32_t hash;
	uint8_t options;
	uint16_t len;
	char filter[];
};

/* Finds a session's subscriptions by filter once it has many (a client with 100,000 of them would otherwise
 * make each SUBSCRIBE a walk of the list); NULL below the threshold. */
struct sub_index {
	uint32_t nbuckets; /* power of two */
	uint32_t count;
	struct sess_sub *buckets[];
};

struct session {
	/* Fields grouped by size so that no padding is left: an idle client's session costs what it holds (the
	 * allocation, with the client id, stays in a smaller malloc size class). */
	struct session *hash_next; /* table chain; guarded by the table lock */
	atomic_uint refs;
	uint16_t id_len; /* of client_id, at the end */
	bool in_table;
	/* Who it is, for ACL checks: its last connection's username (NULL = anonymous) and security domain,
	 * guarded by id_lock, a leaf lock, so a shared group can be checked under the tree lock. */
	atomic_bool exposed; /* its last connection came through an exposed listener (guard.h) */
	struct lock id_lock;
	uint32_t domain; /* security__domain's index (listeners are far fewer than 2^32) */
	char *username;

	struct lock lock;
	uint32_t expiry_interval; /* Session Expiry Interval, seconds; UINT32_MAX = never */
	struct conn *conn; /* attached connection or NULL (offline) */
	uint64_t expire_at_ms;    /* offline: when it ends; 0 = never */
	struct message *will;     /* a will waiting for its Will Delay Interval (reference), or NULL */
	uint64_t will_at_ms;      /* when that will is published */
	char *will_user;          /* the will's client's username (NULL = anonymous), for its ACL check */
	uint32_t will_domain;     /* and its security domain */
	uint32_t will_expiry;     /* its Message Expiry Interval, seconds */
	bool will_retain;
	bool clean;     /* discarded when its connection ends (Session Expiry Interval 0) */
	bool dead;      /* ended: deliveries are dropped */
	atomic_bool online; /* conn != NULL, readable without the lock (to pick a shared subscriber) */
	atomic_bool clustered;     /* its QoS 1/2 messages come from the cluster's consumers (cluster.h) */
	atomic_bool cluster_moved; /* its client went to another node of the cluster: it ends here, quietly */
	bool guard_logged; /* the encryption guard has said it withholds messages from this client (lock) */
	struct list subs; /* struct sess_sub */
	struct sub_index *sub_index;
	struct list inflight;
	/* Durable mode (persist.h): messages given a packet id whose row is still being committed; sent, and moved
	 * to inflight, once it is. In seq order; counted in inflight_count and out_pids. */
	struct list unsent;
	struct list queue;
	uint64_t queued_bytes;
	uint32_t unsent_count;
	uint32_t inflight_count;
	uint32_t held_count; /* inflight entries held (not on the wire) */
	uint32_t queued_count;
	struct idset out_pids; /* packet ids of the inflight and unsent lists */
	struct idset in_qos2;  /* packet ids of incoming QoS 2 messages awaiting PUBREL */
	/* The store (persist.h). */
	uint64_t seq;       /* the last seq given to one of its stored messages */
	uint64_t mem_seq;   /* the last seq in memory: stored queued messages after it are on disk only */
	uint64_t spilled;   /* queued messages on disk only (the memory queue was full), and their bytes */
	uint64_t spilled_bytes;
	uint16_t last_pid;
	bool tracked;       /* counted in broker stats.offline_deadlines */
	bool stored;        /* the session has a row in the store */
	bool fetching;      /* a batch of them is being read back */
	char client_id[];   /* NUL-terminated, in the same allocation */
};

struct session_table {
	struct lock lock;
	struct session **buckets;
	size_t nbuckets;
	size_t count;
};

/* A new session for client_id with one reference held by the caller; NULL when out of memory. */
struct session *session__new(const char *client_id, size_t id_len, bool clean);
static inline struct session *session__ref(struct session *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}
/* Keeps the broker's count of offline sessions with a deadline (an expiry or a delayed will) right, so
 * the once-a-second scan runs only while there is something to find. Session lock held. */
void session__track_locked(struct broker *b, struct session *s);

/* True when s may receive m: the ACL lets its client read m's topic, and the encryption guard does not keep m
 * from its (last) connection's listener. Takes id_lock only: callable under the session or tree lock. */
bool session__may_receive(struct broker *b, struct session *s, const struct message *m);
/* Sets who s is, from its new connection (username copied; NULL = anonymous). 0 or MIDGE_ERR_NOMEM. */
int session__set_identity(struct session *s, const char *username, size_t domain, bool exposed);

/* Frees what an inflight or queued entry keeps of its delivery. */
void dmeta__fini(struct dmeta *d);
/* Drops a reference; the last one frees the session and every message it holds. NULL is ignored. */
void session__unref(struct session *s);

int sessions__init(struct session_table *t);
/* Frees the table, ending and dropping every session in it. */
void sessions__fini(struct session_table *t);
/* With t->lock held: the session for client_id or NULL (no reference taken). */
struct session *sessions__find_locked(struct session_table *t, const char *id, size_t len);
/* With t->lock held: adds s (the table takes a reference). 0 or MIDGE_ERR_NOMEM. */
int sessions__insert_locked(struct session_table *t, struct session *s);
/* With t->lock held: removes s and drops the table's reference. */
void sessions__remove_locked(struct session_table *t, struct session *s);

/* Ends a session for good: marks it dead, removes its subscriptions from the broker's tree and drops its
 * queued and inflight messages. Caller holds a reference; the session is not in the table any more. */
void session__end(struct broker *b, struct session *s);

/* Removes s's subscription to filter (an ordinary one or "$share/{group}/{filter}") from the broker's
 * tree. Session lock held (lock order session -> tree). */
void session__unsubscribe_locked(struct broker *b, struct session *s, const uint8_t *filter, size_t len);
/* Records a subscription in the session (replacing the same filter). Session lock held. Returns 1 when
 * new, 0 when it replaced one, MIDGE_ERR_NOMEM. */
int session__remember_sub(struct session *s, const uint8_t *filter, size_t len, uint8_t options);
/* Forgets a subscription. Session lock held. Returns true when it existed. */
bool session__forget_sub(struct session *s, const uint8_t *filter, size_t len);

/* When s, going offline now, ends: 0 = never (an infinite Session Expiry Interval, unless
 * persistent_client_expiration bounds it). Session lock held. */
uint64_t session__expire_at(struct broker *b, const struct session *s, uint64_t now);

/* Incoming QoS 2 packet ids (session lock held): add returns false when already present. */
bool session__qos2_add(struct session *s, uint16_t pid);
bool session__qos2_remove(struct session *s, uint16_t pid);

/* ---- delivery (deliver.c) ---- */

/* Delivers m to s as d says, from any thread (w = the caller's worker or NULL): sends now when online
 * with room in the inflight window and output cap, else queues within the session limits, else drops
 * and counts. Takes its own message references and copies what it keeps of d. */
void session__deliver(struct broker *b, struct worker *w, struct session *s, struct message *m,
		      const struct delivery *d);
/* With the session lock held, in the same critical section that detaches s's connection (so a quick
 * reconnect cannot resume them first): takes out the messages s got through shared subscriptions that
 * another member of the same group can take (MQTT 5.0 4.8.2): QoS 1 ones sent and not acknowledged,
 * and queued ones. QoS 2 ones sent stay: that delivery must be completed with this client
 * [MQTT-4.8.2-4, -5]. Moves them to *taken (an initialised list) for session__give_shared. */
void session__take_shared_locked(struct broker *b, struct session *s, struct list *taken);
/* Without locks held: gives each message taken from s to another member of its group; one that no
 * member takes any more goes back to s. Empties taken. */
void session__give_shared(struct broker *b, struct worker *w, struct session *s, struct list *taken);
/* Handles an acknowledgement for an outgoing message (type PUBACK, PUBREC or PUBCOMP, with its MQTT 5
 * reason code, 0 for 3.x) and refills the window from the queue. Returns 0, or MIDGE_ERR_NOT_FOUND for an unknown packet id (ignored by
 * the caller in 3.1.1). Runs in the owning worker. */
int session__ack(struct broker *b, struct worker *w, struct session *s, uint8_t type, uint16_t pid, uint8_t reason);
/* With the session lock held, right after attaching a connection to an existing session: resends every
 * inflight message (DUP set, or PUBREL for those waiting for PUBCOMP) in order, then sends from the
 * queue. Doing it under the same lock as the attach keeps new deliveries behind the resends. */
void session__resume_locked(struct broker *b, struct session *s);
/* True when a QoS 1/2 delivery to s would go out at once: nothing queued and the window open. Takes the lock. */
bool session__has_room(struct broker *b, struct session *s);
/* Sends queued messages if the window and the output cap allow (after the cap made them wait).
 * Runs in the owner of c; takes the session lock. Returns true while messages still wait. */
bool session__pump(struct broker *b, struct worker *w, struct session *s, struct conn *c);

/* ---- the store's answers (deliver.c; called by persist.c, from the store thread) ---- */

/* The rows of s up to seq are committed: sends the unsent messages up to seq, as the window allows. Failed (rc):
 * a message whose row could not be written is not sent (its publisher was refused), one from the queue goes
 * back to it, and the client is closed so that it resumes from what is kept. */
void session__committed(struct broker *b, struct session *s, uint64_t seq, int rc);
/* The PUBREC state of the message seq is committed: sends its PUBREL. Failed: the message is back to waiting for
 * PUBREC and the client is closed (it sends PUBREC again when its session resumes). */
void session__rel_committed(struct broker *b, struct session *s, uint64_t seq, int rc);
/* A queued message read back from the store (seq > s->mem_seq), and the end of that read. */
/* Returns false when it could not take it (out of memory): the read stops there, the rest stays on disk. */
bool session__fetched(struct broker *b, struct session *s, struct message *m, const struct delivery *d, uint64_t seq);
void session__fetch_done(struct broker *b, struct session *s, long rows);
/* Start-up: an outgoing message of s from the store, in seq order: in flight (pid set; resent with DUP, it may
 * have been sent) or queued. Session lock not needed (nothing runs yet). 0 or MIDGE_ERR_NOMEM. */
int session__restore_out(struct session *s, struct message *m, const struct delivery *d, uint64_t seq, uint16_t pid,
			 uint8_t state);

#endif
