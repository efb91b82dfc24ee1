/* Unit tests of the store, on real SQLite files in a temporary directory: schema, every kind of row back after a
 * reopen, out rows (order, batches, mark, count, last), barriers and fetches in order with the changes, callbacks
 * after commit, concurrent enqueuers, stats, refusals and move-aside at open, write errors, the idle checkpoint. */
#include "../../../tests/unit/check.h"
#include "broker/store/store.h"
#include "midge/midge.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

static long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* The whole file into a new buffer (*len bytes); NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	char *buf = NULL;
	size_t cap = 0;
	*len = 0;
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			char *b = realloc(buf, cap);
			if (!b) break;
			buf = b;
		}
		size_t n = fread(buf + *len, 1, cap - *len, f);
		if (!n) break;
		*len += n;
	}
	fclose(f);
	return buf;
}

static bool same_bytes(const char *a, size_t alen, const char *path)
{
	size_t blen;
	char *b = slurp(path, &blen);
	bool same = b && alen == blen && memcmp(a, b, alen) == 0;
	free(b);
	return same;
}

/* How many names in the test directory start with prefix. */
static int count_names(const char *prefix)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls -1 %s | grep -c '^%s' 2>/dev/null", dir, prefix);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1) n = -1;
		pclose(p);
	}
	return n;
}

