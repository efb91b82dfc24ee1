/* Unit tests of the retained store: set/replace/clear with references, wildcard lookups, '$', threads. */
#include "../../tests/unit/check.h"
#include "broker/message.h"
#include "broker/retain.h"
#include "common/topic.h"
#include "midge/midge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define B(str) (const uint8_t *)(str), strlen(str)

static struct message *mk(const char *topic, const char *payload)
{
	struct message *m = msg__new(B(topic), (const uint8_t *)payload, strlen(payload), 1, true);
	if (!m) abort();
	return m;
}

static unsigned refs(struct message *m)
{
	return atomic_load(&m->refs);
}

/* Stores topic with payload and drops the caller's reference; returns retain__set's result.
 * No CHECK inside: the harness counters are not thread-safe and writer threads call this. */
static int store(struct retain_store *r, const char *topic, const char *payload)
{
	struct message *m = mk(topic, payload);
	int rc = retain__set(r, m);
	msg__unref(m);
	return rc;
}

static void put(struct retain_store *r, const char *topic)
{
	CHECK_EQ(store(r, topic, "x"), 0);
}
static void clear(struct retain_store *r, const char *topic)
{
	CHECK_EQ(store(r, topic, ""), 0);
}

struct found {
	char topics[64][32];
	size_t n;
};

static void collect(void *arg, struct message *m)
{
	struct found *f = arg;
	if (f->n < 64 && m->topic_len < 32) {
		memcpy(f->topics[f->n], m->topic, m->topic_len);
		f->topics[f->n][m->topic_len] = 0;
	}
	f->n++;
}

static void nothing(void *arg, struct message *m) {}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The topics matching filter, sorted and joined by spaces ("" when none). */
static const char *match(struct retain_store *r, const char *filter)
{
	static char out[1024];
	struct found f = {.n = 0};
	size_t n = retain__match(r, B(filter), collect, &f);
	CHECK_EQ(n, f.n);
	qsort(f.topics, f.n < 64 ? f.n : 64, sizeof(f.topics[0]), cmp_str);
	out[0] = 0;
	for (size_t i = 0; i < f.n && i < 64; i++) {
		if (i) strcat(out, " ");
		strcat(out, f.topics[i][0] ? f.topics[i] : "<>");
	}
	return out;
}

static void test_set_replace_clear(void)
{
	struct retain_store *r = retain__new();
	struct message *a = mk("a/b", "one"), *b = mk("a/b", "two");
	CHECK_EQ(retain__set(r, a), 0);
	CHECK_EQ(refs(a), 2);
	CHECK_EQ(retain__count(r), 1);
	CHECK_EQ(retain__node_count(r), 2);
	CHECK_EQ(retain__set(r, b), 0); /* replaces: a's reference is dropped */
	CHECK_EQ(refs(a), 1);
	CHECK_EQ(refs(b), 2);
	CHECK_EQ(retain__count(r), 1);
	CHECK(!strcmp(match(r, "a/b"), "a/b"));
	CHECK_EQ(retain__set(r, b), 0); /* the same message again: still one reference held */
	CHECK_EQ(refs(b), 2);

	struct message *c = mk("a", "parent");
	CHECK_EQ(retain__set(r, c), 0);
	CHECK_EQ(retain__count(r), 2);
	struct message *empty = mk("a/b", "");
	CHECK_EQ(retain__set(r, empty), 0);
	CHECK_EQ(refs(empty), 1); /* not stored */
	CHECK_EQ(refs(b), 1);
	CHECK_EQ(retain__count(r), 1);
	CHECK_EQ(retain__node_count(r), 1); /* "a" stays for its message, "b" is pruned */
	CHECK_EQ(retain__set(r, empty), 0); /* clearing again is harmless */
	msg__unref(empty);
	clear(r, "x/y/z"); /* clearing an unknown topic creates nothing */
	CHECK_EQ(retain__node_count(r), 1);
	clear(r, "a");
	CHECK_EQ(refs(c), 1);
	CHECK_EQ(retain__count(r), 0);
	CHECK_EQ(retain__node_count(r), 0);

	/* Clearing a parent keeps its children; clearing the child then prunes both. */
	put(r, "p");
	put(r, "p/q/r");
	clear(r, "p");
	CHECK_EQ(retain__node_count(r), 3);
	CHECK(!strcmp(match(r, "p/#"), "p/q/r"));
	clear(r, "p/q/r");
	CHECK_EQ(retain__node_count(r), 0);

	/* Free drops the references still held. */
	CHECK_EQ(retain__set(r, a), 0);
	CHECK_EQ(refs(a), 2);
	retain__free(r);
	CHECK_EQ(refs(a), 1);
	msg__unref(a);
	msg__unref(b);
	msg__unref(c);
	retain__free(NULL);
}

