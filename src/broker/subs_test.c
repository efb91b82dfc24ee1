/* Unit tests of the subscription tree: MQTT 4.7 matching, replace/remove/prune, fan-out, threads, and
 * shared-subscription groups. */
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

static void no_group(void *arg, const struct sub_member *m, size_t n, size_t start) {}

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

/* Number of group matches of topic in a tree holding only one group on filter. */
static size_t one_shared(const char *filter, const char *topic)
{
	struct sub_tree *t = subs__new();
	if (!t) abort();
	CHECK_EQ(subs__add_shared(t, B("g"), B(filter), S(1), 1, 0), 1);
	size_t n = subs__match_shared(t, B(topic), no_group, NULL);
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

/* The same table for a shared group: one walk serves both kinds, '+', '#' and the '$' rule included. */
static void test_shared_spec(void)
{
	static const struct {
		const char *filter, *topic;
		size_t n;
	} cases[] = {
	    {"sport/tennis/+", "sport/tennis/player1", 1},
	    {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
	    {"sport/#", "sport", 1},
	    {"sport/#", "sport/tennis/player1", 1},
	    {"sport/+", "sport", 0},
	    {"+/+", "/finance", 1},
	    {"+", "/finance", 0},
	    {"+/tennis/#", "sport/tennis", 1},
	    {"a/b", "a/b", 1},
	    {"a/b", "a/c", 0},
	    {"#", "a/b", 1},
	    {"#", "$SYS/x", 0},
	    {"+/x", "$SYS/x", 0},
	    {"$SYS/#", "$SYS/x", 1},
	    {"$SYS/+", "$SYS/x", 1},
	    {"a/+", "a/$x", 1},
	    {"a/+/b", "a//b", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = one_shared(cases[i].filter, cases[i].topic);
		if (n != cases[i].n)
			fprintf(stderr, "shared filter '%s' topic '%s': %zu calls\n", cases[i].filter, cases[i].topic,
			        n);
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

/* ---- shared subscriptions ---- */

/* One call of a subs_share_cb: a copy of the members and the start it was given. */
struct ghit {
	struct sub_member m[8];
	size_t n, start;
};

struct ghits {
	struct ghit v[16];
	size_t n;
};

static void collect_group(void *arg, const struct sub_member *m, size_t n, size_t start)
{
	struct ghits *h = arg;
	if (h->n == 16 || n > 8 || n == 0) abort(); /* n >= 1 is promised */
	struct ghit *g = &h->v[h->n++];
	memcpy(g->m, m, n * sizeof(*m));
	g->n = n;
	g->start = start;
}

/* The group of h with first member s, or NULL. */
static const struct ghit *with_first(const struct ghits *h, struct session *s)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].m[0].s == s) return &h->v[i];
	return NULL;
}

static void test_shared_add_remove(void)
{
	struct sub_tree *t = subs__new();
	struct ghits h = {0};
	CHECK_EQ(subs__shared_count(t), 0);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b"), S(1), 1, 7), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b"), S(1), 2, 9), 0); /* a member re-joining gets new options */
	CHECK_EQ(subs__shared_count(t), 1);
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &h), 1);
	CHECK(h.n == 1 && h.v[0].n == 1 && h.v[0].m[0].s == S(1) && h.v[0].m[0].options == 2 &&
	      h.v[0].m[0].sub_id == 9);

	/* A member in two groups, and two groups on one filter. */
	CHECK_EQ(subs__add_shared(t, B("h"), B("a/b"), S(1), 1, 3), 1);
	CHECK_EQ(subs__add_shared(t, B("h"), B("a/b"), S(2), 0, 4), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/+"), S(1), 0, 5), 1);  /* same name, other filter: other group */
	CHECK_EQ(subs__add_shared(t, B("gg"), B("a/b"), S(3), 0, 6), 1); /* a name that extends another */
	CHECK_EQ(subs__shared_count(t), 5);
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &h), 4);
	size_t g_ab = 0, g_plus = 0, h_ab = 0, gg_ab = 0;
	for (size_t i = 0; i < h.n; i++) {
		const struct ghit *x = &h.v[i];
		if (x->n == 1 && x->m[0].s == S(1) && x->m[0].sub_id == 9) g_ab++;
		if (x->n == 1 && x->m[0].s == S(1) && x->m[0].sub_id == 5) g_plus++;
		if (x->n == 2 && x->m[0].s == S(1) && x->m[0].sub_id == 3 && x->m[1].s == S(2)) h_ab++;
		if (x->n == 1 && x->m[0].s == S(3) && x->m[0].sub_id == 6) gg_ab++;
	}
	CHECK(g_ab == 1 && g_plus == 1 && h_ab == 1 && gg_ab == 1);
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/c"), collect_group, &h), 1);
	CHECK(h.n == 1 && h.v[0].m[0].sub_id == 5);

	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/c"), S(1)), MIDGE_ERR_NOT_FOUND); /* no such filter */
	CHECK_EQ(subs__remove_shared(t, B("x"), B("a/b"), S(1)), MIDGE_ERR_NOT_FOUND); /* no such group */
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b"), S(2)), MIDGE_ERR_NOT_FOUND); /* not a member */
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a"), S(1)), MIDGE_ERR_NOT_FOUND);   /* a node, no group */
	CHECK_EQ(subs__remove(t, B("a/b"), S(1)), MIDGE_ERR_NOT_FOUND);                /* shared is not ordinary */
	CHECK_EQ(subs__shared_count(t), 5);
	/* Leaving one group leaves the other groups of the member alone. */
	CHECK_EQ(subs__remove_shared(t, B("h"), B("a/b"), S(1)), 0);
	CHECK_EQ(subs__remove_shared(t, B("h"), B("a/b"), S(1)), MIDGE_ERR_NOT_FOUND);
	CHECK_EQ(subs__shared_count(t), 4);
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &h), 4);
	const struct ghit *x = with_first(&h, S(2));
	CHECK(x && x->n == 1);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b"), S(1)), 0);
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &h), 3); /* g on a/b went, g on a/+ stays */
	CHECK_EQ(subs__shared_count(t), 3);
	subs__free(t); /* with groups left: ASan checks they are freed */
}

