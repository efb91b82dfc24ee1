/* libFuzzer target: http__parse_request on arbitrary bytes, its invariants (prefixes, the max_head bound), and
 * every lookup on what it returns; the HTTP API's target helpers (query parameters, %-decoding) on the target;
 * and the JSON writer on the same bytes as a string (its output is always valid UTF-8 with no control bytes). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/jsonw.h"
#include "common/utf8.h"
#include "http/http_req.h"

#define MAX_HEAD 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok) __builtin_trap();
}

static bool inside(struct http_str s, const char *data, size_t len)
{
	return s.p >= data && s.len <= len && (size_t)(s.p - data) <= len - s.len;
}

static void lookups(const struct http_request *req, const char *data)
{
	static const char *const tokens[] = {"upgrade", "websocket", "mqtt", "keep-alive", "close", ""};
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		require(inside(h->name, data, req->head_len) && inside(h->value, data, req->head_len));
		require(h->name.len > 0 && h->name.len < MAX_HEAD);
		char name[MAX_HEAD];
		memcpy(name, h->name.p, h->name.len);
		name[h->name.len] = '\0';
		const struct http_str *first = http__header(req, name);
		require(first != NULL && first <= &h->value);
		require(http__header_count(req, name) >= 1);
		require(http__str_ieq(h->name, name));
		/* A value's own items are tokens of it when they are names; a name is never blank. */
		(void)http__has_token(h->value, name);
		for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++)
			(void)http__has_token(h->value, tokens[t]);
		require(!http__has_token(h->value, ""));
		if (h->value.len) require(h->value.p[0] != ' ' && h->value.p[h->value.len - 1] != '\t');
	}
	require(http__header(req, "") == NULL);
}

static void target_checks(struct http_str target)
{
	static const char *const names[] = {"filter", "limit", "", "a"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct http_str v;
		if (http__query(target, names[i], &v)) require(inside(v, target.p, target.len));
	}
	char out[MAX_HEAD];
	long n = http__pct_decode(target.p, target.len, out, sizeof(out));
	require(n >= -1 && n <= (long)target.len);
	if (n >= 0) require(out[n] == 0 && memchr(out, 0, (size_t)n) == NULL);
	/* A buffer one byte short of the result fails; an empty one always does. */
	if (n > 0) require(http__pct_decode(target.p, target.len, out, (size_t)n) == -1);
	require(http__pct_decode(target.p, target.len, out, 0) == -1);
}

static void json_checks(const uint8_t *data, size_t size)
{
	struct buf b = {0};
	struct jsonw j;
	jsonw__init(&j, &b);
	jsonw__obj(&j, NULL);
	jsonw__str(&j, "k", (const char *)data, size);
	jsonw__end(&j);
	if (jsonw__done(&j) == 0) {
		const uint8_t *p = buf__head(&b);
		size_t n = buf__len(&b);
		require(n >= 8 && p[0] == '{' && p[n - 1] == '}' && utf8__valid(p, n));
		for (size_t i = 0; i < n; i++) require(p[i] >= 0x20);
	}
	buf__fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_checks(data, size);
	static struct http_request req;
	const char *s = (const char *)data;
	int rc = http__parse_request(s, size, MAX_HEAD, &req);
	require(rc == HTTP_OK || rc == HTTP_NEED_MORE || rc == HTTP_BAD || rc == HTTP_TOO_LARGE ||
		rc == HTTP_BAD_VERSION);
	if (rc == HTTP_OK) {
		size_t h = req.head_len;
		require(h >= 4 && h <= size && h <= MAX_HEAD && req.nheaders <= HTTP_MAX_HEADERS);
		require(req.version_minor == 0 || req.version_minor == 1);
		require(inside(req.method, s, h) && req.method.len > 0);
		require(inside(req.target, s, h) && req.target.len > 0 && req.target.p[0] == '/');
		lookups(&req, s);
		target_checks(req.target);
		/* The head alone is enough, one byte less is not, and it may fill max_head exactly. */
		require(http__parse_request(s, h, MAX_HEAD, &req) == HTTP_OK && req.head_len == h);
		require(http__parse_request(s, h - 1, MAX_HEAD, &req) == HTTP_NEED_MORE);
		require(http__parse_request(s, size, h, &req) == HTTP_OK && req.head_len == h);
		require(http__parse_request(s, size, h - 1, &req) == HTTP_TOO_LARGE);
	} else if (size < MAX_HEAD) {
		/* Refusals never depend on bytes yet to come, and waiting is never wrong for less. */
		int half = http__parse_request(s, size / 2, MAX_HEAD, &req);
		if (half == HTTP_BAD) require(rc == HTTP_BAD);
		if (rc == HTTP_NEED_MORE) require(half == HTTP_NEED_MORE);
		/* A smaller bound turns waiting into too large, and changes no refusal. */
		int small = http__parse_request(s, size, size / 2, &req);
		if (rc == HTTP_NEED_MORE) require(small == HTTP_TOO_LARGE);
		if (small == HTTP_BAD) require(rc == HTTP_BAD);
	}
	return 0;
}