static void test_wildcards(void)
{
	static const char *topics[] = {"sport",
	                               "sport/tennis",
	                               "sport/tennis/player1",
	                               "sport/tennis/player1/ranking",
	                               "sport/golf",
	                               "/finance",
	                               "finance",
	                               "$SYS",
	                               "$SYS/broker/load",
	                               "a//b",
	                               "a/$x",
	                               "/",
	                               "sport/"};
	static const struct {
		const char *filter, *want;
	} cases[] = {
	    {"sport/tennis/player1", "sport/tennis/player1"},
	    {"sport/tennis/player1/#", "sport/tennis/player1 sport/tennis/player1/ranking"},
	    {"sport/#", "sport sport/ sport/golf sport/tennis sport/tennis/player1 sport/tennis/player1/ranking"},
	    {"sport/+", "sport/ sport/golf sport/tennis"},
	    {"sport/+/player1", "sport/tennis/player1"},
	    {"+/+", "/ /finance a/$x sport/ sport/golf sport/tennis"},
	    {"/+", "/ /finance"},
	    {"+", "finance sport"},
	    {"#", "/ /finance a/$x a//b finance sport sport/ sport/golf sport/tennis sport/tennis/player1 "
	          "sport/tennis/player1/ranking"},
	    {"+/tennis/#", "sport/tennis sport/tennis/player1 sport/tennis/player1/ranking"},
	    {"$SYS/#", "$SYS $SYS/broker/load"},
	    {"$SYS/+/+", "$SYS/broker/load"},
	    {"$SYS", "$SYS"},
	    {"+/broker/load", ""},
	    {"a/+", "a/$x"},
	    {"a/+/b", "a//b"},
	    {"a/+/+", "a//b"},
	    {"+/+/b", "a//b"},
	    {"sport/tennis/+/+/+", ""},
	    {"nothing/#", ""},
	    {"sport/tennis/player1/ranking/#", "sport/tennis/player1/ranking"},
	};
	struct retain_store *r = retain__new();
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		put(r, topics[i]);
	CHECK_EQ(retain__count(r), sizeof(topics) / sizeof(topics[0]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = match(r, cases[i].filter);
		if (strcmp(got, cases[i].want)) fprintf(stderr, "filter '%s': got '%s'\n", cases[i].filter, got);
		CHECK(!strcmp(got, cases[i].want));
	}
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		clear(r, topics[i]);
	CHECK_EQ(retain__count(r), 0);
	CHECK_EQ(retain__node_count(r), 0);
	retain__free(r);
}

static void test_wide(void)
{
	enum { N = 100000 };
	struct retain_store *r = retain__new();
	char t[32];
	for (unsigned i = 0; i < N; i++) {
		snprintf(t, sizeof(t), "dev/%u", i);
		put(r, t);
	}
	put(r, "dev/7/x");
	CHECK_EQ(retain__count(r), N + 1);
	CHECK_EQ(retain__match(r, B("dev/+"), nothing, NULL), N);
	CHECK_EQ(retain__match(r, B("dev/#"), nothing, NULL), N + 1);
	CHECK_EQ(retain__match(r, B("+/+/x"), nothing, NULL), 1);
	size_t total = 0;
	for (unsigned i = 0; i < N; i += 7) {
		snprintf(t, sizeof(t), "dev/%u", i);
		total += retain__match(r, B(t), nothing, NULL);
	}
	CHECK_EQ(total, (N + 6) / 7);
	for (unsigned i = 0; i < N; i += 2) {
		snprintf(t, sizeof(t), "dev/%u", i);
		clear(r, t);
	}
	CHECK_EQ(retain__match(r, B("dev/+"), nothing, NULL), N / 2);
	/* Down to one in 16: the children table shrinks and must still find and list the rest. */
	for (unsigned i = 1; i < N; i += 2) {
		if (i % 16 == 1) continue;
		snprintf(t, sizeof(t), "dev/%u", i);
		clear(r, t);
	}
	CHECK_EQ(retain__match(r, B("dev/+"), nothing, NULL), N / 16);
	CHECK_EQ(retain__match(r, B("dev/17"), nothing, NULL), 1);
	CHECK_EQ(retain__match(r, B("dev/19"), nothing, NULL), 0);
	CHECK_EQ(retain__match(r, B("dev/7/x"), nothing, NULL), 1); /* dev/7 was cleared, its child stays */
	retain__free(r); /* half still stored: ASan checks they are released */
}

/* Random topics stored and cleared, random filters checked against topic__matches. */
static void test_random(void)
{
	static const char *tlevels[] = {"a", "b", "", "$s", "ab"};
	static const char *flevels[] = {"a", "b", "", "$s", "ab", "+", "#"};
	enum { NT = 200, ROUNDS = 3000 };
	char topics[NT][32];
	bool live[NT] = {false};
	unsigned seed = 777;
	for (int i = 0; i < NT; i++) {
		bool dup;
		do {
			int nl = 1 + rand_r(&seed) % 4;
			topics[i][0] = 0;
			for (int l = 0; l < nl; l++) {
				if (l) strcat(topics[i], "/");
				strcat(topics[i], tlevels[rand_r(&seed) % 5]);
			}
			dup = false;
			for (int j = 0; j < i; j++)
				dup |= !strcmp(topics[j], topics[i]);
		} while (dup);
	}
	struct retain_store *r = retain__new();
	int mismatches = 0;
	size_t total = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int i = rand_r(&seed) % NT;
		if (live[i])
			clear(r, topics[i]);
		else
			put(r, topics[i]);
		live[i] = !live[i];
		char filter[32] = "";
		int nl = 1 + rand_r(&seed) % 4;
		for (int l = 0; l < nl; l++) {
			const char *lv = flevels[rand_r(&seed) % 7];
			if (!strcmp(lv, "#") && l != nl - 1) lv = "+";
			if (l) strcat(filter, "/");
			strcat(filter, lv);
		}
		size_t want = 0;
		for (int j = 0; j < NT; j++)
			if (live[j] && topic__matches(B(filter), B(topics[j]))) want++;
		size_t got = retain__match(r, B(filter), nothing, NULL);
		total += got;
		/* The same match in steps of one to three nodes, two messages at most per step. */
		struct retain_cursor *k = retain__cursor_new(r, B(filter));
		size_t stepped = 0;
		struct message *out[2];
		while (!retain__cursor_done(k)) {
			size_t steps = 1 + (size_t)(round % 3);
			size_t n = retain__cursor_next(r, k, out, 2, &steps);
			for (size_t j = 0; j < n; j++) msg__unref(out[j]);
			stepped += n;
		}
		retain__cursor_free(r, k);
		if (stepped != want && mismatches++ < 5)
			fprintf(stderr, "filter '%s' in steps: %zu, brute force %zu\n", filter, stepped, want);
		if (got != want && mismatches++ < 5)
			fprintf(stderr, "filter '%s': %zu, brute force %zu\n", filter, got, want);
	}
	CHECK_EQ(mismatches, 0);
	CHECK(total > ROUNDS);
	size_t nlive = 0;
	for (int j = 0; j < NT; j++)
		nlive += live[j];
	CHECK_EQ(retain__count(r), nlive);
	for (int j = 0; j < NT; j++)
		if (live[j]) clear(r, topics[j]);
	CHECK_EQ(retain__node_count(r), 0);
	retain__free(r);
}

