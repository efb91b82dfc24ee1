/* Transports behind one function table, so the broker never asks whether it has TCP, TLS or WebSocket. */
#ifndef MIDGE_TRANSPORT_H
#define MIDGE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
	const char *name;
	/* Reads up to len bytes. Returns >0 bytes read, 0 at end of stream, -1 with errno
	 * (EAGAIN/EWOULDBLOCK when nothing is ready). */
	ssize_t (*read)(struct transport *t, void *buf, size_t len);
	/* Writes from iov. Returns bytes written (maybe fewer than asked) or -1 with errno. */
	ssize_t (*writev)(struct transport *t, const struct iovec *iov, int iovcnt);
	/* Releases the transport and closes its descriptor. */
	void (*close)(struct transport *t);
	/* Bytes already taken from the socket and decoded, which the next read returns although the fd
	 * will not become readable for them (TLS). NULL for a transport that never holds any. */
	size_t (*pending)(struct transport *t);
	/* The transport this one wraps (WebSocket over TCP or TLS), for questions only that one can answer
	 * (the TLS client certificate); NULL for a transport that wraps none. */
	struct transport *(*inner)(struct transport *t);
	/* Sends a keep-alive probe of the transport's own (a WebSocket ping) to an idle peer, so proxies and
	 * NATs keep the connection and a dead peer shows; may set want_write. NULL when it has none. */
	void (*ping)(struct transport *t);
};

/* A connection's transport: embedded in the connection; fd is what the loop watches. */
struct transport {
	const struct transport_ops *ops;
	void *impl; /* transport-specific state (TLS session, WebSocket framing), owned by ops */
	/* After a read or write failed for a reason of the transport's own (a refused TLS handshake),
	 * a human reason for the log; owned by the transport, NULL otherwise. */
	const char *error;
	int fd;
	/* Set by a read that cannot go on until the socket is writable (a TLS handshake or record that
	 * must send first): the owner watches EPOLLOUT and reads again when it comes. Never set by TCP. */
	bool want_write;
};

/* Plain TCP: fd is a connected non-blocking socket. */
extern const struct transport_ops tcp__ops;

#endif
