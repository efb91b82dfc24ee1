/* Unit tests for a bridge's topic mapping: directions, prefixes both ways, the first matching line winning, the
 * `""` pattern, and a topic outside the local prefix kept as it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "bridge_topics.h"
#include "config.h"

static char err[512];

static int load(struct config *c, const char *text)
{
	config__defaults(c);
	int rc = config__parse(c, "b.conf", text, strlen(text), err, sizeof(err));
	if (rc) fprintf(stderr, "%s\n", err);
	return rc ? rc : config__validate(c, err, sizeof(err));
}

/* The mapped topic of t going out (out_way) or in, or NULL when no line takes it. */
static const char *map(const struct bridge_conf *bc, const char *t, bool out_way, struct buf *b)
{
	const struct bridge_topic *l = out_way ? bridge_topics__out(bc, (const uint8_t *)t, strlen(t), b)
					       : bridge_topics__in(bc, (const uint8_t *)t, strlen(t), b);
	if (!l) return NULL;
	buf__append(b, "", 1);
	return (const char *)buf__head(b);
}

static bool is(const char *got, const char *want)
{
	if (!got || strcmp(got, want) != 0) fprintf(stderr, "  got %s, want %s\n", got ? got : "(none)", want);
	return got && strcmp(got, want) == 0;
}

int main(void)
{
	struct config c;
	CHECK_EQ(load(&c, "connection b\naddress 127.0.0.1\n"
			  "topic sensors/# out 1 edge/ cloud/site1/\n"
			  "topic cmd/+ in 2 local/ remote/\n"
			  "topic shared/# both 0\n"
			  "topic \"\" out 0 a/exact b/exact\n"),
		 0);
	struct bridge_conf *bc = &c.bridges[0];
	struct buf b = {0};
	CHECK(is(map(bc, "edge/sensors/t1", true, &b), "cloud/site1/sensors/t1"));
	CHECK(map(bc, "edge/sensors/t1", false, &b) == NULL); /* an out line never maps in */
	CHECK(is(map(bc, "remote/cmd/x", false, &b), "local/cmd/x"));
	CHECK(map(bc, "local/cmd/x", true, &b) == NULL);
	CHECK(is(map(bc, "shared/a/b", true, &b), "shared/a/b"));
	CHECK(is(map(bc, "shared/a/b", false, &b), "shared/a/b"));
	CHECK(is(map(bc, "a/exact", true, &b), "b/exact"));
	CHECK(map(bc, "a/exact/more", true, &b) == NULL);
	CHECK(map(bc, "other", true, &b) == NULL);
	config__fini(&c);

	/* The first line that matches decides, as in Mosquitto; "a/#" matches "a" itself, which is outside the
	 * prefix "a/" and keeps its topic. */
	CHECK_EQ(load(&c, "connection b\naddress 127.0.0.1\ntopic # out 0 a/ x/\ntopic a/# out 0 \"\" y/\n"), 0);
	bc = &c.bridges[0];
	CHECK(is(map(bc, "a/b", true, &b), "x/b"));
	CHECK(is(map(bc, "a", true, &b), "a"));
	config__fini(&c);
	buf__fini(&b);
	CHECK_DONE();
}
