/* The store's life: opening (schema, version and integrity checks, moving a corrupt file aside), the store
 * thread with its group commits, fetches and idle checkpoints, flush and close. */
#include "broker/store/store_int.h"
#include "common/clock.h"
#include "midge/midge.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Version 1: the tables below. A change of schema bumps it and adds a migration after check_version. */
#define SCHEMA_VERSION 1

/* Message columns repeat in three tables: topic, payload, props, qos, retain, expiry_ms. out is an ordinary
 * (rowid) table with its key as an index rather than WITHOUT ROWID: its rows hold whole messages, often larger
 * than the ~200 bytes past which SQLite advises against WITHOUT ROWID, and the small (client_id, seq) index
 * entries keep inserts at the end of a client's range, deletes by key and range scans in few pages. */
static const char schema_sql[] =
    "CREATE TABLE retained(topic BLOB PRIMARY KEY, payload BLOB NOT NULL, props BLOB, qos INTEGER NOT NULL,"
    " retain INTEGER NOT NULL, expiry_ms INTEGER NOT NULL);"
    "CREATE TABLE sessions(client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL,"
    " expire_at_ms INTEGER NOT NULL, username TEXT, will_delay INTEGER NOT NULL, will_topic BLOB,"
    " will_payload BLOB, will_props BLOB, will_qos INTEGER, will_retain INTEGER, will_expiry_ms INTEGER,"
    " connected INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE subs(client_id TEXT NOT NULL, filter BLOB NOT NULL, options INTEGER NOT NULL,"
    " sub_id INTEGER NOT NULL, PRIMARY KEY(client_id, filter));"
    "CREATE TABLE out(client_id TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER NOT NULL,"
    " state INTEGER NOT NULL, topic BLOB, payload BLOB, props BLOB, qos INTEGER, retain INTEGER,"
    " expiry_ms INTEGER, d_qos INTEGER NOT NULL, d_retain INTEGER NOT NULL, d_share INTEGER NOT NULL,"
    " subids BLOB, PRIMARY KEY(client_id, seq));"
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

/* PRAGMA quick_check answers "ok" or a list of problems; the first one goes into err. SQLITE_CORRUPT also when
 * SQLite finds the damage before quick_check runs (a file cut short fails its prepare). */
static int quick_check(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
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
	} else if ((rc & 0xff) == SQLITE_CORRUPT) {
		seterr(err, errlen, "store %s is corrupt (%s); restore it from a backup or move it away", st->path,
		       sqlite3_errmsg(st->db));
	} else {
		seterr(err, errlen, "store %s cannot be read: %s (corrupt, or not a midge store?)", st->path,
		       sqlite3_errmsg(st->db));
	}
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

/* How long a connection waits for a lock: only a checkpoint or a second writer (none) holds one, and briefly. */
#define BUSY_MS 5000

static int open_db(const char *path, int flags, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(*db, 1);
		sqlite3_busy_timeout(*db, BUSY_MS);
	}
	return rc;
}

static bool exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

/* What opening found: a store to use, a file refused, or one that may be moved aside (corrupt, not a database). */
enum verdict { OPEN_OK, OPEN_REFUSED, OPEN_MOVABLE };

static bool corrupt_code(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* The first bytes of a Mosquitto persistence file (mosquitto.db): 0x00 0xB5 0x00 "mosquitto db". */
static const uint8_t mosquitto_magic[15] = {0x00, 0xb5, 0x00, 'm', 'o', 's', 'q', 'u',
                                            'i',  't',  't',  'o', ' ', 'd', 'b'};

/* Before SQLite sees the file: refuses one midge may not write, or Mosquitto's (its persistence_file is a likely
 * name to point midge at; SQLite would call it corrupt and move_aside would move it). Reads at most 15 bytes. */
static enum verdict check_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) return OPEN_OK; /* created by SQLite, or its own error for a missing directory */
		seterr(err, errlen, "store %s cannot be opened for writing: %s", path, strerror(errno));
		return OPEN_REFUSED;
	}
	uint8_t head[sizeof(mosquitto_magic)];
	size_t got = 0;
	while (got < sizeof(head)) {
		ssize_t n = read(fd, head + got, sizeof(head) - got);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		got += (size_t)n;
	}
	close(fd);
	if (got == sizeof(head) && memcmp(head, mosquitto_magic, sizeof(head)) == 0) {
		seterr(err, errlen,
		       "'%s' is a Mosquitto persistence file; midge keeps its own store format and cannot read it: set "
		       "persistence_file to another name or move the file away",
		       path);
		return OPEN_REFUSED;
	}
	return OPEN_OK;
}