static void test_create(void)
{
	const char *path = fresh("create.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	CHECK_EQ(query_int(path, "PRAGMA user_version"), store__schema_version());
	CHECK_EQ(query_int(path, "SELECT count(*) FROM sqlite_schema WHERE type='table'"), 5);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM sqlite_schema WHERE name IN ('queue','inflight')"), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM pragma_table_info('out')"), 14);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM pragma_table_info('sessions') WHERE name='connected'"), 1);
	/* The key of out is (client_id, seq), kept in an index. */
	CHECK_EQ(query_int(path, "SELECT count(*) FROM pragma_index_list('out') WHERE \"unique\"=1 AND origin='pk'"),
	         1);
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
	snprintf(s->text[s->n++ & 7], 128, "%.*s x%u a%llu u%.*s w%s c%d", (int)ss->id_len, ss->client_id,
	         ss->expiry_interval, (unsigned long long)ss->expire_at_ms, ss->username ? (int)ss->username_len : 1,
	         ss->username ? ss->username : "-", will, ss->connected);
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
	                           .will_delay = 7,
	                           .connected = true};
	struct store_session s2 = {.client_id = "c2", .id_len = 2, .expiry_interval = UINT32_MAX};
	struct store_session s3 = {.client_id = "c3", .id_len = 2, .connected = true};
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
	/* c1: seq 1 in flight (pid 10), seq 2 down to its PUBREL (pid 11), seq 3 queued. */
	struct store_out q = {.client_id = "c1",
	                      .id_len = 2,
	                      .seq = 3,
	                      .msg = &qm,
	                      .d = {.qos = 2, .retain = true, .share = 77, .nsubids = 2, .subids = ids}};
	CHECK_EQ(store__out_put(st, &q, NULL, NULL), 0);
	struct store_out inf = q;
	inf.seq = 1;
	inf.pid = 10;
	inf.state = 1;
	CHECK_EQ(store__out_put(st, &inf, NULL, NULL), 0);
	struct store_out rel = {.client_id = "c1", .id_len = 2, .seq = 2, .msg = &qm, .d = {.qos = 2}};
	CHECK_EQ(store__out_put(st, &rel, NULL, NULL), 0);
	CHECK_EQ(store__out_mark(st, S("c1"), 2, 11, 2, true, NULL, NULL), 0);
	CHECK_EQ(store__qos2_in_put(st, S("c1"), 300, NULL, NULL), 0);
	CHECK_EQ(store__qos2_in_put(st, S("c1"), 300, NULL, NULL), 0); /* a resend before PUBREL: one row */
	CHECK_EQ(store__qos2_in_put(st, S("c1"), 4, NULL, NULL), 0);
	/* Everything of c3 goes with its session: its out rows, queued and in flight, and its qos2_in rows. */
	struct store_out q3 = {.client_id = "c3", .id_len = 2, .seq = 1, .msg = &qm};
	CHECK_EQ(store__out_put(st, &q3, NULL, NULL), 0);
	q3.seq = 2;
	q3.pid = 5;
	q3.state = 1;
	CHECK_EQ(store__out_put(st, &q3, NULL, NULL), 0);
	struct store_sub sb4 = {.client_id = "c3", .id_len = 2, .filter = (const uint8_t *)"w", .filter_len = 1};
	CHECK_EQ(store__sub_put(st, &sb4, NULL, NULL), 0);
	CHECK_EQ(store__qos2_in_put(st, S("c3"), 1, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE client_id='c3'"), 2);
	CHECK_EQ(store__session_del(st, S("c3"), NULL, NULL), 0);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE client_id='c3'"), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in WHERE client_id='c3'"), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM subs WHERE client_id='c3'"), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM sessions WHERE client_id='c3'"), 0);

	st = open_ok(path, STORE_DURABLE);
	struct seen s = {0};
	CHECK_EQ(store__retain_each(st, retain_cb, &s), 2);
	CHECK(strcmp(s.text[0], "a/b=hello q1 r1 e1700000000123 p4") == 0);
	CHECK(strcmp(s.text[1], "a/c= q1 r0 e0 p0") == 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__sessions_each(st, session_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 x3600 a42 ualice wwill/t=bye/7 c1") == 0);
	CHECK(strcmp(s.text[1], "c2 x4294967295 a0 u- w- c0") == 0);
	/* connected goes back to false with the next put. */
	s1.connected = false;
	CHECK_EQ(store__session_put(st, &s1, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__sessions_each(st, session_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 x3600 a42 ualice wwill/t=bye/7 c0") == 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__subs_each(st, NULL, 0, sub_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 $share/g/y o1 i0") == 0);
	CHECK(strcmp(s.text[1], "c1 x/# o42 i9") == 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__subs_each(st, S("c2"), sub_cb, &s), 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__out_load(st, S("c1"), 0, 10, out_cb, &s), 3);
	CHECK(strcmp(s.text[0], "c1 s1 p10 st1 q/t dq2 dr1 sh77,5,70000") == 0);
	CHECK(strcmp(s.text[1], "c1 s2 p11 st2 - dq2 dr0 sh0") == 0);
	CHECK(strcmp(s.text[2], "c1 s3 p0 st0 q/t dq2 dr1 sh77,5,70000") == 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__out_load(st, S("c3"), 0, 10, out_cb, &s), 0);
	CHECK_EQ(store__out_del(st, S("c1"), 1, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__out_load(st, S("c1"), 0, 10, out_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 s2 p11 st2 - dq2 dr0 sh0") == 0);

	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__qos2_in_each(st, NULL, 0, pid_cb, &s), 2);
	CHECK(strcmp(s.text[0], "c1 4") == 0);
	CHECK(strcmp(s.text[1], "c1 300") == 0);
	CHECK_EQ(store__qos2_in_del(st, S("c1"), 4, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(store__qos2_in_each(st, S("c1"), pid_cb, &s), 1);

	/* Arguments out of range are refused before anything is queued. */
	struct store_out bad = {.client_id = "c1", .id_len = 2, .seq = 0, .msg = &qm};
	CHECK_EQ(store__out_put(st, &bad, NULL, NULL), MIDGE_ERR_INVAL);
	bad.seq = (uint64_t)INT64_MAX + 1;
	CHECK_EQ(store__out_put(st, &bad, NULL, NULL), MIDGE_ERR_INVAL);
	bad.seq = 9;
	bad.msg = NULL;
	CHECK_EQ(store__out_put(st, &bad, NULL, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(store__out_del(st, S("c1"), 0, NULL, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(store__out_mark(st, S("c1"), 0, 1, 1, false, NULL, NULL), MIDGE_ERR_INVAL);
	struct store_msg long_topic = qm;
	long_topic.topic_len = 70000; /* longer than an MQTT string: refused before it is read */
	bad.msg = &long_topic;
	CHECK_EQ(store__out_put(st, &bad, NULL, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(store__retain_set(st, &long_topic, NULL, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(store__out_fetch(st, S("c1"), 0, 1, NULL, NULL, NULL), MIDGE_ERR_INVAL);
	store__close(st);
}

/* ---- out rows: order and batches across clients, mark, count, last ---- */

struct batch {
	uint64_t last;
	int n;
	bool ordered, other;
};

static int batch_cb(void *arg, const struct store_out *o)
{
	struct batch *b = arg;
	if (o->seq <= b->last) b->ordered = false;
	if (o->id_len != 1 || o->client_id[0] != 'q') b->other = true;
	b->last = o->seq;
	b->n++;
	return 0;
}

static int stop_cb(void *arg, const struct store_out *o)
{
	return 1;
}

static void test_out_batches(void)
{
	const char *path = fresh("out.db");
	struct store *st = open_ok(path, STORE_GROUP);
	struct store_msg m = msg("t", "p");
	enum { N = 1000 };
	/* Put out of order (a stride coprime with N), with rows of clients before and after "q" between. */
	for (unsigned i = 0; i < N; i++) {
		struct store_out o = {.client_id = "q", .id_len = 1, .seq = 1 + (i * 7) % N, .msg = &m};
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
		o.client_id = "other";
		o.id_len = 5;
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
		o.client_id = "a";
		o.id_len = 1;
		o.seq += N;
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
	}
	for (uint64_t seq = 10; seq <= N; seq += 10)
		CHECK_EQ(store__out_del(st, S("q"), seq, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	uint64_t last = 0;
	CHECK_EQ(store__out_last(st, S("q"), &last), 0);
	CHECK_EQ(last, (uint64_t)N - 1);
	CHECK_EQ(store__out_last(st, S("a"), &last), 0);
	CHECK_EQ(last, (uint64_t)2 * N);
	CHECK_EQ(store__out_last(st, S("nobody"), &last), 0);
	CHECK_EQ(last, 0u);

	struct batch b = {.ordered = true};
	int batches = 0;
	long got;
	while ((got = store__out_load(st, S("q"), b.last, 64, batch_cb, &b)) > 0) {
		CHECK(got <= 64);
		batches++;
	}
	CHECK_EQ(got, 0);
	CHECK(b.ordered);
	CHECK(!b.other);
	CHECK_EQ(b.n, N - N / 10);
	CHECK_EQ(batches, (N - N / 10 + 63) / 64);
	/* max 0 gives nothing; a callback that says stop ends the walk. */
	CHECK_EQ(store__out_load(st, S("q"), 0, 0, batch_cb, &b), 0);
	CHECK_EQ(store__out_load(st, S("q"), 0, 10, stop_cb, NULL), 1);

	uint64_t rows = 0, bytes = 0;
	CHECK_EQ(store__out_count(st, S("q"), 0, &rows, &bytes), 0);
	CHECK_EQ(rows, (uint64_t)(N - N / 10));
	CHECK_EQ(bytes, rows * 2); /* "t" + "p" */
	CHECK_EQ(store__out_count(st, S("q"), 500, &rows, &bytes), 0);
	CHECK_EQ(rows, 450u); /* seq 501..1000 without 510, 520, ..., 1000 */
	CHECK_EQ(store__out_count(st, S("nobody"), 0, &rows, &bytes), 0);
	CHECK_EQ(rows, 0u);
	CHECK_EQ(bytes, 0u);
	store__close(st);
}

static void test_out_mark(void)
{
	const char *path = fresh("mark.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_msg m = msg("top", "payload");
	m.props = (const uint8_t *)"\x26\x00\x01k\x00\x01v";
	m.props_len = 7;
	uint32_t ids[1] = {12};
	for (uint64_t seq = 1; seq <= 3; seq++) {
		struct store_out o = {.client_id = "m",
		                      .id_len = 1,
		                      .seq = seq,
		                      .msg = &m,
		                      .d = {.qos = 2, .share = 3, .nsubids = 1, .subids = ids}};
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
	}
	CHECK_EQ(store__out_mark(st, S("m"), 1, 100, 1, false, NULL, NULL), 0); /* sent: PUBREC awaited */
	CHECK_EQ(store__out_mark(st, S("m"), 2, 101, 2, true, NULL, NULL), 0);  /* PUBREC came: PUBREL left */
	CHECK_EQ(store__out_mark(st, S("m"), 99, 7, 1, true, NULL, NULL), 0);   /* no such row: not an error */
	CHECK_EQ(store__flush(st), 0);
	struct seen s = {0};
	CHECK_EQ(store__out_load(st, S("m"), 0, 10, out_cb, &s), 3);
	CHECK(strcmp(s.text[0], "m s1 p100 st1 top dq2 dr0 sh3,12") == 0);
	CHECK(strcmp(s.text[1], "m s2 p101 st2 - dq2 dr0 sh3,12") == 0);
	CHECK(strcmp(s.text[2], "m s3 p0 st0 top dq2 dr0 sh3,12") == 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE seq=2 AND topic IS NULL AND payload IS NULL AND "
	                         "props IS NULL AND qos IS NULL AND expiry_ms IS NULL"),
	         1);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 3);
	/* A row left with its PUBREL counts, without message bytes. */
	uint64_t rows, bytes;
	CHECK_EQ(store__out_count(st, S("m"), 0, &rows, &bytes), 0);
	CHECK_EQ(rows, 3u);
	CHECK_EQ(bytes, 2u * (3 + 7 + 7));
	/* A put replaces the row of its seq whole. */
	struct store_msg m2 = msg("x", "y");
	struct store_out o = {.client_id = "m", .id_len = 1, .seq = 2, .msg = &m2};
	CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(store__out_load(st, S("m"), 1, 1, out_cb, &s), 1);
	CHECK(strcmp(s.text[0], "m s2 p0 st0 x dq0 dr0 sh0") == 0);
	store__close(st);
}

/* ---- barriers and fetches, in order with the changes ---- */

/* Records the order in which callbacks come, and their rcs. */
struct order {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n;
	int tag[64];
	int rc[64];
};

struct tagged {
	struct order *o;
	int tag;
};

static void order_init(struct order *o)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
}

static void order_fini(struct order *o)
{
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
}

static void order_cb(void *arg, int rc)
{
	struct tagged *t = arg;
	pthread_mutex_lock(&t->o->lock);
	if (t->o->n < 64) {
		t->o->tag[t->o->n] = t->tag;
		t->o->rc[t->o->n] = rc;
	}
	t->o->n++;
	pthread_cond_broadcast(&t->o->cond);
	pthread_mutex_unlock(&t->o->lock);
}

/* Waits up to ms for n callbacks; true when they came. */
static bool order_wait(struct order *o, int n, int ms)
{
	uint64_t until = (uint64_t)time(NULL) * 1000 + (uint64_t)ms;
	pthread_mutex_lock(&o->lock);
	while (o->n < n && (uint64_t)time(NULL) * 1000 < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&o->cond, &o->lock, &ts);
	}
	bool ok = o->n >= n;
	pthread_mutex_unlock(&o->lock);
	return ok;
}

/* Changes one thread enqueues in a group are committed together, even when the store thread is idle and would
 * commit the first at once: none is answered or readable before the group ends. */
static void test_group(void)
{
	const char *path = fresh("group.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct order o;
	order_init(&o);
	struct tagged t[3] = {{&o, 0}, {&o, 1}, {&o, 2}};
	struct store_msg m = msg("g/t", "payload");
	store__group_begin(st);
	store__group_begin(st); /* nested: the outer end counts */
	CHECK_EQ(store__qos2_in_put(st, "pub", 3, 7, order_cb, &t[0]), 0);
	store__group_end(st);
	CHECK(!order_wait(&o, 1, 100)); /* an idle durable store would have committed it by now */
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 0);
	struct store_out out = {.client_id = "sub", .id_len = 3, .seq = 1, .msg = &m, .d = {.qos = 1}};
	CHECK_EQ(store__out_put(st, &out, order_cb, &t[1]), 0);
	CHECK_EQ(store__barrier(st, order_cb, &t[2]), 0);
	store__group_end(st);
	CHECK(order_wait(&o, 3, 5000));
	CHECK_EQ(o.tag[0], 0);
	CHECK_EQ(o.tag[1], 1);
	CHECK_EQ(o.tag[2], 2);
	CHECK_EQ(o.rc[0] | o.rc[1] | o.rc[2], 0);
	struct store_stats ss;
	store__stats(st, &ss);
	CHECK_EQ(ss.commits, 1u); /* one transaction */
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 1);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 1);
	/* An end without a begin, or for another store, does nothing. */
	store__group_end(st);
	store__close(st);
	order_fini(&o);
}

struct marker_arg {
	struct store *st;
	int rc;
};

static void *mark_from_other_thread(void *p)
{
	struct marker_arg *a = p;
	a->rc = store__out_mark(a->st, "sub", 3, 1, 5, 1, false, NULL, NULL);
	return NULL;
}

static atomic_int other_step;

static void *other_group(void *p)
{
	struct store *st = p;
	store__group_begin(st);
	struct store_sub sub = {.client_id = "other", .id_len = 5, .filter = (const uint8_t *)"f", .filter_len = 1};
	CHECK_EQ(store__sub_put(st, &sub, NULL, NULL), 0);
	atomic_store(&other_step, 1);
	while (atomic_load(&other_step) != 2) usleep(1000);
	store__group_end(st);
	return NULL;
}

static int ignore_row(void *arg, const struct store_out *o)
{
	(void)arg;
	(void)o;
	return 0;
}

static void ignore_done(void *arg, int rc, long rows)
{
	(void)rc;
	(void)rows;
	atomic_store((atomic_int *)arg, 1);
}

/* Groups of two threads interleave: ours (X, then Z) has the other's open group between its changes. Ours is not
 * committed in part: nothing of it before the other ends, then all of it. A fetch queued by another thread in the
 * middle of a group does not cut it either. */
static void test_groups_interleaved(void)
{
	const char *path = fresh("group-interleaved.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_msg m = msg("g/t", "payload");
	store__group_begin(st);
	CHECK_EQ(store__qos2_in_put(st, "pub", 3, 7, NULL, NULL), 0); /* X */
	atomic_store(&other_step, 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, other_group, st), 0);
	while (atomic_load(&other_step) != 1) usleep(1000);
	struct store_out z = {.client_id = "sub", .id_len = 3, .seq = 1, .msg = &m, .d = {.qos = 2}};
	CHECK_EQ(store__out_put(st, &z, NULL, NULL), 0); /* Z */
	store__group_end(st);
	usleep(200000);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 0); /* X alone would be a packet id without its rows */
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 0);
	atomic_store(&other_step, 2);
	pthread_join(th, NULL);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 1);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 1);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM subs"), 1);

	/* (b) a fetch between X and Z */
	atomic_int fetched = 0;
	store__group_begin(st);
	CHECK_EQ(store__qos2_in_put(st, "pub", 3, 8, NULL, NULL), 0);
	CHECK_EQ(store__out_fetch(st, "nobody", 6, 0, 10, ignore_row, ignore_done, &fetched), 0);
	usleep(100000);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 1); /* not committed before the group ends */
	z.seq = 2;
	CHECK_EQ(store__out_put(st, &z, NULL, NULL), 0);
	store__group_end(st);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(atomic_load(&fetched), 1);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 2);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 2);
	store__close(st);
}

/* Another thread's change made while a group is open goes after the group's changes, in the order they were
 * made: a mark of a row put in an open group must find the row (a session's rows are written in order). */
static void test_group_keeps_order_across_threads(void)
{
	const char *path = fresh("group-order.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_msg m = msg("g/t", "payload");
	struct store_out out = {.client_id = "sub", .id_len = 3, .seq = 1, .msg = &m, .d = {.qos = 1}};
	store__group_begin(st);
	CHECK_EQ(store__out_put(st, &out, NULL, NULL), 0);
	struct marker_arg a = {.st = st, .rc = -1};
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, mark_from_other_thread, &a), 0);
	pthread_join(th, NULL);
	CHECK_EQ(a.rc, 0);
	store__group_end(st);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(query_int(path, "SELECT pid-65536 FROM out WHERE client_id='sub' AND seq=1"), 5);
	store__close(st);
}

static void test_barrier(void)
{
	const char *path = fresh("barrier.db");
	struct store *st = open_ok(path, STORE_GROUP);
	struct order o;
	order_init(&o);
	struct tagged t[16];
	for (int i = 0; i < 16; i++)
		t[i] = (struct tagged){&o, i};
	struct store_msg m = msg("t", "p");
	/* Writes and barriers interleaved: every callback in enqueue order, barriers included. */
	int k = 0;
	for (uint64_t seq = 1; seq <= 4; seq++) {
		struct store_out out = {.client_id = "b", .id_len = 1, .seq = seq, .msg = &m};
		CHECK_EQ(store__out_put(st, &out, order_cb, &t[k++]), 0);
		CHECK_EQ(store__barrier(st, order_cb, &t[k++]), 0);
	}
	CHECK_EQ(store__barrier(st, order_cb, &t[k++]), 0);
	/* Without a flush the barrier comes with the group timer, like any change. */
	CHECK(order_wait(&o, k, 5000));
	CHECK_EQ(o.n, k);
	for (int i = 0; i < k && i < o.n; i++) {
		CHECK_EQ(o.tag[i], i);
		CHECK_EQ(o.rc[i], 0);
	}
	/* A barrier alone in a batch. */
	CHECK_EQ(store__barrier(st, order_cb, &t[k]), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(o.n, k + 1);
	CHECK_EQ(o.rc[k], 0);
	store__close(st);
	order_fini(&o);
}

/* A store that has just met its max_bytes: a further put of big fails. */
static struct store *open_full(const char *path, enum store_mode mode, unsigned group_ms, struct store_msg *big,
                               int *stored)
{
	char err[256];
	struct store_options opt = {.mode = mode, .group_ms = group_ms, .max_bytes = 256 * 1024};
	struct store *st = store__open_opts(path, &opt, err, sizeof(err));
	CHECK(st != NULL);
	if (!st) exit(1);
	*stored = 0;
	for (uint64_t seq = 1; seq <= 64; seq++) {
		struct store_out o = {.client_id = "f", .id_len = 1, .seq = seq, .msg = big};
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
		if (store__flush(st) != 0) break;
		(*stored)++;
	}
	CHECK(*stored > 0 && *stored < 64);
	CHECK(store__last_error_full(st));
	return st;
}

static char big_payload[16 * 1024];

/* A full file: a batch mixing inserts with deletes and updates keeps the deletes and updates (a client draining
 * its queue makes room) and fails the inserts, a group with an insert whole. */
static void test_full_keeps_deletes(void)
{
	const char *path = fresh("full-deletes.db");
	struct store_msg big = msg("t", big_payload);
	int stored;
	struct store *st = open_full(path, STORE_GROUP, 60000, &big, &stored);
	struct order o;
	order_init(&o);
	struct tagged t[6] = {{&o, 0}, {&o, 1}, {&o, 2}, {&o, 3}, {&o, 4}, {&o, 5}};
	struct store_out grow = {.client_id = "g", .id_len = 1, .seq = 1, .msg = &big};
	CHECK_EQ(store__out_put(st, &grow, order_cb, &t[0]), 0);          /* fails: no room */
	CHECK_EQ(store__out_del(st, "f", 1, 1, order_cb, &t[1]), 0);       /* goes through */
	CHECK_EQ(store__out_mark(st, "f", 1, 2, 9, 1, true, order_cb, &t[2]), 0);
	store__group_begin(st);                                           /* a group with an insert: fails whole */
	CHECK_EQ(store__out_del(st, "f", 1, 3, order_cb, &t[3]), 0);
	CHECK_EQ(store__qos2_in_put(st, "g", 1, 5, NULL, NULL), 0);
	CHECK_EQ(store__barrier(st, order_cb, &t[4]), 0);
	store__group_end(st);
	CHECK_EQ(store__barrier(st, order_cb, &t[5]), 0); /* answers for the last write before it */
	CHECK_EQ(store__flush(st), MIDGE_ERR_IO);         /* so does a flush */
	CHECK_EQ(o.n, 6);
	CHECK_EQ(o.rc[0], MIDGE_ERR_IO);
	CHECK_EQ(o.rc[1], 0);
	CHECK_EQ(o.rc[2], 0);
	CHECK_EQ(o.rc[3], MIDGE_ERR_IO);
	CHECK_EQ(o.rc[4], MIDGE_ERR_IO);
	CHECK_EQ(o.rc[5], MIDGE_ERR_IO); /* the last write before it was the failed group's */
	CHECK(stored >= 3);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE client_id='f'"), stored - 1);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE client_id='f' AND seq=3"), 1);
	CHECK_EQ(query_int(path, "SELECT pid-65536 FROM out WHERE client_id='f' AND seq=2"), 9);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE client_id='g'"), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM qos2_in"), 0);
	order_fini(&o);
}

