/* Unit tests of MQTT 5 topic aliases: the client's (inbound) and the broker's (outbound) tables. */
#include "../../tests/unit/check.h"
#include "broker/alias.h"
#include "midge/midge.h"

#include <stdio.h>
#include <string.h>

#define B(str) (const uint8_t *)(str), strlen(str)

static void test_in(void)
{
	struct alias_in a = {.max = 3};
	size_t len = 99;
	CHECK(alias__in_get(&a, 1, &len) == NULL); /* never set, table not even allocated */
	CHECK_EQ(alias__in_set(&a, 0, B("x")), MIDGE_ERR_INVAL); /* 0 is not an alias [MQTT-3.3.2-8] */
	CHECK_EQ(alias__in_set(&a, 4, B("x")), MIDGE_ERR_INVAL); /* past the maximum announced */
	CHECK_EQ(alias__in_set(&a, 1, B("a/b")), 0);
	CHECK_EQ(alias__in_set(&a, 3, B("")), 0);
	const uint8_t *t = alias__in_get(&a, 1, &len);
	CHECK(t && len == 3 && memcmp(t, "a/b", 3) == 0);
	t = alias__in_get(&a, 3, &len);
	CHECK(t && len == 0);
	CHECK(alias__in_get(&a, 2, &len) == NULL);
	CHECK(alias__in_get(&a, 0, &len) == NULL);
	CHECK(alias__in_get(&a, 4, &len) == NULL);
	/* A later PUBLISH may point an alias at another topic [MQTT-3.3.2-12 onwards]. */
	CHECK_EQ(alias__in_set(&a, 1, B("c")), 0);
	t = alias__in_get(&a, 1, &len);
	CHECK(t && len == 1 && t[0] == 'c');
	alias__in_fini(&a);
	CHECK(alias__in_get(&a, 1, &len) == NULL);

	struct alias_in none = {0};
	CHECK_EQ(alias__in_set(&none, 1, B("x")), MIDGE_ERR_INVAL);
	alias__in_fini(&none);
}

static void test_out(void)
{
	struct alias_out a = {.max = 2};
	uint16_t alias;
	bool known;
	/* peek assigns nothing */
	alias__out_lookup(&a, B("a"), true, &alias, &known);
	CHECK(alias == 0 && !known);
	alias__out_lookup(&a, B("a"), false, &alias, &known);
	CHECK(alias == 1 && !known);
	alias__out_lookup(&a, B("a"), true, &alias, &known);
	CHECK(alias == 1 && known);
	alias__out_lookup(&a, B("b"), false, &alias, &known);
	CHECK(alias == 2 && !known);
	/* Full: a third topic goes in full, never with an alias past the client's maximum [MQTT-3.3.2-9]. */
	alias__out_lookup(&a, B("c"), false, &alias, &known);
	CHECK(alias == 0 && !known);
	alias__out_lookup(&a, B("b"), false, &alias, &known);
	CHECK(alias == 2 && known);
	alias__out_lookup(&a, B("a"), false, &alias, &known);
	CHECK(alias == 1 && known);
	alias__out_fini(&a);

	struct alias_out none = {0}; /* the client takes no aliases [MQTT-3.3.2-10] */
	alias__out_lookup(&none, B("a"), false, &alias, &known);
	CHECK(alias == 0 && !known);
	alias__out_fini(&none);

	/* Many topics: every one keeps its own alias. */
	struct alias_out big = {.max = 1000};
	char t[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		alias__out_lookup(&big, B(t), false, &alias, &known);
		CHECK(alias == i + 1 && !known);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		alias__out_lookup(&big, B(t), false, &alias, &known);
		CHECK(alias == i + 1 && known);
	}
	alias__out_fini(&big);
}

int main(void)
{
	test_in();
	test_out();
	CHECK_DONE();
}