/* Opens the writer and checks the file without writing to it: integrity, then schema version. */
static enum verdict open_checked(struct store *st, bool *fresh, char *err, size_t errlen)
{
	char wal[PATH_MAX], shm[PATH_MAX];
	snprintf(wal, sizeof(wal), "%s-wal", st->path);
	snprintf(shm, sizeof(shm), "%s-shm", st->path);
	bool had_wal = exists(wal);
	st->made_sidecars = !had_wal && !exists(shm);
	int rc = open_db(st->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->db);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store %s cannot be opened: %s", st->path,
		       st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		return OPEN_REFUSED;
	}
	/* A WAL left by an earlier run is not folded into a file that we then refuse (closing would checkpoint it). */
	if (had_wal) sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		seterr(err, errlen, "store %s is read-only: midge must be able to write it", st->path);
		return OPEN_REFUSED;
	}
	rc = quick_check(st, err, errlen);
	if (rc == SQLITE_OK) rc = check_version(st, fresh, err, errlen);
	if (rc == SQLITE_OK) return OPEN_OK;
	return corrupt_code(rc) ? OPEN_MOVABLE : OPEN_REFUSED;
}

/* After a refusal: SQLite may have created an empty -wal and a -shm beside a WAL-mode file it then found
 * corrupt; they go again, so that a refused file is left as it was found. */
static void refused(struct store *st)
{
	if (!st->db) return;
	sqlite3_close(st->db);
	st->db = NULL;
	char wal[PATH_MAX], shm[PATH_MAX];
	struct stat sb;
	snprintf(wal, sizeof(wal), "%s-wal", st->path);
	snprintf(shm, sizeof(shm), "%s-shm", st->path);
	if (st->made_sidecars && stat(wal, &sb) == 0 && sb.st_size == 0) {
		unlink(wal);
		unlink(shm);
	}
}

/* Renames path, its -wal and its -shm to "<path>.corrupt-<local time>[-n]"; the new name into st->opt.moved. */
static int move_aside(struct store *st, char *err, size_t errlen)
{
	char stamp[32], to[PATH_MAX], from_x[PATH_MAX + 8], to_x[PATH_MAX + 8]; /* room for a suffix */
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	static const char *const sfx[] = {"-wal", "-shm"};
	for (int n = 0;; n++) {
		int len = n ? snprintf(to, sizeof(to), "%s.corrupt-%s-%d", st->path, stamp, n)
		            : snprintf(to, sizeof(to), "%s.corrupt-%s", st->path, stamp);
		if (len < 0 || (size_t)len + 8 >= sizeof(to) || n > 1000) {
			seterr(err, errlen, "store %s is corrupt and no name is free to move it aside", st->path);
			return -1;
		}
		bool taken = exists(to);
		for (int i = 0; i < 2 && !taken; i++) {
			snprintf(to_x, sizeof(to_x), "%s%s", to, sfx[i]);
			taken = exists(to_x);
		}
		if (!taken) break;
	}
	if (rename(st->path, to) != 0) {
		seterr(err, errlen, "store %s is corrupt and cannot be moved aside to %s: %s", st->path, to,
		       strerror(errno));
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(from_x, sizeof(from_x), "%s%s", st->path, sfx[i]);
		snprintf(to_x, sizeof(to_x), "%s%s", to, sfx[i]);
		if (exists(from_x) && rename(from_x, to_x) != 0) {
			/* A WAL left beside a new file would be replayed into it: put everything back and refuse. */
			seterr(err, errlen, "store %s is corrupt and its %s cannot be moved aside: %s", st->path,
			       sfx[i], strerror(errno));
			for (int k = i - 1; k >= 0; k--) {
				snprintf(from_x, sizeof(from_x), "%s%s", st->path, sfx[k]);
				snprintf(to_x, sizeof(to_x), "%s%s", to, sfx[k]);
				rename(to_x, from_x);
			}
			rename(to, st->path);
			return -1;
		}
	}
	if (st->opt.moved && st->opt.moved_len) snprintf(st->opt.moved, st->opt.moved_len, "%s", to);
	return 0;
}

