/* The plain TCP transport: a thin layer over read/writev on a non-blocking socket. */
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

static ssize_t tcp_read(struct transport *t, void *buf, size_t len) { return read(t->fd, buf, len); }

/* sendmsg rather than writev: a peer gone is EPIPE, never SIGPIPE, which matters to libmidge's
 * applications (the broker ignores the signal anyway). */
static ssize_t tcp_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	return sendmsg(t->fd, &m, MSG_NOSIGNAL);
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