static void test_barrier_after_failure(void)
{
	const char *path = fresh("barrier-full.db");
	struct store_msg big = msg("t", big_payload);
	int stored;
	/* A long group timer: what is enqueued together is one batch, until a flush makes it urgent. */
	struct store *st = open_full(path, STORE_GROUP, 60000, &big, &stored);
	struct order o;
	order_init(&o);
	struct tagged t[4] = {{&o, 0}, {&o, 1}, {&o, 2}, {&o, 3}};
	struct store_out out = {.client_id = "f", .id_len = 1, .seq = 1000, .msg = &big};
	CHECK_EQ(store__out_put(st, &out, order_cb, &t[0]), 0);
	CHECK_EQ(store__barrier(st, order_cb, &t[1]), 0);
	CHECK_EQ(store__flush(st), MIDGE_ERR_IO);
	CHECK_EQ(o.n, 2);
	CHECK_EQ(o.tag[0], 0);
	CHECK_EQ(o.rc[0], MIDGE_ERR_IO);
	CHECK_EQ(o.tag[1], 1);
	CHECK_EQ(o.rc[1], MIDGE_ERR_IO); /* the transaction that held the put failed */
	/* The next barrier, alone in its batch, still answers for the last write before it, which failed: a reply held
	 * for that write must not say it was kept because a batch boundary fell between them. */
	CHECK_EQ(store__barrier(st, order_cb, &t[2]), 0);
	CHECK_EQ(store__flush(st), MIDGE_ERR_IO);
	CHECK_EQ(o.n, 3);
	CHECK_EQ(o.rc[2], MIDGE_ERR_IO);
	/* Once a write succeeds again, so do the barriers after it. */
	struct store_out small = {.client_id = "f", .id_len = 1, .seq = 1001, .msg = &(struct store_msg){.topic = (const uint8_t *)"t", .topic_len = 1, .qos = 1}};
	CHECK_EQ(store__out_del(st, "f", 1, 1, NULL, NULL), 0);
	CHECK_EQ(store__out_put(st, &small, NULL, NULL), 0);
	CHECK_EQ(store__barrier(st, order_cb, &t[3]), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(o.n, 4);
	CHECK_EQ(o.rc[3], 0);
	CHECK(store__last_error_full(st));
	struct store_stats ss;
	store__stats(st, &ss);
	CHECK(ss.failures >= 2);
	CHECK_EQ(ss.queued, 0u);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), stored);
	order_fini(&o);
}

