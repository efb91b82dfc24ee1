/* Tests of the password-file reader and hashes, against a file written by Debian's mosquitto_passwd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd.h"
#include "midge/midge.h"
#include "../../tests/unit/check.h"

static int parse(struct pw_table *t, const char *text, char *err, size_t errlen)
{
	return pw__parse_text(t, text, strlen(text), "pw", err, errlen);
}

static void test_mosquitto_fixture(void)
{
	struct pw_table t = {0};
	char err[256] = "";
	int rc = pw__parse_file(&t, MIDGE_AUTH_TESTDATA "/mosquitto.passwd", err, sizeof(err));
	if (rc) fprintf(stderr, "%s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(t.count, 4u);
	CHECK(pw__verify(&t, "alice", "alice-secret"));
	CHECK(!pw__verify(&t, "alice", "alice-secreT"));
	CHECK(!pw__verify(&t, "alice", ""));
	CHECK(pw__verify(&t, "bob", "b0b pass:w/colon"));
	CHECK(pw__verify(&t, "carol", "carol6"));
	CHECK(pw__verify(&t, "dave", "dave7"));
	CHECK(!pw__verify(&t, "dave", "carol6"));
	CHECK(!pw__verify(&t, "eve", "alice-secret"));
	CHECK(!pw__verify(&t, NULL, "x"));
	const struct pw_entry *e = pw__find(&t, "alice");
	CHECK(e && e->type == PW_SHA512_PBKDF2 && e->iterations == 101 && e->salt_len == PW_SALT_LEN);
	e = pw__find(&t, "carol");
	CHECK(e && e->type == PW_SHA512 && e->salt_len == PW_SALT_LEN);
	e = pw__find(&t, "dave");
	CHECK(e && e->iterations == 7);
	pw__table_fini(&t);
	CHECK_EQ(t.count, 0u);
}

static void test_roundtrip(void)
{
	char f7[PW_ENCODED_MAX], f6[PW_ENCODED_MAX], text[1024];
	CHECK_EQ(pw__encode(PW_SHA512_PBKDF2, 1000, "s3cret", f7, sizeof(f7)), 0);
	CHECK_EQ(pw__encode(PW_SHA512, 0, "other", f6, sizeof(f6)), 0);
	CHECK(strncmp(f7, "$7$1000$", 8) == 0);
	CHECK_EQ(strlen(f7), strlen("$7$1000$") + 16 + 1 + 88);
	CHECK(strncmp(f6, "$6$", 3) == 0);
	CHECK_EQ(strlen(f6), 3 + 16 + 1 + 88);
	snprintf(text, sizeof(text), "# comment\n\n  u1 : %s  \r\nu2:%s", f7, f6);
	struct pw_table t = {0};
	char err[256] = "";
	CHECK_EQ(parse(&t, text, err, sizeof(err)), 0);
	CHECK(pw__verify(&t, "u1", "s3cret"));
	CHECK(!pw__verify(&t, "u1", "s3crex"));
	CHECK(pw__verify(&t, "u2", "other"));
	CHECK(!pw__verify(&t, "u2", "s3cret"));
	pw__table_fini(&t);

	/* Two hashes of one password differ by their salt. */
	char g7[PW_ENCODED_MAX];
	CHECK_EQ(pw__encode(PW_SHA512_PBKDF2, 1000, "s3cret", g7, sizeof(g7)), 0);
	CHECK(strcmp(f7, g7) != 0);
	CHECK_EQ(pw__encode(PW_SHA512_PBKDF2, 0, "x", g7, sizeof(g7)), MIDGE_ERR_INVAL);
	CHECK_EQ(pw__encode(PW_SHA512_PBKDF2, 10, "x", g7, 20), MIDGE_ERR_INVAL);
}

/* A malformed line fails the whole file, and the message names the file and line. */
static void expect_error(const char *text, const char *want)
{
	struct pw_table t = {0};
	char err[256] = "";
	CHECK_EQ(parse(&t, text, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK_EQ(t.count, 0u);
	CHECK(strstr(err, want) != NULL);
	if (!strstr(err, want)) fprintf(stderr, "  got \"%s\", want \"%s\"\n", err, want);
}

static void test_errors(void)
{
	const char *ok =
	    "$7$101$PPPlmhPcuR+IauhB$mQyBuxgEiprR6qktvbaqFFzfRRpgTmFLWlrh1vUWMUOzImLmYE5YNbvcup130MC6TIAZ5x/"
	    "7a87Wf0z6ZXvHPg==";
	char buf[512];
	expect_error("# c\nnocolon\n", "pw:2: expected \"username:hash\"");
	expect_error(":$6$x$y\n", "pw:1: empty username");
	expect_error("a:\n", "pw:1: no password hash");
	expect_error("a:plaintext\n", "pw:1: user \"a\": unknown password hash type");
	expect_error("a:$5$abc$def\n", "pw:1: user \"a\": unknown");
	expect_error("a:$7$0$PPPlmhPcuR+IauhB$mQ==\n", "invalid iteration count");
	expect_error("a:$7$x$PPPlmhPcuR+IauhB$mQ==\n", "invalid iteration count");
	expect_error("a:$7$99999999999$PPPlmhPcuR+IauhB$mQ==\n", "invalid iteration count");
	expect_error("a:$7$101$PPPlmhPcuR+Iauh$mQ==\n", "invalid salt");
	expect_error("a:$7$101$PPPlmhPcuR+IauhB\n", "missing '$'");
	expect_error("a:$7$101$PPPlmhPcuR+IauhB$mQyBuxgEiprR6qktvbaq\n", "invalid hash");
	expect_error("a:$7$101$PPPlmhPc!R+IauhB$mQ==\n", "invalid salt");
	snprintf(buf, sizeof(buf), "a:%s\nb:%s\n\na:%s\n", ok, ok, ok);
	expect_error(buf, "pw:4: duplicate user \"a\" (first at line 1)");
	snprintf(buf, sizeof(buf), "a:%s=\n", ok);
	expect_error(buf, "invalid hash");

	struct pw_table t = {0};
	char err[256] = "";
	CHECK_EQ(pw__parse_file(&t, "/nonexistent/midge.passwd", err, sizeof(err)), MIDGE_ERR_IO);
	CHECK(strstr(err, "/nonexistent/midge.passwd: ") == err);
	CHECK_EQ(parse(&t, "", err, sizeof(err)), 0);
	CHECK_EQ(t.count, 0u);
	CHECK(!pw__verify(&t, "a", "b"));
}

int main(void)
{
	test_mosquitto_fixture();
	test_roundtrip();
	test_errors();
	CHECK_DONE();
}
