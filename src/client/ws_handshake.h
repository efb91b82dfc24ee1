/* The client's side of the WebSocket opening handshake for MQTT (RFC 6455 4.1, 4.2.2): the upgrade request and
 * the check of the server's answer. Pure: no sockets, no allocation, no randomness (the key is the caller's). */
#ifndef MIDGE_CLIENT_WS_HANDSHAKE_H
#define MIDGE_CLIENT_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_HANDSHAKE_MAX_HEAD 8192 /* the longest answer head taken */

/* Writes into out (n bytes, NUL-terminated) the GET of target on host:port that asks for the subprotocol "mqtt",
 * with key (the 24-character base64 Sec-WebSocket-Key). Host names the port only when it is not the scheme's
 * (80, or 443 with tls); an IPv6 address goes in brackets. Returns the length, or 0 when out is too small. */
size_t ws_handshake__request(char *out, size_t n, const char *host, uint16_t port, bool tls, const char *target,
                             const char *key);

enum ws_handshake_result {
	WS_HS_NEED_MORE = 0, /* no whole answer head yet */
	WS_HS_OK = 1,        /* upgraded: *head_len bytes are the head, frames follow */
	WS_HS_REFUSED = -1,  /* refused or not a valid upgrade: why says so */
};

/* Judges the server's answer at data[0..len) to a request whose key has accept (ws__accept_key, 28 characters)
 * as the Sec-WebSocket-Accept due. An upgrade is HTTP/1.1 101 with Upgrade: websocket, Connection: Upgrade, that
 * accept once, Sec-WebSocket-Protocol: mqtt once, and no extension (none was offered). Returns WS_HS_OK with
 * *head_len set, WS_HS_NEED_MORE, or WS_HS_REFUSED with a one-line reason written into why (whylen bytes):
 * "WebSocket handshake refused: HTTP 404 Not Found", "WebSocket handshake failed: wrong Sec-WebSocket-Accept",
 * "WebSocket handshake failed: the answer is not HTTP (not a WebSocket server?)"; bytes of the server's are
 * shown only as printable ASCII. Bytes past the head are not looked at. */
int ws_handshake__check(const char *data, size_t len, const char *accept, size_t *head_len, char *why, size_t whylen);

#endif