/* What a fetch gave: rows in order, done once. */
struct fetched {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int rows, dones, rc;
	long done_rows;
	uint64_t last;
	bool ordered;
	char first[128];
	pthread_t thread;
};

static void fetched_init(struct fetched *f)
{
	memset(f, 0, sizeof(*f));
	f->ordered = true;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
}

static void fetched_fini(struct fetched *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}

static int fetch_row(void *arg, const struct store_out *o)
{
	struct fetched *f = arg;
	pthread_mutex_lock(&f->lock);
	if (o->seq <= f->last) f->ordered = false;
	if (!f->rows) {
		struct seen s = {0};
		out_cb(&s, o);
		memcpy(f->first, s.text[0], sizeof(f->first));
	}
	f->last = o->seq;
	f->rows++;
	f->thread = pthread_self();
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fetch_done(void *arg, int rc, long rows)
{
	struct fetched *f = arg;
	pthread_mutex_lock(&f->lock);
	f->dones++;
	f->rc = rc;
	f->done_rows = rows;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Waits up to ms for done; true when it came. */
static bool fetched_wait(struct fetched *f, int ms)
{
	uint64_t until = (uint64_t)time(NULL) * 1000 + (uint64_t)ms;
	pthread_mutex_lock(&f->lock);
	while (!f->dones && (uint64_t)time(NULL) * 1000 < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	bool ok = f->dones > 0;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static void test_fetch(void)
{
	const char *path = fresh("fetch.db");
	/* Group mode with a timer far longer than the test: only the fetch itself can start the commit. */
	struct store_options opt = {.mode = STORE_GROUP, .group_ms = 60000};
	char err[256];
	struct store *st = store__open_opts(path, &opt, err, sizeof(err));
	CHECK(st != NULL);
	if (!st) return;
	struct store_msg m = msg("f/t", "x");
	struct order o;
	order_init(&o);
	struct tagged t0 = {&o, 0};
	/* Put out of order, with another client's rows; none committed yet when the fetch is enqueued. */
	for (unsigned i = 0; i < 100; i++) {
		struct store_out out = {.client_id = "f", .id_len = 1, .seq = 1 + (i * 37) % 100, .msg = &m};
		CHECK_EQ(store__out_put(st, &out, i == 99 ? order_cb : NULL, &t0), 0);
		out.client_id = "g";
		CHECK_EQ(store__out_put(st, &out, NULL, NULL), 0);
	}
	CHECK_EQ(store__out_del(st, S("f"), 50, NULL, NULL), 0);
	CHECK_EQ(store__out_mark(st, S("f"), 1, 9, 1, true, NULL, NULL), 0);
	struct fetched f;
	fetched_init(&f);
	uint64_t t_start = (uint64_t)time(NULL);
	CHECK_EQ(store__out_fetch(st, S("f"), 0, 1000, fetch_row, fetch_done, &f), 0);
	/* Enqueued after the fetch: in what it reads only when it made the same batch (a fetch reads once its
	 * whole batch is committed). */
	struct store_out late = {.client_id = "f", .id_len = 1, .seq = 101, .msg = &m};
	CHECK_EQ(store__out_put(st, &late, NULL, NULL), 0);
	CHECK(fetched_wait(&f, 10000));
	CHECK((uint64_t)time(NULL) - t_start < 10); /* not the 60 s group timer */
	pthread_mutex_lock(&f.lock);
	CHECK_EQ(f.dones, 1);
	CHECK_EQ(f.rc, 0);
	CHECK(f.rows == 99 || f.rows == 100);
	CHECK_EQ(f.done_rows, f.rows);
	CHECK(f.ordered);
	CHECK_EQ(f.last, f.rows == 99 ? 100u : 101u);
	CHECK(strcmp(f.first, "f s1 p9 st1 - dq0 dr0 sh0") == 0);
	CHECK(!pthread_equal(f.thread, pthread_self()));
	pthread_mutex_unlock(&f.lock);
	/* The callbacks of the changes before the fetch came before its done. */
	CHECK_EQ(o.n, 1);
	CHECK_EQ(o.rc[0], 0);

	/* A batch: after and max as for store__out_load. */
	fetched_fini(&f);
	fetched_init(&f);
	CHECK_EQ(store__out_fetch(st, S("f"), 45, 10, fetch_row, fetch_done, &f), 0);
	CHECK(fetched_wait(&f, 10000));
	CHECK_EQ(f.rc, 0);
	CHECK_EQ(f.done_rows, 10);
	CHECK_EQ(f.last, 56u); /* 46..56 without 50 */
	CHECK(strcmp(f.first, "f s46 p0 st0 f/t dq0 dr0 sh0") == 0);
	/* The put enqueued after the first fetch went in with this one's batch. */
	fetched_fini(&f);
	fetched_init(&f);
	CHECK_EQ(store__out_fetch(st, S("f"), 100, 10, fetch_row, fetch_done, &f), 0);
	CHECK(fetched_wait(&f, 10000));
	CHECK_EQ(f.done_rows, 1);
	CHECK_EQ(f.last, 101u);
	/* A client with nothing. */
	fetched_fini(&f);
	fetched_init(&f);
	CHECK_EQ(store__out_fetch(st, S("nobody"), 0, 10, fetch_row, fetch_done, &f), 0);
	CHECK(fetched_wait(&f, 10000));
	CHECK_EQ(f.rc, 0);
	CHECK_EQ(f.done_rows, 0);
	CHECK_EQ(f.rows, 0);
	fetched_fini(&f);

	/* A fetch queued at close still gets its done, before close returns, with the rows committed by close. */
	for (uint64_t seq = 200; seq < 210; seq++) {
		struct store_out out = {.client_id = "h", .id_len = 1, .seq = seq, .msg = &m};
		CHECK_EQ(store__out_put(st, &out, NULL, NULL), 0);
	}
	struct fetched fc;
	fetched_init(&fc);
	CHECK_EQ(store__out_fetch(st, S("h"), 0, 100, fetch_row, fetch_done, &fc), 0);
	struct store_out after = {.client_id = "h", .id_len = 1, .seq = 300, .msg = &m};
	struct tagged t1 = {&o, 1};
	CHECK_EQ(store__out_put(st, &after, order_cb, &t1), 0);
	store__close(st);
	CHECK_EQ(fc.dones, 1);
	CHECK_EQ(fc.rc, 0);
	CHECK(fc.done_rows == 10 || fc.done_rows == 11); /* seq 300 too when it made the fetch's batch */
	CHECK_EQ(o.n, 2);
	CHECK_EQ(o.rc[1], 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE client_id='h'"), 11);
	fetched_fini(&fc);
	order_fini(&o);
}

static void test_fetch_full(void)
{
	const char *path = fresh("fetch-full.db");
	struct store_msg big = msg("t", big_payload);
	int stored;
	struct store *st = open_full(path, STORE_GROUP, 60000, &big, &stored);
	struct order o;
	order_init(&o);
	struct tagged t0 = {&o, 0};
	/* One batch: a put that fails, then a fetch. It still reads what was committed before. */
	struct store_out out = {.client_id = "f", .id_len = 1, .seq = 1000, .msg = &big};
	CHECK_EQ(store__out_put(st, &out, order_cb, &t0), 0);
	struct fetched f;
	fetched_init(&f);
	CHECK_EQ(store__out_fetch(st, S("f"), 0, 1000, fetch_row, fetch_done, &f), 0);
	CHECK(fetched_wait(&f, 10000));
	CHECK_EQ(o.n, 1);
	CHECK_EQ(o.rc[0], MIDGE_ERR_IO);
	CHECK_EQ(f.dones, 1);
	CHECK_EQ(f.rc, 0);
	CHECK_EQ(f.done_rows, stored);
	CHECK_EQ(f.rows, stored);
	CHECK(f.ordered);
	CHECK(f.last < 1000);
	CHECK(store__last_error_full(st));
	store__close(st);
	fetched_fini(&f);
	order_fini(&o);
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
		if (store__out_put(w->st, &o, count_cb, w->c)) atomic_fetch_add(&w->enqueue_errors, 1);
		if (i % 50 == 0 && store__retain_set(w->st, &m, count_cb, w->c))
			atomic_fetch_add(&w->enqueue_errors, 1);
		if (i % 100 == 0 && store__barrier(w->st, count_cb, w->c)) atomic_fetch_add(&w->enqueue_errors, 1);
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
	int total = THREADS * (PER_THREAD + PER_THREAD / 50 + PER_THREAD / 100);
	CHECK_EQ(atomic_load(&c.ok), total);
	CHECK_EQ(atomic_load(&c.failed), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), THREADS * PER_THREAD);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM retained"), THREADS * PER_THREAD / 50);
	CHECK_EQ(query_int(path, "SELECT count(DISTINCT client_id) FROM out"), THREADS);
}

/* ---- stats ---- */

static void test_stats(void)
{
	const char *path = fresh("stats.db");
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_stats s0, s1;
	store__stats(st, &s0);
	CHECK_EQ(s0.commits, 0u);
	CHECK_EQ(s0.failures, 0u);
	CHECK_EQ(s0.changes, 0u);
	CHECK_EQ(s0.queued, 0u);
	CHECK(s0.file_bytes > 0); /* the schema's pages */
	struct store_msg m = msg("s", "0123456789");
	for (uint64_t seq = 1; seq <= 300; seq++) {
		struct store_out o = {.client_id = "s", .id_len = 1, .seq = seq, .msg = &m};
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
	}
	CHECK_EQ(store__barrier(st, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	store__stats(st, &s1);
	CHECK(s1.commits >= 1 && s1.commits <= 300);
	CHECK_EQ(s1.changes, 300u); /* barriers and flushes write nothing and are not counted */
	CHECK_EQ(s1.queued, 0u);
	CHECK_EQ(s1.failures, 0u);
	CHECK(s1.last_commit_us > 0);
	CHECK(s1.max_commit_us >= s1.last_commit_us);
	CHECK(s1.file_bytes > s0.file_bytes);
	CHECK_EQ((long long)s1.file_bytes, query_int(path, "PRAGMA page_count") * query_int(path, "PRAGMA page_size"));
	/* A flush alone commits nothing. */
	CHECK_EQ(store__flush(st), 0);
	store__stats(st, &s0);
	CHECK_EQ(s0.commits, s1.commits);
	CHECK(!store__last_error_full(st));
	store__close(st);
}

/* ---- refusals at open ---- */

static void expect_refused_opts(const char *path, const struct store_options *opt, const char *why)
{
	char err[512];
	struct store *st = store__open_opts(path, opt, err, sizeof(err));
	CHECK(st == NULL);
	store__close(st);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, why) != NULL);
	if (opt->moved) CHECK_EQ(opt->moved[0], '\0');
	fprintf(stderr, "refused as expected: %s\n", err);
}

static void expect_refused(const char *path, const char *why)
{
	struct store_options opt = {.mode = STORE_DURABLE};
	expect_refused_opts(path, &opt, why);
}

static void write_garbage(const char *path)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f) return;
	for (int i = 0; i < 8192; i++)
		fputc((i * 131 + 7) & 0xff, f);
	fclose(f);
}

/* A real store with some rows, checkpointed into its file (no -wal), path as fresh() left it. */
static void make_store(const char *path, int rows)
{
	struct store *st = open_ok(path, STORE_DURABLE);
	struct store_msg m = msg("t", "p");
	for (int i = 1; i <= rows; i++) {
		struct store_out o = {.client_id = "c", .id_len = 1, .seq = (uint64_t)i, .msg = &m};
		store__out_put(st, &o, NULL, NULL);
	}
	store__close(st);
	exec_sql(path, "PRAGMA wal_checkpoint(TRUNCATE)");
}

static void test_refusals(void)
{
	/* Garbage that is no database at all. */
	const char *path = fresh("garbage.db");
	write_garbage(path);
	expect_refused(path, "not a database");

	/* A real store with a damaged page. */
	path = fresh("damaged.db");
	make_store(path, 200);
	long long pages = query_int(path, "PRAGMA page_count");
	CHECK(pages >= 3);
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	fseek(f, 4096 * (pages - 1), SEEK_SET); /* the last page: a table or index page of ours */
	for (int i = 0; i < 4096; i++)
		fputc(0xa5, f);
	fclose(f);
	expect_refused(path, "corrupt");

	/* A store written by a newer midge: refused, even with move_aside, and left as it was. */
	path = fresh("newer.db");
	store__close(open_ok(path, STORE_DURABLE));
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", store__schema_version() + 1);
	exec_sql(path, sql);
	expect_refused(path, "newer");
	size_t len;
	char *before = slurp(path, &len);
	char moved[256] = "x";
	struct store_options opt = {
	    .mode = STORE_DURABLE, .move_aside = true, .moved = moved, .moved_len = sizeof(moved)};
	expect_refused_opts(path, &opt, "newer");
	char versions[64];
	snprintf(versions, sizeof(versions), "version %d", store__schema_version() + 1);
	char err[512];
	CHECK(store__open_opts(path, &opt, err, sizeof(err)) == NULL);
	CHECK(strstr(err, versions) != NULL);
	snprintf(versions, sizeof(versions), "(%d)", store__schema_version());
	CHECK(strstr(err, versions) != NULL);
	CHECK(before && same_bytes(before, len, path));
	CHECK_EQ(count_names("newer.db.corrupt"), 0);
	free(before);

	/* Someone else's database, with move_aside too. */
	path = fresh("foreign.db");
	exec_sql(path, "CREATE TABLE t(x)");
	expect_refused(path, "not a midge store");
	expect_refused_opts(path, &opt, "not a midge store");
	CHECK_EQ(count_names("foreign.db.corrupt"), 0);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM t"), 0);

	/* A file that cannot be opened. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no/such/dir/x.db", dir);
	expect_refused(missing, "cannot be opened");
	/* A file midge may not write: a directory here (chmod means nothing to root, who runs the tests in CI). */
	char isdir[160];
	snprintf(isdir, sizeof(isdir), "%s/adir.db", dir);
	mkdir(isdir, 0700);
	expect_refused_opts(isdir, &opt, strerror(EISDIR));
	rmdir(isdir);
	if (geteuid() != 0) {
		path = fresh("readonly.db");
		make_store(path, 1);
		chmod(path, 0444);
		expect_refused_opts(path, &opt, strerror(EACCES));
		chmod(path, 0644);
	} else {
		fprintf(stderr, "skipped: the read-only file case (running as root)\n");
	}
}

/* Mosquitto's persistence file: refused by its magic, never opened with SQLite, never moved or written. */
static void test_mosquitto(void)
{
	const char *path = fresh("mosquitto.db");
	static const uint8_t magic[15] = {0x00, 0xb5, 0x00, 'm', 'o', 's', 'q', 'u', 'i', 't', 't', 'o', ' ', 'd', 'b'};
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f) return;
	fwrite(magic, 1, sizeof(magic), f);
	for (int i = 0; i < 1000; i++)
		fputc(i & 0xff, f);
	fclose(f);
	size_t len;
	char *before = slurp(path, &len);
	char moved[256];
	struct store_options opt = {
	    .mode = STORE_DURABLE, .move_aside = true, .moved = moved, .moved_len = sizeof(moved)};
	expect_refused_opts(path, &opt, "is a Mosquitto persistence file");
	expect_refused(path, "set persistence_file to another name");
	CHECK(before && same_bytes(before, len, path));
	CHECK_EQ(count_names("mosquitto.db"), 1); /* no -wal, -shm or .corrupt-* beside it */
	free(before);
}

/* ---- move_aside ---- */

/* Opens path with move_aside, expects it moved: the new name returned, the old bytes under it, a working store. */
static void expect_moved(const char *path, const char *before, size_t len, char *moved, size_t moved_len)
{
	char err[512];
	struct store_options opt = {.mode = STORE_DURABLE, .move_aside = true, .moved = moved, .moved_len = moved_len};
	struct store *st = store__open_opts(path, &opt, err, sizeof(err));
	CHECK(st != NULL);
	if (!st) {
		fprintf(stderr, "open: %s\n", err);
		return;
	}
	fprintf(stderr, "moved aside as expected: %s\n", moved);
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s.corrupt-", path);
	CHECK(strncmp(moved, prefix, strlen(prefix)) == 0);
	const char *stamp = moved + strlen(prefix);
	/* YYYYmmddTHHMMSS, maybe -n */
	CHECK(strlen(stamp) >= 15 && stamp[8] == 'T');
	CHECK(same_bytes(before, len, moved));
	struct store_msg m = msg("after", "move");
	struct store_out o = {.client_id = "n", .id_len = 1, .seq = 1, .msg = &m};
	CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	uint64_t last = 0;
	CHECK_EQ(store__out_last(st, S("n"), &last), 0);
	CHECK_EQ(last, 1u);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 1);
}