/* Index of "dev/I" or "dev/I/x" topics, -1 for others. */
static long dev_index(const struct message *m)
{
	char t[48];
	if (m->topic_len >= sizeof(t) || m->topic_len < 5 || memcmp(m->topic, "dev/", 4)) return -1;
	memcpy(t, m->topic, m->topic_len);
	t[m->topic_len] = 0;
	return strtol(t + 4, NULL, 10);
}

/* A cursor walked in small steps while topics are added (the tables would grow) and cleared (nodes would be
 * freed) between steps: every topic kept throughout is reported exactly once, none twice, and once the cursor
 * ends the cleared nodes are gone. nclear past the deferral bound takes the sweep instead. */
static void cursor_under_changes(unsigned n, unsigned nclear)
{
	struct retain_store *r = retain__new();
	char t[48];
	for (unsigned i = 0; i < n; i++) {
		snprintf(t, sizeof(t), i % 3 ? "dev/%u" : "dev/%u/x", i);
		put(r, t);
	}
	unsigned *seen = calloc(n * 2, sizeof(*seen));
	struct retain_cursor *k = retain__cursor_new(r, B("dev/#"));
	struct message *out[8];
	unsigned step = 0, added = 0, cleared = 0;
	while (!retain__cursor_done(k)) {
		size_t steps = 16;
		size_t got = retain__cursor_next(r, k, out, 8, &steps);
		for (size_t j = 0; j < got; j++) {
			long i = dev_index(out[j]);
			if (i >= 0 && i < (long)n * 2) seen[i]++;
			msg__unref(out[j]);
		}
		/* Between steps: new topics above n, and clears of the odd ones below n (some seen, some not). */
		if (added < n) {
			snprintf(t, sizeof(t), "dev/%u", n + added++);
			put(r, t);
		}
		for (int c = 0; c < 4 && cleared < nclear && 2 * cleared + 1 < n; c++, cleared++) {
			unsigned i = 2 * cleared + 1;
			snprintf(t, sizeof(t), i % 3 ? "dev/%u" : "dev/%u/x", i);
			clear(r, t);
		}
		step++;
	}
	retain__cursor_free(r, k);
	unsigned twice = 0, missed = 0;
	for (unsigned i = 0; i < 2 * n; i++) {
		twice += seen[i] > 1;
		if (i < n && (i % 2 == 0 || (i - 1) / 2 >= cleared)) missed += seen[i] != 1; /* kept throughout */
	}
	CHECK_EQ(twice, 0);
	CHECK_EQ(missed, 0);
	CHECK(step > n / 16); /* it was walked in steps */
	CHECK_EQ(retain__count(r), n + added - cleared);
	/* Nothing left behind by the put-off prunes: clearing the rest empties the tree. */
	for (unsigned i = 0; i < n + added; i++) {
		snprintf(t, sizeof(t), i < n && i % 3 == 0 ? "dev/%u/x" : "dev/%u", i);
		clear(r, t);
	}
	CHECK_EQ(retain__count(r), 0);
	CHECK_EQ(retain__node_count(r), 0);
	free(seen);
	retain__free(r);
}

