/* Durable storage of the broker's state (retained messages, sessions, subscriptions, offline queues,
 * inflight and incoming QoS 2 state) on SQLite in WAL mode, written by a thread of its own in group commits.
 * Standalone: it knows nothing of the broker's structs, only the plain rows below, so it is testable alone.
 *
 * Threads: every store__* function is safe from any thread once store__open returned, except
 * store__close (once, after every other caller is done). Writes are asynchronous: an enqueue copies what it
 * is given and returns at once; the store thread commits everything enqueued since its last commit in one
 * transaction, then calls each change's completion callback, in enqueue order, from the store thread.
 * Reads run on a connection of their own and see committed rows only (not changes still queued). */
#ifndef MIDGE_STORE_H
#define MIDGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum store_mode {
	/* synchronous=FULL, and a commit starts as soon as the previous one ends: a change whose callback said
	 * 0 survives kill -9 and power loss. The broker acknowledges only from the callback. */
	STORE_DURABLE,
	/* synchronous=NORMAL, and a commit at most every group_ms: survives kill -9 once committed; power loss
	 * can undo the last commits. Meant for a broker that acknowledges without waiting (docs/storage.md). */
	STORE_GROUP,
};

struct store_options {
	enum store_mode mode;
	unsigned group_ms;  /* STORE_GROUP: the commit period; 0 = 50 ms */
	uint64_t max_bytes; /* the database may not grow past this (rounded down to pages); 0 = no limit.
	                     * Past it writes fail as a full disk would (MIDGE_ERR_IO, "database or disk is full") */
	/* A file that cannot be opened as a store because it is corrupt or not a database (not: a newer schema,
	 * a Mosquitto file, a permission error) is renamed to "<path>.corrupt-<YYYYmmddTHHMMSS>" (with its -wal
	 * and -shm files) and an empty store is created in its place; the new name goes to moved (moved_len
	 * bytes; "" when nothing was moved). Off: such a file is refused. */
	bool move_aside;
	char *moved;
	size_t moved_len;
};

/* What the store has done so far, for $SYS and metrics. */
struct store_stats {
	uint64_t commits;         /* transactions committed */
	uint64_t failures;        /* transactions that failed (rolled back) */
	uint64_t changes;         /* changes committed */
	uint64_t queued;          /* changes enqueued and not yet committed or failed */
	                          /* (changes: writes only; barriers, flushes and fetches are not counted) */
	uint64_t last_commit_us;  /* duration of the last commit (BEGIN to COMMIT, fsync included) */
	uint64_t max_commit_us;   /* the longest so far */
	uint64_t file_bytes;      /* the database file's size (page_count x page_size) at the last commit */
};

/* An application message as a row holds it. Every pointer is borrowed for the call it is passed to (or,
 * from a read callback, valid only during that callback). */
struct store_msg {
	const uint8_t *topic;
	uint32_t topic_len;
	const uint8_t *payload;
	uint32_t payload_len;
	const uint8_t *props; /* MQTT 5 properties forwarded unchanged, without their length; may be NULL */
	uint32_t props_len;
	uint8_t qos;
	bool retain;
	uint64_t expiry_ms; /* wall-clock deadline, ms since the epoch (not clock__ms: it must survive a reboot);
	                     * 0 = never expires */
};

/* How a queued or inflight message goes to its session (the broker's struct dmeta). */
struct store_delivery {
	uint8_t qos;
	bool retain;
	uint32_t share; /* hash of the shared group's name, 0 = not through a shared subscription */
	uint16_t nsubids;
	const uint32_t *subids; /* Subscription Identifiers; NULL when nsubids is 0 */
};

struct store_session {
	const char *client_id;
	size_t id_len;
	uint32_t expiry_interval; /* Session Expiry Interval, s; UINT32_MAX = never */
	uint64_t expire_at_ms; /* wall clock, ms since the epoch, when an offline session ends; 0 = online or never */
	const char *username;  /* NULL = anonymous */
	size_t username_len;
	const struct store_msg *will; /* NULL = no will */
	uint32_t will_delay;          /* Will Delay Interval, s */
	bool connected; /* a connection was attached when this was written: after a crash, its will is due */
};

struct store_sub {
	const char *client_id;
	size_t id_len;
	const uint8_t *filter; /* as subscribed, "$share/{group}/{filter}" included */
	size_t filter_len;
	uint8_t options; /* the SUBSCRIBE options byte */
	uint32_t sub_id; /* Subscription Identifier, 0 = none */
};

