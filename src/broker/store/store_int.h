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
	CH_NOOP, /* a barrier for store__flush */
	CH_RETAIN_SET,
	CH_RETAIN_CLEAR,
	CH_SESSION_PUT,
	CH_SESSION_DEL,
	CH_SUB_PUT,
	CH_SUB_DEL,
	CH_QUEUE_PUSH,
	CH_QUEUE_DEL,
	CH_INFLIGHT_PUT,
	CH_INFLIGHT_DEL,
	CH_QOS2_PUT,
	CH_QOS2_DEL,
	CH_COUNT
};

/* The writer's prepared statements, one per change kind but CH_SESSION_DEL, which has one per table. */
enum store_sql {
	SQL_RETAIN_SET,
	SQL_RETAIN_CLEAR,
	SQL_SESSION_PUT,
	SQL_SESSION_DEL,
	SQL_SESSION_DEL_SUBS,
	SQL_SESSION_DEL_QUEUE,
	SQL_SESSION_DEL_INFLIGHT,
	SQL_SESSION_DEL_QOS2,
	SQL_SUB_PUT,
	SQL_SUB_DEL,
	SQL_QUEUE_PUSH,
	SQL_QUEUE_DEL,
	SQL_INFLIGHT_PUT,
	SQL_INFLIGHT_DEL,
	SQL_QOS2_PUT,
	SQL_QOS2_DEL,
	SQL_COUNT
};

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
	uint64_t seq;
	uint64_t expire_at_ms;
	uint32_t num; /* sub_id, or a session's expiry_interval */
	uint32_t will_delay;
	uint16_t pid;
	uint8_t state;
	uint8_t options;
	const char *username;
	size_t username_len;
	bool has_msg;
	struct store_msg msg;
	struct store_delivery d;
	uint8_t data[];
};

struct store {
	char *path;
	struct store_options opt;
	sqlite3 *db; /* the writer: the store thread's alone once open returned */
	sqlite3_stmt *sql[SQL_COUNT];

	pthread_mutex_t read_lock; /* guards rdb */
	sqlite3 *rdb;              /* the reader */

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t wake;  /* a change was enqueued, a flush asked for, or closing */
	struct change *head, **tail;
	bool urgent;   /* a flush waits: commit without waiting for the group timer */
	bool stopping; /* closing: no more enqueues, the thread drains and ends */
	char last_err[256];
	pthread_t thread;
	bool thread_started;
};

/* Appends c to the queue and wakes the thread; MIDGE_ERR_CLOSED (c freed) when closing. (store.c) */
int store__enqueue(struct store *st, struct change *c, bool urgent);
/* Prepares the writer's statements. 0 or an SQLite error code. (store_change.c) */
int store__prepare(struct store *st);
/* Runs c's statements on the writer inside the open transaction. 0 or an SQLite error code. (store_change.c) */
int store__apply(struct store *st, const struct change *c);

#endif
