/* RFC 6455 frame headers, masking, close payloads and the accept key: see ws_frame.h. */
#include "ws_frame.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/utf8.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static bool known_opcode(uint8_t op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CLOSE || op == WS_OP_PING ||
	       op == WS_OP_PONG;
}

int ws__decode_header(const uint8_t *p, size_t n, struct ws_frame_hdr *h)
{
	if (n < 2) return WS_NEED_MORE;
	uint8_t op = p[0] & 0x0F, len7 = p[1] & 0x7F;
	bool fin = p[0] & 0x80, masked = p[1] & 0x80;
	/* Everything the first two bytes can break is reported before waiting for the rest. */
	if (p[0] & 0x70 || !known_opcode(op)) return WS_CLOSE_PROTOCOL_ERROR;
	if (op & 0x08 && (!fin || len7 > 125)) return WS_CLOSE_PROTOCOL_ERROR;

	size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	if (n < 2 + ext) return WS_NEED_MORE;
	uint64_t len = len7;
	if (ext) {
		len = 0;
		for (size_t i = 0; i < ext; i++)
			len = len << 8 | p[2 + i];
		/* RFC 6455 5.2: "the minimal number of bytes MUST be used", and the 64-bit form's top bit is 0. */
		if (ext == 2 && len < 126) return WS_CLOSE_PROTOCOL_ERROR;
		if (ext == 8 && (len >> 63 || len <= 0xFFFF)) return WS_CLOSE_PROTOCOL_ERROR;
	}
	size_t hdr_len = 2 + ext + (masked ? 4 : 0);
	if (n < hdr_len) return WS_NEED_MORE;

	h->fin = fin;
	h->rsv = (p[0] >> 4) & 0x07;
	h->opcode = op;
	h->masked = masked;
	if (masked)
		memcpy(h->mask, p + 2 + ext, 4);
	else
		memset(h->mask, 0, 4);
	h->len = len;
	h->hdr_len = hdr_len;
	return WS_OK;
}

size_t ws__encode_header(uint8_t *out, uint8_t opcode, bool fin, uint64_t len, const uint8_t *mask)
{
	size_t i = 2;
	uint8_t maskbit = mask ? 0x80 : 0;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
	if (len < 126) {
		out[1] = (uint8_t)(maskbit | len);
	} else if (len <= 0xFFFF) {
		out[1] = maskbit | 126;
		out[i++] = (uint8_t)(len >> 8);
		out[i++] = (uint8_t)len;
	} else {
		out[1] = maskbit | 127;
		for (int s = 56; s >= 0; s -= 8)
			out[i++] = (uint8_t)(len >> s);
	}
	if (mask) {
		memcpy(out + i, mask, 4);
		i += 4;
	}
	return i;
}

void ws__mask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t offset)
{
	/* Every client frame is masked, so this runs over every byte received: eight bytes at a time, with the
	 * key rotated to the payload position; 8 being a multiple of 4, the rotation holds for every word. */
	uint8_t k[8];
	for (size_t j = 0; j < 8; j++)
		k[j] = mask[(offset + j) & 3];
	uint64_t kw;
	memcpy(&kw, k, 8);
	size_t i = 0;
	for (; n - i >= 8; i += 8) {
		uint64_t w;
		memcpy(&w, data + i, 8);
		w ^= kw;
		memcpy(data + i, &w, 8);
	}
	for (; i < n; i++)
		data[i] ^= k[i & 7];
}

/* RFC 6455 7.4: the codes an endpoint may put on the wire. 1004-1006 and 1015 are reserved or only for
 * reporting locally, the rest below 3000 are unassigned (1012-1014 were registered with IANA later; an
 * endpoint that sends them is treated like one sending any unassigned code). */
static bool sendable_code(uint16_t c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

/* Well-formed UTF-8: utf8__valid applies MQTT's rules, which differ from RFC 3629 only in refusing U+0000,
 * so the reason is checked one NUL-free piece at a time (a NUL byte is never part of a longer sequence). */
static bool wellformed_utf8(const uint8_t *p, size_t n)
{
	while (n) {
		const uint8_t *z = memchr(p, 0, n);
		size_t piece = z ? (size_t)(z - p) : n;
		if (!utf8__valid(p, piece)) return false;
		if (!z) break;
		p += piece + 1;
		n -= piece + 1;
	}
	return true;
}

int ws__check_close(const uint8_t *p, size_t n, uint16_t *code)
{
	if (n == 0) {
		*code = 1005; /* "no status code was actually present" (RFC 6455 7.4.1) */
		return 0;
	}
	if (n == 1) return WS_CLOSE_PROTOCOL_ERROR;
	uint16_t c = (uint16_t)(p[0] << 8 | p[1]);
	if (!sendable_code(c)) return WS_CLOSE_PROTOCOL_ERROR;
	if (!wellformed_utf8(p + 2, n - 2)) return WS_CLOSE_INVALID_DATA;
	*code = c;
	return 0;
}

void ws__accept_key(const char *key, size_t klen, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	/* Two updates rather than a concatenation: the key's length is the peer's to choose. */
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key, klen) &&
		  EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1) && EVP_DigestFinal_ex(ctx, md, &mdlen) &&
		  mdlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool ws__valid_key(const char *key, size_t klen)
{
	/* 16 bytes are 22 characters and "==". The 4 unused bits of the last character are not required to be
	 * zero: decoders ignore them, and so do other servers (Node's ws checks /^[+/0-9A-Za-z]{22}==$/). */
	if (klen != 24 || key[22] != '=' || key[23] != '=') return false;
	for (size_t i = 0; i < 22; i++)
		if (!is_b64(key[i])) return false;
	return true;
}
