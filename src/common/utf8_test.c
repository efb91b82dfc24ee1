/* Unit tests of utf8__valid: named cases from RFC 3629 and an exhaustive cross-check up to three bytes. */
#include <stdint.h>

#include "../../tests/unit/check.h"
#include "common/utf8.h"

#define VALID(...)                                                   \
	do {                                                         \
		static const uint8_t s_[] = {__VA_ARGS__};           \
		CHECK(utf8__valid(s_, sizeof s_));                   \
	} while (0)
#define INVALID(...)                                                 \
	do {                                                         \
		static const uint8_t s_[] = {__VA_ARGS__};           \
		CHECK(!utf8__valid(s_, sizeof s_));                  \
	} while (0)

/* A slow, obviously-correct reference: decode the code point, then apply the rules to its value. */
static bool reference_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) n = 1, cp = c;
		else if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
		else return false;
		if (len - i < n) return false;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xC0) != 0x80) return false;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) return false;
		i += n;
	}
	return true;
}

static void test_named_cases(void)
{
	CHECK(utf8__valid(NULL, 0));
	CHECK(utf8__valid((const uint8_t *)"sport/tennis/player1", 20));
	VALID('a', 0x01, 0x7F);
	VALID(0xC2, 0x80);             /* U+0080, smallest two-byte */
	VALID(0xC3, 0xA9);             /* é */
	VALID(0xDF, 0xBF);             /* U+07FF */
	VALID(0xE0, 0xA0, 0x80);       /* U+0800, smallest three-byte */
	VALID(0xE2, 0x82, 0xAC);       /* € */
	VALID(0xED, 0x9F, 0xBF);       /* U+D7FF, just below the surrogates */
	VALID(0xEE, 0x80, 0x80);       /* U+E000, just above */
	VALID(0xEF, 0xBF, 0xBF);       /* U+FFFF */
	VALID(0xF0, 0x90, 0x80, 0x80); /* U+10000, smallest four-byte */
	VALID(0xF0, 0x9F, 0x98, 0x80); /* an emoji */
	VALID(0xF4, 0x8F, 0xBF, 0xBF); /* U+10FFFF, the last code point */

	INVALID(0x00);                   /* U+0000 is banned by MQTT */
	INVALID('a', 'b', 0x00, 'c');
	INVALID(0xC0, 0x80);             /* overlong U+0000 */
	INVALID(0xC1, 0xBF);             /* overlong U+007F */
	INVALID(0xE0, 0x80, 0x80);       /* overlong three-byte */
	INVALID(0xE0, 0x9F, 0xBF);       /* overlong U+07FF */
	INVALID(0xF0, 0x80, 0x80, 0x80); /* overlong four-byte */
	INVALID(0xF0, 0x8F, 0xBF, 0xBF); /* overlong U+FFFF */
	INVALID(0xED, 0xA0, 0x80);       /* U+D800 */
	INVALID(0xED, 0xBF, 0xBF);       /* U+DFFF */
	INVALID(0xF4, 0x90, 0x80, 0x80); /* U+110000 */
	INVALID(0xF5, 0x80, 0x80, 0x80);
	INVALID(0xFF);
	INVALID(0xFE);
	INVALID(0xC3);             /* truncated two-byte */
	INVALID(0xE2, 0x82);       /* truncated three-byte */
	INVALID(0xF0, 0x9F, 0x98); /* truncated four-byte */
	INVALID(0x80);             /* stray continuation */
	INVALID('a', 0xBF);
	INVALID(0xC3, 0x41);             /* bad second byte */
	INVALID(0xE2, 0x41, 0xAC);
	INVALID(0xE2, 0x82, 0x41);       /* bad third byte */
	INVALID(0xF0, 0x9F, 0x98, 0x41); /* bad fourth byte */
	INVALID(0xC3, 0xA9, 0xA9);       /* one continuation too many */
}

/* The word-at-a-time fast path must still see a NUL or a non-ASCII byte at every offset. */
static void test_fast_path(void)
{
	uint8_t s[40];
	for (size_t len = 1; len <= sizeof s; len++) {
		for (size_t at = 0; at < len; at++) {
			memset(s, 'x', len);
			CHECK(utf8__valid(s, len));
			s[at] = 0;
			CHECK(!utf8__valid(s, len));
			s[at] = 0x80;
			CHECK(!utf8__valid(s, len));
			s[at] = 0xC3; /* truncated unless followed by a continuation */
			CHECK(!utf8__valid(s, len));
			if (at + 1 < len) {
				s[at + 1] = 0xA9;
				CHECK(utf8__valid(s, len));
			}
		}
	}
}

/* Every sequence of one to three bytes, and four-byte ones around the interesting lead bytes. */
static void test_exhaustive(void)
{
	int mismatches = 0;
	uint8_t s[4];
	for (uint32_t v = 0; v < (1u << 24); v++) {
		s[0] = (uint8_t)(v >> 16), s[1] = (uint8_t)(v >> 8), s[2] = (uint8_t)v;
		for (size_t n = 1; n <= 3; n++) {
			if (n < 3 && (v & 0xFF) != 0) continue; /* shorter lengths need each prefix once */
			if (n < 2 && (v & 0xFF00) != 0) continue;
			if (utf8__valid(s, n) != reference_valid(s, n)) mismatches++;
		}
	}
	for (uint32_t v = 0; v < (1u << 24); v += 7) {
		s[0] = (uint8_t)(0xF0 + ((v >> 20) & 0x7)), s[1] = (uint8_t)(v >> 12), s[2] = (uint8_t)(v >> 4);
		s[3] = (uint8_t)(0x70 + (v & 0x5F));
		if (utf8__valid(s, 4) != reference_valid(s, 4)) mismatches++;
	}
	CHECK_EQ(mismatches, 0);
}

int main(void)
{
	test_named_cases();
	test_fast_path();
	test_exhaustive();
	CHECK_DONE();
}