static void remove_moved(const char *moved)
{
	const char *sfx[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		char p[300];
		snprintf(p, sizeof(p), "%s%s", moved, sfx[i]);
		unlink(p);
	}
}

static void test_move_aside(void)
{
	/* Garbage. */
	const char *path = fresh("moveg.db");
	write_garbage(path);
	size_t len;
	char *before = slurp(path, &len);
	char moved[256] = "", moved2[256] = "";
	CHECK(before != NULL);
	if (before) expect_moved(path, before, len, moved, sizeof(moved));
	/* Again within the same second: a name of its own ("-1"), the first one kept. */
	fresh("moveg.db");
	write_garbage(path);
	if (before) expect_moved(path, before, len, moved2, sizeof(moved2));
	CHECK(strcmp(moved, moved2) != 0);
	CHECK(same_bytes(before, len, moved));
	CHECK_EQ(count_names("moveg.db.corrupt-"), 2);
	free(before);
	remove_moved(moved);
	remove_moved(moved2);

	/* A store cut short, as by a copy that did not finish. */
	path = fresh("movet.db");
	make_store(path, 2000);
	long long size = file_size(path);
	CHECK(size > 8 * 4096);
	CHECK_EQ(truncate(path, size / 2 + 100), 0);
	expect_refused(path, "corrupt");
	CHECK_EQ(file_size(path), size / 2 + 100);
	CHECK_EQ(count_names("movet.db"), 1); /* refused, with no -wal or -shm left beside it */
	before = slurp(path, &len);
	CHECK(before != NULL);
	if (before) expect_moved(path, before, len, moved, sizeof(moved));
	free(before);
	remove_moved(moved);

	/* A damaged store with its -wal beside it: both move, under the same new name. */
	path = fresh("movew.db");
	write_garbage(path);
	char wal[160], moved_wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	FILE *f = fopen(wal, "wb");
	CHECK(f != NULL);
	if (f) {
		fputs("not a wal", f);
		fclose(f);
	}
	before = slurp(path, &len);
	if (before) expect_moved(path, before, len, moved, sizeof(moved));
	snprintf(moved_wal, sizeof(moved_wal), "%s-wal", moved);
	CHECK(same_bytes("not a wal", 9, moved_wal));
	free(before);
	remove_moved(moved);

	/* Without move_aside, nothing is moved and moved stays "". */
	path = fresh("movenot.db");
	write_garbage(path);
	struct store_options opt = {.mode = STORE_DURABLE, .moved = moved, .moved_len = sizeof(moved)};
	expect_refused_opts(path, &opt, "not a database");
	CHECK_EQ(count_names("movenot.db.corrupt"), 0);
	/* A sound store is opened, not moved. */
	path = fresh("movesound.db");
	make_store(path, 3);
	opt.move_aside = true;
	strcpy(moved, "x");
	char err[256];
	struct store *st = store__open_opts(path, &opt, err, sizeof(err));
	CHECK(st != NULL);
	CHECK_EQ(moved[0], '\0');
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 3);
}

