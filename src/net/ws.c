/* The WebSocket server transport: handshake, frames in, frames out, control frames. See ws.h. */
#include "ws.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "http/http_req.h"
#include "http/http_static.h"
#include "midge/midge.h"
#include "ws_frame.h"

#define READ_CHUNK 16384
#define FILE_CHUNK 65536 /* bytes of an http_dir file read at a time, as the socket takes them */

enum ws_phase {
	WS_HANDSHAKE, /* reading the HTTP request */
	WS_OPEN,      /* frames both ways */
	WS_ENDING,    /* an answer (HTTP response, close frame) is going out; then the end */
};

struct ws {
	struct transport inner; /* the TCP or TLS transport underneath */
	const struct ws_settings *set;
	const char *peer;       /* the client's address (borrowed), for the app */
	enum ws_phase phase;
	int end_errno;    /* WS_ENDING: 0 = report end of stream, else -1 with this errno */
	char why[160];    /* t->error when end_errno is set */
	struct buf in;    /* bytes from the socket not used yet: the request head, then frames */
	struct buf ctl;   /* bytes of our own to send before any more data frames: 101, HTTP responses, close */
	int file_fd;      /* an http_dir file whose bytes follow the response head in ctl, or -1 */
	uint64_t file_left;
	/* The answer to the latest ping (RFC 6455 5.5.3 lets a pong answer only the latest): one slot, so a
	 * ping flood costs no memory. */
	uint8_t pong[125];
	size_t pong_len;
	bool pong_due;
	/* the incoming frame whose payload is being passed up */
	bool in_data;
	struct ws_frame_hdr fh;
	uint64_t fpos;     /* payload bytes of it passed up */
	bool in_message;   /* a fragmented binary message awaits continuation frames */
	uint64_t msg_len;  /* payload bytes of the current message so far */
	/* the outgoing data frame being written */
	uint8_t out_hdr[WS_MAX_HEADER];
	size_t out_hdr_len, out_hdr_sent;
	uint64_t out_left; /* its payload bytes still to write */
	bool close_sent;
};

static struct ws *ws_of(struct transport *t) { return t->impl; }

static bool has_output(const struct ws *w)
{
	return buf__len(&w->ctl) || w->pong_due || w->file_left;
}

/* Refills ctl when it is empty: the pong due, or the next piece of the file being served. */
static int refill(struct ws *w)
{
	if (w->pong_due) {
		uint8_t h[WS_MAX_HEADER];
		size_t hl = ws__encode_header(h, WS_OP_PONG, true, w->pong_len, NULL);
		if (buf__append(&w->ctl, h, hl) || buf__append(&w->ctl, w->pong, w->pong_len)) return MIDGE_ERR_NOMEM;
		w->pong_due = false;
		return 0;
	}
	size_t want = w->file_left < FILE_CHUNK ? (size_t)w->file_left : FILE_CHUNK;
	if (buf__reserve(&w->ctl, want)) return MIDGE_ERR_NOMEM;
	/* A regular local file: a short read from the page cache, the only blocking call a worker makes here. */
	ssize_t n = read(w->file_fd, buf__tail(&w->ctl), want);
	if (n <= 0) return MIDGE_ERR_IO; /* shrunk or failed: the response cannot be completed */
	buf__produce(&w->ctl, (size_t)n);
	w->file_left -= (uint64_t)n;
	return 0;
}

static void end_file(struct ws *w)
{
	if (w->file_fd >= 0) close(w->file_fd);
	w->file_fd = -1;
	w->file_left = 0;
}

/* Writes our own output (ctl, the pong due, the file being served), unless a data frame is half written
 * (nothing may come between its bytes). Returns 0 when all of it is out, 1 when some is left (socket full,
 * or a frame in the way), -1 on a write error. */
