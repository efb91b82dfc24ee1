/* The store's life: opening (schema, version and integrity checks), the store thread and its group commits,
 * flush and close. */
#include "broker/store/store_int.h"
#include "common/clock.h"
#include "midge/midge.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Version 1: the tables below. A change of schema bumps it and adds a migration after check_version. */
#define SCHEMA_VERSION 1

/* Message columns repeat in three tables: topic, payload, props, qos, retain, expiry_ms. */
static const char schema_sql[] =
    "CREATE TABLE retained(topic BLOB PRIMARY KEY, payload BLOB NOT NULL, props BLOB, qos INTEGER NOT NULL,"
    " retain INTEGER NOT NULL, expiry_ms INTEGER NOT NULL);"
    "CREATE TABLE sessions(client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL,"
    " expire_at_ms INTEGER NOT NULL, username TEXT, will_delay INTEGER NOT NULL, will_topic BLOB,"
    " will_payload BLOB, will_props BLOB, will_qos INTEGER, will_retain INTEGER, will_expiry_ms INTEGER);"
    "CREATE TABLE subs(client_id TEXT NOT NULL, filter BLOB NOT NULL, options INTEGER NOT NULL,"
    " sub_id INTEGER NOT NULL, PRIMARY KEY(client_id, filter));"
    "CREATE TABLE queue(client_id TEXT NOT NULL, seq INTEGER NOT NULL, topic BLOB NOT NULL,"
    " payload BLOB NOT NULL, props BLOB, qos INTEGER NOT NULL, retain INTEGER NOT NULL,"
    " expiry_ms INTEGER NOT NULL, d_qos INTEGER NOT NULL, d_retain INTEGER NOT NULL,"
    " d_share INTEGER NOT NULL, subids BLOB, PRIMARY KEY(client_id, seq));"
    "CREATE TABLE inflight(client_id TEXT NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " state INTEGER NOT NULL, topic BLOB, payload BLOB, props BLOB, qos INTEGER, retain INTEGER,"
    " expiry_ms INTEGER, d_qos INTEGER NOT NULL, d_retain INTEGER NOT NULL, d_share INTEGER NOT NULL,"
    " subids BLOB, PRIMARY KEY(client_id, pid));"
    "CREATE TABLE qos2_in(client_id TEXT NOT NULL, pid INTEGER NOT NULL, PRIMARY KEY(client_id, pid));";

int store__schema_version(void)
{
	return SCHEMA_VERSION;
}

static void seterr(char *err, size_t len, const char *fmt, ...)
{
	if (!len) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Runs one statement that returns at most one integer (a PRAGMA); *out gets it when out is not NULL. */
static int exec_int(sqlite3 *db, const char *sql, long long *out)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (out) *out = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* PRAGMA quick_check answers "ok" or a list of problems; the first one goes into err. */
static int quick_check(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL);
	if (rc == SQLITE_OK) rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(s, 0);
		if (r && strcmp(r, "ok") == 0) {
			rc = SQLITE_OK;
		} else {
			seterr(err, errlen,
			       "store %s is corrupt (quick_check: %s); restore it from a backup or move it away",
			       st->path, r ? r : "?");
			/* One line for the log: quick_check separates its findings with newlines. */
			for (char *nl = err; errlen && (nl = strchr(nl, '\n'));)
				*nl = ' ';
			rc = SQLITE_CORRUPT;
		}
	}
	if (rc != SQLITE_OK && rc != SQLITE_CORRUPT)
		seterr(err, errlen, "store %s cannot be read: %s (corrupt, or not a midge store?)", st->path,
		       sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return rc;
}

/* Checks the schema version of the file without writing to it; *fresh is set for a file with no tables yet. */
static int check_version(struct store *st, bool *fresh, char *err, size_t errlen)
{
	long long version = 0, tables = 0;
	int rc = exec_int(st->db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK) rc = exec_int(st->db, "SELECT count(*) FROM sqlite_schema", &tables);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store %s cannot be read: %s", st->path, sqlite3_errmsg(st->db));
		return rc;
	}
	if (version > SCHEMA_VERSION) {
		seterr(
		    err, errlen,
		    "store %s has schema version %lld, newer than this midge knows (%d): run the midge that wrote it",
		    st->path, version, SCHEMA_VERSION);
		return SQLITE_MISMATCH;
	}
	*fresh = version == 0 && tables == 0;
	if (version == SCHEMA_VERSION || *fresh) return SQLITE_OK;
	seterr(err, errlen, "store %s is an SQLite database but not a midge store (user_version %lld)", st->path,
	       version);
	return SQLITE_MISMATCH;
}