/* Shared subscriptions are kept apart: neither kind of match reports the other, subs__count counts only
 * the ordinary ones, subs__shared_count only the shared ones. */
static void test_shared_apart(void)
{
	struct sub_tree *t = subs__new();
	struct hits h = {0};
	struct ghits gh = {0};
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/#"), S(1), 1, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b"), S(2), 1, 0), 1);
	CHECK_EQ(subs__count(t), 0);
	CHECK_EQ(subs__match(t, B("a/b"), collect, &h), 0);
	CHECK_EQ(subs__add(t, B("a/b"), S(2), 1, 0), 1); /* the same session and filter, ordinary as well */
	CHECK_EQ(subs__add(t, B("x"), S(3), 1, 0), 1);
	CHECK_EQ(subs__count(t), 2);
	CHECK_EQ(subs__shared_count(t), 2);
	CHECK_EQ(subs__match(t, B("a/b"), collect, &h), 1);
	CHECK(h.n == 1 && h.v[0].s == S(2));
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &gh), 2);
	CHECK_EQ(subs__match_shared(t, B("x"), collect_group, &gh), 0);
	/* Removing one kind leaves the other. */
	CHECK_EQ(subs__remove(t, B("a/b"), S(2)), 0);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("x"), S(3)), MIDGE_ERR_NOT_FOUND);
	gh.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &gh), 2);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b"), S(2)), 0);
	h.n = 0;
	CHECK_EQ(subs__match(t, B("x"), collect, &h), 1);
	CHECK_EQ(subs__count(t), 1);
	CHECK_EQ(subs__shared_count(t), 1);
	free(h.v);
	subs__free(t);
}

/* Each call gives a group the next start; groups count apart; subs__shared_group advances it too. */
static void test_shared_start(void)
{
	struct sub_tree *t = subs__new();
	struct ghits h = {0};
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/+"), S(1), 0, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/+"), S(2), 0, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/+"), S(3), 0, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("h"), B("a/b"), S(4), 0, 0), 1);
	size_t first = 0;
	for (size_t i = 0; i < 7; i++) {
		h.n = 0;
		CHECK_EQ(subs__match_shared(t, B("a/x"), collect_group, &h), 1);
		if (i == 0) first = h.v[0].start;
		CHECK_EQ(h.v[0].start, first + i);
	}
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &h), 2);
	const struct ghit *g = with_first(&h, S(1)), *hh = with_first(&h, S(4));
	CHECK(g && hh && g->start == first + 7 && hh->start == 0); /* h was never reported before */
	h.n = 0;
	CHECK_EQ(subs__shared_group(t, B("g"), B("a/+"), collect_group, &h), 0);
	CHECK(h.n == 1 && h.v[0].n == 3 && h.v[0].start == first + 8);
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/y"), collect_group, &h), 1);
	CHECK_EQ(h.v[0].start, first + 9);
	/* Membership changes do not reset the counter. */
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/+"), S(2)), 0);
	h.n = 0;
	CHECK_EQ(subs__match_shared(t, B("a/y"), collect_group, &h), 1);
	CHECK(h.v[0].n == 2 && h.v[0].start == first + 10);
	subs__free(t);
}

