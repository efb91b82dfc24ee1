/* Unit tests of the WebSocket frame codec (ws_frame.c): RFC 6455's examples, every refusal, masking, keys. */
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "net/ws_frame.h"

static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Every proper prefix of a header is WS_NEED_MORE. */
static void check_truncations(const uint8_t *p, size_t hdr_len)
{
	struct ws_frame_hdr h;
	int bad = 0;
	for (size_t k = 0; k < hdr_len; k++)
		if (ws__decode_header(p, k, &h) != WS_NEED_MORE) bad++;
	CHECK_EQ(bad, 0);
}

static int decode(const uint8_t *p, size_t n, struct ws_frame_hdr *h)
{
	memset(h, 0xAA, sizeof(*h));
	return ws__decode_header(p, n, h);
}

/* RFC 6455 section 5.7. */
static void test_rfc_examples(void)
{
	struct ws_frame_hdr h;
	uint8_t out[WS_MAX_HEADER];

	/* A single-frame unmasked text message, "Hello". */
	static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	CHECK_EQ(decode(hello, sizeof(hello), &h), WS_OK);
	CHECK(h.fin && h.rsv == 0 && h.opcode == WS_OP_TEXT && !h.masked && h.len == 5 && h.hdr_len == 2);
	CHECK(h.mask[0] == 0 && h.mask[3] == 0);
	CHECK_EQ(decode(hello, 2, &h), WS_OK); /* the payload is not the header's business */
	check_truncations(hello, 2);
	CHECK_EQ(ws__encode_header(out, WS_OP_TEXT, true, 5, NULL), 2);
	CHECK_MEM(out, hello, 2);

	/* A single-frame masked text message, "Hello". */
	static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	CHECK_EQ(decode(masked, sizeof(masked), &h), WS_OK);
	CHECK(h.fin && h.opcode == WS_OP_TEXT && h.masked && h.len == 5 && h.hdr_len == 6);
	CHECK_MEM(h.mask, rfc_mask, 4);
	check_truncations(masked, 6);
	uint8_t pl[5];
	memcpy(pl, masked + 6, 5);
	ws__mask(pl, 5, h.mask, 0);
	CHECK_MEM(pl, "Hello", 5);
	CHECK_EQ(ws__encode_header(out, WS_OP_TEXT, true, 5, rfc_mask), 6);
	CHECK_MEM(out, masked, 6);
	ws__mask(pl, 5, rfc_mask, 0);
	CHECK_MEM(pl, masked + 6, 5);
	/* Unmasked piece by piece, split anywhere. */
	for (size_t cut = 0; cut <= 5; cut++) {
		memcpy(pl, masked + 6, 5);
		ws__mask(pl, cut, rfc_mask, 0);
		ws__mask(pl + cut, 5 - cut, rfc_mask, cut);
		CHECK_MEM(pl, "Hello", 5);
	}

	/* A fragmented unmasked text message: "Hel", then "lo". */
	static const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
	static const uint8_t frag2[] = {0x80, 0x02, 0x6c, 0x6f};
	CHECK_EQ(decode(frag1, sizeof(frag1), &h), WS_OK);
	CHECK(!h.fin && h.opcode == WS_OP_TEXT && h.len == 3 && h.hdr_len == 2);
	CHECK_EQ(ws__encode_header(out, WS_OP_TEXT, false, 3, NULL), 2);
	CHECK_MEM(out, frag1, 2);
	CHECK_EQ(decode(frag2, sizeof(frag2), &h), WS_OK);
	CHECK(h.fin && h.opcode == WS_OP_CONT && h.len == 2);
	CHECK_EQ(ws__encode_header(out, WS_OP_CONT, true, 2, NULL), 2);
	CHECK_MEM(out, frag2, 2);

	/* An unmasked ping and a masked pong, both "Hello". */
	static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	CHECK_EQ(decode(ping, sizeof(ping), &h), WS_OK);
	CHECK(h.fin && h.opcode == WS_OP_PING && !h.masked && h.len == 5);
	CHECK_EQ(ws__encode_header(out, WS_OP_PING, true, 5, NULL), 2);
	CHECK_MEM(out, ping, 2);
	CHECK_EQ(decode(pong, sizeof(pong), &h), WS_OK);
	CHECK(h.fin && h.opcode == WS_OP_PONG && h.masked && h.len == 5 && h.hdr_len == 6);
	CHECK_EQ(ws__encode_header(out, WS_OP_PONG, true, 5, rfc_mask), 6);
	CHECK_MEM(out, pong, 6);

	/* 256 bytes of binary in one unmasked frame: the 16-bit length. */
	static const uint8_t b256[] = {0x82, 0x7E, 0x01, 0x00};
	CHECK_EQ(decode(b256, sizeof(b256), &h), WS_OK);
	CHECK(h.fin && h.opcode == WS_OP_BINARY && h.len == 256 && h.hdr_len == 4);
	check_truncations(b256, 4);
	CHECK_EQ(ws__encode_header(out, WS_OP_BINARY, true, 256, NULL), 4);
	CHECK_MEM(out, b256, 4);

	/* 64 KiB in one unmasked frame: the 64-bit length. */
	static const uint8_t b64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
	CHECK_EQ(decode(b64k, sizeof(b64k), &h), WS_OK);
	CHECK(h.fin && h.opcode == WS_OP_BINARY && h.len == 65536 && h.hdr_len == 10);
	check_truncations(b64k, 10);
	CHECK_EQ(ws__encode_header(out, WS_OP_BINARY, true, 65536, NULL), 10);
	CHECK_MEM(out, b64k, 10);
}

