/* Unit tests of the JSON writer: nesting, separators, escapes, and ill-formed UTF-8 made valid. */
#include <string.h>

#include "../../tests/unit/check.h"
#include "common/jsonw.h"
#include "midge/midge.h"

static int same(struct buf *b, const char *want)
{
	return buf__len(b) == strlen(want) && memcmp(buf__head(b), want, strlen(want)) == 0;
}

static void test_nesting(void)
{
	struct buf b = {0};
	struct jsonw j;
	jsonw__init(&j, &b);
	jsonw__obj(&j, NULL);
	jsonw__u64(&j, "a", 18446744073709551615u);
	jsonw__i64(&j, "b", -5);
	jsonw__arr(&j, "c");
	jsonw__bool(&j, NULL, true);
	jsonw__null(&j, NULL);
	jsonw__obj(&j, NULL);
	jsonw__end(&j);
	jsonw__arr(&j, NULL);
	jsonw__end(&j);
	jsonw__end(&j);
	jsonw__cstr(&j, "d", NULL);
	jsonw__cstr(&j, "e", "x");
	jsonw__end(&j);
	CHECK_EQ(jsonw__done(&j), 0);
	CHECK(same(&b, "{\"a\":18446744073709551615,\"b\":-5,\"c\":[true,null,{},[]],\"d\":null,\"e\":\"x\"}"));
	buf__fini(&b);
}

static void test_escapes(void)
{
	struct buf b = {0};
	struct jsonw j;
	jsonw__init(&j, &b);
	/* quote, backslash, controls, UTF-8 kept, a lone continuation byte, a cut sequence, an overlong. */
	static const char s[] = "q\"b\\n\n\x01\t\xc3\xa9\x80 \xe2\x82 \xc0\xaf";
	jsonw__str(&j, NULL, s, sizeof(s) - 1);
	CHECK_EQ(jsonw__done(&j), 0);
	CHECK(same(&b, "\"q\\\"b\\\\n\\n\\u0001\\t\xc3\xa9\\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\""));
	buf__fini(&b);
	/* An embedded NUL is escaped, not a terminator. */
	jsonw__init(&j, &b);
	jsonw__str(&j, NULL, "a\0b", 3);
	CHECK(same(&b, "\"a\\u0000b\""));
	buf__fini(&b);
}

static void test_errors(void)
{
	struct buf b = {0};
	struct jsonw j;
	jsonw__init(&j, &b);
	jsonw__obj(&j, NULL);
	CHECK_EQ(jsonw__done(&j), MIDGE_ERR_INVAL); /* not closed */
	jsonw__end(&j);
	CHECK_EQ(jsonw__done(&j), 0);
	jsonw__end(&j);
	CHECK(jsonw__done(&j) != 0); /* closed once too often */
	buf__fini(&b);
	jsonw__init(&j, &b);
	for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++) jsonw__arr(&j, NULL);
	CHECK(jsonw__done(&j) != 0);
	buf__fini(&b);
}

int main(void)
{
	test_nesting();
	test_escapes();
	test_errors();
	CHECK_DONE();
}