/* An outgoing QoS 1/2 message of a session: queued (pid 0), or given a packet id and in flight (pid and
 * state set). seq orders a session's messages: the order they are sent and resent in. */
struct store_out {
	const char *client_id;
	size_t id_len;
	uint64_t seq;                /* 1 .. 2^63-1 */
	uint16_t pid;                /* 0 = queued, not sent yet */
	uint8_t state;               /* with a pid: session.h enum inflight_state */
	const struct store_msg *msg; /* NULL once only a PUBREL is left to resend (state IF_WAIT_PUBCOMP) */
	struct store_delivery d;
};

/* Called from the store thread once the transaction holding the change committed (rc 0) or failed (rc
 * MIDGE_ERR_IO: the change is not stored; store__last_error says why). It must not block for long: the
 * next commit waits for it. It may enqueue more changes. */
typedef void (*store_done_cb)(void *arg, int rc);

/* Opens the store at path, creating the file and its schema when missing, and starts the store thread.
 * Refuses, with NULL and a message naming the file in err (errlen bytes, may be 0): a file that is not a
 * database, a corrupt one (PRAGMA quick_check), a schema version newer than this code knows, a database that
 * is not a store. The caller owns the result; free with store__close.
 * (Also refused: a file midge may not write, and a Mosquitto persistence file, known by its first bytes and
 * never opened as a database. With opt->move_aside, the first two kinds are moved aside instead.) */
struct store *store__open(const char *path, enum store_mode mode, char *err, size_t errlen);
struct store *store__open_opts(const char *path, const struct store_options *opt, char *err, size_t errlen);
/* Commits what is still queued (calling its callbacks), stops the thread and frees st. NULL is ignored. */
void store__close(struct store *st);
/* Blocks until every change enqueued before the call has been committed or has failed, without waiting for
 * the group timer. Returns 0, MIDGE_ERR_IO when the commit that ended the wait failed, MIDGE_ERR_CLOSED or
 * MIDGE_ERR_NOMEM. Not from a completion callback (it would wait for itself). */
int store__flush(struct store *st);
/* Copies the message of the last failed write ("" when none) into buf (len bytes, may be 0). */
void store__last_error(struct store *st, char *buf, size_t len);
/* True when the last failed write failed for want of room (a full disk, max_bytes): MQTT 5's 0x97 then.
 * (Like store__last_error, it describes the last failure and stays so after commits succeed again.) */
bool store__last_error_full(struct store *st);
void store__stats(struct store *st, struct store_stats *out);
/* Writes enqueued and not yet committed (or failed): how far the store is behind. */
uint64_t store__pending(struct store *st);
/* The schema version this code writes (PRAGMA user_version). */
int store__schema_version(void);

/* ---- writes: each copies its arguments and returns 0, MIDGE_ERR_NOMEM, MIDGE_ERR_INVAL (a length out of
 * range) or MIDGE_ERR_CLOSED (store closing). Only when it returns 0 is cb (may be NULL) called, once. ---- */

/* Stores m as the retained message of its topic, replacing what was there. */
int store__retain_set(struct store *st, const struct store_msg *m, store_done_cb cb, void *arg);
int store__retain_clear(struct store *st, const uint8_t *topic, size_t len, store_done_cb cb, void *arg);
/* Creates or replaces a session row (its subscriptions, queue and inflight rows are kept). */
int store__session_put(struct store *st, const struct store_session *s, store_done_cb cb, void *arg);
/* Deletes a session with every subscription, queued, inflight and qos2_in row of its client id. */
int store__session_del(struct store *st, const char *id, size_t id_len, store_done_cb cb, void *arg);
/* Creates or replaces the subscription of (client id, filter). */
int store__sub_put(struct store *st, const struct store_sub *s, store_done_cb cb, void *arg);
int store__sub_del(struct store *st, const char *id, size_t id_len, const uint8_t *filter, size_t filter_len,
                   store_done_cb cb, void *arg);
/* Changes the calling thread enqueues between store__group_begin and store__group_end are committed in one
 * transaction (all or none): what one packet changed (an incoming QoS 2 packet id with the rows of the deliveries
 * it made) never survives a crash in part. They are queued at once, in order with other threads' changes (which
 * may then share that transaction); no commit starts past the group's first change until it ends. Groups nest
 * (the outermost end counts) and must be short. Not with
 * store__flush inside (it would wait for the group). */
