/* UTF-8 validation by the MQTT rules (RFC 3629, no U+0000, no surrogates): see utf8.h. */
#include "utf8.h"

#include <string.h>

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* True when none of the 8 bytes in w has its high bit set or is zero: the common ASCII case. */
static bool ascii_nonzero8(uint64_t w)
{
	/* (w - ONES) & ~w & HIGHS is non-zero exactly when some byte of w is 0 (for bytes < 0x80). */
	return (w & HIGHS) == 0 && ((w - ONES) & ~w & HIGHS) == 0;
}

bool utf8__valid(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* Topics and client ids are mostly ASCII: skip them a word at a time. */
		if (len - i >= 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (ascii_nonzero8(w)) {
				i += 8;
				continue;
			}
		}
		uint8_t c = p[i];
		if (c < 0x80) {
			if (c == 0) return false;
			i++;
			continue;
		}
		/* Per RFC 3629 section 4: the first byte fixes the length and the range of the second byte,
		 * which is how overlongs (C0, C1, E0 80.., F0 80..), surrogates (ED A0..) and values past
		 * U+10FFFF (F4 90.., F5..) are excluded. */
		size_t n;
		uint8_t lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 2;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 3;
			if (c == 0xE0) lo = 0xA0;
			if (c == 0xED) hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4;
			if (c == 0xF0) lo = 0x90;
			if (c == 0xF4) hi = 0x8F;
		} else {
			return false; /* stray continuation byte, C0/C1 or F5..FF */
		}
		if (len - i < n) return false;
		if (p[i + 1] < lo || p[i + 1] > hi) return false;
		for (size_t k = 2; k < n; k++)
			if ((p[i + k] & 0xC0) != 0x80) return false;
		i += n;
	}
	return true;
}
