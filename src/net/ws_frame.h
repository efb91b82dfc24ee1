/* RFC 6455 frames, both directions: header decoding and encoding, masking, close payload checks and the
 * handshake's accept key. Pure: no sockets, no allocation. The transport (ws.c) decides what to do. */
#ifndef MIDGE_WS_FRAME_H
#define MIDGE_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close status codes used by Midge (RFC 6455 7.4.1). */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL_ERROR = 1002,
	WS_CLOSE_UNSUPPORTED_DATA = 1003, /* e.g. a text frame where MQTT needs binary */
	WS_CLOSE_INVALID_DATA = 1007,     /* e.g. a close reason that is not UTF-8 */
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

#define WS_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask) */

struct ws_frame_hdr {
	bool fin;
	uint8_t rsv;        /* the three RSV bits, as 0..7 */
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];    /* when masked */
	uint64_t len;       /* payload length */
	size_t hdr_len;     /* bytes of the header, 2..14 */
};

enum ws_decode {
	WS_OK = 0,
	WS_NEED_MORE = 1,
};

/* Decodes the frame header at p[0..n) into h. Returns WS_OK, WS_NEED_MORE, or a close code
 * (WS_CLOSE_PROTOCOL_ERROR) when the header breaks RFC 6455 5.2 / 5.5 by itself: RSV bits set (no extension is
 * ever negotiated), a reserved opcode (3-7, 0xB-0xF), a control frame that is fragmented or longer than 125
 * bytes, a 64-bit length with its top bit set, or a length not in its shortest form. Masking and the
 * sequence of frames (continuations) are for the caller to judge. */
int ws__decode_header(const uint8_t *p, size_t n, struct ws_frame_hdr *h);

/* Writes the header of an unmasked frame (a server's) with opcode, fin and payload length len into out
 * (at least WS_MAX_HEADER bytes); returns its length (2, 4 or 10), each length in its shortest form (len must
 * be below 2^63). When mask is not NULL the frame is masked with it (a client's) and the length grows by 4. */
size_t ws__encode_header(uint8_t *out, uint8_t opcode, bool fin, uint64_t len, const uint8_t *mask);

/* XORs data[0..n) with mask, data being the payload bytes from position offset on (so a payload can be
 * unmasked piece by piece as it arrives). */
void ws__mask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t offset);

/* Checks a close frame's payload p[0..n) (RFC 6455 5.5.1, 7.4): empty, or a 2-byte status code that may be
 * sent (1000-1003, 1007-1011, 3000-4999) followed by a UTF-8 reason. Returns 0 with *code set (1005 when
 * empty), WS_CLOSE_PROTOCOL_ERROR (1 byte, or a code that must not be sent), or WS_CLOSE_INVALID_DATA (the
 * reason is not UTF-8). */
int ws__check_close(const uint8_t *p, size_t n, uint16_t *code);

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key (klen bytes, as sent): base64(SHA-1(key +
 * "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), written as a NUL-terminated 28-character string into out; an
 * empty string when libcrypto fails (out of memory), which no client accepts. */
void ws__accept_key(const char *key, size_t klen, char out[29]);

/* True when key (klen bytes) is a valid Sec-WebSocket-Key: base64 of exactly 16 bytes (24 characters). */
bool ws__valid_key(const char *key, size_t klen);

#endif