static int flush_ctl(struct transport *t)
{
	struct ws *w = ws_of(t);
	if (w->out_hdr_sent < w->out_hdr_len || w->out_left) return has_output(w) ? 1 : 0;
	while (has_output(w)) {
		if (!buf__len(&w->ctl) && refill(w)) {
			end_file(w);
			errno = EIO;
			return -1;
		}
		if (!w->file_left) end_file(w);
		struct iovec v = {(void *)buf__head(&w->ctl), buf__len(&w->ctl)};
		ssize_t n = w->inner.ops->writev(&w->inner, &v, 1);
		if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : -1;
		buf__consume(&w->ctl, (size_t)n);
	}
	return 0;
}

/* Whether the worker should watch for writability: our own output waits, or TLS underneath asks. */
static void update_want(struct transport *t)
{
	struct ws *w = ws_of(t);
	t->want_write = w->inner.want_write || has_output(w);
}

/* Queues a frame of our own (unmasked) into ctl. */
static int queue_frame(struct ws *w, uint8_t opcode, const uint8_t *p, size_t n)
{
	uint8_t h[WS_MAX_HEADER];
	size_t hl = ws__encode_header(h, opcode, true, n, NULL);
	if (buf__append(&w->ctl, h, hl) || (n && buf__append(&w->ctl, p, n))) return MIDGE_ERR_NOMEM;
	return 0;
}

/* Ends the connection with a close frame (code, reason) after what is queued; read reports EPROTO with why. */
static void fail(struct ws *w, uint16_t code, const char *why)
{
	if (!w->close_sent) {
		uint8_t p[2 + 64];
		size_t rl = strlen(why) < 64 ? strlen(why) : 64;
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		memcpy(p + 2, why, rl);
		queue_frame(w, WS_OP_CLOSE, p, 2 + rl);
		w->close_sent = true;
	}
	w->phase = WS_ENDING;
	w->end_errno = EPROTO;
	snprintf(w->why, sizeof(w->why), "WebSocket: %s (close %u)", why, code);
}

/* Ends the connection with an HTTP response already in ctl; read reports EPROTO with why, or the end of
 * the stream when why is NULL (a file served). */
static void end_http(struct ws *w, const char *why)
{
	w->phase = WS_ENDING;
	w->end_errno = why ? EPROTO : 0;
	if (why) snprintf(w->why, sizeof(w->why), "WebSocket handshake refused: %s", why);
}

static void refuse(struct ws *w, int status, const char *extra, const char *why)
{
	http__status_response(&w->ctl, status, extra);
	end_http(w, why);
}

/* The subprotocol to answer with: the first of the client's (in all its Sec-WebSocket-Protocol fields, RFC
 * 6455 4.1) that MQTT uses, "" when it offered none, or NULL when it offered only others. */
static const char *pick_protocol(const struct http_request *rq)
{
	bool offered = false;
	for (size_t i = 0; i < rq->nheaders; i++) {
		if (!http__str_ieq(rq->headers[i].name, "Sec-WebSocket-Protocol")) continue;
		offered = true;
		const char *p = rq->headers[i].value.p, *end = p + rq->headers[i].value.len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
			const char *s = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t') p++;
			struct http_str item = {s, (size_t)(p - s)};
			if (http__str_ieq(item, "mqtt")) return "mqtt";
			if (http__str_ieq(item, "mqttv3.1")) return "mqttv3.1";
		}
	}
	return offered ? NULL : "";
}

static bool origin_allowed(const struct ws_settings *s, const struct http_str *origin)
{
	if (!s->norigins) return true;
	for (size_t i = 0; origin && i < s->norigins; i++)
		if (http__str_ieq(*origin, s->origins[i])) return true;
	return false;
}

static bool is_upgrade(const struct http_request *rq) { return http__header_has_token(rq, "Upgrade", "websocket"); }

/* The body length of a plain request (RFC 7230 3.3.3): 0 without Content-Length; else 0 or the status to
 * refuse it with: a chunked body is not taken (501), a bad or repeated length is 400, a long one 413. */