/* ---- the idle checkpoint ---- */

static void test_idle_checkpoint(void)
{
	const char *path = fresh("idle.db");
	/* A group timer longer than the test: the flush below makes the one batch (several smaller ones could each
	 * stay under SQLite's automatic checkpoint, which would restart the WAL below 4 MiB). */
	struct store_options opt = {.mode = STORE_GROUP, .group_ms = 60000};
	char err[256];
	struct store *st = store__open_opts(path, &opt, err, sizeof(err));
	CHECK(st != NULL);
	if (!st) return;
	static char payload[64 * 1024];
	memset(payload, 'w', sizeof(payload) - 1);
	struct store_msg m = msg("big", payload);
	/* About 6 MiB in one transaction: the WAL grows past 4 MiB and SQLite's own checkpoints do not shrink it. */
	for (uint64_t seq = 1; seq <= 96; seq++) {
		struct store_out o = {.client_id = "i", .id_len = 1, .seq = seq, .msg = &m};
		CHECK_EQ(store__out_put(st, &o, NULL, NULL), 0);
	}
	CHECK_EQ(store__flush(st), 0);
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	long long big = file_size(wal);
	CHECK(big > 4 * 1024 * 1024);
	/* A second later, idle, the store truncates it. */
	long long now = big;
	for (int i = 0; i < 50 && now > 1024 * 1024; i++) {
		usleep(100000);
		now = file_size(wal);
	}
	fprintf(stderr, "idle checkpoint: WAL %lld bytes after the burst, %lld after idling\n", big, now);
	CHECK(now >= 0 && now < 1024 * 1024);
	/* Everything still there, and the store still writes. */
	uint64_t rows = 0, bytes = 0;
	CHECK_EQ(store__out_count(st, S("i"), 0, &rows, &bytes), 0);
	CHECK_EQ(rows, 96u);
	CHECK_EQ(store__out_del(st, S("i"), 1, NULL, NULL), 0);
	CHECK_EQ(store__flush(st), 0);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), 95);
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
	struct store_msg m = msg("t", big_payload);
	struct counter c = {0};
	int pushed = 0;
	for (uint64_t seq = 1; seq <= 64; seq++) {
		struct store_out o = {.client_id = "c", .id_len = 1, .seq = seq, .msg = &m};
		CHECK_EQ(store__out_put(st, &o, count_cb, &c), 0);
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
	CHECK(store__last_error_full(st));
	struct store_stats ss;
	store__stats(st, &ss);
	CHECK_EQ(ss.failures, (uint64_t)failed);
	CHECK_EQ(ss.changes, (uint64_t)ok);
	CHECK_EQ(ss.queued, 0u);
	/* The failed change is not stored, and the store goes on working once there is room again. */
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out"), ok);
	for (uint64_t seq = 1; seq < 20; seq++)
		CHECK_EQ(store__out_del(st, S("c"), seq, count_cb, &c), 0);
	CHECK_EQ(store__flush(st), 0);
	struct store_out o = {.client_id = "c", .id_len = 1, .seq = 1000, .msg = &m};
	CHECK_EQ(store__out_put(st, &o, count_cb, &c), 0);
	CHECK_EQ(store__flush(st), 0);
	CHECK_EQ(atomic_load(&c.failed), failed);
	store__close(st);
	CHECK_EQ(query_int(path, "SELECT count(*) FROM out WHERE seq=1000"), 1);
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/midge-store-test-XXXXXX");
	if (!mkdtemp(dir)) return 1;
	memset(big_payload, 'x', sizeof(big_payload) - 1);
	test_create();
	test_roundtrip();
	test_out_batches();
	test_out_mark();
	test_group();
	test_group_keeps_order_across_threads();
	test_full_keeps_deletes();
	test_groups_interleaved();
	test_barrier();
	test_barrier_after_failure();
	test_fetch();
	test_fetch_full();
	test_callback_after_commit(STORE_DURABLE);
	test_callback_after_commit(STORE_GROUP);
	test_concurrent(STORE_DURABLE);
	test_concurrent(STORE_GROUP);
	test_stats();
	test_refusals();
	test_mosquitto();
	test_move_aside();
	test_idle_checkpoint();
	test_disk_full();
	cleanup();
	CHECK_DONE();
}
