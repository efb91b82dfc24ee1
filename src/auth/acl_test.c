/* Tests of the acl_file parser and Mosquitto 2.0's access decisions. */
#include <stdio.h>
#include <string.h>

#include "auth/acl.h"
#include "midge/midge.h"
#include "../../tests/unit/check.h"

static const char *FILE_TEXT = "# anonymous clients\n"
                               "topic read public/#\n"
                               "topic deny public/secret\n"
                               "\n"
                               "user alice\n"
                               "topic readwrite alice/#\n"
                               "topic write  shared/in\n"
                               "topic read shared/#\n"
                               "topic $SYS/#\n"
                               "topic deny shared/#\n" /* a deny after allows still wins */
                               "user bob smith\n"
                               "topic  read   weird topic/with spaces\n"
                               "topic sensors/+/temp\n"
                               "pattern write devices/%c/out\n"
                               "pattern read users/%u/#\n"
                               "pattern read literal/x%c\n"
                               "pattern deny devices/%c/out/blocked\n";

static struct acl load(void)
{
	struct acl a = {0};
	char err[256] = "";
	int rc = acl__parse_text(&a, FILE_TEXT, strlen(FILE_TEXT), "acl", err, sizeof(err));
	if (rc) fprintf(stderr, "%s\n", err);
	CHECK_EQ(rc, 0);
	return a;
}

#define ALLOW(...) CHECK_EQ(acl__check(&a, __VA_ARGS__), ACL_ALLOW)
#define DENY(...) CHECK_EQ(acl__check(&a, __VA_ARGS__), ACL_DENY)

static void test_anonymous(void)
{
	struct acl a = load();
	ALLOW("c1", NULL, "public/news", ACL_READ);
	ALLOW("c1", NULL, "public", ACL_READ); /* "a/#" matches "a" */
	DENY("c1", NULL, "public/news", ACL_WRITE);
	DENY("c1", NULL, "public/secret", ACL_READ);
	ALLOW("c1", NULL, "public/secret/x", ACL_READ); /* deny is exact here */
	DENY("c1", NULL, "alice/x", ACL_READ);
	/* Anonymous clients get the patterns without %u. */
	ALLOW("c1", NULL, "devices/c1/out", ACL_WRITE);
	DENY("c1", NULL, "devices/c2/out", ACL_WRITE);
	DENY("c1", NULL, "users/c1/x", ACL_READ);
	/* A user not in the file gets no topic rules: not the anonymous ones either. */
	DENY("c1", "mallory", "public/news", ACL_READ);
	ALLOW("c1", "mallory", "users/mallory/inbox", ACL_READ);
	acl__fini(&a);
}

static void test_user(void)
{
	struct acl a = load();
	ALLOW("c", "alice", "alice/a/b", ACL_READ);
	ALLOW("c", "alice", "alice/a/b", ACL_WRITE);
	DENY("c", "alice", "shared/in", ACL_WRITE); /* deny shared/# wins over the write rule */
	DENY("c", "alice", "shared/x", ACL_READ);
	DENY("c", "alice", "public/news", ACL_READ);
	ALLOW("c", "alice", "$SYS/broker/uptime", ACL_READ);
	ALLOW("c", "alice", "$SYS/broker/uptime", ACL_WRITE);
	DENY("c", "alice", "SYS/broker/uptime", ACL_READ);
	DENY("c", "alice", "public/news", 0);
	/* Usernames may hold spaces; topics too. */
	ALLOW("c", "bob smith", "weird topic/with spaces", ACL_READ);
	DENY("c", "bob smith", "weird topic/with spaces", ACL_WRITE);
	ALLOW("c", "bob smith", "sensors/k/temp", ACL_WRITE);
	DENY("c", "bob smith", "sensors/k/l/temp", ACL_WRITE);
	DENY("c", "bob", "sensors/k/temp", ACL_WRITE);
	acl__fini(&a);
}

static void test_patterns(void)
{
	struct acl a = load();
	ALLOW("dev1", "alice", "devices/dev1/out", ACL_WRITE);
	DENY("dev1", "alice", "devices/dev1/out", ACL_READ);
	DENY("dev1", "alice", "devices/dev1/out/blocked", ACL_WRITE);
	DENY("dev1", "alice", "devices/dev10/out", ACL_WRITE);
	DENY("dev10", "alice", "devices/dev1/out", ACL_WRITE);
	ALLOW("c", "carol", "users/carol", ACL_READ);
	ALLOW("c", "carol", "users/carol/a/b", ACL_READ);
	DENY("c", "carol", "users/carola/a", ACL_READ);
	/* %c inside a level is not substituted: literal text. */
	DENY("q", "carol", "literal/xq", ACL_READ);
	ALLOW("q", "carol", "literal/x%c", ACL_READ);
	/* Client ids and usernames with wildcards never get the patterns. */
	DENY("dev+", "carol", "devices/dev+/out", ACL_WRITE);
	DENY("#", "carol", "devices/#/out", ACL_WRITE);
	DENY("c", "car#", "users/car#/x", ACL_READ);
	DENY(NULL, "carol", "users/carol/x", ACL_READ);
	/* A client id with '/' must equal one level: it cannot reach another subtree. */
	DENY("a/b", "carol", "devices/a/out", ACL_WRITE);
	DENY("a/b", "carol", "devices/a/b/out", ACL_WRITE);
	/* Topic names with wildcards are refused; $ topics need $ rules. */
	DENY("c", "alice", "alice/+", ACL_READ);
	DENY("c", "alice", "alice/#", ACL_WRITE);
	acl__fini(&a);
}