static int body_length(const struct http_request *rq, size_t *len)
{
	*len = 0;
	if (http__header(rq, "Transfer-Encoding")) return 501;
	const struct http_str *cl = http__header(rq, "Content-Length");
	if (!cl) return 0;
	if (http__header_count(rq, "Content-Length") != 1 || cl->len == 0) return 400;
	uint64_t n = 0;
	for (size_t i = 0; i < cl->len; i++) {
		if (cl->p[i] < '0' || cl->p[i] > '9') return 400;
		n = n * 10 + (uint64_t)(cl->p[i] - '0');
		if (n > WS_HTTP_MAX_BODY) return 413;
	}
	*len = (size_t)n;
	return 0;
}

/* Answers a plain request (its body read): the app's response, a file, or 404/405. */
static void serve(struct ws *w, const struct http_request *rq, const uint8_t *body, size_t body_len)
{
	int st = 0;
	if (w->set->app) st = w->set->app->serve(w->set->app->ctx, w->peer, rq, body, body_len, &w->ctl);
	if (st == 0) {
		st = http__serve_file(&w->ctl, w->set->http_dir, rq, &w->file_fd, &w->file_left);
		end_http(w, st == 200 ? NULL : st == 404 ? "not an upgrade, no such file" : "not an upgrade");
		return;
	}
	if (st < 0) refuse(w, 500, NULL, "out of memory");
	else end_http(w, NULL);
}

/* Answers a whole request head: the upgrade (101), or a refusal. */
static void answer(struct ws *w, const struct http_request *rq)
{
	const struct http_str *key = http__header(rq, "Sec-WebSocket-Key");
	const struct http_str *version = http__header(rq, "Sec-WebSocket-Version");
	const struct http_str *host = http__header(rq, "Host");
	if (!http__method_is(rq, "GET") || rq->version_minor < 1) {
		refuse(w, 400, NULL, "an upgrade must be a GET over HTTP/1.1");
		return;
	}
	if (!http__header_has_token(rq, "Connection", "upgrade") || !host || http__header_count(rq, "Host") != 1) {
		refuse(w, 400, NULL, "missing Connection: Upgrade or Host");
		return;
	}
	if (!version || http__header_count(rq, "Sec-WebSocket-Version") != 1 || !http__str_ieq(*version, "13")) {
		refuse(w, 426, "Sec-WebSocket-Version: 13\r\n", "unsupported Sec-WebSocket-Version");
		return;
	}
	if (!key || http__header_count(rq, "Sec-WebSocket-Key") != 1 || !ws__valid_key(key->p, key->len)) {
		refuse(w, 400, NULL, "missing or invalid Sec-WebSocket-Key");
		return;
	}
	if (!origin_allowed(w->set, http__header(rq, "Origin"))) {
		refuse(w, 403, NULL, "Origin not allowed (websockets_origin)");
		return;
	}
	const char *proto = pick_protocol(rq);
	if (!proto) {
		refuse(w, 400, NULL, "no MQTT subprotocol offered (mqtt, mqttv3.1)");
		return;
	}
	char accept[29];
	ws__accept_key(key->p, key->len, accept);
	char resp[256];
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
			 accept, *proto ? "Sec-WebSocket-Protocol: " : "", proto, *proto ? "\r\n" : "");
	if (buf__append(&w->ctl, resp, (size_t)n)) {
		refuse(w, 500, NULL, "out of memory");
		return;
	}
	w->phase = WS_OPEN;
}

/* Reads more from the socket into w->in. Returns >0, 0 at the end of the stream, or -1 with errno. */
static ssize_t fill(struct transport *t, size_t room)
{
	struct ws *w = ws_of(t);
	if (buf__reserve(&w->in, room)) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t n = w->inner.ops->read(&w->inner, buf__tail(&w->in), buf__space(&w->in));
	t->want_write = w->inner.want_write;
	if (n > 0) buf__produce(&w->in, (size_t)n);
	if (n < 0 && w->inner.error) t->error = w->inner.error;
	return n;
}

