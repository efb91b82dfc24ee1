/* Unit tests of topic name and filter validation, of filter matching and of $share parsing. */
#include <stdint.h>

#include "../../tests/unit/check.h"
#include "common/topic.h"

static bool name_ok(const char *s) { return topic__valid_name((const uint8_t *)s, strlen(s)); }
static bool filter_ok(const char *s) { return topic__valid_filter((const uint8_t *)s, strlen(s)); }
static bool match(const char *f, const char *t)
{
	return topic__matches((const uint8_t *)f, strlen(f), (const uint8_t *)t, strlen(t));
}

static void test_names(void)
{
	CHECK(name_ok("a"));
	CHECK(name_ok("sport/tennis/player1"));
	CHECK(name_ok("/"));
	CHECK(name_ok("/finance"));
	CHECK(name_ok("a//b"));
	CHECK(name_ok("$SYS/broker"));
	CHECK(name_ok("caf\xC3\xA9"));
	CHECK(!name_ok(""));
	CHECK(!name_ok("a/+"));
	CHECK(!name_ok("a/#"));
	CHECK(!name_ok("sport+"));
	CHECK(!name_ok("\xC3"));
	CHECK(!topic__valid_name((const uint8_t *)"a\0b", 3));
	static uint8_t big[65536];
	memset(big, 'a', sizeof big);
	CHECK(topic__valid_name(big, 65535));
	CHECK(!topic__valid_name(big, 65536));
	CHECK(topic__valid_filter(big, 65535));
	CHECK(!topic__valid_filter(big, 65536));
}

static void test_filters(void)
{
	CHECK(filter_ok("+"));
	CHECK(filter_ok("#"));
	CHECK(filter_ok("/"));
	CHECK(filter_ok("a//b"));
	CHECK(filter_ok("sport/tennis/#"));
	CHECK(filter_ok("sport/+/player1"));
	CHECK(filter_ok("+/+"));
	CHECK(filter_ok("/+"));
	CHECK(filter_ok("+/"));
	CHECK(filter_ok("$SYS/#"));
	CHECK(filter_ok("+/tennis/#"));
	CHECK(!filter_ok(""));
	CHECK(!filter_ok("sport+"));
	CHECK(!filter_ok("sport/+x"));
	CHECK(!filter_ok("sport/#/x"));
	CHECK(!filter_ok("#/"));
	CHECK(!filter_ok("sport#"));
	CHECK(!filter_ok("a/b#"));
	CHECK(!filter_ok("##"));
	CHECK(!filter_ok("++"));
	CHECK(!filter_ok("\xFF"));
	CHECK(!topic__valid_filter((const uint8_t *)"a/\0", 3));
}

