/* Driving a client: the loop functions (read, write, timers, poll), the library's thread, and the blocking wait.
 * The socket is nonblocking; every write goes through c->out and leaves it only here, through the transport. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "common/clock.h"
#include "conn.h"
#include "handle.h"
#include "session.h"
#include "ws_client.h"

/* Bytes one loop_read or loop_write moves at most, so neither direction starves the other. */
#define IO_BUDGET (1u << 20)
#define READ_CHUNK 65536
/* An empty buffer larger than this (after a large packet) is freed rather than kept. */
#define BUF_KEEP (1u << 20)

/* Enters a loop function: lock taken. MIDGE_ERR_INVAL (lock not held) when another thread drives the loop (the
 * library's, or a caller's still inside a loop function) or when called from a callback of this loop. */
static int enter(struct midge_client *c)
{
	pthread_mutex_lock(&c->lock);
	pthread_t self = pthread_self();
	bool other = (c->thread_active && !pthread_equal(self, c->thread)) ||
	             (c->loop_depth && !pthread_equal(self, c->loop_thread));
	if (other || (c->loop_depth && c->notes_running)) {
		pthread_mutex_unlock(&c->lock);
		return MIDGE_ERR_INVAL;
	}
	if (c->loop_depth++ == 0) {
		c->loop_thread = self;
		c->loop_rc = 0;
	}
	return 0;
}