static void handshake(struct transport *t)
{
	struct ws *w = ws_of(t);
	for (;;) {
		struct http_request rq;
		int r = http__parse_request((const char *)buf__head(&w->in), buf__len(&w->in), w->set->max_head, &rq);
		if (r == HTTP_OK && is_upgrade(&rq)) {
			buf__consume(&w->in, rq.head_len); /* frames may follow the head at once */
			answer(w, &rq);
			return;
		}
		size_t body = 0;
		if (r == HTTP_OK) {
			int st = body_length(&rq, &body);
			if (st) {
				refuse(w, st, NULL, st == 413 ? "request body too large" : "bad request body length");
				return;
			}
			if (buf__len(&w->in) - rq.head_len >= body) {
				/* The views stay valid: consuming only moves the start. */
				const uint8_t *b = buf__head(&w->in) + rq.head_len;
				buf__consume(&w->in, rq.head_len + body);
				serve(w, &rq, b, body);
				return;
			}
		}
		if (r != HTTP_OK && r != HTTP_NEED_MORE) {
			if (r == HTTP_TOO_LARGE) refuse(w, 431, NULL, "request head too large (websockets_headers_size)");
			else if (r == HTTP_BAD_VERSION) refuse(w, 505, NULL, "not HTTP/1.x");
			else refuse(w, 400, NULL, "malformed HTTP request");
			return;
		}
		/* The head (bounded) and then its body (bounded by body_length): never more than a chunk past them. */
		ssize_t n = fill(t, r == HTTP_OK || READ_CHUNK < w->set->max_head + 1 ? READ_CHUNK : w->set->max_head + 1);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				w->phase = WS_ENDING;
				w->end_errno = n == 0 ? 0 : errno;
				if (n < 0) snprintf(w->why, sizeof(w->why), "%s", t->error ? t->error : strerror(errno));
			}
			return;
		}
	}
}

/* Handles a whole control frame whose (unmasked) payload is p[0..n). */
static void control(struct ws *w, const uint8_t *p, size_t n)
{
	if (w->fh.opcode == WS_OP_PING) {
		memcpy(w->pong, p, n);
		w->pong_len = n;
		w->pong_due = true;
	} else if (w->fh.opcode == WS_OP_CLOSE) {
		uint16_t code;
		int bad = ws__check_close(p, n, &code);
		if (bad) {
			fail(w, (uint16_t)bad, bad == WS_CLOSE_INVALID_DATA ? "close reason is not UTF-8" : "invalid close code");
			return;
		}
		if (!w->close_sent) {
			/* The close handshake: echo the status (RFC 6455 5.5.1); none given, none sent back. */
			queue_frame(w, WS_OP_CLOSE, p, n >= 2 ? 2 : 0);
			w->close_sent = true;
		}
		w->phase = WS_ENDING;
		w->end_errno = 0;
	}
}