static void test_lengths(void)
{
	struct ws_frame_hdr h;
	uint8_t out[WS_MAX_HEADER];
	static const uint8_t m[4] = {1, 2, 3, 4};
	/* The boundaries of each form, masked and not, for every opcode: encode then decode. */
	static const uint64_t lens[] = {0, 1, 125, 126, 127, 0xFFFF, 0x10000, 0xFFFFFFFFull, 0x100000000ull,
					0x7FFFFFFFFFFFFFFFull};
	static const uint8_t ops[] = {WS_OP_CONT, WS_OP_TEXT, WS_OP_BINARY, WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
	int wrong = 0;
	for (size_t o = 0; o < sizeof(ops); o++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			for (int fin = 0; fin < 2; fin++)
				for (int mk = 0; mk < 2; mk++) {
					size_t n = ws__encode_header(out, ops[o], fin, lens[l], mk ? m : NULL);
					size_t want = (lens[l] < 126 ? 2 : lens[l] <= 0xFFFF ? 4 : 10) + (mk ? 4 : 0);
					int rc = decode(out, n, &h);
					bool control = ops[o] & 8;
					if (control && (!fin || lens[l] > 125)) {
						if (rc != WS_CLOSE_PROTOCOL_ERROR) wrong++;
						continue;
					}
					if (n != want || rc != WS_OK || h.len != lens[l] || h.hdr_len != n ||
					    h.opcode != ops[o] || h.fin != fin || h.masked != mk || h.rsv != 0 ||
					    (mk && memcmp(h.mask, m, 4) != 0))
						wrong++;
					for (size_t k = 0; k < n; k++)
						if (decode(out, k, &h) != WS_NEED_MORE) wrong++;
				}
	CHECK_EQ(wrong, 0);

	/* The longest header: a masked frame with a 64-bit length. */
	static const uint8_t longest[] = {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 9, 8, 7, 6};
	CHECK_EQ(decode(longest, sizeof(longest), &h), WS_OK);
	CHECK(h.len == 0x7FFFFFFFFFFFFFFFull && h.hdr_len == WS_MAX_HEADER && h.masked && h.mask[0] == 9);
	check_truncations(longest, sizeof(longest));
	/* A header longer than needed is not looked at past its end. */
	static const uint8_t two[] = {0x82, 0x00, 0xFF, 0xFF};
	CHECK_EQ(decode(two, sizeof(two), &h), WS_OK);
	CHECK(h.len == 0 && h.hdr_len == 2);
}

static void test_refusals(void)
{
	struct ws_frame_hdr h;
	const int PE = WS_CLOSE_PROTOCOL_ERROR;
	/* RSV bits: refused from the first two bytes, each of them. */
	static const uint8_t rsv1[] = {0xC2, 0x00}, rsv2[] = {0xA2, 0x00}, rsv3[] = {0x92, 0x00}, all[] = {0xF2, 0x80};
	CHECK_EQ(decode(rsv1, 2, &h), PE);
	CHECK_EQ(decode(rsv2, 2, &h), PE);
	CHECK_EQ(decode(rsv3, 2, &h), PE);
	CHECK_EQ(decode(all, 2, &h), PE);
	/* Reserved opcodes, with and without FIN. */
	int wrong = 0;
	for (uint8_t op = 0; op < 16; op++) {
		bool known = op <= 2 || (op >= 8 && op <= 10);
		for (int fin = 0; fin < 2; fin++) {
			uint8_t f[2] = {(uint8_t)((fin ? 0x80 : 0) | op), 0x00};
			int want = known && (fin || op < 8) ? WS_OK : PE;
			if (decode(f, 2, &h) != want) wrong++;
		}
	}
	CHECK_EQ(wrong, 0);
	/* Control frames: fragmented, or longer than 125 (so never a 16- or 64-bit length). */
	static const uint8_t ping_frag[] = {0x09, 0x00}, close_frag[] = {0x08, 0x80, 1, 2, 3, 4};
	CHECK_EQ(decode(ping_frag, 2, &h), PE);
	CHECK_EQ(decode(close_frag, 2, &h), PE);
	static const uint8_t ping125[] = {0x89, 0x7D}, ping126[] = {0x89, 0x7E, 0x00, 0x7E};
	static const uint8_t close127[] = {0x88, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4};
	CHECK_EQ(decode(ping125, 2, &h), WS_OK);
	CHECK_EQ(decode(ping126, 2, &h), PE); /* known before the length bytes arrive */
	CHECK_EQ(decode(ping126, 4, &h), PE);
	CHECK_EQ(decode(close127, 2, &h), PE);
	CHECK_EQ(decode(close127, sizeof(close127), &h), PE);

	/* Lengths not in their shortest form, judged as soon as the length is there, before the mask. */
	static const uint8_t n16[] = {0x82, 0xFE, 0x00, 0x7D, 1, 2, 3, 4};
	CHECK_EQ(decode(n16, 3, &h), WS_NEED_MORE);
	CHECK_EQ(decode(n16, 4, &h), PE);
	CHECK_EQ(decode(n16, sizeof(n16), &h), PE);
	static const uint8_t n16zero[] = {0x82, 0x7E, 0x00, 0x00};
	CHECK_EQ(decode(n16zero, 4, &h), PE);
	static const uint8_t ok16[] = {0x82, 0x7E, 0x00, 0x7E};
	CHECK_EQ(decode(ok16, 4, &h), WS_OK);
	CHECK_EQ(h.len, 126);
	static const uint8_t n64[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4};
	CHECK_EQ(decode(n64, 9, &h), WS_NEED_MORE);
	CHECK_EQ(decode(n64, 10, &h), PE);
	CHECK_EQ(decode(n64, sizeof(n64), &h), PE);
	static const uint8_t n64small[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x05};
	CHECK_EQ(decode(n64small, 10, &h), PE);
	/* A 64-bit length with its top bit set. */
	static const uint8_t top[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t allones[] = {0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
	CHECK_EQ(decode(top, 10, &h), PE);
	CHECK_EQ(decode(allones, 10, &h), PE);
	CHECK_EQ(decode(top, 9, &h), WS_NEED_MORE);
}

/* The mask applied one byte at a time, as RFC 6455 5.3 writes it. */
static void mask_ref(uint8_t *d, size_t n, const uint8_t m[4], uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		d[i] ^= m[(off + i) % 4];
}

static void test_mask(void)
{
	uint8_t a[67], b[67], orig[67];
	static const uint8_t m[4] = {0xde, 0xad, 0xbe, 0xef};
	for (size_t i = 0; i < sizeof(orig); i++)
		orig[i] = (uint8_t)(i * 37 + 11);
	static const uint64_t offs[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 0xFFFFFFFFull, 0x7FFFFFFFFFFFFFFDull};
	int wrong = 0;
	for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
		for (size_t start = 0; start < 4; start++) /* unaligned starts */
			for (size_t n = 0; n + start <= sizeof(orig); n++) {
				memcpy(a, orig, sizeof(orig));
				memcpy(b, orig, sizeof(orig));
				ws__mask(a + start, n, m, offs[o]);
				mask_ref(b + start, n, m, offs[o]);
				if (memcmp(a, b, sizeof(a)) != 0) wrong++;
				ws__mask(a + start, n, m, offs[o]);
				if (memcmp(a, orig, sizeof(a)) != 0) wrong++;
			}
	CHECK_EQ(wrong, 0);
	/* Any split of a payload unmasks like the whole. */
	wrong = 0;
	for (size_t cut1 = 0; cut1 <= 67; cut1 += 3)
		for (size_t cut2 = cut1; cut2 <= 67; cut2 += 5) {
			memcpy(a, orig, 67);
			memcpy(b, orig, 67);
			ws__mask(a, cut1, m, 0);
			ws__mask(a + cut1, cut2 - cut1, m, cut1);
			ws__mask(a + cut2, 67 - cut2, m, cut2);
			mask_ref(b, 67, m, 0);
			if (memcmp(a, b, 67) != 0) wrong++;
		}
	CHECK_EQ(wrong, 0);
}

static int close_of(const char *p, size_t n, uint16_t *code) { return ws__check_close((const uint8_t *)p, n, code); }
#define CLOSE(lit, code) close_of(lit, sizeof(lit) - 1, code)

static void test_close(void)
{
	uint16_t code = 0;
	CHECK_EQ(ws__check_close(NULL, 0, &code), 0);
	CHECK_EQ(code, 1005);
	CHECK_EQ(CLOSE("\x03", &code), WS_CLOSE_PROTOCOL_ERROR);
	CHECK_EQ(CLOSE("\x03\xe8", &code), 0);
	CHECK_EQ(code, 1000);
	CHECK_EQ(CLOSE("\x03\xe9going away", &code), 0);
	CHECK_EQ(code, 1001);
	CHECK_EQ(CLOSE("\x0f\xa0\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80", &code), 0);
	CHECK_EQ(code, 4000);
	/* WebSocket wants well-formed UTF-8 only, so U+0000 (which MQTT refuses) is a valid reason. */
	CHECK_EQ(CLOSE("\x03\xe8\0", &code), 0);
	CHECK_EQ(CLOSE("\x03\xe8" "a\0b\0\0\xc3\xa9\0", &code), 0);
	CHECK_EQ(CLOSE("\x03\xe8\xef\xbf\xbf\xf4\x8f\xbf\xbf", &code), 0); /* U+FFFF, U+10FFFF */

	/* Every code: only 1000-1003, 1007-1011 and 3000-4999 may be sent. */
	int wrong = 0;
	for (uint32_t c = 0; c <= 0xFFFF; c++) {
		uint8_t p[2] = {(uint8_t)(c >> 8), (uint8_t)c};
		bool ok = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
		code = 0;
		int rc = ws__check_close(p, 2, &code);
		if (ok ? rc != 0 || code != c : rc != WS_CLOSE_PROTOCOL_ERROR) wrong++;
	}
	CHECK_EQ(wrong, 0);
	static const uint16_t refused[] = {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999,
					   5000, 65535};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		uint8_t p[4] = {(uint8_t)(refused[i] >> 8), (uint8_t)refused[i], 'o', 'k'};
		CHECK_EQ(ws__check_close(p, 4, &code), WS_CLOSE_PROTOCOL_ERROR);
	}

	/* Reasons that are not UTF-8 (Autobahn's 7.5.1 and its cousins). */
	static const char *const bad[] = {
		"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", /* a surrogate */
		"\xff", "\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xf0\x80\x80\x80", /* overlongs, strays */
		"\xe2\x82", "\xf0\x9f\x98", "\xc3",                                           /* cut short */
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xed\xbf\xbf",                       /* past U+10FFFF, a surrogate */
		"ok\0\xff",                                                                   /* after a NUL */
	};
	static const size_t bad_len[] = {20, 1, 1, 2, 2, 3, 4, 2, 3, 1, 4, 4, 3, 4};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t p[32] = {0x03, 0xe8};
		memcpy(p + 2, bad[i], bad_len[i]);
		int rc = ws__check_close(p, 2 + bad_len[i], &code);
		CHECK_EQ(rc, WS_CLOSE_INVALID_DATA);
		if (rc != WS_CLOSE_INVALID_DATA) fprintf(stderr, "  bad reason[%zu] gave %d\n", i, rc);
	}
	/* A code that may not be sent is the first fault, whatever the reason. */
	CHECK_EQ(CLOSE("\x03\xed\xff", &code), WS_CLOSE_PROTOCOL_ERROR);
	/* The longest control payload: a code and a 123-byte reason. */
	uint8_t big[125] = {0x03, 0xf3};
	memset(big + 2, 'x', 123);
	CHECK_EQ(ws__check_close(big, sizeof(big), &code), 0);
	CHECK_EQ(code, 1011);
}

static void test_keys(void)
{
	char out[29];
	memset(out, 'z', sizeof(out));
	/* RFC 6455 section 1.3 (and `openssl sha1 -binary | base64`). */
	const char *k = "dGhlIHNhbXBsZSBub25jZQ==";
	ws__accept_key(k, strlen(k), out);
	CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
	/* The example on Wikipedia's WebSocket page; only klen bytes of the key are read. */
	ws__accept_key("x3JJHMbDL1EzLkh9GBhXDw==garbage", 24, out);
	CHECK(strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0);
	/* Hashed as sent, even when it is not a valid key (the caller validates first). */
	ws__accept_key("", 0, out);
	CHECK(strlen(out) == 28);

	CHECK(ws__valid_key(k, 24));
	CHECK(ws__valid_key("x3JJHMbDL1EzLkh9GBhXDw==", 24));
	CHECK(ws__valid_key("AQIDBAUGBwgJCgsMDQ4PEA==", 24));
	CHECK(ws__valid_key("+/+/+/+/+/+/+/+/+/+/+w==", 24));
	CHECK(ws__valid_key("AAAAAAAAAAAAAAAAAAAAAA==", 24));
	/* Non-zero unused bits in the last character still decode to 16 bytes; Node's ws accepts them too. */
	CHECK(ws__valid_key("dGhlIHNhbXBsZSBub25jZR==", 24));

	CHECK(!ws__valid_key(k, 23));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZQ===", 25));
	CHECK(!ws__valid_key("", 0));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZQAA", 24)); /* 18 bytes, no padding */
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZQA=", 24)); /* 17 bytes */
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZ===", 24)); /* 15 bytes and bad padding */
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25j====", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBs=SBub25jZQ==", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZQ=x", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZQ= ", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZS-ub25jZQ==", 24)); /* base64url */
	CHECK(!ws__valid_key("dGhlIHNhbXBsZS_ub25jZQ==", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZS ub25jZQ==", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZS\0ub25jZQ==", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZS\xc3\xa9" "b25jZQ==", 24));
	CHECK(!ws__valid_key("dGhlIHNhbXBsZSBub25jZQ==", 22));
}

int main(void)
{
	test_rfc_examples();
	test_lengths();
	test_refusals();
	test_mask();
	test_close();
	test_keys();
	CHECK_DONE();
}
