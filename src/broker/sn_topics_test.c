/* MQTT-SN topic id registry: ids both ways, reuse of a name's id, eviction of the least recently used. */
#include <stdio.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "sn_topics.h"

#define T(s) (const uint8_t *)(s), strlen(s)

static void test_both_ways(void)
{
	struct sn_topics t;
	sn_topics__init(&t, 0, 0);
	CHECK(sn_topics__by_name(&t, T("a/b")) == NULL);
	CHECK(sn_topics__by_id(&t, 1) == NULL);
	bool ev;
	struct sn_topic *a = sn_topics__add(&t, T("a/b"), &ev);
	CHECK(a && a->id == 1 && !ev && !a->known && strcmp(a->name, "a/b") == 0);
	struct sn_topic *b = sn_topics__add(&t, T("a/c"), &ev);
	CHECK(b && b->id == 2);
	CHECK(sn_topics__add(&t, T("a/b"), &ev) == a); /* a name keeps its id */
	CHECK(sn_topics__by_id(&t, 2) == b);
	CHECK(sn_topics__by_name(&t, T("a/c")) == b);
	CHECK(sn_topics__by_name(&t, T("a/")) == NULL);
	CHECK_EQ(t.n, 2);
	sn_topics__fini(&t);
	CHECK_EQ(t.n, 0);
	CHECK(sn_topics__by_id(&t, 1) == NULL);
}

static void test_eviction(void)
{
	struct sn_topics t;
	sn_topics__init(&t, 3, 0);
	bool ev;
	sn_topics__add(&t, T("one"), &ev);
	sn_topics__add(&t, T("two"), &ev);
	sn_topics__add(&t, T("three"), &ev);
	CHECK(sn_topics__by_name(&t, T("one")) != NULL); /* "two" is now the least recently used */
	struct sn_topic *f = sn_topics__add(&t, T("four"), &ev);
	CHECK(f && ev && f->id == 4); /* a fresh id: the client may still use 2 for "two" */
	CHECK(sn_topics__by_name(&t, T("two")) == NULL);
	CHECK(sn_topics__by_id(&t, 2) == NULL);
	CHECK(sn_topics__by_id(&t, 4) == f);
	CHECK_EQ(t.n, 3);
	sn_topics__fini(&t);
}

static void test_many(void)
{
	struct sn_topics t;
	sn_topics__init(&t, 5000, 1 << 20);
	char name[32];
	bool ev;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "s/%d", i);
		struct sn_topic *e = sn_topics__add(&t, T(name), &ev);
		CHECK(e && e->id == i + 1 && !ev);
	}
	for (int i = 0; i < 5000; i += 97) {
		snprintf(name, sizeof(name), "s/%d", i);
		struct sn_topic *e = sn_topics__by_id(&t, (uint16_t)(i + 1));
		CHECK(e && strcmp(e->name, name) == 0);
	}
	sn_topics__fini(&t);
}

static void test_bytes(void)
{
	struct sn_topics t;
	sn_topics__init(&t, 100, 10);
	bool ev;
	CHECK(sn_topics__add(&t, T("abcd"), &ev) && !ev);
	CHECK(sn_topics__add(&t, T("efgh"), &ev) && !ev);
	CHECK_EQ(t.bytes, 8);
	struct sn_topic *e = sn_topics__add(&t, T("ijkl"), &ev); /* 12 > 10: the oldest goes */
	CHECK(e && ev && t.n == 2 && t.bytes == 8);
	CHECK(sn_topics__by_name(&t, T("abcd")) == NULL);
	CHECK(sn_topics__add(&t, T("0123456789a"), &ev) == NULL); /* longer than the whole budget */
	e = sn_topics__add(&t, T("0123456789"), &ev);             /* exactly the budget: everything else goes */
	CHECK(e && t.n == 1 && t.bytes == 10);
	sn_topics__fini(&t);
	CHECK(t.bytes == 0 && t.max_bytes == 10);
}

int main(void)
{
	test_bytes();
	test_both_ways();
	test_eviction();
	test_many();
	CHECK_DONE();
}
