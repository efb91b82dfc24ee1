/* wsc: the client side of MQTT over WebSocket (RFC 6455) for midge-bench: the HTTP upgrade, then masked
 * binary frames out and the server's frames in, behind the transport table, wrapping a TCP or TLS
 * transport. The frame codec is src/net/ws_frame.h. */
#ifndef MIDGE_BENCH_WSC_H
#define MIDGE_BENCH_WSC_H

#include <stdint.h>

#include "net/transport.h"

/* read returns the payload bytes of the server's binary frames (EAGAIN before the upgrade is done), answers
 * pings, and returns 0 at a close frame. writev frames everything given (up to 64 KiB) as one masked binary
 * frame and returns its length once framed, even while part of it still waits inside (wsc__flush); it
 * returns EAGAIN while earlier frames still wait. pending counts received bytes not returned yet. */
extern const struct transport_ops wsc__ops;

/* Makes t (a connected TCP or TLS transport, handshake done) a WebSocket client transport wrapping it, and
 * prepares the upgrade request for host:port and path. 0, or -1 out of memory (t unchanged). */
int wsc__wrap(struct transport *t, const char *host, uint16_t port, const char *path);
/* Advances the upgrade: 1 when done, 0 while waiting (t->want_write when for writing), -1 when refused or
 * failed, with t->error set (or errno for a socket error). */
int wsc__handshake(struct transport *t);
/* Writes framed bytes still waiting: 1 when none are left, 0 when some wait for the socket, -1 on error. */
int wsc__flush(struct transport *t);

#endif
