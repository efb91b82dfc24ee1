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

static inline bool str_eq(struct mqtt_str s, const char *lit)
{
	return s.len == strlen(lit) && (s.len == 0 || memcmp(s.p, lit, s.len) == 0);
}

#endif
