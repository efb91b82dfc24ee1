/* The plain TCP transport: a thin layer over read/writev on a non-blocking socket. */
#include <unistd.h>

#include "transport.h"

static ssize_t tcp_read(struct transport *t, void *buf, size_t len) { return read(t->fd, buf, len); }

static ssize_t tcp_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	return writev(t->fd, iov, iovcnt);
}

static void tcp_close(struct transport *t)
{
	if (t->fd >= 0) close(t->fd);
	t->fd = -1;
}

const struct transport_ops tcp__ops = {
	.name = "tcp",
	.read = tcp_read,
	.writev = tcp_writev,
	.close = tcp_close,
};
