/* MQTT-SN predefined topic files: what they may hold and every refusal, with its line. */
#include <string.h>

#include "../../tests/unit/check.h"
#include "midge/midge.h"
#include "sn_predefined.h"

static char err[256];

static int parse(struct sn_predefs *t, const char *text)
{
	memset(t, 0, sizeof(*t));
	err[0] = 0;
	return sn_predef__parse(t, text, strlen(text), err, sizeof(err));
}

static void expect_err(const char *text, const char *msg)
{
	struct sn_predefs t;
	CHECK_EQ(parse(&t, text), MIDGE_ERR_INVAL);
	if (strcmp(err, msg)) fprintf(stderr, "  got '%s', expected '%s'\n", err, msg);
	CHECK(strcmp(err, msg) == 0);
	CHECK(t.n == 0 && t.v == NULL);
}

static void test_parse(void)
{
	struct sn_predefs t;
	CHECK_EQ(parse(&t, "# sensors\n\n1 sensors/temp\n  20\tsensors/room 2/humidity  \r\n65534 $SYS/x\n7 a"), 0);
	CHECK_EQ(t.n, 4);
	const struct sn_predef *e = sn_predef__by_id(&t, 20);
	CHECK(e && strcmp(e->topic, "sensors/room 2/humidity") == 0 && e->len == 23);
	e = sn_predef__by_topic(&t, (const uint8_t *)"sensors/temp", 12);
	CHECK(e && e->id == 1);
	CHECK(sn_predef__by_id(&t, 65534) != NULL);
	CHECK(sn_predef__by_id(&t, 7) != NULL);
	CHECK(sn_predef__by_id(&t, 2) == NULL);
	CHECK(sn_predef__by_topic(&t, (const uint8_t *)"sensors/tem", 11) == NULL);
	sn_predef__fini(&t);
	CHECK(t.n == 0 && t.v == NULL);
	CHECK_EQ(parse(&t, ""), 0);
	CHECK_EQ(t.n, 0);
}

static void test_refusals(void)
{
	expect_err("1 a\nx b", "line 2: expected a topic id (a number) and a topic name");
	expect_err("12", "line 1: expected a topic id (a number) and a topic name");
	expect_err("12x a", "line 1: expected a topic id (a number) and a topic name");
	expect_err("0 a", "line 1: topic id out of range (1 to 65534)");
	expect_err("65535 a", "line 1: topic id out of range (1 to 65534)");
	expect_err("99999999999999999999 a", "line 1: topic id out of range (1 to 65534)");
	expect_err("1 a/+", "line 1: invalid topic name (UTF-8, no wildcards)");
	expect_err("1 a/#", "line 1: invalid topic name (UTF-8, no wildcards)");
	expect_err("1 a\xff", "line 1: invalid topic name (UTF-8, no wildcards)");
	expect_err("1 a\n\n1 b", "line 3: topic id 1 given twice");
	expect_err("1 a\n2 a", "line 2: topic given two ids");
}

int main(void)
{
	test_parse();
	test_refusals();
	CHECK_DONE();
}
