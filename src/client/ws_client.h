/* libmidge's WebSocket transport (ws://, wss://): wraps the connection's TCP or TLS transport, makes the upgrade
 * (ws_handshake.h), then carries the MQTT byte stream in masked binary frames out and the server's binary frames
 * in (the frame codec is src/net/ws_frame.h). Behind the same function table as TCP and TLS. */
#ifndef MIDGE_CLIENT_WS_CLIENT_H
#define MIDGE_CLIENT_WS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "net/transport.h"

/* read returns the payload bytes of the server's binary frames, whole or fragmented (EAGAIN before the upgrade);
 * it answers pings with pongs, and at the server's close frame answers it and returns 0 with t->error saying
 * "WebSocket closed by server: <code>[ <reason>]". A text frame, a masked frame, a bad sequence or header is a
 * protocol error: a close frame (1002, or 1003 for text) goes, read returns -1, errno EPROTO, t->error set.
 * writev frames at most 64 KiB of what it is given as one binary frame with a fresh random mask; like TLS it must be
 * given the same bytes first again after a partial write or EAGAIN. A pong or close of its own waiting for the
 * socket sets want_write (a read sends it). pending counts bytes received and not yet returned. close sends a
 * close frame (1000) when nothing half-written is in the way, then closes the inner transport. */
extern const struct transport_ops ws_client__ops;

/* Makes t, a connected TCP or TLS transport (handshake done), a WebSocket client transport that wraps it, with
 * the upgrade request for target on host:port (tls: wss, for the Host field's default port) ready to go. Returns
 * 0, or MIDGE_ERR_NOMEM with t unchanged (the caller still owns it). */
int ws_client__wrap(struct transport *t, const char *host, uint16_t port, bool tls, const char *target);
/* Advances the upgrade: 1 once done (at once if it was), 0 while waiting for the socket (t->want_write says
 * whether for writing), -1 when it failed: t->error set (a refusal, a bad answer, the server closing, a TLS
 * failure) or errno's reason (a socket error). */
int ws_client__handshake(struct transport *t);
/* The MIDGE_ERR_* that a failure of t (read, write or handshake returning -1) stands for: MIDGE_ERR_PROTOCOL for a
 * refused upgrade or a WebSocket protocol error of the server's, MIDGE_ERR_CLOSED for the server closing during the
 * upgrade, MIDGE_ERR_TLS for the TLS underneath, MIDGE_ERR_IO for a socket error (errno). */
int ws_client__error(const struct transport *t);

#endif