void store__group_begin(struct store *st);
void store__group_end(struct store *st);
/* Writes nothing: cb is called once every change enqueued before it has committed (rc 0) or failed: the rc of
 * the transaction that held the last write before it, in its own batch or an earlier one (0 when there was none).
 * Not urgent: in STORE_GROUP it waits for the group timer. */
int store__barrier(struct store *st, store_done_cb cb, void *arg);
/* Creates or replaces the row (client id, o->seq); o->msg required. (A seq out of 1 .. 2^63-1 is
 * MIDGE_ERR_INVAL, here and in store__out_mark and store__out_del.) */
int store__out_put(struct store *st, const struct store_out *o, store_done_cb cb, void *arg);
/* Sets the packet id and state of the row (client id, seq); drop_msg also forgets its message (only a PUBREL is
 * left to resend). A missing row is not an error. */
int store__out_mark(struct store *st, const char *id, size_t id_len, uint64_t seq, uint16_t pid, uint8_t state,
		    bool drop_msg, store_done_cb cb, void *arg);
int store__out_del(struct store *st, const char *id, size_t id_len, uint64_t seq, store_done_cb cb, void *arg);
/* Records or forgets the packet id of an incoming QoS 2 message awaiting PUBREL. */
int store__qos2_in_put(struct store *st, const char *id, size_t id_len, uint16_t pid, store_done_cb cb, void *arg);
int store__qos2_in_del(struct store *st, const char *id, size_t id_len, uint16_t pid, store_done_cb cb, void *arg);

/* ---- reads (store_read.c): each calls its callback once per row, with pointers valid only during the call;
 * a callback returning non-zero stops the walk. They return the number of rows given, or MIDGE_ERR_IO. ---- */

typedef int (*store_msg_cb)(void *arg, const struct store_msg *m);
typedef int (*store_session_cb)(void *arg, const struct store_session *s);
typedef int (*store_sub_cb)(void *arg, const struct store_sub *s);
typedef int (*store_out_cb)(void *arg, const struct store_out *o);
typedef int (*store_pid_cb)(void *arg, const char *id, size_t id_len, uint16_t pid);

/* Every retained message, in topic order. */
long store__retain_each(struct store *st, store_msg_cb cb, void *arg);
/* Every session, in client id order. */
long store__sessions_each(struct store *st, store_session_cb cb, void *arg);
/* The subscriptions of one client id (id NULL: of every client), by client id then filter. */
long store__subs_each(struct store *st, const char *id, size_t id_len, store_sub_cb cb, void *arg);
/* At most max rows of a client's out table with seq > after, in seq order (queued and in flight alike): loaded
 * a batch at a time, the next batch after the last seq of this one. */
long store__out_load(struct store *st, const char *id, size_t id_len, uint64_t after, unsigned max, store_out_cb cb,
		     void *arg);
/* The highest seq of a client's rows into *seq (0 when none), to number new messages after it. 0 or
 * MIDGE_ERR_IO. */
int store__out_last(struct store *st, const char *id, size_t id_len, uint64_t *seq);
/* How many rows a client has with seq > after, and their message bytes (topic + payload + props). 0 or
 * MIDGE_ERR_IO. */
int store__out_count(struct store *st, const char *id, size_t id_len, uint64_t after, uint64_t *rows,
		     uint64_t *bytes);

/* The same walk as store__out_load, asynchronous: the store thread first commits the batch holding the fetch (so
 * every change enqueued before the call, maybe some after), then reads the rows on its own connection and calls row (from the store thread) for each, then
 * done(arg, rc, rows given) once, rc 0 or MIDGE_ERR_IO. For a client coming back to a queue that lives on disk:
 * no worker waits for the disk. Returns 0 (done will be called), MIDGE_ERR_NOMEM or MIDGE_ERR_CLOSED. */
/* (done is called for a fetch queued when store__close is called too, before close returns: close drains the
 * queue. MIDGE_ERR_INVAL for a NULL row or done, or an id longer than an MQTT string.) */
typedef void (*store_fetch_done)(void *arg, int rc, long rows);
int store__out_fetch(struct store *st, const char *id, size_t id_len, uint64_t after, unsigned max, store_out_cb row,
		     store_fetch_done done, void *arg);
/* The incoming QoS 2 packet ids of one client id (NULL: every client), by client id then pid. */
long store__qos2_in_each(struct store *st, const char *id, size_t id_len, store_pid_cb cb, void *arg);

#endif