/* Judges the header just decoded into w->fh. Returns false after failing the connection. */
static bool accept_header(struct ws *w)
{
	const struct ws_frame_hdr *h = &w->fh;
	if (!h->masked) return fail(w, WS_CLOSE_PROTOCOL_ERROR, "unmasked client frame"), false;
	if (h->opcode >= WS_OP_CLOSE) return true;
	if (h->opcode == WS_OP_TEXT) return fail(w, WS_CLOSE_UNSUPPORTED_DATA, "text frame (MQTT is binary)"), false;
	if (h->opcode == WS_OP_CONT && !w->in_message)
		return fail(w, WS_CLOSE_PROTOCOL_ERROR, "continuation without a message"), false;
	if (h->opcode == WS_OP_BINARY && w->in_message)
		return fail(w, WS_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one"), false;
	if (h->opcode == WS_OP_BINARY) w->msg_len = 0;
	if (h->len > w->set->max_message || w->msg_len + h->len > w->set->max_message)
		return fail(w, WS_CLOSE_TOO_BIG, "message too big"), false;
	w->msg_len += h->len;
	w->in_message = !h->fin;
	return true;
}

/* Frames to payload bytes: returns how many bytes of buf it filled (0: none yet, wait for input). */
static size_t frames(struct transport *t, uint8_t *buf, size_t len)
{
	struct ws *w = ws_of(t);
	size_t got = 0;
	while (w->phase == WS_OPEN && got < len) {
		if (w->in_data) {
			uint64_t left = w->fh.len - w->fpos;
			size_t take = buf__len(&w->in);
			if (take > left) take = (size_t)left;
			if (take > len - got) take = len - got;
			if (take == 0 && left) break;
			memcpy(buf + got, buf__head(&w->in), take);
			ws__mask(buf + got, take, w->fh.mask, w->fpos);
			buf__consume(&w->in, take);
			got += take;
			w->fpos += take;
			if (w->fpos == w->fh.len) w->in_data = false;
			continue;
		}
		int r = ws__decode_header(buf__head(&w->in), buf__len(&w->in), &w->fh);
		if (r == WS_NEED_MORE) break;
		if (r != WS_OK) {
			fail(w, (uint16_t)r, "malformed frame header");
			break;
		}
		if (!accept_header(w)) break;
		if (w->fh.opcode >= WS_OP_CLOSE) {
			/* Control frames are short (<= 125 bytes) and handled whole. */
			if (buf__len(&w->in) < w->fh.hdr_len + w->fh.len) break;
			uint8_t *p = w->in.data + w->in.start + w->fh.hdr_len;
			ws__mask(p, (size_t)w->fh.len, w->fh.mask, 0);
			control(w, p, (size_t)w->fh.len);
			buf__consume(&w->in, w->fh.hdr_len + (size_t)w->fh.len);
			continue;
		}
		buf__consume(&w->in, w->fh.hdr_len);
		w->in_data = true;
		w->fpos = 0;
		if (w->fh.len == 0) w->in_data = false;
	}
	return got;
}

/* While our answer waits for the socket to drain, the peer's input is read and dropped: left unread, it
 * would wake the level-triggered loop for ever. Returns 0 when the peer has gone, else 1. */
static int discard_input(struct ws *w)
{
	uint8_t scratch[4096];
	for (int i = 0; i < 64; i++) {
		ssize_t n = w->inner.ops->read(&w->inner, scratch, sizeof(scratch));
		if (n == 0) return 0;
		if (n < 0) return 1;
	}
	return 1;
}

static ssize_t ws_read(struct transport *t, void *buf, size_t len)
{
	struct ws *w = ws_of(t);
	for (;;) {
		int f = flush_ctl(t);
		if (f < 0) return -1;
		if (w->phase == WS_ENDING) {
			if (f > 0 && discard_input(w)) break;
			if (!w->end_errno) return 0;
			t->error = w->why;
			errno = w->end_errno;
			return -1;
		}
		if (w->phase == WS_HANDSHAKE) {
			size_t before = buf__len(&w->in);
			handshake(t);
			if (w->phase == WS_HANDSHAKE && buf__len(&w->in) == before) break;
			continue;
		}
		size_t got = frames(t, buf, len);
		if (got) {
			update_want(t);
			return (ssize_t)got;
		}
		if (w->phase != WS_OPEN) continue;
		/* A pong just due goes out now, not at the next event. */
		if (f == 0 && has_output(w) && flush_ctl(t) < 0) return -1;
		ssize_t n = fill(t, READ_CHUNK);
		if (n == 0) return 0;
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
			break;
		}
	}
	update_want(t);
	errno = EAGAIN;
	return -1;
}

