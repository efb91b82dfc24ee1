/* jsonw: a streaming JSON writer into a buf, for the HTTP API. Strings are written as valid JSON whatever
 * their bytes (an ill-formed UTF-8 sequence becomes U+FFFD), so a response is always well-formed. */
#ifndef MIDGE_JSONW_H
#define MIDGE_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSONW_MAX_DEPTH 16

struct jsonw {
	struct buf *out; /* borrowed */
	int depth;
	bool first[JSONW_MAX_DEPTH + 1]; /* the next value at that depth is the first of its container */
	bool array[JSONW_MAX_DEPTH + 1]; /* the container at that depth is an array (else an object) */
	bool failed;                     /* out of memory, or nesting past JSONW_MAX_DEPTH */
};

/* Starts writing one JSON value (usually an object) to out. */
void jsonw__init(struct jsonw *j, struct buf *out);
/* Every function below takes key: the member name inside an object, NULL inside an array or at the top. */
void jsonw__obj(struct jsonw *j, const char *key);
void jsonw__arr(struct jsonw *j, const char *key);
/* Ends the innermost object or array. */
void jsonw__end(struct jsonw *j);
/* A string of s[0..len); s NULL writes null. */
void jsonw__str(struct jsonw *j, const char *key, const char *s, size_t len);
/* A NUL-terminated string, or null for NULL. */
void jsonw__cstr(struct jsonw *j, const char *key, const char *s);
void jsonw__u64(struct jsonw *j, const char *key, uint64_t v);
void jsonw__i64(struct jsonw *j, const char *key, int64_t v);
void jsonw__bool(struct jsonw *j, const char *key, bool v);
void jsonw__null(struct jsonw *j, const char *key);
/* 0 when everything was written and every container closed, else MIDGE_ERR_NOMEM (or MIDGE_ERR_INVAL for
 * unbalanced nesting). */
int jsonw__done(const struct jsonw *j);

#endif
