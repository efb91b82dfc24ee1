/* libFuzzer target: the server's answer to libmidge's WebSocket upgrade, as ws_handshake__check and
 * http__parse_response judge it. Invariants: one of the three results; a head within the input that ends with an
 * empty line; reasons in printable ASCII; bytes past the head never looked at; a prefix of an answer still waiting
 * waits too; every view of the parse inside the head. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/ws_handshake.h"
#include "http/http_req.h"

#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok) __builtin_trap();
}

static bool inside(struct http_str s, const char *base, size_t len)
{
	return s.p >= base && s.len <= len && (size_t)(s.p - base) <= len - s.len;
}

static void parse_response(const char *p, size_t size)
{
	static struct http_response resp;
	int r = http__parse_response(p, size, WS_HANDSHAKE_MAX_HEAD, &resp);
	require(r == HTTP_OK || r == HTTP_NEED_MORE || r == HTTP_BAD || r == HTTP_TOO_LARGE || r == HTTP_BAD_VERSION);
	if (r == HTTP_NEED_MORE) require(size < WS_HANDSHAKE_MAX_HEAD);
	if (r != HTTP_OK) return;
	require(resp.head_len >= 14 && resp.head_len <= size && resp.head_len <= WS_HANDSHAKE_MAX_HEAD);
	require(p[resp.head_len - 1] == '\n' && memcmp(p, "HTTP/1.", 7) == 0);
	require(resp.status >= 100 && resp.status <= 999 && (resp.version_minor == 0 || resp.version_minor == 1));
	require(resp.nheaders <= HTTP_MAX_HEADERS && inside(resp.reason, p, resp.head_len));
	for (size_t i = 0; i < resp.nheaders; i++) {
		require(resp.headers[i].name.len > 0);
		require(inside(resp.headers[i].name, p, resp.head_len) && inside(resp.headers[i].value, p, resp.head_len));
	}
}

static int check(const char *p, size_t n, size_t *head, char *why, size_t whylen)
{
	why[0] = 0;
	int r = ws_handshake__check(p, n, ACCEPT, head, why, whylen);
	require(r == WS_HS_OK || r == WS_HS_NEED_MORE || r == WS_HS_REFUSED);
	if (r == WS_HS_REFUSED) {
		size_t len = strlen(why);
		require(len > 0 && len < whylen && strncmp(why, "WebSocket handshake ", 20) == 0);
		for (size_t i = 0; i < len; i++)
			require(why[i] >= 0x20 && why[i] < 0x7F);
	}
	if (r == WS_HS_OK) require(*head >= 4 && *head <= n && p[*head - 1] == '\n');
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	parse_response(p, size);
	char why[256], why2[256];
	size_t head = 0, head2 = 0;
	int r = check(p, size, &head, why, sizeof why);
	/* A cut chosen by the input: what is decided before it is decided the same way with it. */
	size_t cut = size ? data[size - 1] * size / 256 : 0;
	int r2 = check(p, cut, &head2, why2, sizeof why2);
	if (r == WS_HS_NEED_MORE) require(r2 == WS_HS_NEED_MORE);
	if (r2 == WS_HS_OK) require(r == WS_HS_OK && head == head2);
	if (r == WS_HS_OK) {
		require(check(p, head, &head2, why2, sizeof why2) == WS_HS_OK && head2 == head);
		if (cut >= head) require(r2 == WS_HS_OK);
	}
	if (r2 == WS_HS_REFUSED) require(r == WS_HS_REFUSED && strcmp(why, why2) == 0);
	return 0;
}
