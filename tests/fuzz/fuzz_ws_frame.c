/* libFuzzer target: a stream of WebSocket frames: each header decoded, re-encoded byte for byte, its payload
 * unmasked in two pieces and compared with one pass, close payloads checked; then the key functions. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok) __builtin_trap();
}

static uint8_t one[1 << 16], two[1 << 16];

static void payload(const struct ws_frame_hdr *h, const uint8_t *p)
{
	size_t n = (size_t)h->len < sizeof(one) ? (size_t)h->len : sizeof(one);
	memcpy(one, p, n);
	memcpy(two, p, n);
	ws__mask(one, n, h->mask, 0);
	size_t cut = n ? p[0] % (n + 1) : 0;
	ws__mask(two, cut, h->mask, 0);
	ws__mask(two + cut, n - cut, h->mask, cut);
	require(memcmp(one, two, n) == 0);
	ws__mask(two, n, h->mask, 0);
	require(memcmp(two, p, n) == 0);
	if (h->opcode & 8) {
		uint16_t code = 0;
		int rc = ws__check_close(one, n, &code);
		require(rc == 0 || rc == WS_CLOSE_PROTOCOL_ERROR || rc == WS_CLOSE_INVALID_DATA);
		if (rc == 0) require(code == 1005 || (code >= 1000 && code < 5000 && code != 1004 && code != 1006));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	while (pos < size) {
		struct ws_frame_hdr h;
		size_t left = size - pos;
		int rc = ws__decode_header(data + pos, left, &h);
		if (rc == WS_NEED_MORE) {
			require(left < WS_MAX_HEADER);
			break;
		}
		if (rc != WS_OK) {
			require(rc == WS_CLOSE_PROTOCOL_ERROR);
			break;
		}
		require(h.hdr_len >= 2 && h.hdr_len <= WS_MAX_HEADER && h.hdr_len <= left && h.rsv == 0);
		require(!(h.opcode & 8) || (h.fin && h.len <= 125));
		/* With no RSV bits and lengths in shortest form, the encoding is the only one. */
		uint8_t enc[WS_MAX_HEADER];
		size_t n = ws__encode_header(enc, h.opcode, h.fin, h.len, h.masked ? h.mask : NULL);
		require(n == h.hdr_len && memcmp(enc, data + pos, n) == 0);
		pos += h.hdr_len;
		if (h.len > size - pos) break;
		payload(&h, data + pos);
		pos += (size_t)h.len;
	}
	if (size >= 24) {
		bool valid = ws__valid_key((const char *)data, 24);
		if (valid) require(data[22] == '=' && data[23] == '=');
	}
	char accept[29];
	ws__accept_key((const char *)data, size < 64 ? size : 64, accept);
	require(strlen(accept) == 28);
	return 0;
}
