/* What the store's own files share (store.c, store_change.c, store_read.c): struct store and the queued
 * change. Not for the rest of the broker, which sees only store.h. */
#ifndef MIDGE_STORE_INT_H
#define MIDGE_STORE_INT_H

#include "broker/store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

enum change_kind {
	CH_NOOP,  /* writes nothing: store__flush and store__barrier */
	CH_FETCH, /* store__out_fetch: ends its batch, then reads on the writer */
	CH_GROUP, /* where a thread's open group begins (store__group_begin): no batch is cut past it until closed */
	CH_RETAIN_SET,
	CH_RETAIN_CLEAR,
	CH_SESSION_PUT,
	CH_SESSION_DEL,
	CH_SUB_PUT,
	CH_SUB_DEL,
	CH_OUT_PUT,
	CH_OUT_MARK,
	CH_OUT_DEL,
	CH_QOS2_PUT,
	CH_QOS2_DEL,
	CH_COUNT
};

/* out.pid and out.state are stored with these offsets so that they always take the same bytes in a row (SQLite
 * sizes an integer by its value): marking a queued row with its packet id then leaves the row's size as it was,
 * and SQLite overwrites it in place, needing no free page: on a full disk a client can still drain its queue. */
#define OUT_PID_BIAS 0x10000
#define OUT_STATE_BIAS 0x100

/* A change that may need more room in the file (it inserts), as opposed to one that updates or deletes: when the
 * disk is full, the store retries a batch without the units that hold one, so that deletes and updates (a
 * client draining its queue) still go through and make room. */
static inline bool change_grows(enum change_kind k)
{
	return k == CH_RETAIN_SET || k == CH_SESSION_PUT || k == CH_SUB_PUT || k == CH_OUT_PUT || k == CH_QOS2_PUT;
}

/* A change that writes rows (counted in the stats), as opposed to a barrier, a flush or a fetch. */
static inline bool change_writes(enum change_kind k)
{
	return k != CH_NOOP && k != CH_FETCH && k != CH_GROUP;
}

/* The writer's prepared statements: one per change kind but CH_SESSION_DEL (one per table) and CH_OUT_MARK (with
 * and without forgetting the message), the fetch's read, and the page count for the stats. */
enum store_sql {
	SQL_RETAIN_SET,
	SQL_RETAIN_CLEAR,
	SQL_SESSION_PUT,
	SQL_SESSION_DEL,
	SQL_SESSION_DEL_SUBS,
	SQL_SESSION_DEL_OUT,
	SQL_SESSION_DEL_QOS2,
	SQL_SUB_PUT,
	SQL_SUB_DEL,
	SQL_OUT_PUT,
	SQL_OUT_MARK,
	SQL_OUT_MARK_DROP,
	SQL_OUT_DEL,
	SQL_QOS2_PUT,
	SQL_QOS2_DEL,
	SQL_OUT_FETCH,
	SQL_PAGE_COUNT,
	SQL_COUNT
};

/* The rows of one client's out table with seq > ?2, in seq order, at most ?3: store__out_load on the reader and
 * store__out_fetch on the writer. Columns as store__out_rows reads them. */
#define STORE_OUT_SELECT                                                                                               \
	"SELECT client_id,seq,pid,state,topic,payload,props,qos,retain,expiry_ms,d_qos,d_retain,d_share,subids"        \
	" FROM out WHERE client_id=?1 AND seq>?2 ORDER BY seq LIMIT ?3"

/* One enqueued change: its arguments copied into data[], pointed at by the fields. */
struct change {
	struct change *next;
	enum change_kind kind;
	store_done_cb cb;
	void *arg;
	const char *id;
	size_t id_len;
	const uint8_t *key; /* topic or filter */
	size_t key_len;
	uint64_t seq; /* out rows; a fetch's after */
	uint64_t expire_at_ms;
	uint32_t num; /* sub_id, a session's expiry_interval, or a fetch's max */
	uint32_t will_delay;
	uint16_t pid;
	uint8_t state;
	uint8_t options;
	bool closed; /* CH_GROUP: its group ended (under the store lock) */
	uint64_t qseq; /* its place in the queue (store lock): enqueue order */
	uint64_t unit; /* what commits or fails with it: its group's marker's qseq, or its own qseq */
	int rc;        /* the store thread's: what became of it (0 or MIDGE_ERR_IO) */
	uint64_t group_last; /* CH_GROUP, once closed: qseq of the group's last change */
	bool connected;
	bool drop_msg;
	const char *username;
	size_t username_len;
	bool has_msg;
	struct store_msg msg;
	struct store_delivery d;
	store_out_cb row;         /* a fetch's */
	store_fetch_done fetched; /* a fetch's; cb is NULL then */
	uint8_t data[];
};

struct store {
	char *path;
	struct store_options opt;
	sqlite3 *db; /* the writer: the store thread's alone once open returned */
	sqlite3_stmt *sql[SQL_COUNT];
	long long page_size;
	bool made_sidecars; /* opening found neither -wal nor -shm: those there after a refusal are SQLite's */

	pthread_mutex_t read_lock; /* guards rdb */
	sqlite3 *rdb;              /* the reader */

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t wake;  /* a change was enqueued, a flush or fetch asked for, or closing */
	struct change *head, **tail;
	bool urgent;   /* a flush or fetch waits: commit without waiting for the group timer */
	bool stopping; /* closing: no more enqueues, the thread drains and ends */
	char last_err[256];
	bool last_err_full; /* last_err is for want of room (SQLITE_FULL) */
	struct store_stats stats;
	pthread_t thread;
	bool thread_started;
	int last_write_rc; /* the store thread's: result of the last transaction that held writes (barriers report it) */
	uint64_t next_qseq; /* the next change's qseq (store lock) */
};

/* Appends c to the queue and wakes the thread; MIDGE_ERR_CLOSED (c freed) when closing. (store.c) */
int store__enqueue(struct store *st, struct change *c, bool urgent);
/* Prepares the writer's statements. 0 or an SQLite error code. (store_change.c) */
int store__prepare(struct store *st);
/* Runs c's statements on the writer inside the open transaction. 0 or an SQLite error code. (store_change.c) */
int store__apply(struct store *st, const struct change *c);
/* Steps s (bound to STORE_OUT_SELECT) and calls cb for each row until it returns non-zero; the number of rows
 * given, and in *step_rc the last step's SQLite code (SQLITE_DONE or SQLITE_ROW when all went well). Resets s
 * but does not finalize it. (store_read.c) */
long store__out_rows(sqlite3_stmt *s, store_out_cb cb, void *arg, int *step_rc);
/* Runs the fetch c on the writer (outside any transaction) and calls its row and done callbacks. (store_read.c) */
void store__fetch_run(struct store *st, const struct change *c);

#endif
