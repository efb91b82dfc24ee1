/* Unit tests of the store: schema, every kind of row back after a reopen, queue order and batches, callbacks
 * after commit, concurrent enqueuers, refusals at open (corrupt, newer version, foreign database), write errors. */
#include "../../../tests/unit/check.h"
#include "broker/store/store.h"
#include "midge/midge.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(str) (str), strlen(str)

static char dir[64];

/* A fresh file name in the test directory, with no leftovers of an earlier run. */
static const char *fresh(const char *name)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	const char *sfx[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
	return path;
}

static struct store *open_ok(const char *path, enum store_mode mode)
{
	char err[256];
	struct store *st = store__open(path, mode, err, sizeof(err));
	if (!st) fprintf(stderr, "open: %s\n", err);
	CHECK(st != NULL);
	if (!st) exit(1);
	return st;
}

static long long query_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return v;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct store_msg msg(const char *topic, const char *payload)
{
	return (struct store_msg){.topic = (const uint8_t *)topic,
	                          .topic_len = (uint32_t)strlen(topic),
	                          .payload = (const uint8_t *)payload,
	                          .payload_len = (uint32_t)strlen(payload),
	                          .qos = 1};
}

static void test_create(void)
{
	const char *path = fresh("create.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	CHECK_EQ(query_int(path, "PRAGMA user_version"), store__schema_version());
	CHECK_EQ(query_int(path, "SELECT count(*) FROM sqlite_schema WHERE type='table'"), 6);
	store__close(st);
	sqlite3 *db;
	sqlite3_stmt *s;
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
	CHECK(strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	/* Reopening an existing store keeps it. */
	st = open_ok(path, STORE_GROUP);
	store__close(st);
}

/* ---- every kind of row, back after a reopen ---- */

struct seen {
	int n;
	char text[8][128];
};

static int retain_cb(void *arg, const struct store_msg *m)
{
	struct seen *s = arg;
	snprintf(s->text[s->n++ & 7], 128, "%.*s=%.*s q%u r%d e%llu p%u", (int)m->topic_len, m->topic,
	         (int)m->payload_len, m->payload, m->qos, m->retain, (unsigned long long)m->expiry_ms, m->props_len);
	return 0;
}

static int session_cb(void *arg, const struct store_session *ss)
{
	struct seen *s = arg;
	char will[64] = "-";
	if (ss->will)
		snprintf(will, sizeof(will), "%.*s=%.*s/%u", (int)ss->will->topic_len, ss->will->topic,
		         (int)ss->will->payload_len, ss->will->payload, ss->will_delay);
	snprintf(s->text[s->n++ & 7], 128, "%.*s x%u a%llu u%.*s w%s", (int)ss->id_len, ss->client_id,
	         ss->expiry_interval, (unsigned long long)ss->expire_at_ms, ss->username ? (int)ss->username_len : 1,
	         ss->username ? ss->username : "-", will);
	return 0;
}

static int sub_cb(void *arg, const struct store_sub *sb)
{
	struct seen *s = arg;
	snprintf(s->text[s->n++ & 7], 128, "%.*s %.*s o%u i%u", (int)sb->id_len, sb->client_id, (int)sb->filter_len,
	         sb->filter, sb->options, sb->sub_id);
	return 0;
}

static int out_cb(void *arg, const struct store_out *o)
{
	struct seen *s = arg;
	char sub[32] = "";
	for (unsigned i = 0; i < o->d.nsubids && i < 3; i++)
		snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), ",%u", o->d.subids[i]);
	snprintf(s->text[s->n++ & 7], 128, "%.*s s%llu p%u st%u %.*s dq%u dr%d sh%u%s", (int)o->id_len, o->client_id,
	         (unsigned long long)o->seq, o->pid, o->state, o->msg ? (int)o->msg->topic_len : 1,
	         o->msg ? (const char *)o->msg->topic : "-", o->d.qos, o->d.retain, o->d.share, sub);
	return 0;
}

