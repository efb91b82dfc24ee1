/* Shared helpers of the codec unit tests: framing test bytes and comparing encoder output. */
#ifndef MIDGE_PROTO_TEST_H
#define MIDGE_PROTO_TEST_H

#include <stdint.h>

#include "../../tests/unit/check.h"
#include "midge/midge.h"
#include "proto/proto.h"

/* A packet under test, written as its bytes. */
#define PKT(name, ...) static const uint8_t name[] = {__VA_ARGS__}

#define S(lit) ((struct mqtt_str){(const uint8_t *)(lit), sizeof(lit) - 1})

/* Frames exactly n bytes as one packet; checks the framing consumed all of them. */
#define frame_of(p, n) frame_at(p, n, __LINE__)
static inline struct mqtt_frame frame_at(const uint8_t *p, size_t n, int line)
{
	struct mqtt_frame f = {0};
	int rc = proto__frame(p, n, 0, &f);
	CHECK(rc == PROTO_OK && f.total_len == n);
	if (rc != PROTO_OK || f.total_len != n) fprintf(stderr, "  (packet at line %d)\n", line);
	return f;
}

/* Checks that b holds exactly exp[0..n), then empties b for the next encoding. */
#define check_buf(b, exp, n) check_buf_at(b, exp, n, __LINE__)
static inline void check_buf_at(struct buf *b, const uint8_t *exp, size_t n, int line)
{
	bool same = buf__len(b) == n && memcmp(buf__head(b), exp, n) == 0;
	CHECK(same);
	if (!same) fprintf(stderr, "  (encoding checked at line %d: %zu bytes, expected %zu)\n", line, buf__len(b), n);
	buf__clear(b);
}

/* Writes a v5 packet into out: first byte, remaining length, head, the property length and props, then tail.
 * Returns its length. out must hold 5 + hn + 4 + pn + tn bytes; NULL parts are for n 0. */
static inline size_t build_v5(uint8_t *out, uint8_t first, const uint8_t *head, size_t hn, const uint8_t *props,
                              size_t pn, const uint8_t *tail, size_t tn)
{
	size_t n = 0;
	out[n++] = first;
	n += proto__varint_encode(out + n, (uint32_t)(hn + proto__varint_size((uint32_t)pn) + pn + tn));
	if (hn) memcpy(out + n, head, hn), n += hn;
	n += proto__varint_encode(out + n, (uint32_t)pn);
	if (pn) memcpy(out + n, props, pn), n += pn;
	if (tn) memcpy(out + n, tail, tn), n += tn;
	return n;
}

/* A property span and the result a decoder must give for a packet that carries it. */
struct props_case {
	const uint8_t *p;
	size_t n;
	int want;
	const char *what; /* the bytes as written, for the failure message */
};
#define PCASE(want, ...)                                                                                               \
	{                                                                                                              \
		(const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), want, #__VA_ARGS__             \
	}

/* Checks that a decoder answered got for the packet carrying c's span. */
#define check_case(got, c) check_case_at(got, c, __LINE__)
static inline void check_case_at(int got, const struct props_case *c, int line)
{
	CHECK_EQ(got, c->want);
	if (got != c->want)
		fprintf(stderr, "  (line %d: properties {%s}: got %d, want %d)\n", line, c->what, got, c->want);
}

static inline bool str_eq(struct mqtt_str s, const char *lit)
{
	return s.len == strlen(lit) && (s.len == 0 || memcmp(s.p, lit, s.len) == 0);
}

#endif