static void test_cursor(void)
{
	cursor_under_changes(3000, 500);   /* put-off prunes remembered by topic */
	cursor_under_changes(20000, 9000); /* past the bound: a sweep */
}

struct race {
	struct retain_store *r;
	atomic_bool stop;
	atomic_int errors;
	atomic_long reads;
};

/* Reads every payload byte, so a message freed too early shows up under ASan or TSan. */
static void touch(void *arg, struct message *m)
{
	unsigned *sum = arg;
	for (uint32_t i = 0; i < m->payload_len; i++)
		*sum += m->payload[i];
}

static void *reader(void *arg)
{
	struct race *x = arg;
	unsigned sum = 0;
	while (!atomic_load(&x->stop)) {
		/* "keep" is always retained; the writers churn everything under "w/". */
		size_t n = retain__match(x->r, B("+"), touch, &sum);
		if (n != 1) atomic_fetch_add(&x->errors, 1);
		retain__match(x->r, B("#"), touch, &sum);
		retain__match(x->r, B("w/+/+"), touch, &sum);
		/* In steps, letting go of the lock between them while the writers prune and grow the tree. */
		struct retain_cursor *k = retain__cursor_new(x->r, B("w/#"));
		struct message *out[4];
		while (k && !retain__cursor_done(k)) {
			size_t steps = 3;
			size_t got = retain__cursor_next(x->r, k, out, 4, &steps);
			for (size_t j = 0; j < got; j++) {
				touch(&sum, out[j]);
				msg__unref(out[j]);
			}
		}
		retain__cursor_free(x->r, k);
		atomic_fetch_add(&x->reads, 1);
	}
	return NULL;
}

struct writer_arg {
	struct race *x;
	int id;
};

static void *writer(void *arg)
{
	struct writer_arg *w = arg;
	char t[32];
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			snprintf(t, sizeof(t), "w/%d/%d", w->id, i);
			if (store(w->x->r, t, "first") || store(w->x->r, t, "replaced"))
				atomic_fetch_add(&w->x->errors, 1);
		}
		for (int i = 0; i < 50; i++) {
			snprintf(t, sizeof(t), "w/%d/%d", w->id, i);
			if (store(w->x->r, t, "")) atomic_fetch_add(&w->x->errors, 1);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	enum { READERS = 4, WRITERS = 2 };
	struct race x = {.r = retain__new()};
	put(x.r, "keep");
	pthread_t rd[READERS], wr[WRITERS];
	struct writer_arg wa[WRITERS];
	for (int i = 0; i < READERS; i++)
		pthread_create(&rd[i], NULL, reader, &x);
	for (int i = 0; i < WRITERS; i++) {
		wa[i] = (struct writer_arg){&x, i};
		pthread_create(&wr[i], NULL, writer, &wa[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wr[i], NULL);
	atomic_store(&x.stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);
	CHECK_EQ(atomic_load(&x.errors), 0);
	CHECK(atomic_load(&x.reads) > 0);
	CHECK_EQ(retain__count(x.r), 1);
	CHECK_EQ(retain__node_count(x.r), 1);
	retain__free(x.r);
}

int main(void)
{
	test_set_replace_clear();
	test_wildcards();
	test_wide();
	test_random();
	test_cursor();
	test_threads();
	CHECK_DONE();
}
