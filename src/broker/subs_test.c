/* Unit tests of the subscription tree: MQTT 4.7 matching, replace/remove/prune, fan-out, threads. */
#include "../../tests/unit/check.h"
#include "broker/subs.h"
#include "common/topic.h"
#include "midge/midge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define S(n) ((struct session *)(uintptr_t)(0x1000 + 16 * (uintptr_t)(n)))
#define B(str) (const uint8_t *)(str), strlen(str)

struct hit {
	struct session *s;
	uint8_t options;
	uint32_t sub_id;
};

struct hits {
	struct hit *v;
	size_t n, cap;
};

static void collect(void *arg, struct session *s, uint8_t options, uint32_t sub_id)
{
	struct hits *h = arg;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		if (!h->v) abort();
	}
	h->v[h->n++] = (struct hit){s, options, sub_id};
}

static void nothing(void *arg, struct session *s, uint8_t options, uint32_t sub_id) {}

static int cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	if (x->s != y->s) return x->s < y->s ? -1 : 1;
	return x->sub_id < y->sub_id ? -1 : x->sub_id > y->sub_id;
}

/* Number of matches of topic in a tree holding only filter. */
static size_t one(const char *filter, const char *topic)
{
	struct sub_tree *t = subs__new();
	if (!t) abort();
	CHECK_EQ(subs__add(t, B(filter), S(1), 1, 0), 1);
	size_t n = subs__match(t, B(topic), nothing, NULL);
	subs__free(t);
	return n;
}

