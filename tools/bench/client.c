/* client: a load-generator connection's life (connect, TLS, WebSocket upgrade, close) and its I/O: large
 * reads into the worker's scratch buffer, whole packets handled in place, one batched write per turn. */
#include "client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/ws_client.h"
#include "common/clock.h"
#include "net/tls.h"
#include "proto/proto.h"
#include "run.h"
#include "worker.h"

/* Output past this waits for the socket: publishers stop filling and the broker's push-back shows. */
#define OUT_HIGH (256 * 1024)

int bclient__init(struct bclient *c, struct bworker *w, enum bclient_role role, uint32_t idx, const char *topic)
{
	c->w = w;
	c->role = role;
	c->idx = idx;
	c->fd = -1;
	c->next_id = 1;
	snprintf(c->topic, sizeof c->topic, "%s", topic);
	if (role != ROLE_PUB) return 0;
	const struct bench_opts *o = w->b->o;
	uint8_t *pay = calloc(1, o->payload);
	if (!pay) return -1;
	struct mqtt_publish p = {.qos = o->qos,
				 .topic = {(const uint8_t *)c->topic, (uint32_t)strlen(c->topic)},
				 .packet_id = o->qos ? 1 : 0,
				 .payload = {pay, o->payload}};
	int rc = proto__encode_publish(&c->tmpl, o->version, &p);
	free(pay);
	if (rc) return -1;
	c->pay_off = buf__len(&c->tmpl) - o->payload;
	/* The packet id sits just before the payload, or before the (empty) v5 property length. */
	c->pid_off = c->pay_off - 2 - (o->version == MQTT_V5 ? 1 : 0);
	if (o->qos && !(c->ids = calloc(2 * 65536 / 64, sizeof *c->ids))) return -1;
	return 0;
}

static void watch(struct bclient *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->epollout = out;
}

