/* The WebSocket server transport (RFC 6455): wraps an accepted connection's TCP or TLS transport, answers
 * the HTTP upgrade (or serves a file from http_dir, or refuses with the RFC's status), then carries the
 * MQTT byte stream in binary frames both ways. Behind the same function table as TCP and TLS. */
#ifndef MIDGE_WS_H
#define MIDGE_WS_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

struct http_request;
struct buf;

#define WS_HTTP_MAX_BODY 65536 /* largest plain HTTP request body read (larger: 413) */

/* What answers plain HTTP requests before files are looked for: the broker's HTTP API (src/http/api). */
struct http_app {
	/* Appends the whole response to rq from peer ("ip:port"), whose body (Content-Length bytes, read) is
	 * body[0..body_len), to out and returns its status; or returns 0, appending nothing, when rq is not the
	 * app's (files then). Runs on the connection's worker thread. */
	int (*serve)(void *ctx, const char *peer, const struct http_request *rq, const uint8_t *body, size_t body_len,
		     struct buf *out);
	void *ctx;
};

/* A listener's WebSocket settings; borrowed by every connection of it, so they must outlive them. */
struct ws_settings {
	const struct http_app *app;  /* NULL: files only */
	size_t max_head;             /* largest HTTP request head accepted (websockets_headers_size) */
	const char *const *origins;  /* websockets_origin allow-list; norigins 0 = any Origin */
	size_t norigins;
	const char *http_dir;        /* files served to plain GET/HEAD requests; NULL = 404 */
	uint64_t max_message;        /* largest frame or message payload accepted (close 1009) */
};

/* The WebSocket transport. read does the handshake first (EAGAIN until it is done), then returns the
 * payload bytes of binary frames, answering pings and the close handshake itself; a refused handshake or a
 * protocol error returns -1 with errno EPROTO and t->error set, after its answer (an HTTP status, a close
 * frame) is on its way. writev sends one binary frame per call and, like TLS, must be given the same bytes
 * first again after a partial write or EAGAIN. pending counts bytes held that the fd will not announce. */
extern const struct transport_ops ws__ops;

/* Makes t, a connected transport (TCP or TLS, already set up), a WebSocket server transport that wraps it.
 * s and peer (the client's "ip:port", for the app; filled in by the time input arrives) are borrowed.
 * Returns 0, or MIDGE_ERR_NOMEM with t unchanged. */
int ws__accept(struct transport *t, const struct ws_settings *s, const char *peer);

#endif
