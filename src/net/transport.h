/* Transports behind one function table, so the broker never asks whether it has TCP, TLS or WebSocket. */
#ifndef MIDGE_TRANSPORT_H
#define MIDGE_TRANSPORT_H

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
};

/* A connection's transport: embedded in the connection; fd is what the loop watches. */
struct transport {
	const struct transport_ops *ops;
	int fd;
	void *impl; /* transport-specific state (TLS session, WebSocket framing), owned by ops */
};

/* Plain TCP: fd is a connected non-blocking socket. */
extern const struct transport_ops tcp__ops;

#endif