static int create_schema(struct store *st, char *err, size_t errlen)
{
	char sql[sizeof(schema_sql) + 96];
	snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%sPRAGMA user_version=%d;COMMIT;", schema_sql, SCHEMA_VERSION);
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store %s: cannot create the schema: %s", st->path, sqlite3_errmsg(st->db));
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

static int configure(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	/* WAL: readers (start-up loads, returning clients) never block the store thread, and a commit is one
	 * sequential append plus one fsync. */
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
	if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(s, 0);
		rc = m && strcmp(m, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
	} else {
		rc = rc == SQLITE_OK ? sqlite3_errcode(st->db) : rc;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store %s: cannot switch to WAL mode: %s", st->path, sqlite3_errmsg(st->db));
		return rc;
	}
	const char *sync = st->opt.mode == STORE_DURABLE ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
	rc = exec_int(st->db, sync, NULL);
	if (rc == SQLITE_OK && st->opt.max_bytes) {
		long long page = 4096;
		rc = exec_int(st->db, "PRAGMA page_size", &page);
		char sql[64];
		unsigned long long pages = page > 0 ? st->opt.max_bytes / (unsigned long long)page : 1;
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%llu", pages ? pages : 1);
		if (rc == SQLITE_OK) rc = exec_int(st->db, sql, NULL);
	}
	if (rc != SQLITE_OK) seterr(err, errlen, "store %s: %s", st->path, sqlite3_errmsg(st->db));
	return rc;
}

static int open_db(const char *path, int flags, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(*db, 1);
		/* Only a checkpoint or a second writer (none) can hold a lock we wait for, and briefly. */
		sqlite3_busy_timeout(*db, 5000);
	}
	return rc;
}

static void *store_thread(void *p);

struct store *store__open(const char *path, enum store_mode mode, char *err, size_t errlen)
{
	struct store_options opt = {.mode = mode};
	return store__open_opts(path, &opt, err, errlen);
}

struct store *store__open_opts(const char *path, const struct store_options *opt, char *err, size_t errlen)
{
	seterr(err, errlen, "%s", "");
	struct store *st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(path))) {
		seterr(err, errlen, "store %s: out of memory", path);
		free(st);
		return NULL;
	}
	st->opt = *opt;
	if (!st->opt.group_ms) st->opt.group_ms = 50;
	st->tail = &st->head;
	pthread_mutex_init(&st->read_lock, NULL);
	pthread_mutex_init(&st->lock, NULL);
	clock__cond_init(&st->wake);

	int rc = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->db);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store %s cannot be opened: %s", path,
		       st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		seterr(err, errlen, "store %s is read-only: midge must be able to write it", path);
		goto fail;
	}
	/* Every check before the first write, so that a file refused is left as it was. */
	bool fresh = false;
	if (quick_check(st, err, errlen) != SQLITE_OK) goto fail;
	if (check_version(st, &fresh, err, errlen) != SQLITE_OK) goto fail;
	if (configure(st, err, errlen) != SQLITE_OK) goto fail;
	if (fresh && create_schema(st, err, errlen) != SQLITE_OK) goto fail;
	if (store__prepare(st) != SQLITE_OK) {
		seterr(err, errlen, "store %s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	rc = open_db(path, SQLITE_OPEN_READWRITE, &st->rdb);
	if (rc == SQLITE_OK) rc = exec_int(st->rdb, "PRAGMA query_only=1", NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store %s cannot be opened for reading: %s", path,
		       st->rdb ? sqlite3_errmsg(st->rdb) : sqlite3_errstr(rc));
		goto fail;
	}
	if ((rc = pthread_create(&st->thread, NULL, store_thread, st)) != 0) {
		seterr(err, errlen, "store %s: cannot start its thread: %s", path, strerror(rc));
		goto fail;
	}
	st->thread_started = true;
	return st;
fail:
	store__close(st);
	return NULL;
}