struct order {
	size_t n;
	bool ok;
};

/* For the big group of test_shared_order: S(i) with sub_id i for i = 3, 7, 11, ... in that order. */
static void check_order(void *arg, const struct sub_member *m, size_t n, size_t start)
{
	struct order *o = arg;
	o->n = n;
	o->ok = true;
	for (size_t i = 0; i < n; i++)
		o->ok &= m[i].s == S(4 * i + 3) && m[i].sub_id == 4 * i + 3;
}

/* Members come in join order; leaving keeps the order of the rest; re-joining goes to the end, and a
 * new subscription of a member keeps its place. Many members exercise growing and shrinking. */
static void test_shared_order(void)
{
	struct sub_tree *t = subs__new();
	struct ghits h = {0};
	static const int join[] = {5, 3, 7, 1, 4};
	for (int i = 0; i < 5; i++)
		CHECK_EQ(subs__add_shared(t, B("g"), B("q"), S(join[i]), 0, (uint32_t)i), 1);
	CHECK_EQ(subs__shared_group(t, B("g"), B("q"), collect_group, &h), 0);
	CHECK_EQ(h.v[0].n, 5);
	for (int i = 0; i < 5; i++)
		CHECK(h.v[0].m[i].s == S(join[i]) && h.v[0].m[i].sub_id == (uint32_t)i);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("q"), S(3)), 0);    /* from the middle */
	CHECK_EQ(subs__remove_shared(t, B("g"), B("q"), S(5)), 0);    /* the first */
	CHECK_EQ(subs__add_shared(t, B("g"), B("q"), S(3), 1, 9), 1); /* back, at the end */
	CHECK_EQ(subs__add_shared(t, B("g"), B("q"), S(7), 2, 8), 0); /* replaced in place */
	h.n = 0;
	CHECK_EQ(subs__shared_group(t, B("g"), B("q"), collect_group, &h), 0);
	static const int want[] = {7, 1, 4, 3};
	CHECK_EQ(h.v[0].n, 4);
	for (int i = 0; i < 4; i++)
		CHECK(h.v[0].m[i].s == S(want[i]));
	CHECK(h.v[0].m[0].options == 2 && h.v[0].m[0].sub_id == 8 && h.v[0].m[3].options == 1);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("q"), S(3)), 0); /* the last */
	h.n = 0;
	CHECK_EQ(subs__shared_group(t, B("g"), B("q"), collect_group, &h), 0);
	CHECK(h.v[0].n == 3 && h.v[0].m[0].s == S(7) && h.v[0].m[1].s == S(1) && h.v[0].m[2].s == S(4));
	subs__free(t);

	/* A thousand members: every other one leaves, then the first of each remaining pair. */
	enum { N = 1000 };
	t = subs__new();
	for (uint32_t i = 0; i < N; i++)
		CHECK_EQ(subs__add_shared(t, B("big"), B("b/#"), S(i), 0, i), 1);
	for (uint32_t i = 0; i < N; i += 2)
		CHECK_EQ(subs__remove_shared(t, B("big"), B("b/#"), S(i)), 0);
	for (uint32_t i = 1; i < N; i += 4)
		CHECK_EQ(subs__remove_shared(t, B("big"), B("b/#"), S(i)), 0);
	CHECK_EQ(subs__shared_count(t), N / 4);
	struct order o = {0, false};
	CHECK_EQ(subs__match_shared(t, B("b"), check_order, &o), 1);
	CHECK(o.n == N / 4 && o.ok);
	for (uint32_t i = 3; i < N; i += 4)
		CHECK_EQ(subs__remove_shared(t, B("big"), B("b/#"), S(i)), 0);
	CHECK_EQ(subs__shared_count(t), 0);
	CHECK_EQ(subs__node_count(t), 0);
	subs__free(t);
}