static void test_matching(void)
{
	/* Examples of MQTT 3.1.1 section 4.7. */
	CHECK(match("sport/tennis/player1/#", "sport/tennis/player1"));
	CHECK(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
	CHECK(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
	CHECK(match("sport/#", "sport"));
	CHECK(match("sport/tennis/#", "sport/tennis"));
	CHECK(match("sport/tennis/#", "sport/tennis/player1"));
	CHECK(!match("sport/tennis/#", "sport/tennisplayer1"));
	CHECK(!match("sport/tennis/#", "sport"));
	CHECK(match("sport/tennis/+", "sport/tennis/player1"));
	CHECK(match("sport/tennis/+", "sport/tennis/player2"));
	CHECK(!match("sport/tennis/+", "sport/tennis/player1/ranking"));
	CHECK(match("sport/+", "sport/"));
	CHECK(!match("sport/+", "sport"));
	CHECK(match("+", "a"));
	CHECK(!match("+", "a/b"));
	CHECK(!match("+", "/finance"));
	CHECK(match("+/+", "/finance"));
	CHECK(match("/+", "/finance"));
	CHECK(match("+/+", "a/"));
	CHECK(match("#", "a"));
	CHECK(match("#", "a/b/c"));
	CHECK(match("#", "/"));
	CHECK(match("a/b", "a/b"));
	CHECK(!match("a/b", "a/b/"));
	CHECK(!match("a/b/", "a/b"));
	CHECK(!match("a/b", "a/c"));
	CHECK(!match("a/b", "a"));
	CHECK(!match("a", "a/b"));
	CHECK(match("a//b", "a//b"));
	CHECK(match("a/+/b", "a//b"));
	CHECK(!match("a/+/b", "a/b"));
	CHECK(match("a/+/#", "a/x"));
	CHECK(!match("A", "a")); /* case-sensitive */
	/* $-topics: not reached by a leading wildcard ([MQTT-4.7.2-1]), reachable by name. */
	CHECK(!match("#", "$SYS/broker"));
	CHECK(!match("#", "$SYS"));
	CHECK(!match("+/monitor", "$SYS/monitor"));
	CHECK(!match("+/#", "$SYS/a"));
	CHECK(match("$SYS/#", "$SYS/broker"));
	CHECK(match("$SYS/#", "$SYS"));
	CHECK(match("$SYS/+", "$SYS/broker"));
	CHECK(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
	CHECK(match("a/$x", "a/$x"));
	CHECK(match("a/+", "a/$x")); /* only the first level is special */
}

/* topic__parse_share on s: its result, and for 1 whether group and filter are want_g and want_f. */
static int share(const char *s, const char *want_g, const char *want_f)
{
	const uint8_t *g = NULL, *f = NULL;
	size_t gl = 0, fl = 0;
	int rc = topic__parse_share((const uint8_t *)s, strlen(s), &g, &gl, &f, &fl);
	if (rc != 1) return rc;
	/* The views point into s, not into a copy. */
	bool inside = g > (const uint8_t *)s && f + fl == (const uint8_t *)s + strlen(s);
	bool same = gl == strlen(want_g) && !memcmp(g, want_g, gl) && fl == strlen(want_f) && !memcmp(f, want_f, fl);
	return inside && same ? 1 : 99;
}

static void test_share(void)
{
	CHECK_EQ(share("$share/g/a/b", "g", "a/b"), 1);
	CHECK_EQ(share("$share/g/#", "g", "#"), 1);
	CHECK_EQ(share("$share/g/+/x", "g", "+/x"), 1);
	CHECK_EQ(share("$share/group1/+", "group1", "+"), 1);
	CHECK_EQ(share("$share/g//", "g", "/"), 1);
	CHECK_EQ(share("$share/g/$SYS/#", "g", "$SYS/#"), 1);
	CHECK_EQ(share("$share/caf\xC3\xA9/a", "caf\xC3\xA9", "a"), 1);
	CHECK_EQ(share("$share/$share/a", "$share", "a"), 1);
	/* Starts with "$share/" but is not a valid shared filter. */
	CHECK_EQ(share("$share/", "", ""), -1);
	CHECK_EQ(share("$share/g", "", ""), -1);
	CHECK_EQ(share("$share/g/", "", ""), -1); /* empty filter */
	CHECK_EQ(share("$share//a", "", ""), -1); /* empty group */
	CHECK_EQ(share("$share/g+/a", "", ""), -1);
	CHECK_EQ(share("$share/g#/a", "", ""), -1);
	CHECK_EQ(share("$share/+/a", "", ""), -1);
	CHECK_EQ(share("$share/#/a", "", ""), -1);
	CHECK_EQ(share("$share/g/a#", "", ""), -1);
	CHECK_EQ(share("$share/g/a/#/b", "", ""), -1);
	CHECK_EQ(share("$share/g/a+", "", ""), -1);
	CHECK_EQ(share("$share/\xFF/a", "", ""), -1);
	CHECK_EQ(share("$share/g/\xFF", "", ""), -1);
	/* Not a shared subscription: ordinary filters, left to topic__valid_filter. */
	CHECK_EQ(share("$share", "", ""), 0);
	CHECK_EQ(share("$sharex/a", "", ""), 0);
	CHECK_EQ(share("$shar", "", ""), 0);
	CHECK_EQ(share("share/g/a", "", ""), 0);
	CHECK_EQ(share("$SHARE/g/a", "", ""), 0);
	CHECK_EQ(share("$SYS/x", "", ""), 0);
	CHECK_EQ(share("a/$share/g/b", "", ""), 0);
	CHECK_EQ(share("", "", ""), 0);
	/* Nothing is written unless the result is 1. */
	const uint8_t *g = (const uint8_t *)"x", *f = g;
	size_t gl = 7, fl = 7;
	CHECK_EQ(topic__parse_share((const uint8_t *)"$share/g", 8, &g, &gl, &f, &fl), -1);
	CHECK(g == f && gl == 7 && fl == 7);
}

int main(void)
{
	test_names();
	test_filters();
	test_matching();
	test_share();
	CHECK_DONE();
}
