/* Unit tests of the cJSON-compatible JSON parser and printer: what cJSON 1.7 accepts, refuses and prints. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

static char *print(const struct json *j, bool pretty)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	json__print(f, j, pretty);
	fclose(f);
	return s;
}

/* What cJSON accepts and refuses. */
static void check_parse(void)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: refused */
	} cases[] = {
	    {"{}", "{}"},
	    {" [1 , 2 ]  ", "[1,2]"},
	    {"\x01[1]\x02", "[1]"},
	    {"\xef\xbb\xbf[1]", "[1]"},
	    {"\"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\"", "\"\xf0\x9f\x98\x80 \xc3\xa9 / \\b\\f\""},
	    {"\"\\uZZZZab\"", "\"\""},
	    {"{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2}"},
	    {"\"tab\tin\"", "\"tab\\tin\""},
	    {"null", "null"},
	    {"true", "true"},
	    {"[1,]", NULL},
	    {"nul", NULL},
	    {"\"abc", NULL},
	    {"-", NULL},
	    {"1e", NULL},
	    {"[1e5E5]", NULL},
	    {"\"\\ud800\"", NULL},
	    {"\"\\x\"", NULL},
	    {"{\"a\" 1}", NULL},
	    {"", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json *j = json__parse(cases[i].in, strlen(cases[i].in));
		if (!cases[i].out) {
			CHECK(j == NULL);
			json__free(j);
			continue;
		}
		CHECK(j != NULL);
		if (!j) continue;
		char *s = print(j, false);
		if (strcmp(s, cases[i].out)) fprintf(stderr, "case %zu: got %s\n", i, s);
		CHECK(!strcmp(s, cases[i].out));
		free(s);
		json__free(j);
	}
	CHECK(json__parse("[1]\0", 4) == NULL);
	/* cJSON's nesting limit is 1000. */
	char deep[2100];
	for (int d = 1000; d <= 1001; d++) {
		memset(deep, '[', (size_t)d);
		memset(deep + d, ']', (size_t)d);
		struct json *j = json__parse(deep, 2 * (size_t)d);
		CHECK((j != NULL) == (d == 1000));
		json__free(j);
	}
}

static void check_build(void)
{
	struct json *o = json__new(JSON_OBJECT);
	struct json *a = json__new(JSON_ARRAY);
	CHECK(json__add(o, "s", json__new_string("x\0y", 3)) == 0);
	CHECK(json__add(o, "e", json__new(JSON_OBJECT)) == 0);
	CHECK(json__add(a, NULL, json__new_number(1)) == 0);
	CHECK(json__add(a, NULL, json__new(JSON_FALSE)) == 0);
	CHECK(json__add(o, "a", a) == 0);
	CHECK(json__add(o, "n", json__new_number(0.1 + 0.2)) == 0);
	char *s = print(o, false);
	CHECK(!strcmp(s, "{\"s\":\"x\",\"e\":{},\"a\":[1,false],\"n\":0.3}"));
	free(s);
	s = print(o, true);
	CHECK(!strcmp(s, "{\n\t\"s\":\t\"x\",\n\t\"e\":\t{\n\t},\n\t\"a\":\t[1, false],\n\t\"n\":\t0.3\n}"));
	free(s);
	json__free(o);
}

int main(void)
{
	check_parse();
	check_build();
	CHECK_DONE();
}