static void test_spec(void)
{
	static const struct {
		const char *filter, *topic;
		size_t n;
	} cases[] = {
	    {"sport/tennis/player1", "sport/tennis/player1", 1},
	    {"sport/tennis/player1", "sport/tennis/player2", 0},
	    {"sport/tennis/player1", "sport/tennis", 0},
	    {"sport/tennis/player1/#", "sport/tennis/player1", 1},
	    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", 1},
	    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1},
	    {"sport/tennis/player1/#", "sport/tennis/player2", 0},
	    {"sport/#", "sport", 1},
	    {"#", "sport/tennis", 1},
	    {"#", "/", 1},
	    {"sport/tennis/+", "sport/tennis/player1", 1},
	    {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
	    {"sport/+", "sport", 0},
	    {"sport/+", "sport/", 1},
	    {"sport/+", "sport/tennis/player1", 0},
	    {"+/+", "/finance", 1},
	    {"/+", "/finance", 1},
	    {"+", "/finance", 0},
	    {"+/tennis/#", "sport/tennis/player1", 1},
	    {"+/tennis/#", "sport/tennis", 1},
	    {"+/tennis/#", "sport/golf", 0},
	    {"sport/+/player1", "sport/tennis/player1", 1},
	    {"#", "$SYS/x", 0},
	    {"#", "$SYS", 0},
	    {"+/monitor/Clients", "$SYS/monitor/Clients", 0},
	    {"+/#", "$SYS", 0},
	    {"$SYS/#", "$SYS/x", 1},
	    {"$SYS/#", "$SYS", 1},
	    {"$SYS/monitor/+", "$SYS/monitor/Clients", 1},
	    {"$SYS/+", "$SYS/x/y", 0},
	    {"a/$x", "a/$x", 1},
	    {"a/+", "a/$x", 1}, /* the '$' rule is for the first level only */
	    {"a/#", "a/$x/y", 1},
	    /* empty levels are levels */
	    {"a//b", "a//b", 1},
	    {"a//b", "a/b", 0},
	    {"a/+/b", "a//b", 1},
	    {"+/+/+", "a//b", 1},
	    {"+/+", "a//b", 0},
	    {"/#", "/", 1},
	    {"/#", "a", 0},
	    {"/", "/", 1},
	    {"+", "", 1},
	    {"a/", "a", 0},
	    {"a", "a/", 0},
	    {"a/+", "a/", 1},
	    {"a/#", "a/", 1},
	    {"A", "a", 0},
	    {"a/b", "a/b/c", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = one(cases[i].filter, cases[i].topic);
		if (n != cases[i].n)
			fprintf(stderr, "filter '%s' topic '%s': %zu calls\n", cases[i].filter, cases[i].topic, n);
		CHECK_EQ(n, cases[i].n);
	}
}

static void test_replace_remove_prune(void)
{
	struct sub_tree *t = subs__new();
	struct hits h = {0};
	CHECK_EQ(subs__add(t, B("a/b/c"), S(1), 1, 7), 1);
	CHECK_EQ(subs__add(t, B("a/b/c"), S(1), 2, 9), 0); /* re-subscribe replaces */
	CHECK_EQ(subs__count(t), 1);
	CHECK_EQ(subs__match(t, B("a/b/c"), collect, &h), 1);
	CHECK(h.n == 1 && h.v[0].s == S(1) && h.v[0].options == 2 && h.v[0].sub_id == 9);
	CHECK_EQ(subs__add(t, B("a/b/d"), S(1), 0, 0), 1);
	CHECK_EQ(subs__add(t, B("a/x"), S(2), 0, 0), 1);
	CHECK_EQ(subs__add(t, B("a/b/c"), S(2), 0, 0), 1);
	CHECK_EQ(subs__count(t), 4);
	CHECK_EQ(subs__node_count(t), 5); /* a b c d x */

	CHECK_EQ(subs__remove(t, B("a/b/e"), S(1)), MIDGE_ERR_NOT_FOUND);
	CHECK_EQ(subs__remove(t, B("a/b"), S(1)), MIDGE_ERR_NOT_FOUND); /* a node without subscribers */
	CHECK_EQ(subs__remove(t, B("a/x"), S(1)), MIDGE_ERR_NOT_FOUND); /* another session's */
	CHECK_EQ(subs__node_count(t), 5);
	CHECK_EQ(subs__remove(t, B("a/b/c"), S(1)), 0);
	CHECK_EQ(subs__remove(t, B("a/b/c"), S(1)), MIDGE_ERR_NOT_FOUND);
	CHECK_EQ(subs__node_count(t), 5); /* S(2) still on a/b/c */
	CHECK_EQ(subs__remove(t, B("a/b/c"), S(2)), 0);
	CHECK_EQ(subs__node_count(t), 4);
	CHECK_EQ(subs__remove(t, B("a/b/d"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 2); /* b went with its last child */
	CHECK_EQ(subs__count(t), 1);
	h.n = 0;
	CHECK_EQ(subs__match(t, B("a/b/c"), collect, &h), 0);
	CHECK_EQ(subs__match(t, B("a/x"), collect, &h), 1);
	CHECK_EQ(subs__remove(t, B("a/x"), S(2)), 0);
	CHECK_EQ(subs__count(t), 0);
	CHECK_EQ(subs__node_count(t), 0);
	/* A node that has subscribers keeps its children, and the reverse. */
	CHECK_EQ(subs__add(t, B("a"), S(1), 0, 0), 1);
	CHECK_EQ(subs__add(t, B("a/b"), S(1), 0, 0), 1);
	CHECK_EQ(subs__remove(t, B("a"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 2);
	CHECK_EQ(subs__match(t, B("a/b"), nothing, NULL), 1);
	CHECK_EQ(subs__add(t, B("a"), S(1), 0, 0), 1);
	CHECK_EQ(subs__remove(t, B("a/b"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 1);
	CHECK_EQ(subs__match(t, B("a"), nothing, NULL), 1);
	free(h.v);
	subs__free(t); /* with a subscription left: ASan checks it is freed */
	subs__free(NULL);
}

static void test_many_sessions(void)
{
	enum { N = 10000 };
	struct sub_tree *t = subs__new();
	for (uint32_t i = 0; i < N; i++)
		CHECK_EQ(subs__add(t, B("x/+"), S(i), 1, i), 1);
	for (uint32_t i = 0; i < N; i += 3)
		CHECK_EQ(subs__add(t, B("x/+"), S(i), 2, i), 0);
	CHECK_EQ(subs__count(t), N);
	struct hits h = {0};
	CHECK_EQ(subs__match(t, B("x/y"), collect, &h), N);
	qsort(h.v, h.n, sizeof(h.v[0]), cmp_hit);
	bool ok = true;
	for (uint32_t i = 0; i < N; i++)
		ok &= h.v[i].s == S(i) && h.v[i].sub_id == i && h.v[i].options == (i % 3 ? 1 : 2);
	CHECK(ok);
	/* Removing most shrinks the set; the rest are still found, each once. */
	for (uint32_t i = 0; i < N; i++)
		if (i % 100) CHECK_EQ(subs__remove(t, B("x/+"), S(i)), 0);
	CHECK_EQ(subs__count(t), N / 100);
	h.n = 0;
	CHECK_EQ(subs__match(t, B("x/y"), collect, &h), N / 100);
	qsort(h.v, h.n, sizeof(h.v[0]), cmp_hit);
	ok = true;
	for (uint32_t i = 0; i < N / 100; i++)
		ok &= h.v[i].s == S(i * 100);
	CHECK(ok);
	for (uint32_t i = 0; i < N; i += 100)
		CHECK_EQ(subs__remove(t, B("x/+"), S(i)), 0);
	CHECK_EQ(subs__node_count(t), 0);
	free(h.v);
	subs__free(t);
}

static void test_overlapping(void)
{
	static const char *filters[] = {"a/b", "a/+", "+/b", "+/+", "#", "a/#", "a/b/#", "+/b/#", "+/#", "a/c"};
	struct sub_tree *t = subs__new();
	for (uint32_t i = 0; i < 10; i++)
		CHECK_EQ(subs__add(t, B(filters[i]), S(1), 0, i + 1), 1);
	CHECK_EQ(subs__add(t, B("a/b"), S(2), 0, 100), 1);
	struct hits h = {0};
	CHECK_EQ(subs__match(t, B("a/b"), collect, &h), 10); /* nine filters of S(1), one of S(2) */
	qsort(h.v, h.n, sizeof(h.v[0]), cmp_hit);
	for (uint32_t i = 0; i < 9; i++)
		CHECK(h.v[i].s == S(1) && h.v[i].sub_id == i + 1);
	CHECK(h.v[9].s == S(2) && h.v[9].sub_id == 100);
	free(h.v);
	subs__free(t);
}

/* 100,000 sibling levels: each add and match must stay O(levels), or this test takes minutes. */
static void test_wide(void)
{
	enum { N = 100000 };
	struct sub_tree *t = subs__new();
	char f[64];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < N; i++) {
		snprintf(f, sizeof(f), "dev/%u/temp", i);
		CHECK_EQ(subs__add(t, B(f), S(i), 0, 0), 1);
	}
	CHECK_EQ(subs__add(t, B("dev/+/temp"), S(N), 0, 0), 1);
	struct hits h = {0};
	CHECK_EQ(subs__match(t, B("dev/4711/temp"), collect, &h), 2);
	CHECK(h.n == 2 && ((h.v[0].s == S(4711) && h.v[1].s == S(N)) || (h.v[1].s == S(4711) && h.v[0].s == S(N))));
	size_t total = 0;
	for (uint32_t i = 0; i < N; i += 7) {
		snprintf(f, sizeof(f), "dev/%u/temp", i);
		total += subs__match(t, B(f), nothing, NULL);
	}
	CHECK_EQ(total, 2 * ((N + 6) / 7));
	for (uint32_t i = 0; i < N; i++) {
		snprintf(f, sizeof(f), "dev/%u/temp", i);
		CHECK_EQ(subs__remove(t, B(f), S(i)), 0);
	}
	CHECK_EQ(subs__node_count(t), 3);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(s < 20); /* about 0.1 s unsanitized; a linear child list is quadratic here */
	free(h.v);
	subs__free(t);
}

/* A long topic of empty levels: the walk must need no recursion or stack proportional to depth. */
static void test_deep(void)
{
	enum { L = 60000 };
	uint8_t *p = malloc(L);
	memset(p, '/', L);
	struct sub_tree *t = subs__new();
	CHECK_EQ(subs__add(t, p, L, S(1), 0, 0), 1);
	p[L - 1] = '#';
	CHECK_EQ(subs__add(t, p, L, S(2), 0, 0), 1);
	p[0] = '+';
	CHECK_EQ(subs__add(t, p, L, S(3), 0, 0), 1);
	memset(p, '/', L);
	CHECK_EQ(subs__match(t, p, L, nothing, NULL), 3);
	CHECK_EQ(subs__match(t, p, L - 1, nothing, NULL), 2); /* one level short: the two '#' filters */
	subs__free(t);
	free(p);
}

/* Random filters and topics over a small alphabet, checked against topic__matches one by one. */
static void test_random(void)
{
	static const char *flevels[] = {"a", "b", "", "$s", "+", "#", "ab"};
	static const char *tlevels[] = {"a", "b", "", "$s", "ab"};
	enum { NF = 400, NT = 3000, NS = 5 };
	struct sub_tree *t = subs__new();
	char filters[NF][32];
	struct session *sess[NF];
	bool live[NF] = {false};
	unsigned seed = 12345;
	for (int i = 0; i < NF; i++) {
		bool dup;
		do { /* (filter, session) pairs are distinct, so add and remove results are known */
			int nl = 1 + rand_r(&seed) % 4;
			filters[i][0] = 0;
			for (int l = 0; l < nl; l++) {
				const char *lv = flevels[rand_r(&seed) % 7];
				if (!strcmp(lv, "#") && l != nl - 1) lv = "+";
				if (l) strcat(filters[i], "/");
				strcat(filters[i], lv);
			}
			sess[i] = S(rand_r(&seed) % NS);
			dup = false;
			for (int j = 0; j < i; j++)
				dup |= sess[j] == sess[i] && !strcmp(filters[j], filters[i]);
		} while (dup);
	}
	int mismatches = 0;
	size_t total = 0;
	for (int round = 0; round < NT; round++) {
		int i = rand_r(&seed) % NF;
		if (live[i])
			CHECK_EQ(subs__remove(t, B(filters[i]), sess[i]), 0);
		else
			CHECK_EQ(subs__add(t, B(filters[i]), sess[i], 0, (uint32_t)i), 1);
		live[i] = !live[i];
		char topic[32] = "";
		int nl = 1 + rand_r(&seed) % 4;
		for (int l = 0; l < nl; l++) {
			if (l) strcat(topic, "/");
			strcat(topic, tlevels[rand_r(&seed) % 5]);
		}
		size_t want = 0;
		for (int j = 0; j < NF; j++)
			if (live[j] && topic__matches(B(filters[j]), B(topic))) want++;
		struct hits h = {0};
		size_t got = subs__match(t, B(topic), collect, &h);
		total += got;
		if (got != want || h.n != got) {
			if (mismatches++ < 5)
				fprintf(stderr, "topic '%s': %zu matches, brute force %zu\n", topic, got, want);
		}
		/* Every hit is a live pair that matches. */
		for (size_t k = 0; k < h.n; k++) {
			int j = (int)h.v[k].sub_id;
			CHECK(live[j] && sess[j] == h.v[k].s && topic__matches(B(filters[j]), B(topic)));
		}
		free(h.v);
	}
	CHECK_EQ(mismatches, 0);
	fprintf(stderr, "random: %zu matches in %d rounds\n", total, NT);
	CHECK(total > NT); /* the alphabet is small enough that the comparison is not vacuous */
	size_t nlive = 0;
	for (int j = 0; j < NF; j++)
		nlive += live[j];
	CHECK_EQ(subs__count(t), nlive);
	for (int j = 0; j < NF; j++)
		if (live[j]) CHECK_EQ(subs__remove(t, B(filters[j]), sess[j]), 0);
	CHECK_EQ(subs__count(t), 0);
	CHECK_EQ(subs__node_count(t), 0);
	subs__free(t);
}

struct race {
	struct sub_tree *t;
	atomic_bool stop;
	atomic_int errors;
	atomic_long reads;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->stop)) {
		/* The stable subscriptions (S(0) on "s/+" and "#") are always there, whatever the writers do. */
		struct hits h = {0};
		subs__match(r->t, B("s/x"), collect, &h);
		size_t stable = 0;
		for (size_t i = 0; i < h.n; i++)
			stable += h.v[i].s == S(0);
		if (stable != 2) atomic_fetch_add(&r->errors, 1);
		free(h.v);
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

struct writer_arg {
	struct race *r;
	int id;
};

static void *writer(void *arg)
{
	struct writer_arg *w = arg;
	char f[32];
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			snprintf(f, sizeof(f), "s/%d/%d", i, w->id);
			if (subs__add(w->r->t, B(f), S(1 + w->id), 0, 0) != 1) atomic_fetch_add(&w->r->errors, 1);
			if (subs__add(w->r->t, B("s/x"), S(100 + w->id * 50 + i), 0, 0) != 1)
				atomic_fetch_add(&w->r->errors, 1);
		}
		for (int i = 0; i < 50; i++) {
			snprintf(f, sizeof(f), "s/%d/%d", i, w->id);
			if (subs__remove(w->r->t, B(f), S(1 + w->id))) atomic_fetch_add(&w->r->errors, 1);
			if (subs__remove(w->r->t, B("s/x"), S(100 + w->id * 50 + i)))
				atomic_fetch_add(&w->r->errors, 1);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	enum { READERS = 4, WRITERS = 2 };
	struct race r = {.t = subs__new()};
	CHECK_EQ(subs__add(r.t, B("s/+"), S(0), 0, 0), 1);
	CHECK_EQ(subs__add(r.t, B("#"), S(0), 0, 0), 1);
	pthread_t rd[READERS], wr[WRITERS];
	struct writer_arg wa[WRITERS];
	for (int i = 0; i < READERS; i++)
		pthread_create(&rd[i], NULL, reader, &r);
	for (int i = 0; i < WRITERS; i++) {
		wa[i] = (struct writer_arg){&r, i};
		pthread_create(&wr[i], NULL, writer, &wa[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wr[i], NULL);
	atomic_store(&r.stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);
	CHECK_EQ(atomic_load(&r.errors), 0);
	CHECK(atomic_load(&r.reads) > 0);
	CHECK_EQ(subs__count(r.t), 2);
	CHECK_EQ(subs__node_count(r.t), 3); /* s, +, # */
	subs__free(r.t);
}

int main(void)
{
	test_spec();
	test_replace_remove_prune();
	test_many_sessions();
	test_overlapping();
	test_wide();
	test_deep();
	test_random();
	test_threads();
	CHECK_DONE();
}
