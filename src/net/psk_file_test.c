/* Unit tests of the psk_file parser (psk_file.c). */
#include <string.h>

#include "../../tests/unit/check.h"
#include "midge/midge.h"
#include "net/psk_file.h"

static int parse(struct psk_table *t, const char *text, char *err)
{
	return psk__parse(t, text, strlen(text), err, 128);
}

static void test_hex(void)
{
	unsigned char k[8];
	CHECK_EQ(psk__hex_key("0a1B", 4, k, sizeof(k)), 2);
	CHECK(k[0] == 0x0a && k[1] == 0x1b);
	/* As BN_hex2bn/BN_bn2bin: odd digits get a leading nibble, leading zero bytes go. */
	CHECK_EQ(psk__hex_key("abc", 3, k, sizeof(k)), 2);
	CHECK(k[0] == 0x0a && k[1] == 0xbc);
	CHECK_EQ(psk__hex_key("0000ff", 6, k, sizeof(k)), 1);
	CHECK(k[0] == 0xff);
	CHECK_EQ(psk__hex_key("00", 2, k, sizeof(k)), -1);
	CHECK_EQ(psk__hex_key("", 0, k, sizeof(k)), -1);
	CHECK_EQ(psk__hex_key("zz", 2, k, sizeof(k)), -1);
	CHECK_EQ(psk__hex_key("0102030405060708", 16, k, sizeof(k)), 8);
	CHECK_EQ(psk__hex_key("010203040506070809", 18, k, sizeof(k)), -1);
}

static void test_parse(void)
{
	struct psk_table t = {0};
	char err[128] = "";
	CHECK_EQ(parse(&t, "# comment\n\nalice:deadbeef\r\n  bob : 0102 \nalice:ff\ncarol:1", err), 0);
	CHECK_EQ(t.n, 3);
	const struct psk_entry *e = psk__find(&t, "alice");
	CHECK(e && e->key_len == 4 && memcmp(e->key, "\xde\xad\xbe\xef", 4) == 0);
	e = psk__find(&t, "bob");
	CHECK(e && e->key_len == 2 && e->key[0] == 1 && e->key[1] == 2);
	e = psk__find(&t, "carol");
	CHECK(e && e->key_len == 1 && e->key[0] == 1);
	CHECK(psk__find(&t, "dave") == NULL);
	psk__fini(&t);
	CHECK(t.n == 0 && t.v == NULL);

	CHECK_EQ(parse(&t, "a:01\nnocolon\n", err), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "line 2: expected identity:key") == 0);
	CHECK(t.n == 0 && t.v == NULL);
	CHECK_EQ(parse(&t, ":01\n", err), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "line 1: empty identity") == 0);
	CHECK_EQ(parse(&t, "a:xyz\n", err), MIDGE_ERR_INVAL);
	CHECK(strncmp(err, "line 1: invalid key", 19) == 0);
	CHECK_EQ(parse(&t, "a:\n", err), MIDGE_ERR_INVAL);
	CHECK_EQ(parse(&t, "", err), 0);
	CHECK_EQ(t.n, 0);
	/* Not NUL-terminated: only len bytes are read. */
	CHECK_EQ(psk__parse(&t, "id:0102junk", 7, err, sizeof(err)), 0);
	CHECK(t.n == 1 && t.v[0].key_len == 2);
	psk__fini(&t);
}

int main(void)
{
	test_hex();
	test_parse();
	CHECK_DONE();
}