static int pid_cb(void *arg, const char *id, size_t len, uint16_t pid)
{
	struct seen *s = arg;
	snprintf(s->text[s->n++ & 7], 128, "%.*s %u", (int)len, id, pid);
	return 0;
}

static void test_roundtrip(void)
{
	const char *path = fresh("roundtrip.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_msg r1 = msg("a/b", "hello");
	r1.retain = true;
	r1.expiry_ms = 1700000000123ull;
	r1.props = (const uint8_t *)"\x03\x00\x01x";
	r1.props_len = 4;
	struct store_msg r2 = msg("a/c", ""); /* an empty payload is kept as such, not as NULL */
	struct store_msg r3 = msg("gone", "x");
	CHECK_EQ(store__retain_set(st, &r1, NULL, NULL), 0);
	CHECK_EQ(store__retain_set(st, &r2, NULL, NULL), 0);
	CHECK_EQ(store__retain_set(st, &r3, NULL, NULL), 0);
	CHECK_EQ(store__retain_clear(st, (const uint8_t *)"gone", 4, NULL, NULL), 0);

	struct store_msg will = msg("will/t", "bye");
	struct store_session s1 = {.client_id = "c1",
	                           .id_len = 2,
	                           .expiry_interval = 3600,
	                           .expire_at_ms = 42,
	                           .username = "alice",
	                           .username_len = 5,
	                           .will = &will,
	                           .will_delay = 7};
	struct store_session s2 = {.client_id = "c2", .id_len = 2, .expiry_interval = UINT32_MAX};
	struct store_session s3 = {.client_id = "c3", .id_len = 2};
	CHECK_EQ(store__session_put(st, &s1, NULL, NULL), 0);
	CHECK_EQ(store__session_put(st, &s2, NULL, NULL), 0);
	CHECK_EQ(store__session_put(st, &s3, NULL, NULL), 0);

	struct store_sub sb1 = {.client_id = "c1",
	                        .id_len = 2,
	                        .filter = (const uint8_t *)"x/#",
	                        .filter_len = 3,
	                        .options = 0x2a,
	                        .sub_id = 9};
	struct store_sub sb2 = {
	    .client_id = "c1", .id_len = 2, .filter = (const uint8_t *)"$share/g/y", .filter_len = 10, .options = 1};
	struct store_sub sb3 = {.client_id = "c2", .id_len = 2, .filter = (const uint8_t *)"z", .filter_len = 1};
	CHECK_EQ(store__sub_put(st, &sb1, NULL, NULL), 0);
	CHECK_EQ(store__sub_put(st, &sb2, NULL, NULL), 0);
	CHECK_EQ(store__sub_put(st, &sb3, NULL, NULL), 0);
	CHECK_EQ(store__sub_del(st, S("c2"), (const uint8_t *)"z", 1, NULL, NULL), 0);

	uint32_t ids[2] = {5, 70000};
	struct store_msg qm = msg("q/t", "queued");
	struct store_out q = {.client_id = "c1",
	                      .id_len = 2,
	                      .seq = 3,
	                      .msg = &qm,
	                      .d = {.qos = 2, .retain = true, .share = 77, .nsubids = 2, .subids = ids}};
	CHECK_EQ(store__queue_push(st, &q, NULL, NULL), 0);
	struct store_out inf = q;
	inf.seq = 1;
	inf.pid = 10;
	inf.state = 1;
	CHECK_EQ(store__inflight_put(st, &inf, NULL, NULL), 0);
	struct store_out rel = {.client_id = "c1", .id_len = 2, .seq = 2, .pid = 11, .state = 2, .d = {.qos = 2}};
	CHECK_EQ(store__inflight_put(st, &rel, NULL, NULL), 0);
	CHECK_EQ(store__qos2_in_put(st, S("c1"), 300, NULL, NULL), 0);
	CHECK_EQ(store__qos2_in_put(st, S("c1"), 300, NULL, NULL), 0); /* a resend before PUBREL: one row */
	CHECK_EQ(store__qos2_in_put(st, S("c1"), 4, NULL, NULL), 0);
	/* Everything of c3 goes with its session. */
	struct store_out q3 = {.client_id = "c3", .id_len = 2, .seq = 1, .msg = &qm};
	CHECK_EQ(store__queue_push(st, &q3, NULL, NULL), 0);
	CHECK_EQ(store__qos2_in_put(st, S("c3"), 1, NULL, NULL), 0);
	CHECK_EQ(store__session_del(st, S("c3"), NULL, NULL), 0);
	store__close(st);

	st = open_ok(path, STORE_DURABLE);
	struct seen s = {0};
	CHECK_EQ(store__retain_each(st, retain_cb, &s), 2);
	CHECK(strcmp(s.text[0], "a/b=hello q1 r1 e1700000000123 p4") == 0);
	CHECK(strcmp(s.text[1], "a/c= q1 r0 e0 p0") == 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__sessions_each(st, session_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 x3600 a42 ualice wwill/t=bye/7") == 0);
	CHECK(strcmp(s.text[1], "c2 x4294967295 a0 u- w-") == 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__subs_each(st, NULL, 0, sub_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 $share/g/y o1 i0") == 0);
	CHECK(strcmp(s.text[1], "c1 x/# o42 i9") == 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__subs_each(st, S("c2"), sub_cb, &s), 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__queue_load(st, S("c1"), 0, 10, out_cb, &s), 1);
	CHECK(strcmp(s.text[0], "c1 s3 p0 st0 q/t dq2 dr1 sh77,5,70000") == 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__queue_load(st, S("c3"), 0, 10, out_cb, &s), 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__inflight_each(st, NULL, 0, out_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 s1 p10 st1 q/t dq2 dr1 sh77,5,70000") == 0);
	CHECK(strcmp(s.text[1], "c1 s2 p11 st2 - dq2 dr0 sh0") == 0);
	CHECK_EQ(store__inflight_del(st, S("c1"), 10, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(store__inflight_each(st, S("c1"), out_cb, &s), 1);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__qos2_in_each(st, NULL, 0, pid_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 4") == 0);
	CHECK(strcmp(s.text[1], "c1 300") == 0);
	CHECK_EQ(store__qos2_in_del(st, S("c1"), 4, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(store__qos2_in_each(st, S("c1"), pid_cb, &s), 1);
	store__close(st);
}

/* ---- queue order and batches ---- */

struct batch {
	uint64_t last;
	int n;
	bool ordered;
};

static int batch_cb(void *arg, const struct store_out *o)
{
	struct batch *b = arg;
	if (o->seq <= b->last) b->ordered = false;
	b->last = o->seq;
	b->n++;
	return 0;
}

static void test_queue_batches(void)
{
	const char *path = fresh("queue.db");
	struct store *st = open_ok(path, STORE_GROUP);
	struct store_msg m = msg("t", "p");
	enum { N = 1000 };
	/* Pushed out of order (a stride coprime with N), with another client's rows between. */
	for (unsigned i = 0; i < N; i++) {
		struct store_out o = {.client_id = "q", .id_len = 1, .seq = 1 + (i * 7) % N, .msg = &m};
		CHECK_EQ(store__queue_push(st, &o, NULL, NULL), 0);
		o.client_id = "other";
		o.id_len = 5;
		CHECK_EQ(store__queue_push(st, &o, NULL, NULL), 0);
	}
	for (uint64_t seq = 10; seq <= N; seq += 10)
		CHECK_EQ(store__queue_del(st, S("q"), seq, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	uint64_t last = 0;
	CHECK_EQ(store__queue_last(st, S("q"), &last), 0);
	CHECK_EQ(last, (uint64_t)N - 1);
	CHECK_EQ(store__queue_last(st, S("nobody"), &last), 0);
	CHECK_EQ(last, 0u);

	struct batch b = {.ordered = true};
	int batches = 0;
	long got;
	while ((got = store__queue_load(st, S("q"), b.last, 64, batch_cb, &b)) > 0) {
		CHECK(got <= 64);
		batches++;
	}
	CHECK_EQ(got, 0);
	CHECK(b.ordered);
	CHECK_EQ(b.n, N - N / 10);
	CHECK_EQ(batches, (N - N / 10 + 63) / 64);
	store__close(st);
}

/* ---- callbacks after commit, seen by a second connection ---- */

struct visible {
	const char *path;
	atomic_int calls, visible, failed;
};

static void visible_cb(void *arg, int rc)
{
	struct visible *v = arg;
	if (rc) atomic_fetch_add(&v->failed, 1);
	if (query_int(v->path, "SELECT count(*) FROM retained WHERE topic=CAST('seen' AS BLOB)") == 1)
		atomic_fetch_add(&v->visible, 1);
	atomic_fetch_add(&v->calls, 1);
}

static void test_callback_after_commit(enum store_mode mode)
{
	const char *path = fresh("visible.db");
	struct store *st = open_ok(path, mode);
	struct visible v = {.path = path};
	struct store_msg m = msg("seen", "1");
	CHECK_EQ(store__retain_set(st, &m, visible_cb, &v), 0);
	/* Without a flush: the callback comes by itself, in either mode. */
	for (int i = 0; i < 500 && atomic_load(&v.calls) == 0; i++)
		usleep(10000);
	CHECK_EQ(atomic_load(&v.calls), 1);
	CHECK_EQ(atomic_load(&v.visible), 1);
	CHECK_EQ(atomic_load(&v.failed), 0);
	store__close(st);
}

/* ---- many enqueuers ---- */

enum { THREADS = 8, PER_THREAD = 500 };

struct counter {
	atomic_int ok, failed;
};

static void count_cb(void *arg, int rc)
{
	struct counter *c = arg;
	atomic_fetch_add(rc ? &c->failed : &c->ok, 1);
}

struct worker_arg {
	struct store *st;
	struct counter *c;
	int index;
	atomic_int enqueue_errors;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	char id[16], topic[32];
	snprintf(id, sizeof(id), "w%d", w->index);
	for (int i = 1; i <= PER_THREAD; i++) {
		snprintf(topic, sizeof(topic), "t/%d/%d", w->index, i);
		struct store_msg m = msg(topic, "payload");
		struct store_out o = {.client_id = id, .id_len = strlen(id), .seq = (uint64_t)i, .msg = &m};
		if (store__queue_push(w->st, &o, count_cb, w->c)) atomic_fetch_add(&w->enqueue_errors, 1);
		if (i % 50 == 0 && store__retain_set(w->st, &m, count_cb, w->c))
			atomic_fetch_add(&w->enqueue_errors, 1);
	}
	return NULL;
}

static void test_concurrent(enum store_mode mode)
{
	const char *path = fresh("threads.db");
	struct store *st = open_ok(path, mode);
	struct counter c = {0};
	pthread_t t[THREADS];
	struct worker_arg w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker_arg){.st = st, .c = &c, .index = i};
		CHECK_EQ(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(atomic_load(&w[i].enqueue_errors), 0);
	}
	/* Close commits what is still queued and calls its callbacks. */
	store__close(st);
	int total = THREADS * (PER_THREAD + PER_THREAD / 50);
	CHECK_EQ(atomic_load(&c.ok), total);
	CHECK_EQ(atomic_load(&c.failed), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM queue"), THREADS * PER_THREAD);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM retained"), THREADS * PER_THREAD / 50);
	CHECK_EQ(query_int(path, "SELECT count(DISTINCT client_id) FROM queue"), THREADS);
}

/* ---- refusals at open ---- */

static void expect_refused(const char *path, const char *why)
{
	char err[512];
	struct store *st = store__open(path, STORE_DURABLE, err, sizeof(err));
	CHECK(st == NULL);
	store__close(st);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, why) != NULL);
	fprintf(stderr, "refused as expected: %s\n", err);
}

static void test_refusals(void)
{
	/* Garbage that is no database at all. */
	const char *path = fresh("garbage.db");
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	for (int i = 0; i < 8192; i++)
		fputc((i * 131 + 7) & 0xff, f);
	fclose(f);
	expect_refused(path, "not a database");

	/* A real store with a damaged page. */
	path = fresh("damaged.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_msg m = msg("t", "p");
	for (uint64_t i = 1; i <= 200; i++) {
		struct store_out o = {.client_id = "c", .id_len = 1, .seq = i, .msg = &m};
		store__queue_push(st, &o, NULL, NULL);
	}
	store__close(st);
	exec_sql(path, "PRAGMA wal_checkpoint(TRUNCATE)");
	long long pages = query_int(path, "PRAGMA page_count");
	CHECK(pages >= 3);
	f = fopen(path, "r+b");
	CHECK(f != NULL);
	fseek(f, 4096 * (pages - 1), SEEK_SET); /* the last page: a table or index page of ours */
	for (int i = 0; i < 4096; i++)
		fputc(0xa5, f);
	fclose(f);
	expect_refused(path, "corrupt");

	/* A store written by a newer midge. */
	path = fresh("newer.db");
	store__close(open_ok(path, STORE_DURABLE));
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", store__schema_version() + 1);
	exec_sql(path, sql);
	expect_refused(path, "newer");

	/* Someone else's database. */
	path = fresh("foreign.db");
	exec_sql(path, "CREATE TABLE t(x)");
	expect_refused(path, "not a midge store");

	/* A file that cannot be opened. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no/such/dir/x.db", dir);
	expect_refused(missing, "cannot be opened");
}

/* ---- write errors ---- */

static void test_disk_full(void)
{
	const char *path = fresh("full.db");
	char err[256];
	struct store_options opt = {.mode = STORE_DURABLE, .max_bytes = 256 * 1024};
	struct store *st = store__open_opts(path, &opt, err, sizeof(err));
	CHECK(st != NULL);
	if (!st) return;
	static char big[16 * 1024];
	memset(big, 'x', sizeof(big) - 1);
	struct store_msg m = msg("t", big);
	struct counter c = {0};
	int pushed = 0;
	for (uint64_t seq = 1; seq <= 64; seq++) {
		struct store_out o = {.client_id = "c", .id_len = 1, .seq = seq, .msg = &m};
		CHECK_EQ(store__queue_push(st, &o, count_cb, &c), 0);
		pushed++;
		/* One change per transaction, so that those before the limit are kept. */
		if (store__flush(st) != 0) break;
	}
	/* The cap is met at a commit or at a WAL checkpoint, whichever comes first (timing decides): at least
	 * one change fails, every change is answered, and exactly those answered ok are stored. */
	int failed = atomic_load(&c.failed), ok = atomic_load(&c.ok);
	CHECK(failed >= 1);
	CHECK(ok > 0 && ok + failed == pushed);
	store__last_error(st, err, sizeof(err));
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "full") != NULL);
	if (!strstr(err, "full")) fprintf(stderr, "last error: %s\n", err);
	/* The failed change is not stored, and the store goes on working once there is room again. */
	CHECK_EQ(query_int(path, "SELECT count(*) FROM queue"), ok);
	for (uint64_t seq = 1; seq < 20; seq++)
		CHECK_EQ(store__queue_del(st, S("c"), seq, count_cb, &c), 0);
	CHECK_EQ(store__flush(st), 0);
	struct store_out o = {.client_id = "c", .id_len = 1, .seq = 1000, .msg = &m};
	CHECK_EQ(store__queue_push(st, &o, count_cb, &c), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(atomic_load(&c.failed), failed);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM queue WHERE seq=1000"), 1);
}

static void cleanup(void)
{
	const char *names[] = {"create.db",  "roundtrip.db", "queue.db", "visible.db", "threads.db",
	                       "garbage.db", "damaged.db",   "newer.db", "foreign.db", "full.db"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		fresh(names[i]);
	rmdir(dir);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/midge-store-test-XXXXXX");
	if (!mkdtemp(dir)) return 1;
	test_create();
	test_roundtrip();
	test_queue_batches();
	test_callback_after_commit(STORE_DURABLE);
	test_callback_after_commit(STORE_GROUP);
	test_concurrent(STORE_DURABLE);
	test_concurrent(STORE_GROUP);
	test_refusals();
	test_disk_full();
	cleanup();
	CHECK_DONE();
}
