/* libmidge's WebSocket client transport: the upgrade, masked frames out, the server's frames in. See ws_client.h. */
#include "ws_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "midge/midge.h"
#include "net/ws_frame.h"
#include "ws_handshake.h"

#define WSC_MAX_FRAME (64 * 1024) /* payload of one frame out */
#define WSC_READ_CHUNK 65536
#define WSC_MASK_POOL 256 /* bytes of masking keys drawn at once: 64 frames */

struct wsc {
	struct transport inner;
	bool open;       /* upgraded */
	bool closed;     /* the server's close frame came: reads return 0 */
	bool failed;     /* a protocol error: reads and writes fail */
	bool close_sent; /* our close frame is queued or gone */
	int err;         /* MIDGE_ERR_* behind t->error */
	char accept[29]; /* the Sec-WebSocket-Accept due */
	struct buf hs;   /* the upgrade request, what the socket has not taken */
	struct buf rin;  /* bytes from inner not handled yet */
	struct buf ctl;  /* masked control frames of ours (pong, close), sent between data frames */
	uint64_t left;   /* payload bytes left of the server's current data frame */
	bool in_message; /* a fragmented message waits for continuation frames */
	/* The data frame being written: header and masked payload, in full, so every retry offers the same bytes. */
	uint8_t *frame;
	size_t frame_len;  /* 0: none */
	size_t frame_hdr;  /* header bytes at its start */
	size_t frame_sent; /* bytes inner has taken */
	size_t reported;   /* payload bytes writev has returned as written */
	char why[192];
	/* Masking keys drawn in batches: one RAND_bytes per frame cost a busy client (midge-bench) more CPU than
	 * all of its own code. */
	uint8_t masks[WSC_MASK_POOL];
	size_t masks_left; /* unused bytes at the end of masks; 0: draw again */
};

static struct wsc *wsc_of(const struct transport *t)
{
	return t->impl;
}

/* A fresh masking key (RFC 6455 5.3: unpredictable, from a strong source), from w's pool of them. */
static void new_mask(struct wsc *w, uint8_t m[4])
{
	if (!w->masks_left) {
		if (RAND_bytes(w->masks, sizeof w->masks) != 1 &&
		    getrandom(w->masks, sizeof w->masks, 0) != (ssize_t)sizeof w->masks) {
			m[0] = 0x4d, m[1] = 0x69, m[2] = 0x64, m[3] = 0x67; /* never reached on Linux */
			return;
		}
		w->masks_left = sizeof w->masks;
	}
	memcpy(m, w->masks + sizeof w->masks - w->masks_left, 4);
	w->masks_left -= 4;
}

/* Writes what b holds through inner. 1 when all went, 0 when the socket is full, -1 on an error (errno). */
static int flush_buf(struct wsc *w, struct buf *b)
{
	while (buf__len(b)) {
		struct iovec iov = {(void *)buf__head(b), buf__len(b)};
		ssize_t n = w->inner.ops->writev(&w->inner, &iov, 1);
		if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		buf__consume(b, (size_t)n);
	}
	return 1;
}

/* Our control frames go out when no data frame is half-written. Same results as flush_buf. */
static int flush_ctl(struct wsc *w)
{
	if (w->frame_len) return buf__len(&w->ctl) ? 0 : 1;
	return flush_buf(w, &w->ctl);
}

static void update_want(struct transport *t)
{
	struct wsc *w = wsc_of(t);
	t->want_write = w->inner.want_write || buf__len(&w->ctl) > 0;
}

/* Queues a masked control frame with payload p[0..n) (n <= 125). */
static int queue_ctl(struct wsc *w, uint8_t opcode, const uint8_t *p, size_t n)
{
	uint8_t hdr[WS_MAX_HEADER], m[4];
	new_mask(w, m);
	size_t hl = ws__encode_header(hdr, opcode, true, n, m);
	if (buf__reserve(&w->ctl, hl + n)) return MIDGE_ERR_NOMEM;
	buf__append(&w->ctl, hdr, hl);
	buf__append(&w->ctl, p, n);
	ws__mask(buf__tail(&w->ctl) - n, n, m, 0);
	return 0;
}

/* Takes the inner transport's reason for a failure, when it has one (TLS). */
static void inner_failed(struct transport *t)
{
	struct wsc *w = wsc_of(t);
	if (!w->inner.error) return;
	t->error = w->inner.error;
	w->err = MIDGE_ERR_TLS;
}