/* page_count x page_size, or 0 when it cannot be read. */
static uint64_t file_bytes(struct store *st)
{
	sqlite3_stmt *s = st->sql[SQL_PAGE_COUNT];
	uint64_t n = sqlite3_step(s) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return n * (uint64_t)st->page_size;
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
	if (opt->moved && opt->moved_len) opt->moved[0] = '\0';
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

	/* Every check before the first write, so that a file refused is left as it was. */
	bool fresh = false;
	if (check_file(path, err, errlen) != OPEN_OK) goto fail;
	enum verdict v = open_checked(st, &fresh, err, errlen);
	if (v == OPEN_MOVABLE && st->opt.move_aside) {
		refused(st);
		if (move_aside(st, err, errlen) != 0) goto fail;
		seterr(err, errlen, "%s", "");
		v = open_checked(st, &fresh, err, errlen);
	}
	if (v != OPEN_OK) {
		refused(st);
		goto fail;
	}
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	if (configure(st, err, errlen) != SQLITE_OK) goto fail;
	if (fresh && create_schema(st, err, errlen) != SQLITE_OK) goto fail;
	if (store__prepare(st) != SQLITE_OK || exec_int(st->db, "PRAGMA page_size", &st->page_size) != SQLITE_OK) {
		seterr(err, errlen, "store %s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	st->stats.file_bytes = file_bytes(st);
	int rc = open_db(path, SQLITE_OPEN_READWRITE, &st->rdb);
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
		/* The thread drains the queue first: every change is committed or failed and answered, every fetch
		 * run and its done called. */
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

/* The calling thread's open group (store__group_begin). Its changes are queued at once, in order with every other
 * thread's (a session's rows must reach the database in the order they were made), behind a CH_GROUP marker
 * queued with the first of them; the store thread cuts no batch past a marker whose group is still open, so the
 * group's changes share one transaction, with whatever other threads queued meanwhile. Per thread, because a
 * group is what one thread does in one step (a worker handling one packet). */
static _Thread_local struct {
	struct store *st;
	int depth;
	struct change *marker; /* queued with the group's first change; the store thread frees it once closed */
	uint64_t last;         /* qseq of the group's last change so far */
} group;

void store__group_begin(struct store *st)
{
	if (group.depth++ == 0) {
		group.st = st;
		group.marker = NULL;
	}
}

void store__group_end(struct store *st)
{
	if (group.depth == 0 || group.st != st || --group.depth > 0 || !group.marker) return;
	pthread_mutex_lock(&st->lock);
	group.marker->closed = true;
	group.marker->group_last = group.last;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	group.marker = NULL;
}

int store__enqueue(struct store *st, struct change *c, bool urgent)
{
	c->next = NULL;
	/* Out of memory for the marker: the group is not atomic, its changes still go in order. */
	struct change *mk = group.depth && group.st == st && !group.marker ? calloc(1, sizeof(*mk)) : NULL;
	if (mk) mk->kind = CH_GROUP;
	pthread_mutex_lock(&st->lock);
	if (st->stopping) {
		pthread_mutex_unlock(&st->lock);
		free(mk);
		free(c);
		return MIDGE_ERR_CLOSED;
	}
	bool was_empty = !st->head;
	if (mk) {
		mk->qseq = st->next_qseq++;
		*st->tail = mk;
		st->tail = &mk->next;
		group.marker = mk;
	}
	c->qseq = st->next_qseq++;
	c->unit = c->qseq;
	if (group.depth && group.st == st) {
		group.last = c->qseq;
		if (group.marker) c->unit = group.marker->qseq;
	}
	if (mk) mk->unit = mk->qseq;
	*st->tail = c;
	st->tail = &c->next;
	if (change_writes(c->kind)) st->stats.queued++;
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

bool store__last_error_full(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	bool full = st->last_err_full;
	pthread_mutex_unlock(&st->lock);
	return full;
}

void store__stats(struct store *st, struct store_stats *out)
{
	pthread_mutex_lock(&st->lock);
	*out = st->stats;
	pthread_mutex_unlock(&st->lock);
}

uint64_t store__pending(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	uint64_t n = st->stats.queued;
	pthread_mutex_unlock(&st->lock);
	return n;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Runs the writing changes of a batch in one transaction (none: no transaction, 0). Any failure rolls back all
 * of it: SQLite may already have rolled back on its own (a full disk, an I/O error), and changes of one batch may
 * depend on each other. 0 or MIDGE_ERR_IO. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Runs the batch in one transaction, leaving out the changes whose unit is in skip[0..nskip) (sorted). */
static int attempt(struct store *st, struct change *batch, const uint64_t *skip, size_t nskip)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (struct change *c = batch; rc == SQLITE_OK && c; c = c->next)
		if (!nskip || !bsearch(&c->unit, skip, nskip, sizeof(*skip), cmp_u64)) rc = store__apply(st, c);
	if (rc == SQLITE_OK) rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK) return 0;
	char msg[sizeof(st->last_err)];
	snprintf(msg, sizeof(msg), "store %s: write failed: %s", st->path, sqlite3_errmsg(st->db));
	if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&st->lock);
	memcpy(st->last_err, msg, sizeof(msg));
	st->last_err_full = (rc & 0xff) == SQLITE_FULL;
	st->stats.failures++;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* Commits the batch and sets each change's rc. A batch fails whole (rolled back, every change failed) unless the
 * file is full: then it is tried once more without the units (a change, or a thread's group of them) that
 * insert, so that deletes and updates still go through: a client draining its queue makes room again while
 * publishers are refused. True when something was committed. */
static bool commit_batch(struct store *st, struct change *batch)
{
	uint64_t n = 0, ngrow = 0;
	for (struct change *c = batch; c; c = c->next) {
		n += change_writes(c->kind);
		ngrow += change_grows(c->kind);
		c->rc = 0;
	}
	if (!n) return false;
	uint64_t t0 = now_us();
	int rc = attempt(st, batch, NULL, 0);
	uint64_t *skip = NULL;
	size_t nskip = 0, kept = n;
	if ((rc & 0xff) == SQLITE_FULL && ngrow && ngrow < n && (skip = malloc(ngrow * sizeof(*skip)))) {
		for (struct change *c = batch; c; c = c->next)
			if (change_grows(c->kind)) skip[nskip++] = c->unit;
		qsort(skip, nskip, sizeof(*skip), cmp_u64);
		for (struct change *c = batch; c; c = c->next)
			if (bsearch(&c->unit, skip, nskip, sizeof(*skip), cmp_u64)) {
				c->rc = MIDGE_ERR_IO;
				kept -= change_writes(c->kind);
			}
		rc = kept ? attempt(st, batch, skip, nskip) : rc;
		if (!kept) rc = SQLITE_FULL;
	}
	free(skip);
	if (rc != SQLITE_OK) {
		for (struct change *c = batch; c; c = c->next) c->rc = MIDGE_ERR_IO;
		kept = 0;
	}
	uint64_t us = now_us() - t0, bytes = kept ? file_bytes(st) : 0;
	pthread_mutex_lock(&st->lock);
	st->stats.queued -= n;
	if (kept) {
		st->stats.commits++;
		st->stats.changes += kept;
		st->stats.last_commit_us = us;
		if (us > st->stats.max_commit_us) st->stats.max_commit_us = us;
		st->stats.file_bytes = bytes;
	}
	pthread_mutex_unlock(&st->lock);
	return kept > 0;
}

static void answer_batch(struct store *st, struct change *batch)
{
	while (batch) {
		struct change *c = batch;
		batch = c->next;
		/* A barrier in a group answers for its group; one outside for the last write before it, wherever that
		 * was committed (a reply held for writes that a batch boundary separated from it must still hear that
		 * they failed). */
		if (change_writes(c->kind)) st->last_write_rc = c->rc;
		if (c->kind == CH_FETCH)
			store__fetch_run(st, c);
		else if (c->cb)
			c->cb(c->arg, c->kind == CH_NOOP && c->unit == c->qseq ? st->last_write_rc : c->rc);
		free(c);
	}
}

/* Commits and answers what the thread took. True when something was committed. */
static bool run_batches(struct store *st, struct change *list)
{
	/* One transaction, fetches included: a fetch reads once the whole batch is committed (cutting the batch at
	 * it could split a group), so it sees at least everything enqueued before it. */
	bool committed = commit_batch(st, list);
	answer_batch(st, list);
	return committed;
}

/* After a burst the WAL may stay large (SQLite's automatic checkpoints reuse it but never shrink it): once the
 * thread has been idle this long, a WAL past WAL_TRUNCATE_BYTES is checkpointed and truncated. */
#define IDLE_CHECKPOINT_MS 1000
#define WAL_TRUNCATE_BYTES (4u << 20)

/* False when readers kept the checkpoint from finishing: try again after the next idle period. */
static bool idle_checkpoint(struct store *st)
{
	char wal[PATH_MAX];
	struct stat sb;
	snprintf(wal, sizeof(wal), "%s-wal", st->path);
	if (stat(wal, &sb) != 0 || sb.st_size <= (off_t)WAL_TRUNCATE_BYTES) return true;
	/* Not the usual long wait for a reader: changes may be queuing meanwhile. */
	sqlite3_busy_timeout(st->db, 100);
	int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(st->db, BUSY_MS);
	return (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED;
}

/* Takes everything queued as one batch: as soon as the previous commit ended (durable), or once group_ms
 * passed since the first change of the batch arrived (group), earlier when a flush or fetch waits or on close.
 * Idle for IDLE_CHECKPOINT_MS after commits, it checkpoints a large WAL. The lock is never held over SQLite. */
/* Where the next batch ends: the longest prefix of the queue that holds every change of each group it touches.
 * It stops before the marker of a group still open, and never between a closed group's marker and its last
 * change, even when another group's marker lies between them (groups of different threads interleave).
 * Lock held. Returns the link to cut at (&st->head: nothing to take yet). */
static struct change **cut(struct store *st)
{
	struct change **link = &st->head, **safe = &st->head;
	uint64_t need = 0; /* the last qseq some group begun in the prefix still needs */
	for (struct change *c; (c = *link); link = &c->next) {
		if (c->kind == CH_GROUP && !c->closed) break;
		if (c->kind == CH_GROUP && c->group_last > need) need = c->group_last;
		if (c->qseq >= need) safe = &c->next;
	}
	return safe;
}

static bool takeable(struct store *st) { return cut(st) != &st->head; }

/* Takes the batch cut() allows. Lock held; takeable(st). */
static struct change *take(struct store *st)
{
	struct change **end = cut(st), *batch = st->head;
	st->head = *end;
	*end = NULL;
	if (!st->head) st->tail = &st->head;
	return batch;
}

static void *store_thread(void *p)
{
	struct store *st = p;
	bool wal_dirty = false; /* committed since the last idle checkpoint */
	uint64_t idle_since = 0;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!takeable(st) && !(st->stopping && !st->head)) {
			if (!wal_dirty) {
				pthread_cond_wait(&st->wake, &st->lock);
				continue;
			}
			uint64_t due = idle_since + IDLE_CHECKPOINT_MS;
			if (clock__ms() < due) {
				struct timespec until = clock__abstime(due);
				pthread_cond_timedwait(&st->wake, &st->lock, &until);
				continue;
			}
			pthread_mutex_unlock(&st->lock);
			wal_dirty = !idle_checkpoint(st);
			pthread_mutex_lock(&st->lock);
			idle_since = clock__ms();
		}
		if (!st->head) break;
		if (st->opt.mode == STORE_GROUP && !st->stopping && !st->urgent) {
			struct timespec until = clock__abstime(clock__ms() + st->opt.group_ms);
			while (!st->stopping && !st->urgent &&
			       pthread_cond_timedwait(&st->wake, &st->lock, &until) != ETIMEDOUT) {
			}
		}
		struct change *batch = take(st);
		st->urgent = false;
		pthread_mutex_unlock(&st->lock);

		wal_dirty |= run_batches(st, batch);
		idle_since = clock__ms();
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