void store__close(struct store *st)
{
	if (!st) return;
	if (st->thread_started) {
		pthread_mutex_lock(&st->lock);
		st->stopping = true;
		pthread_cond_signal(&st->wake);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->thread, NULL);
	}
	for (int i = 0; i < SQL_COUNT; i++)
		sqlite3_finalize(st->sql[i]);
	sqlite3_close(st->rdb);
	sqlite3_close(st->db);
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->read_lock);
	free(st->path);
	free(st);
}

int store__enqueue(struct store *st, struct change *c, bool urgent)
{
	c->next = NULL;
	pthread_mutex_lock(&st->lock);
	if (st->stopping) {
		pthread_mutex_unlock(&st->lock);
		free(c);
		return MIDGE_ERR_CLOSED;
	}
	bool was_empty = !st->head;
	*st->tail = c;
	st->tail = &c->next;
	if (urgent) st->urgent = true;
	/* The thread waits for the first change of a batch, or for the group timer when urgent changes. */
	if (was_empty || urgent) pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

void store__last_error(struct store *st, char *buf, size_t len)
{
	pthread_mutex_lock(&st->lock);
	seterr(buf, len, "%s", st->last_err);
	pthread_mutex_unlock(&st->lock);
}

/* Runs a batch in one transaction. Any failure rolls back all of it: SQLite may already have rolled back on
 * its own (a full disk, an I/O error), and changes of one batch may depend on each other. */
static int commit_batch(struct store *st, struct change *batch)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (struct change *c = batch; rc == SQLITE_OK && c; c = c->next)
		rc = store__apply(st, c);
	if (rc == SQLITE_OK) rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK) return 0;
	char msg[sizeof(st->last_err)];
	snprintf(msg, sizeof(msg), "store %s: write failed: %s", st->path, sqlite3_errmsg(st->db));
	if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&st->lock);
	memcpy(st->last_err, msg, sizeof(msg));
	pthread_mutex_unlock(&st->lock);
	return MIDGE_ERR_IO;
}

/* Takes everything queued as one batch: as soon as the previous commit ended (durable), or once group_ms
 * passed since the first change of the batch arrived (group), earlier when a flush waits or on close. */
static void *store_thread(void *p)
{
	struct store *st = p;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->head && !st->stopping)
			pthread_cond_wait(&st->wake, &st->lock);
		if (!st->head) break;
		if (st->opt.mode == STORE_GROUP && !st->stopping && !st->urgent) {
			struct timespec until = clock__abstime(clock__ms() + st->opt.group_ms);
			while (!st->stopping && !st->urgent &&
			       pthread_cond_timedwait(&st->wake, &st->lock, &until) != ETIMEDOUT) {
			}
		}
		struct change *batch = st->head;
		st->head = NULL;
		st->tail = &st->head;
		st->urgent = false;
		pthread_mutex_unlock(&st->lock);

		int rc = commit_batch(st, batch);
		while (batch) {
			struct change *next = batch->next;
			if (batch->cb) batch->cb(batch->arg, rc);
			free(batch);
			batch = next;
		}
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

struct flush_wait {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;
	int rc;
};

static void flush_done(void *arg, int rc)
{
	struct flush_wait *w = arg;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->rc = rc;
	pthread_cond_signal(&w->done_cond);
	pthread_mutex_unlock(&w->lock);
}

int store__flush(struct store *st)
{
	struct flush_wait w = {.done = false};
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.done_cond, NULL);
	struct change *c = calloc(1, sizeof(*c));
	int rc = c ? 0 : MIDGE_ERR_NOMEM;
	if (c) {
		c->kind = CH_NOOP;
		c->cb = flush_done;
		c->arg = &w;
		rc = store__enqueue(st, c, true);
	}
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.done_cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		rc = w.rc;
	}
	pthread_cond_destroy(&w.done_cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}