void bclient__fail(struct bclient *c, const char *fmt, ...)
{
	if (c->state == BC_DEAD) return;
	char reason[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	struct bstats *st = &c->w->st;
	if (c->state == BC_READY) {
		bstat_add(&st->lost_conn, 1);
		bstat_add(&st->errors, 1);
		bstat_add(&st->connected, (uint64_t)-1);
		if (c->role == ROLE_PUB) bstat_add(&st->inflight, (uint64_t)-c->inflight);
		c->inflight = 0;
	} else {
		if (c->state == BC_SUBACK) bstat_add(&st->connected, (uint64_t)-1);
		bstat_add(&st->failed, 1);
	}
	if (c->role == ROLE_PUB && !c->done) {
		c->done = true;
		bstat_add(&st->pubs_done, 1);
	}
	bworker__note_error(c->w, reason);
	if (c->t.ops) c->t.ops->close(&c->t);
	else if (c->fd >= 0) close(c->fd);
	c->t = (struct transport){.fd = -1};
	c->fd = -1;
	c->state = BC_DEAD;
}

int bclient__connect(struct bclient *c)
{
	const struct bench *b = c->w->b;
	int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		bclient__fail(c, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	/* Acks and small messages must not wait for Nagle; batching is ours to do. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->state = BC_CONNECTING;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(c->w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		bclient__fail(c, "epoll: %s", strerror(errno));
		return -1;
	}
	c->epollout = true;
	if (connect(fd, (const struct sockaddr *)&b->addr, b->addrlen) && errno != EINPROGRESS) {
		bclient__fail(c, "connect to %s port %u: %s", b->o->host, b->o->port, strerror(errno));
		return -1;
	}
	return 0;
}

/* The transport is up (TCP, TLS done): WebSocket upgrade next, or CONNECT. */
static void transport_up(struct bclient *c)
{
	enum bench_transport bt = c->w->b->o->transport;
	if ((bt == BT_WS || bt == BT_WSS) && c->state != BC_WS) {
		const struct bench_opts *o = c->w->b->o;
		if (ws_client__wrap(&c->t, o->host, o->port, bt == BT_WSS, o->path)) {
			bclient__fail(c, "WebSocket: out of memory");
			return;
		}
		c->state = BC_WS;
		int r = ws_client__handshake(&c->t);
		if (r < 0) bclient__fail(c, "%s", c->t.error ? c->t.error : strerror(errno));
		else if (r == 0) watch(c, c->t.want_write);
		else transport_up(c);
		return;
	}
	c->state = BC_CONNACK;
	watch(c, false);
	bclient__send_connect(c);
}

static void tcp_connected(struct bclient *c)
{
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	const struct bench *b = c->w->b;
	if (err) {
		bclient__fail(c, "connect to %s port %u: %s", b->o->host, b->o->port, strerror(err));
		return;
	}
	enum bench_transport bt = b->o->transport;
	if (bt == BT_TLS || bt == BT_WSS) {
		if (tls__connect(&c->t, b->tls, c->fd, b->o->host, !b->o->insecure)) {
			bclient__fail(c, "TLS: out of memory");
			return;
		}
		c->state = BC_TLS;
		int r = tls__handshake(&c->t);
		if (r < 0) bclient__fail(c, "%s", c->t.error ? c->t.error : strerror(errno));
		else if (r == 0) watch(c, c->t.want_write);
		else transport_up(c);
		return;
	}
	c->t = (struct transport){.ops = &tcp__ops, .fd = c->fd};
	transport_up(c);
}

/* Handles the whole packets at data[0..len); returns the bytes consumed, or -1 when c failed. */
static long parse(struct bclient *c, const uint8_t *data, size_t len, uint64_t now_ns)
{
	size_t used = 0;
	while (used < len) {
		struct mqtt_frame f;
		int r = proto__frame(data + used, len - used, 0, &f);
		if (r == PROTO_NEED_MORE) break;
		if (r != PROTO_OK) {
			bclient__fail(c, "malformed packet from the server");
			return -1;
		}
		if (bclient__packet(c, &f, now_ns)) return -1;
		used += f.total_len;
	}
	return (long)used;
}

/* Reads what the socket has, in large chunks: straight into the worker's scratch buffer when no partial
 * packet is pending, so only the tail of a read is ever copied. */
static void read_input(struct bclient *c)
{
	uint8_t *scratch = c->w->scratch;
	for (int round = 0; round < 8 && c->state != BC_DEAD; round++) {
		bool direct = buf__len(&c->in) == 0;
		uint8_t *dst;
		size_t cap;
		if (direct) {
			dst = scratch, cap = WORKER_SCRATCH;
		} else {
			if (buf__reserve(&c->in, 64 * 1024)) {
				bclient__fail(c, "out of memory");
				return;
			}
			dst = buf__tail(&c->in), cap = buf__space(&c->in);
		}
		ssize_t n = c->t.ops->read(&c->t, dst, cap);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (c->t.want_write && !c->epollout) watch(c, true);
				return;
			}
			bclient__fail(c, "connection lost: %s", c->t.error ? c->t.error : strerror(errno));
			return;
		}
		if (n == 0) {
			bclient__fail(c, "connection closed by the server");
			return;
		}
		/* One clock read per read call: every message in it arrived by then. */
		uint64_t now = bench__now_ns();
		if (direct) {
			long used = parse(c, dst, (size_t)n, now);
			if (used < 0) return;
			if ((size_t)used < (size_t)n && buf__append(&c->in, dst + used, (size_t)n - (size_t)used)) {
				bclient__fail(c, "out of memory");
				return;
			}
		} else {
			buf__produce(&c->in, (size_t)n);
			long used = parse(c, buf__head(&c->in), buf__len(&c->in), now);
			if (used < 0) return;
			buf__consume(&c->in, (size_t)used);
			/* A big buffer is kept only while a big packet needs it. */
			if (!buf__len(&c->in) && c->in.cap > 256 * 1024) buf__fini(&c->in);
		}
		/* Bytes TLS or WebSocket already hold would never wake epoll again: they are read now, however
		 * many rounds that takes (they are bounded by what was buffered). */
		size_t pend = c->t.ops->pending ? c->t.ops->pending(&c->t) : 0;
		if (pend) round = 0;
		else if ((size_t)n < cap) return;
	}
}

void bclient__event(struct bclient *c, uint32_t events)
{
	switch (c->state) {
	case BC_CONNECTING:
		tcp_connected(c);
		return;
	case BC_TLS: {
		int r = tls__handshake(&c->t);
		if (r < 0) bclient__fail(c, "%s", c->t.error ? c->t.error : strerror(errno));
		else if (r == 0) watch(c, c->t.want_write);
		else transport_up(c);
		return;
	}
	case BC_WS: {
		int r = ws_client__handshake(&c->t);
		if (r < 0) bclient__fail(c, "%s", c->t.error ? c->t.error : strerror(errno));
		else if (r == 0) watch(c, c->t.want_write);
		else transport_up(c);
		if (r <= 0) return;
		break; /* frames may have come with the answer */
	}
	case BC_IDLE:
	case BC_DEAD: return;
	default: break;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_input(c);
	if (c->state != BC_DEAD && (events & EPOLLOUT)) {
		/* A read that waited for the socket (TLS, or a WebSocket pong or close of ours) goes first; it leaves
		 * want_write set while that still waits. */
		if (c->t.want_write && !(events & EPOLLIN)) read_input(c);
		if (c->state != BC_DEAD) bclient__flush(c);
	}
}

void bclient__mark(struct bclient *c)
{
	if (c->dirty) return;
	c->dirty = true;
	c->next_dirty = c->w->dirty;
	c->w->dirty = c;
}

void bclient__flush(struct bclient *c)
{
	if (c->state == BC_DEAD || !c->t.ops) return;
	while (buf__len(&c->out)) {
		struct iovec iov = {(void *)buf__head(&c->out), buf__len(&c->out)};
		ssize_t n = c->t.ops->writev(&c->t, &iov, 1);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) break;
			bclient__fail(c, "write: %s", c->t.error ? c->t.error : strerror(errno));
			return;
		}
		buf__consume(&c->out, (size_t)n);
		c->last_out_ms = clock__ms();
	}
	/* want_write: the transport holds bytes of its own for the socket (a WebSocket pong or close). */
	bool more = buf__len(&c->out) > 0 || c->t.want_write;
	if (more != c->epollout) watch(c, more);
	/* An idle client gives its buffer back: 10,000 of them must not hold 10,000 buffers. */
	if (!more && c->role != ROLE_PUB) buf__fini(&c->out);
}

uint32_t bclient__room(const struct bclient *c)
{
	size_t pending = buf__len(&c->out), len = buf__len(&c->tmpl);
	if (pending >= OUT_HIGH) return 0;
	size_t n = (OUT_HIGH - pending) / len;
	return n ? (n > UINT32_MAX ? UINT32_MAX : (uint32_t)n) : 1;
}

void bclient__close(struct bclient *c)
{
	if (c->state == BC_READY || c->state == BC_SUBACK) {
		uint8_t d[2];
		proto__encode_empty(d, MQTT_DISCONNECT);
		if (!buf__append(&c->out, d, 2)) bclient__flush(c);
	}
	if (c->t.ops) c->t.ops->close(&c->t);
	else if (c->fd >= 0) close(c->fd);
	c->t = (struct transport){.fd = -1};
	c->fd = -1;
	if (c->state != BC_IDLE) c->state = BC_DEAD;
}

void bclient__fini(struct bclient *c)
{
	buf__fini(&c->in);
	buf__fini(&c->out);
	buf__fini(&c->tmpl);
	free(c->ids);
	c->ids = NULL;
	streams__fini(&c->streams);
}