/* Runs the queued callbacks, leaves the loop function and the lock; returns what it should return. */
static int leave(struct midge_client *c)
{
	pthread_mutex_unlock(&c->lock);
	notes__run(c);
	pthread_mutex_lock(&c->lock);
	int rc = c->loop_rc;
	c->loop_depth--;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static bool alive(const struct midge_client *c, unsigned gen)
{
	return c->sock >= 0 && c->conn_gen == gen;
}

/* Makes c->in (and the server's topic aliases) belong to the current connection. */
static void input_for_connection(struct midge_client *c)
{
	if (c->in_gen == c->conn_gen) return;
	buf__clear(&c->in);
	if (c->aliases)
		for (size_t i = 0; i <= c->o.topic_alias_max_in; i++)
			buf__clear(&c->aliases[i]);
	c->in_gen = c->conn_gen;
}

/* Handles the whole packets in c->in, each one's callbacks before the next. Lock held. */
static void handle_input(struct midge_client *c, unsigned gen)
{
	while (alive(c, gen) && c->state >= CS_CONNACK) {
		struct mqtt_frame f;
		int prc = proto__frame(buf__head(&c->in), buf__len(&c->in), c->o.max_packet_in, &f);
		if (prc == PROTO_NEED_MORE) return;
		if (prc) {
			snprintf(c->errtext, sizeof c->errtext, "%s packet from the server",
			         prc == PROTO_TOO_LARGE ? "too large a" : "malformed");
			conn__abort(c, prc == PROTO_TOO_LARGE ? MIDGE_ERR_TOO_LARGE : MIDGE_ERR_MALFORMED);
			return;
		}
		int rc = handle__packet(c, &f);
		if (rc) {
			if (!c->errtext[0])
				snprintf(c->errtext, sizeof c->errtext, "%s: %s", proto__type_name(f.type),
				         midge_strerror(rc));
			conn__abort(c, rc);
		}
		/* The notes may point into this packet: run them before it goes. */
		pthread_mutex_unlock(&c->lock);
		notes__run(c);
		pthread_mutex_lock(&c->lock);
		if (c->in_gen == gen) buf__consume(&c->in, f.total_len);
	}
}

/* Advances a TCP connect, a TLS handshake or a WebSocket upgrade under way. True while the connection is not up (or
 * is gone). Lock held. */
static bool connecting(struct midge_client *c)
{
	if (c->state == CS_TCP) conn__check_tcp(c);
	if (c->state == CS_TLS) conn__check_tls(c);
	if (c->state == CS_WS) conn__check_ws(c);
	return c->sock < 0 || c->state == CS_TCP || c->state == CS_TLS || c->state == CS_WS;
}

/* The error that ends the connection after a failed read or write of what; errtext says why. */
static int io_error(struct midge_client *c, const char *what)
{
	if (c->t.error) { /* refused by TLS or WebSocket: the transport has the reason */
		snprintf(c->errtext, sizeof c->errtext, "%s", c->t.error);
		return c->t.ops == &ws_client__ops ? ws_client__error(&c->t) : MIDGE_ERR_TLS;
	}
	snprintf(c->errtext, sizeof c->errtext, "%s: %s", what, strerror(errno));
	return MIDGE_ERR_IO;
}

/* Bytes the transport has already taken from the socket and decoded (TLS). */
static size_t pending(struct midge_client *c)
{
	return c->t.ops->pending ? c->t.ops->pending(&c->t) : 0;
}

/* Reads what the socket has (up to IO_BUDGET) and handles it. Lock held. */
static void do_read(struct midge_client *c)
{
	if (connecting(c)) return;
	input_for_connection(c);
	unsigned gen = c->conn_gen;
	size_t budget = IO_BUDGET;
	int end = 0;
	/* Past the budget, what TLS has decoded is still read: poll would not announce those bytes again. */
	while (alive(c, gen) && (budget || pending(c))) {
		if (buf__reserve(&c->in, READ_CHUNK)) {
			end = MIDGE_ERR_NOMEM;
			break;
		}
		size_t room = budget && budget < buf__space(&c->in) ? budget : buf__space(&c->in);
		ssize_t n = c->t.ops->read(&c->t, buf__tail(&c->in), room);
		if (n > 0) {
			buf__produce(&c->in, (size_t)n);
			budget = (size_t)n < budget ? budget - (size_t)n : 0;
			c->last_in = clock__ms();
			handle_input(c, gen);
			continue;
		}
		if (n == 0) {
			end = MIDGE_ERR_CLOSED;
			/* A WebSocket close frame: the transport says with which code. */
			snprintf(c->errtext, sizeof c->errtext, "%s",
			         c->t.error ? c->t.error : "the server closed the connection");
		} else if (errno == EINTR) {
			continue;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			end = io_error(c, "read");
		}
		break;
	}
	if (end && alive(c, gen)) conn__end(c, end, false, (struct mqtt_str){0});
	if (!alive(c, gen)) buf__clear(&c->in);
	if (!buf__len(&c->in) && c->in.cap > BUF_KEEP) buf__fini(&c->in);
}

/* Completes the QoS 0 publishes now wholly written. */
static void complete_q0(struct midge_client *c)
{
	size_t k = 0;
	while (k < c->q0_n && c->q0[k].end <= c->out_sent) {
		notes__add(c, &(struct note){.kind = NOTE_PUBLISH, .mid = c->q0[k].mid});
		k++;
	}
	if (!k) return;
	memmove(c->q0, c->q0 + k, (c->q0_n - k) * sizeof(*c->q0));
	c->q0_n -= k;
}

/* Writes the output (up to IO_BUDGET), refilling it from the session as it drains. Lock held. */
static void do_write(struct midge_client *c)
{
	if (connecting(c)) return;
	if (c->t.want_write) {
		/* A TLS read waited for the socket to be writable: it goes first. */
		unsigned gen = c->conn_gen;
		do_read(c);
		if (!alive(c, gen)) return;
	}
	size_t budget = IO_BUDGET;
	while (buf__len(&c->out) && budget) {
		size_t len = buf__len(&c->out) < budget ? buf__len(&c->out) : budget;
		struct iovec iov = {(void *)buf__head(&c->out), len};
		ssize_t n = c->t.ops->writev(&c->t, &iov, 1);
		if (n > 0) {
			buf__consume(&c->out, (size_t)n);
			c->out_sent += (uint64_t)n;
			budget -= (size_t)n;
			c->last_out = clock__ms();
			if (buf__len(&c->out) < SESSION_OUT_CAP) session__flush_queue(c);
			continue;
		}
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
		conn__end(c, io_error(c, "write"), false, (struct mqtt_str){0});
		return;
	}
	complete_q0(c);
	if (buf__len(&c->out)) return;
	if (c->out.cap > BUF_KEEP) buf__fini(&c->out);
	pthread_cond_broadcast(&c->cond); /* a flushing stop may be waiting for this */
	if (c->disconnecting) conn__end(c, 0, false, (struct mqtt_str){0});
}

/* Keepalive (MQTT 3.1.2.10): a PINGREQ after keepalive seconds without sending or receiving; the connection is
 * taken for dead when, with a PINGREQ out, nothing came for 1.5 times the keepalive. Lock held. */
static void keepalive(struct midge_client *c, uint64_t now)
{
	if (c->disconnecting) {
		/* Nothing may follow DISCONNECT; a server that does not take it within the connect timeout is left. */
		if (now < c->deadline) return;
		snprintf(c->errtext, sizeof c->errtext, "DISCONNECT not written within %u ms", c->o.connect_timeout_ms);
		conn__end(c, 0, false, (struct mqtt_str){0});
		return;
	}
	if (!c->keepalive) return;
	uint64_t k = (uint64_t)c->keepalive * 1000;
	if (c->ping_out) {
		if (now - c->last_in < k + k / 2) return;
		snprintf(c->errtext, sizeof c->errtext, "no PINGRESP within %.1f s", (double)(k + k / 2) / 1000);
		conn__abort(c, MIDGE_ERR_TIMEOUT);
		return;
	}
	if (now - c->last_out < k && now - c->last_in < k) return;
	uint8_t ping[2];
	size_t n = proto__encode_empty(ping, MQTT_PINGREQ);
	if (buf__append(&c->out, ping, n)) return;
	c->ping_out = true;
	c->ping_sent = now;
}

/* Timers and requests from other threads. Lock held. */
static void do_misc(struct midge_client *c)
{
	if (c->wake_pending) {
		uint64_t v;
		if (read(c->wake_fd, &v, sizeof v) < 0) { /* EAGAIN: nothing to drain */
		}
		c->wake_pending = false;
	}
	if (c->disc_req) {
		c->disc_req = false;
		if (c->state == CS_TCP || c->state == CS_TLS || c->state == CS_WS || c->state == CS_CONNACK)
			conn__end(c, 0, false, (struct mqtt_str){0});
	}
	uint64_t now = clock__ms();
	if (c->state == CS_TCP) conn__check_tcp(c);
	switch (c->state) {
	case CS_TCP:
	case CS_TLS:
	case CS_WS:
	case CS_CONNACK: /* the timeout covers the TCP connect, the TLS and WebSocket handshakes and the CONNACK */
		if (now < c->deadline) break;
		snprintf(c->errtext, sizeof c->errtext, "no connection to %s port %u within %u ms", c->url.host,
		         c->url.port, c->o.connect_timeout_ms);
		conn__end(c, MIDGE_ERR_TIMEOUT, false, (struct mqtt_str){0});
		break;
	case CS_CONNECTED:
		keepalive(c, now);
		break;
	case CS_BACKOFF:
		if (now >= c->reconnect_at) conn__reconnect(c);
		break;
	case CS_IDLE:
		break;
	}
}

/* Milliseconds until the next timer of loop_misc is due (INT32_MAX when none). Lock held. */
static int next_timer(const struct midge_client *c, uint64_t now)
{
	uint64_t at = UINT64_MAX;
	uint64_t k = (uint64_t)c->keepalive * 1000;
	switch (c->state) {
	case CS_TCP:
	case CS_TLS:
	case CS_WS:
	case CS_CONNACK:
		at = c->deadline;
		break;
	case CS_BACKOFF:
		at = c->reconnect_at;
		break;
	case CS_CONNECTED:
		if (c->disconnecting)
			at = c->deadline;
		else if (!k)
			break;
		else if (c->ping_out)
			at = c->last_in + k + k / 2;
		else
			at = (c->last_in < c->last_out ? c->last_in : c->last_out) + k;
		break;
	case CS_IDLE:
		break;
	}
	if (at == UINT64_MAX) return INT32_MAX;
	if (at <= now) return 0;
	return at - now > INT32_MAX ? INT32_MAX : (int)(at - now);
}

int midge_client_loop_read(struct midge_client *c)
{
	if (!c) return MIDGE_ERR_INVAL;
	int rc = enter(c);
	if (rc) return rc;
	do_read(c);
	return leave(c);
}

int midge_client_loop_write(struct midge_client *c)
{
	if (!c) return MIDGE_ERR_INVAL;
	int rc = enter(c);
	if (rc) return rc;
	do_write(c);
	return leave(c);
}

int midge_client_loop_misc(struct midge_client *c)
{
	if (!c) return MIDGE_ERR_INVAL;
	int rc = enter(c);
	if (rc) return rc;
	do_misc(c);
	/* A PINGREQ or a request from another thread may have filled the output: no need to wait for a poll. */
	if (client__want_write(c) && c->state >= CS_CONNACK) do_write(c);
	return leave(c);
}

int midge_client_loop(struct midge_client *c, int timeout_ms)
{
	if (!c) return MIDGE_ERR_INVAL;
	int rc = enter(c);
	if (rc) return rc;
	struct pollfd fds[2] = {{.fd = c->wake_fd, .events = POLLIN}, {.fd = c->sock, .events = POLLIN}};
	nfds_t nfds = c->sock >= 0 ? 2 : 1;
	if (client__want_write(c)) fds[1].events |= POLLOUT;
	unsigned gen = c->conn_gen;
	int wait = next_timer(c, clock__ms());
	if (timeout_ms >= 0 && timeout_ms < wait) wait = timeout_ms;
	pthread_mutex_unlock(&c->lock);
	int n = poll(fds, nfds, wait);
	pthread_mutex_lock(&c->lock);
	if (n > 0 && nfds == 2 && alive(c, gen)) {
		short ev = fds[1].revents;
		if (ev & (POLLIN | POLLERR | POLLHUP)) do_read(c);
		if (alive(c, gen) && (ev & (POLLOUT | POLLERR | POLLHUP) || (buf__len(&c->out) && c->state >= CS_CONNACK)))
			do_write(c);
	}
	do_misc(c);
	if (client__want_write(c) && c->state >= CS_CONNACK) do_write(c);
	rc = leave(c);
	if (rc) return rc;
	pthread_mutex_lock(&c->lock);
	rc = c->state == CS_IDLE ? MIDGE_ERR_CLOSED : 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- the library's thread ---- */

static void *thread_main(void *arg)
{
	struct midge_client *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stop_req) {
		pthread_mutex_unlock(&c->lock);
		midge_client_loop(c, 1000);
		pthread_mutex_lock(&c->lock);
	}
	c->thread_active = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int midge_client_start(struct midge_client *c)
{
	if (!c) return MIDGE_ERR_INVAL;
	pthread_mutex_lock(&c->lock);
	if (c->thread_active || c->loop_depth) {
		pthread_mutex_unlock(&c->lock);
		return c->thread_active ? MIDGE_ERR_EXISTS : MIDGE_ERR_INVAL;
	}
	if (c->thread_joinable) { /* stopped from one of its own callbacks: reap it first */
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
		pthread_mutex_lock(&c->lock);
		c->thread_joinable = false;
	}
	c->stop_req = false;
	c->thread_active = c->thread_joinable = true;
	/* Signals are the application's business: the library's thread takes none. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&c->thread, NULL, thread_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) c->thread_active = c->thread_joinable = false;
	pthread_mutex_unlock(&c->lock);
	return err ? MIDGE_ERR_NOMEM : 0;
}

/* Nothing left to send or to be answered. Lock held. */
static bool drained(const struct midge_client *c)
{
	return list__empty(&c->items) && !buf__len(&c->out);
}

int midge_client_stop(struct midge_client *c, bool flush, unsigned timeout_ms)
{
	if (!c) return MIDGE_ERR_INVAL;
	pthread_mutex_lock(&c->lock);
	if (!c->thread_joinable) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (pthread_equal(pthread_self(), c->thread)) {
		/* From a callback of the thread itself: it ends after the callback; start or destroy reaps it. */
		c->stop_req = true;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	int rc = 0;
	uint64_t deadline = clock__ms() + timeout_ms;
	while (flush && c->thread_active && !drained(c)) {
		if (c->state == CS_IDLE) {
			rc = c->last_end < 0 ? c->last_end : MIDGE_ERR_CLOSED;
			break;
		}
		struct timespec ts = clock__abstime(deadline);
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) {
			rc = drained(c) ? 0 : MIDGE_ERR_TIMEOUT;
			break;
		}
	}
	c->stop_req = true;
	client__wake(c);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_mutex_lock(&c->lock);
	c->thread_joinable = false;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- waiting ---- */

/* True when what has happened and its callbacks have run; *r is what midge_client_wait returns. Lock held. */
static bool wait_done(const struct midge_client *c, enum midge_wait what, unsigned seq0, int *r)
{
	if (c->notes.n || c->notes_running) return false;
	int ended = c->last_end ? c->last_end : MIDGE_ERR_CLOSED;
	switch (what) {
	case MIDGE_WAIT_CONNECTED:
		if (c->state == CS_CONNECTED)
			*r = 0;
		else if (c->outcome_seq != seq0)
			*r = c->last_outcome;
		else if (c->state == CS_IDLE)
			*r = ended;
		else
			return false;
		return true;
	case MIDGE_WAIT_PUBLISHED:
		if (c->n_unacked == 0)
			*r = 0;
		else if (c->state == CS_IDLE)
			*r = ended;
		else
			return false;
		return true;
	case MIDGE_WAIT_DISCONNECTED:
		if (c->state != CS_IDLE && c->state != CS_BACKOFF) return false;
		*r = c->last_end;
		return true;
	}
	*r = MIDGE_ERR_INVAL;
	return true;
}

int midge_client_wait(struct midge_client *c, enum midge_wait what, int timeout_ms)
{
	if (!c || what < MIDGE_WAIT_CONNECTED || what > MIDGE_WAIT_DISCONNECTED) return MIDGE_ERR_INVAL;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : clock__ms() + (unsigned)timeout_ms;
	pthread_t self = pthread_self();
	pthread_mutex_lock(&c->lock);
	if (c->loop_depth && pthread_equal(self, c->loop_thread)) { /* from a callback */
		pthread_mutex_unlock(&c->lock);
		return MIDGE_ERR_INVAL;
	}
	unsigned seq0 = c->outcome_seq;
	int r;
	while (!wait_done(c, what, seq0, &r)) {
		uint64_t now = clock__ms();
		if (now >= deadline) {
			r = MIDGE_ERR_TIMEOUT;
			break;
		}
		uint64_t step = deadline - now < 1000 ? deadline - now : 1000;
		if (c->thread_active || c->loop_depth) {
			/* Someone else drives the loop: be told of changes. */
			struct timespec ts = clock__abstime(now + step);
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		int lrc = midge_client_loop(c, (int)step);
		pthread_mutex_lock(&c->lock);
		if (lrc == MIDGE_ERR_INVAL && !c->thread_active && !c->loop_depth) {
			r = lrc;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}