static void test_subscribe(void)
{
	/* Mosquitto 2.0.11's acl_file grants every SUBSCRIBE (checked with its broker); READ filters delivery. */
	struct acl a = load();
	ALLOW("c1", NULL, "public/#", ACL_SUBSCRIBE);
	ALLOW("c1", NULL, "#", ACL_SUBSCRIBE);
	ALLOW("c1", NULL, "alice/#", ACL_SUBSCRIBE);
	DENY("c1", NULL, "alice/x", ACL_READ);
	DENY("c1", NULL, "x", 0);
	DENY("c1", NULL, "x", ACL_READ | ACL_WRITE);
	acl__fini(&a);
	struct acl empty = {0};
	CHECK_EQ(acl__check(&empty, "c", "u", "a", ACL_READ), ACL_DENY);
	CHECK_EQ(acl__check(&empty, "c", "u", "a", ACL_SUBSCRIBE), ACL_ALLOW);
}

#define SUB_ALLOW(c, u, f) CHECK_EQ(acl__check_subscribe(&a, c, u, f), ACL_ALLOW)
#define SUB_DENY(c, u, f) CHECK_EQ(acl__check_subscribe(&a, c, u, f), ACL_DENY)

/* Midge's own SUBSCRIBE check: refused only when the filter could never deliver anything. */
static void test_subscribe_filter(void)
{
	struct acl a = load();
	/* anonymous: read public/#, deny public/secret */
	SUB_ALLOW("c1", NULL, "public/#");
	SUB_ALLOW("c1", NULL, "public/a");
	SUB_ALLOW("c1", NULL, "#");        /* overlaps public/# */
	SUB_ALLOW("c1", NULL, "+/x");      /* public/x */
	SUB_DENY("c1", NULL, "public/secret"); /* covered by a deny */
	SUB_DENY("c1", NULL, "private/#");
	SUB_DENY("c1", NULL, "$SYS/#");    /* "#" rules never reach $ topics */
	SUB_ALLOW("c1", NULL, "public");   /* public/# matches its parent */
	/* alice: alice/# rw, shared/in w, shared/# read but denied, $SYS/# rw */
	SUB_ALLOW("c2", "alice", "alice/+/x");
	SUB_DENY("c2", "alice", "shared/#");    /* deny shared/# covers it */
	SUB_DENY("c2", "alice", "shared/in");   /* write only, and denied */
	SUB_ALLOW("c2", "alice", "$SYS/broker/#");
	SUB_DENY("c2", "alice", "other/#");
	/* bob smith: sensors/+/temp rw */
	SUB_ALLOW("c3", "bob smith", "sensors/#");
	SUB_ALLOW("c3", "bob smith", "sensors/k/temp");
	SUB_DENY("c3", "bob smith", "sensors/k/hum");
	/* patterns: users/%u/# read, devices/%c/out write only */
	SUB_ALLOW("c9", "carol", "users/carol/#");
	SUB_ALLOW("c9", "carol", "users/+/x");   /* users/carol/x */
	SUB_DENY("c9", "carol", "users/dave/#");
	SUB_DENY("c9", "carol", "devices/c9/out");
	SUB_DENY("c9", NULL, "users/+/x");        /* %u never matches anonymous */
	SUB_DENY("c+", "carol", "users/carol/#"); /* wildcard ids get no patterns */
	acl__fini(&a);
	struct acl empty = {0};
	CHECK_EQ(acl__check_subscribe(&empty, "c", "u", "#"), ACL_DENY);
}

static void expect_error(const char *text, const char *want)
{
	struct acl a = {0};
	char err[256] = "";
	CHECK_EQ(acl__parse_text(&a, text, strlen(text), "acl", err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK_EQ(a.nusers, 0u);
	CHECK(strstr(err, want) != NULL);
	if (!strstr(err, want)) fprintf(stderr, "  got \"%s\", want \"%s\"\n", err, want);
}

static void test_errors(void)
{
	expect_error("topic a\nfoo bar\n", "acl:2: unknown keyword \"foo\"");
	expect_error("\n\nuser\n", "acl:3: missing username");
	expect_error("topic\n", "acl:1: missing topic");
	expect_error("user u\ntopic all a/b\n", "acl:2: invalid access type \"all\"");
	expect_error("topic read a/#/b\n", "acl:1: invalid topic \"a/#/b\"");
	expect_error("pattern read a/b+\n", "acl:1: invalid topic");
	expect_error("topic read a/b\nuser u\ntopic read x\n  # indented comment\nuser x\ntopic read a#\n",
	             "acl:6: invalid topic");

	/* One word after topic is the topic, with readwrite: "topic deny" is a rule for the topic "deny". */
	struct acl a = {0};
	char err[256] = "";
	const char *t = "topic deny\n";
	CHECK_EQ(acl__parse_text(&a, t, strlen(t), "acl", err, sizeof(err)), 0);
	ALLOW("c", NULL, "deny", ACL_WRITE);
	acl__fini(&a);
	CHECK_EQ(acl__parse_file(&a, "/nonexistent/acl", err, sizeof(err)), MIDGE_ERR_IO);
	CHECK(strstr(err, "/nonexistent/acl: ") == err);
}

int main(void)
{
	test_anonymous();
	test_user();
	test_patterns();
	test_subscribe();
	test_subscribe_filter();
	test_errors();
	CHECK_DONE();
}