/* A protocol error of the server's: tells it with a close frame (best effort) and fails from now on. -1, errno
 * EPROTO. */
static ssize_t fail(struct transport *t, uint16_t code, const char *what)
{
	struct wsc *w = wsc_of(t);
	if (!w->close_sent) {
		uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
		if (queue_ctl(w, WS_OP_CLOSE, p, 2) == 0) w->close_sent = true;
		flush_ctl(w);
	}
	snprintf(w->why, sizeof w->why, "WebSocket protocol error: %s", what);
	t->error = w->why;
	w->err = MIDGE_ERR_PROTOCOL;
	w->failed = true;
	errno = EPROTO;
	return -1;
}

/* Reads what inner has into rin. >0, 0 at the end of the stream, -1 with errno. */
static ssize_t fill(struct transport *t)
{
	struct wsc *w = wsc_of(t);
	if (buf__reserve(&w->rin, WSC_READ_CHUNK)) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t n = w->inner.ops->read(&w->inner, buf__tail(&w->rin), buf__space(&w->rin));
	if (n > 0) buf__produce(&w->rin, (size_t)n);
	if (n < 0) inner_failed(t);
	return n;
}

/* The server's close frame with payload p[0..n): answered with the same code, and the end of the stream. */
static void server_close(struct transport *t, const uint8_t *p, size_t n)
{
	struct wsc *w = wsc_of(t);
	uint16_t code = 0;
	int bad = ws__check_close(p, n, &code);
	if (!w->close_sent) {
		/* RFC 6455 5.5.1: the reply echoes the status code; none (1005) is answered with none. */
		uint8_t reply[2] = {(uint8_t)((bad ? bad : code) >> 8), (uint8_t)(bad ? bad : code)};
		if (queue_ctl(w, WS_OP_CLOSE, reply, !bad && code == 1005 ? 0 : 2) == 0) w->close_sent = true;
		flush_ctl(w);
	}
	w->closed = true;
	if (bad) {
		snprintf(w->why, sizeof w->why, "WebSocket closed by server with an invalid close frame");
	} else {
		char reason[96];
		size_t k = 0;
		for (size_t i = 2; i < n && k + 1 < sizeof reason; i++)
			reason[k++] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '?';
		reason[k] = 0;
		snprintf(w->why, sizeof w->why, "WebSocket closed by server: %u%s%s", code, k ? " " : "", reason);
	}
	t->error = w->why;
}

/* Handles the frame header h at the front of rin (whole control frames only). 1: go on; 0: wait for more bytes;
 * -1: failed (errno set); 2: the server closed. */
