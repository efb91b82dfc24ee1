/* Unit tests of topic name and filter validation and of filter matching. */
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

int main(void)
{
	test_names();
	test_filters();
	test_matching();
	CHECK_DONE();
}