/* A group goes with its last member and its nodes with it; subs__shared_group then finds nothing. */
static void test_shared_prune(void)
{
	struct sub_tree *t = subs__new();
	struct ghits h = {0};
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b/c"), S(1), 0, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b/c"), S(2), 0, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("h"), B("a/b/c"), S(1), 0, 0), 1);
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b"), S(1), 0, 0), 1);
	CHECK_EQ(subs__node_count(t), 3);
	CHECK_EQ(subs__add(t, B("a/x"), S(1), 0, 0), 1); /* ordinary nodes count too */
	CHECK_EQ(subs__node_count(t), 5);

	CHECK_EQ(subs__shared_group(t, B("g"), B("a/b/c"), collect_group, &h), 0);
	CHECK(h.n == 1 && h.v[0].n == 2);
	CHECK_EQ(subs__shared_group(t, B("h"), B("a/b"), collect_group, &h), MIDGE_ERR_NOT_FOUND);
	CHECK_EQ(subs__shared_group(t, B("g"), B("a"), collect_group, &h), MIDGE_ERR_NOT_FOUND);   /* a node only */
	CHECK_EQ(subs__shared_group(t, B("g"), B("a/x"), collect_group, &h), MIDGE_ERR_NOT_FOUND); /* ordinary */
	CHECK_EQ(subs__shared_group(t, B("g"), B("z"), collect_group, &h), MIDGE_ERR_NOT_FOUND);
	CHECK_EQ(h.n, 1); /* cb not called when not found */

	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b/c"), S(1)), 0);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b/c"), S(2)), 0);
	CHECK_EQ(subs__shared_group(t, B("g"), B("a/b/c"), collect_group, &h), MIDGE_ERR_NOT_FOUND);
	CHECK_EQ(subs__shared_group(t, B("h"), B("a/b/c"), collect_group, &h), 0); /* the other group stays */
	CHECK_EQ(subs__node_count(t), 5);
	CHECK_EQ(subs__remove_shared(t, B("h"), B("a/b/c"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 4); /* c went with its last group; b still holds one */
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 2);
	CHECK_EQ(subs__shared_count(t), 0);
	CHECK_EQ(subs__match_shared(t, B("a/b"), collect_group, &h), 0);
	CHECK_EQ(subs__remove(t, B("a/x"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 0);
	/* Usable again after emptying. */
	CHECK_EQ(subs__add_shared(t, B("g"), B("a/b/c"), S(1), 0, 0), 1);
	CHECK_EQ(subs__match_shared(t, B("a/b/c"), collect_group, &h), 1);
	CHECK_EQ(subs__remove_shared(t, B("g"), B("a/b/c"), S(1)), 0);
	CHECK_EQ(subs__node_count(t), 0);
	subs__free(t);
}

struct share_race {
	struct sub_tree *t;
	atomic_bool stop;
	atomic_int errors;
	size_t *starts; /* one slot per reader call */
	atomic_size_t next;
};

static void record_start(void *arg, const struct sub_member *m, size_t n, size_t start)
{
	struct share_race *r = arg;
	/* The stable group keeps its one stable member first whatever the writers do. */
	if (m[0].s != S(0)) atomic_fetch_add(&r->errors, 1);
	r->starts[atomic_fetch_add(&r->next, 1)] = start;
}

enum { SHARE_READS = 20000 };

static void *share_reader(void *arg)
{
	struct share_race *r = arg;
	for (int i = 0; i < SHARE_READS; i++)
		if (subs__match_shared(r->t, B("s/x"), record_start, r) != 1) atomic_fetch_add(&r->errors, 1);
	return NULL;
}

static void *share_writer(void *arg)
{
	struct share_race *r = arg;
	char f[32];
	for (int round = 0; !atomic_load(&r->stop); round++) {
		for (int i = 0; i < 20; i++) {
			snprintf(f, sizeof(f), "s/%d", i);
			if (subs__add_shared(r->t, B("w"), B(f), S(1), 0, 0) != 1) atomic_fetch_add(&r->errors, 1);
			if (subs__add_shared(r->t, B("g"), B("s/+"), S(10 + i), 0, 0) != 1)
				atomic_fetch_add(&r->errors, 1);
		}
		for (int i = 0; i < 20; i++) {
			snprintf(f, sizeof(f), "s/%d", i);
			if (subs__remove_shared(r->t, B("w"), B(f), S(1))) atomic_fetch_add(&r->errors, 1);
			if (subs__remove_shared(r->t, B("g"), B("s/+"), S(10 + i))) atomic_fetch_add(&r->errors, 1);
		}
	}
	return NULL;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Parallel matchers each get a start of their own (the counter is advanced atomically), while writers
 * add and remove members and groups around them. */
static void test_shared_threads(void)
{
	enum { READERS = 4 };
	struct share_race r = {.t = subs__new(), .starts = calloc(READERS * SHARE_READS, sizeof(size_t))};
	CHECK_EQ(subs__add_shared(r.t, B("g"), B("s/+"), S(0), 0, 0), 1);
	pthread_t rd[READERS], wr;
	pthread_create(&wr, NULL, share_writer, &r);
	for (int i = 0; i < READERS; i++)
		pthread_create(&rd[i], NULL, share_reader, &r);
	for (int i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);
	atomic_store(&r.stop, true);
	pthread_join(wr, NULL);
	CHECK_EQ(atomic_load(&r.errors), 0);
	CHECK_EQ(atomic_load(&r.next), READERS * SHARE_READS);
	qsort(r.starts, READERS * SHARE_READS, sizeof(size_t), cmp_size);
	bool distinct = true;
	for (size_t i = 0; i < READERS * SHARE_READS; i++)
		distinct &= r.starts[i] == i;
	CHECK(distinct);
	CHECK_EQ(subs__shared_count(r.t), 1);
	CHECK_EQ(subs__node_count(r.t), 2); /* s, + */
	free(r.starts);
	subs__free(r.t);
}

/* The watcher (the cluster's interest) hears of a filter's first subscriber and last, and of a shared group's
 * first member and last, once each. */
struct watched {
	char log[512];
};

static void watch_cb(void *arg, const uint8_t *group, size_t glen, const uint8_t *f, size_t len, bool on)
{
	struct watched *w = arg;
	size_t at = strlen(w->log);
	snprintf(w->log + at, sizeof(w->log) - at, "%c%.*s%s%.*s;", on ? '+' : '-', (int)glen, group ? (const char *)group : "",
		 group ? ":" : "", (int)len, (const char *)f);
}

static void test_watch(void)
{
	struct sub_tree *t = subs__new();
	struct watched w = {{0}};
	subs__set_watch(t, watch_cb, &w);
	CHECK(subs__add(t, B("a/#"), S(1), 1, 0) == 1);
	CHECK(subs__add(t, B("a/#"), S(2), 1, 0) == 1);
	CHECK(subs__add(t, B("a/#"), S(2), 2, 0) == 0);
	CHECK(subs__add_shared(t, B("g"), B("a/#"), S(1), 1, 0) == 1);
	CHECK(subs__add_shared(t, B("g"), B("a/#"), S(2), 1, 0) == 1);
	CHECK(subs__add_shared(t, B("h"), B("a/#"), S(2), 1, 0) == 1);
	CHECK(subs__remove(t, B("a/#"), S(1)) == 0);
	CHECK(subs__remove_shared(t, B("g"), B("a/#"), S(1)) == 0);
	CHECK(!strcmp(w.log, "+a/#;+g:a/#;+h:a/#;"));
	CHECK(subs__remove(t, B("a/#"), S(2)) == 0);
	CHECK(subs__remove_shared(t, B("g"), B("a/#"), S(2)) == 0);
	CHECK(subs__remove_shared(t, B("h"), B("a/#"), S(2)) == 0);
	CHECK(!strcmp(w.log, "+a/#;+g:a/#;+h:a/#;-a/#;-g:a/#;-h:a/#;"));
	subs__set_watch(t, NULL, NULL);
	CHECK(subs__add(t, B("b"), S(1), 1, 0) == 1);
	CHECK(!strcmp(w.log, "+a/#;+g:a/#;+h:a/#;-a/#;-g:a/#;-h:a/#;"));
	subs__free(t);
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
	test_shared_spec();
	test_shared_add_remove();
	test_shared_apart();
	test_shared_start();
	test_shared_order();
	test_shared_prune();
	test_shared_threads();
	test_watch();
	CHECK_DONE();
}