static int frame(struct transport *t, const struct ws_frame_hdr *h)
{
	struct wsc *w = wsc_of(t);
	/* RFC 6455 5.1: a client closes the connection when it sees a masked frame. */
	if (h->masked) return (int)fail(t, WS_CLOSE_PROTOCOL_ERROR, "masked frame from the server");
	switch (h->opcode) {
	case WS_OP_TEXT:
		return (int)fail(t, WS_CLOSE_UNSUPPORTED_DATA, "text frame from the server (MQTT needs binary frames)");
	case WS_OP_BINARY:
	case WS_OP_CONT:
		if (h->opcode == WS_OP_BINARY && w->in_message)
			return (int)fail(t, WS_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one");
		if (h->opcode == WS_OP_CONT && !w->in_message)
			return (int)fail(t, WS_CLOSE_PROTOCOL_ERROR, "continuation frame outside a message");
		buf__consume(&w->rin, h->hdr_len);
		w->left = h->len;
		w->in_message = !h->fin;
		return 1;
	default:
		break;
	}
	if (buf__len(&w->rin) < h->hdr_len + h->len) return 0; /* a control frame is handled whole */
	uint8_t p[125];
	memcpy(p, buf__head(&w->rin) + h->hdr_len, (size_t)h->len);
	buf__consume(&w->rin, h->hdr_len + (size_t)h->len);
	if (h->opcode == WS_OP_CLOSE) {
		server_close(t, p, (size_t)h->len);
		return 2;
	}
	if (h->opcode == WS_OP_PING && !w->close_sent && queue_ctl(w, WS_OP_PONG, p, (size_t)h->len)) {
		errno = ENOMEM;
		return -1;
	}
	return 1; /* a pong: nothing to do */
}

static ssize_t wsc_read(struct transport *t, void *out, size_t len)
{
	struct wsc *w = wsc_of(t);
	if (!w->open) {
		errno = EAGAIN;
		return -1;
	}
	if (w->failed) {
		errno = EPROTO;
		return -1;
	}
	if (w->closed) return 0;
	if (flush_ctl(w) < 0) {
		inner_failed(t);
		return -1;
	}
	size_t got = 0;
	for (;;) {
		while (got < len && buf__len(&w->rin)) {
			if (w->left) {
				size_t k = buf__len(&w->rin);
				if (k > w->left) k = (size_t)w->left;
				if (k > len - got) k = len - got;
				memcpy((uint8_t *)out + got, buf__head(&w->rin), k);
				buf__consume(&w->rin, k);
				w->left -= k;
				got += k;
				continue;
			}
			struct ws_frame_hdr h;
			int r = ws__decode_header(buf__head(&w->rin), buf__len(&w->rin), &h);
			if (r == WS_NEED_MORE) break;
			if (r != WS_OK)
				r = (int)fail(t, WS_CLOSE_PROTOCOL_ERROR, "bad frame header from the server");
			else
				r = frame(t, &h);
			if (r == 0) break;
			if (r == 1) continue;
			/* Data already taken goes first; the failure or the end comes at the next read. */
			update_want(t);
			if (got) return (ssize_t)got;
			return r == 2 ? 0 : -1;
		}
		if (buf__len(&w->ctl)) flush_ctl(w);
		update_want(t);
		if (got) return (ssize_t)got;
		ssize_t n = fill(t);
		t->want_write = t->want_write || w->inner.want_write;
		if (n <= 0) return n;
	}
}

/* The next data frame: at most WSC_MAX_FRAME bytes of iov, masked, into w->frame. */
static int new_frame(struct wsc *w, const struct iovec *iov, int iovcnt, size_t total)
{
	if (total > WSC_MAX_FRAME) total = WSC_MAX_FRAME;
	if (!w->frame && !(w->frame = malloc(WS_MAX_HEADER + WSC_MAX_FRAME))) return MIDGE_ERR_NOMEM;
	uint8_t m[4];
	new_mask(w, m);
	size_t hl = ws__encode_header(w->frame, WS_OP_BINARY, true, total, m);
	size_t k = 0;
	for (int i = 0; i < iovcnt && k < total; i++) {
		size_t l = iov[i].iov_len < total - k ? iov[i].iov_len : total - k;
		memcpy(w->frame + hl + k, iov[i].iov_base, l);
		k += l;
	}
	ws__mask(w->frame + hl, total, m, 0);
	w->frame_hdr = hl;
	w->frame_len = hl + total;
	w->frame_sent = 0;
	w->reported = 0;
	return 0;
}

static ssize_t wsc_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct wsc *w = wsc_of(t);
	if (!w->open || w->failed || w->closed) {
		errno = w->open ? EPIPE : EAGAIN;
		return -1;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (!total) return 0;
	if (!w->frame_len) {
		int f = flush_ctl(w);
		update_want(t);
		if (f <= 0) {
			if (f < 0) inner_failed(t);
			if (f == 0) errno = EAGAIN;
			return -1;
		}
		if (new_frame(w, iov, iovcnt, total)) {
			errno = ENOMEM;
			return -1;
		}
	}
	/* The whole rest of the frame is offered each time (TLS wants a retry to offer what it offered before); what
	 * goes past the bytes this call was given is reported by the next calls, which give them again. */
	size_t payload_len = w->frame_len - w->frame_hdr;
	size_t written = w->frame_sent > w->frame_hdr ? w->frame_sent - w->frame_hdr : 0;
	if (written == w->reported && w->frame_sent < w->frame_len) {
		struct iovec v = {w->frame + w->frame_sent, w->frame_len - w->frame_sent};
		ssize_t n = w->inner.ops->writev(&w->inner, &v, 1);
		if (n < 0) {
			inner_failed(t);
			update_want(t);
			return -1;
		}
		w->frame_sent += (size_t)n;
		written = w->frame_sent > w->frame_hdr ? w->frame_sent - w->frame_hdr : 0;
	}
	size_t k = written - w->reported;
	if (k > total) k = total;
	w->reported += k;
	if (w->reported == payload_len) {
		w->frame_len = 0;
		flush_ctl(w);
	}
	update_want(t);
	if (!k) {
		errno = EAGAIN; /* only header bytes went, or none: the socket is full */
		return -1;
	}
	return (ssize_t)k;
}

static void wsc_close(struct transport *t)
{
	struct wsc *w = wsc_of(t);
	if (!w) return;
	/* A goodbye when nothing half-written is in the way; best effort, never waiting. */
	if (w->open && !w->close_sent && !w->frame_len) {
		uint8_t p[2] = {WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xff};
		if (queue_ctl(w, WS_OP_CLOSE, p, 2) == 0) w->close_sent = true;
	}
	if (w->open) flush_ctl(w);
	w->inner.ops->close(&w->inner);
	buf__fini(&w->hs);
	buf__fini(&w->rin);
	buf__fini(&w->ctl);
	free(w->frame);
	free(w);
	*t = (struct transport){.fd = -1};
}

static size_t wsc_pending(struct transport *t)
{
	struct wsc *w = wsc_of(t);
	size_t in = w->inner.ops->pending ? w->inner.ops->pending(&w->inner) : 0;
	return buf__len(&w->rin) + in;
}

static struct transport *wsc_inner(struct transport *t)
{
	return &wsc_of(t)->inner;
}

const struct transport_ops ws_client__ops = {
    .name = "ws-client",
    .read = wsc_read,
    .writev = wsc_writev,
    .close = wsc_close,
    .pending = wsc_pending,
    .inner = wsc_inner,
};

int ws_client__wrap(struct transport *t, const char *host, uint16_t port, bool tls, const char *target)
{
	struct wsc *w = calloc(1, sizeof *w);
	if (!w) return MIDGE_ERR_NOMEM;
	uint8_t key[16];
	if (RAND_bytes(key, sizeof key) != 1 && getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
		memset(key, 0x5a, sizeof key);
	char k64[25];
	EVP_EncodeBlock((unsigned char *)k64, key, sizeof key); /* 24 characters and a NUL */
	ws__accept_key(k64, 24, w->accept);
	size_t cap = strlen(host) + strlen(target) + 256;
	char *req = malloc(cap);
	size_t n = req ? ws_handshake__request(req, cap, host, port, tls, target, k64) : 0;
	if (!n || !w->accept[0] || buf__append(&w->hs, req, n)) {
		free(req);
		buf__fini(&w->hs);
		free(w);
		return MIDGE_ERR_NOMEM;
	}
	free(req);
	w->inner = *t;
	t->ops = &ws_client__ops;
	t->impl = w;
	t->want_write = false;
	t->error = NULL;
	return 0;
}

int ws_client__handshake(struct transport *t)
{
	struct wsc *w = wsc_of(t);
	if (w->open) return 1;
	if (w->failed) {
		errno = EPROTO;
		return -1;
	}
	int f = flush_buf(w, &w->hs);
	t->want_write = f == 0 || w->inner.want_write;
	if (f < 0) {
		inner_failed(t);
		return -1;
	}
	if (f == 0) return 0;
	for (;;) {
		size_t head = 0;
		int r = ws_handshake__check((const char *)buf__head(&w->rin), buf__len(&w->rin), w->accept, &head,
		                            w->why, sizeof w->why);
		if (r == WS_HS_OK) {
			buf__consume(&w->rin, head); /* frames may follow at once */
			w->open = true;
			t->want_write = false;
			return 1;
		}
		if (r == WS_HS_REFUSED) {
			t->error = w->why;
			w->err = MIDGE_ERR_PROTOCOL;
			w->failed = true;
			errno = EPROTO;
			return -1;
		}
		ssize_t n = fill(t);
		t->want_write = w->inner.want_write;
		if (n > 0) continue;
		if (n == 0) {
			snprintf(w->why, sizeof w->why,
			         "WebSocket handshake failed: the server closed the connection without answering "
			         "(not a WebSocket server?)");
			t->error = w->why;
			w->err = MIDGE_ERR_CLOSED;
			w->failed = true;
			errno = EPROTO;
			return -1;
		}
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	}
}

int ws_client__error(const struct transport *t)
{
	if (t->ops != &ws_client__ops || !t->error) return t->error ? MIDGE_ERR_TLS : MIDGE_ERR_IO;
	return wsc_of(t)->err ? wsc_of(t)->err : MIDGE_ERR_PROTOCOL;
}