static ssize_t ws_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct ws *w = ws_of(t);
	if (w->phase == WS_HANDSHAKE || (w->phase == WS_ENDING && !w->out_left && w->out_hdr_sent == w->out_hdr_len)) {
		errno = w->phase == WS_HANDSHAKE ? EAGAIN : EPIPE;
		return -1;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
	if (w->out_hdr_sent == w->out_hdr_len && !w->out_left) {
		/* Between frames: our own bytes (the 101, a pong) go first. */
		int f = flush_ctl(t);
		if (f) {
			if (f > 0) errno = EAGAIN;
			return -1;
		}
		if (!total) return 0;
		w->out_hdr_len = ws__encode_header(w->out_hdr, WS_OP_BINARY, true, total, NULL);
		w->out_hdr_sent = 0;
		w->out_left = total;
	}
	/* The frame's header (what is left of it), then its payload from the front of iov. */
	struct iovec v[65];
	int n = 0;
	if (w->out_hdr_sent < w->out_hdr_len)
		v[n++] = (struct iovec){w->out_hdr + w->out_hdr_sent, w->out_hdr_len - w->out_hdr_sent};
	uint64_t want = w->out_left;
	for (int i = 0; i < iovcnt && want && n < 65; i++) {
		size_t l = iov[i].iov_len < want ? iov[i].iov_len : (size_t)want;
		if (!l) continue;
		v[n++] = (struct iovec){iov[i].iov_base, l};
		want -= l;
	}
	ssize_t r = w->inner.ops->writev(&w->inner, v, n);
	if (r < 0) return -1;
	size_t hdr = w->out_hdr_len - w->out_hdr_sent;
	if ((size_t)r <= hdr) {
		w->out_hdr_sent += (size_t)r;
		errno = EAGAIN; /* no payload byte went: the socket is full */
		return -1;
	}
	w->out_hdr_sent = w->out_hdr_len;
	size_t payload = (size_t)r - hdr;
	w->out_left -= payload;
	if (!w->out_left && has_output(w)) flush_ctl(t);
	update_want(t);
	return (ssize_t)payload;
}

static void ws_close(struct transport *t)
{
	struct ws *w = ws_of(t);
	if (!w) return;
	/* A goodbye of our own when nothing half-written is in the way; best effort, never waiting. */
	if (w->phase == WS_OPEN && !w->close_sent) {
		uint8_t p[2] = {WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xff};
		queue_frame(w, WS_OP_CLOSE, p, 2);
		w->close_sent = true;
	}
	flush_ctl(t);
	end_file(w);
	w->inner.ops->close(&w->inner);
	buf__fini(&w->in);
	buf__fini(&w->ctl);
	free(w);
	t->impl = NULL;
	t->fd = -1;
	t->error = NULL;
}

static size_t ws_pending(struct transport *t)
{
	struct ws *w = ws_of(t);
	size_t inner = w->inner.ops->pending ? w->inner.ops->pending(&w->inner) : 0;
	/* Frame bytes already read may hold whole packets, and an ending (a close frame to send, an error to
	 * report) must be acted on: the fd will not say so again. */
	return inner + (w->phase == WS_OPEN ? buf__len(&w->in) : w->phase == WS_ENDING ? 1 : 0);
}

static struct transport *ws_inner(struct transport *t) { return &ws_of(t)->inner; }

static void ws_ping(struct transport *t)
{
	struct ws *w = ws_of(t);
	if (w->phase != WS_OPEN || w->close_sent || buf__len(&w->ctl)) return; /* one at a time */
	queue_frame(w, WS_OP_PING, (const uint8_t *)"midge", 5);
	/* Sent now unless a data frame is half written; else at its end, or at the next writable event. */
	flush_ctl(t);
	update_want(t);
}

const struct transport_ops ws__ops = {
    .name = "websockets",
    .read = ws_read,
    .writev = ws_writev,
    .close = ws_close,
    .pending = ws_pending,
    .inner = ws_inner,
    .ping = ws_ping,
};

int ws__accept(struct transport *t, const struct ws_settings *s, const char *peer)
{
	struct ws *w = calloc(1, sizeof(*w));
	if (!w) return MIDGE_ERR_NOMEM;
	w->inner = *t;
	w->set = s;
	w->peer = peer;
	w->phase = WS_HANDSHAKE;
	w->file_fd = -1;
	t->ops = &ws__ops;
	t->impl = w;
	t->want_write = false;
	t->error = NULL;
	return 0;
}
