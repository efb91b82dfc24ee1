/* wsc: WebSocket client transport of midge-bench (upgrade request and answer, client frames). */
#include "wsc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/buf.h"
#include "net/ws_frame.h"

#define WSC_MAX_FRAME (64 * 1024)

struct wsc {
	struct transport inner;
	bool open;
	char accept[29]; /* the Sec-WebSocket-Accept the server must answer */
	struct buf rin;  /* bytes read from inner, not handled yet */
	struct buf out;  /* framed bytes inner has not taken yet */
	uint64_t left;   /* payload bytes left of the current data frame */
	uint64_t rng;
};

/* Mask keys only need to be unpredictable to a proxy, not secret: xorshift seeded from getrandom. */
static void next_mask(struct wsc *w, uint8_t m[4])
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	memcpy(m, &w->rng, 4);
}

static int flush_out(struct wsc *w)
{
	while (buf__len(&w->out)) {
		struct iovec iov = {(void *)buf__head(&w->out), buf__len(&w->out)};
		ssize_t n = w->inner.ops->writev(&w->inner, &iov, 1);
		if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		buf__consume(&w->out, (size_t)n);
	}
	return 1;
}

int wsc__flush(struct transport *t) { return flush_out(t->impl); }

/* Reads what inner has into rin. >0, 0 at end of stream, -1 with errno. */
static ssize_t fill(struct wsc *w)
{
	if (buf__reserve(&w->rin, 64 * 1024)) return errno = ENOMEM, -1;
	ssize_t n = w->inner.ops->read(&w->inner, buf__tail(&w->rin), buf__space(&w->rin));
	if (n > 0) buf__produce(&w->rin, (size_t)n);
	return n;
}

static ssize_t wsc_read(struct transport *t, void *out, size_t len)
{
	struct wsc *w = t->impl;
	if (!w->open) return errno = EAGAIN, -1;
	size_t got = 0;
	for (;;) {
		while (buf__len(&w->rin) && got < len) {
			if (w->left) {
				size_t k = buf__len(&w->rin);
				if (k > w->left) k = (size_t)w->left;
				if (k > len - got) k = len - got;
				memcpy((uint8_t *)out + got, buf__head(&w->rin), k);
				buf__consume(&w->rin, k);
				w->left -= k, got += k;
				continue;
			}
			struct ws_frame_hdr h;
			int r = ws__decode_header(buf__head(&w->rin), buf__len(&w->rin), &h);
			if (r == WS_NEED_MORE) break;
			if (r != WS_OK || h.masked || h.opcode == WS_OP_TEXT) {
				t->error = "WebSocket: bad frame from the server";
				return errno = EPROTO, -1;
			}
			if (h.opcode == WS_OP_BINARY || h.opcode == WS_OP_CONT) {
				buf__consume(&w->rin, h.hdr_len);
				w->left = h.len;
				continue;
			}
			if (buf__len(&w->rin) < h.hdr_len + h.len) break; /* a control frame is handled whole */
			const uint8_t *body = buf__head(&w->rin) + h.hdr_len;
			if (h.opcode == WS_OP_CLOSE) return got ? (ssize_t)got : 0;
			if (h.opcode == WS_OP_PING) {
				uint8_t hdr[WS_MAX_HEADER], m[4];
				next_mask(w, m);
				size_t hl = ws__encode_header(hdr, WS_OP_PONG, true, h.len, m);
				if (buf__append(&w->out, hdr, hl) || buf__append(&w->out, body, (size_t)h.len))
					return errno = ENOMEM, -1;
				ws__mask(buf__tail(&w->out) - h.len, (size_t)h.len, m, 0);
				flush_out(w);
			}
			buf__consume(&w->rin, h.hdr_len + (size_t)h.len);
		}
		if (got) return (ssize_t)got;
		ssize_t n = fill(w);
		if (n <= 0) return n;
	}
}

static ssize_t wsc_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct wsc *w = t->impl;
	int r = flush_out(w);
	if (r < 0) return -1;
	if (!r || !w->open) return errno = EAGAIN, -1;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
	if (total > WSC_MAX_FRAME) total = WSC_MAX_FRAME;
	if (!total) return 0;
	uint8_t hdr[WS_MAX_HEADER], m[4];
	next_mask(w, m);
	size_t hl = ws__encode_header(hdr, WS_OP_BINARY, true, total, m);
	if (buf__reserve(&w->out, hl + total)) return errno = ENOMEM, -1;
	buf__append(&w->out, hdr, hl);
	size_t left = total;
	for (int i = 0; i < iovcnt && left; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
		buf__append(&w->out, iov[i].iov_base, k);
		left -= k;
	}
	ws__mask(buf__tail(&w->out) - total, total, m, 0);
	if (flush_out(w) < 0) return -1;
	return (ssize_t)total;
}

static void wsc_close(struct transport *t)
{
	struct wsc *w = t->impl;
	if (w) {
		w->inner.ops->close(&w->inner);
		buf__fini(&w->rin);
		buf__fini(&w->out);
		free(w);
	}
	t->impl = NULL;
	t->fd = -1;
}

static size_t wsc_pending(struct transport *t)
{
	struct wsc *w = t->impl;
	size_t in = w->inner.ops->pending ? w->inner.ops->pending(&w->inner) : 0;
	return buf__len(&w->rin) + in;
}

static struct transport *wsc_inner(struct transport *t) { return &((struct wsc *)t->impl)->inner; }

const struct transport_ops wsc__ops = {
	.name = "ws-client",
	.read = wsc_read,
	.writev = wsc_writev,
	.close = wsc_close,
	.pending = wsc_pending,
	.inner = wsc_inner,
};

/* Base64 of 16 bytes (the request key). */
static void base64_16(const uint8_t in[16], char out[25])
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (int i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < 16 ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < 16 ? in[i + 2] : 0);
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < 16 ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < 16 ? tab[v & 63] : '=';
	}
	out[o] = 0;
}

int wsc__wrap(struct transport *t, const char *host, uint16_t port, const char *path)
{
	struct wsc *w = calloc(1, sizeof *w);
	if (!w) return -1;
	uint8_t key[16];
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) memset(key, 0x5a, sizeof key);
	if (getrandom(&w->rng, sizeof w->rng, 0) != (ssize_t)sizeof w->rng || !w->rng) w->rng = 0x9E3779B97F4A7C15u;
	char k64[25];
	base64_16(key, k64);
	ws__accept_key(k64, 24, w->accept);
	char req[1024];
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
			 path, v6 ? "[" : "", host, v6 ? "]" : "", port, k64);
	if (n <= 0 || (size_t)n >= sizeof req || buf__append(&w->out, req, (size_t)n)) {
		buf__fini(&w->out);
		free(w);
		return -1;
	}
	w->inner = *t;
	t->ops = &wsc__ops;
	t->impl = w;
	t->want_write = false;
	t->error = NULL;
	return 0;
}

/* Finds a header's value in the answer head (case-insensitive name); NULL when absent. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (!strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t') v++;
			const char *e = strstr(v, "\r\n");
			*vlen = (size_t)(e - v);
			while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t')) (*vlen)--;
			return v;
		}
	}
	return NULL;
}

int wsc__handshake(struct transport *t)
{
	struct wsc *w = t->impl;
	if (w->open) return 1;
	int r = flush_out(w);
	if (r < 0) return -1;
	t->want_write = r == 0;
	if (!r) return 0;
	for (;;) {
		const uint8_t *h = buf__head(&w->rin);
		size_t len = buf__len(&w->rin);
		const uint8_t *end = len >= 4 ? memmem(h, len, "\r\n\r\n", 4) : NULL;
		if (end) {
			size_t hl = (size_t)(end - h) + 4;
			char head[4096];
			if (hl >= sizeof head) break;
			memcpy(head, h, hl);
			head[hl] = 0;
			size_t vl;
			const char *acc = header(head, "Sec-WebSocket-Accept", &vl);
			if (strncmp(head, "HTTP/1.1 101", 12)) {
				t->error = "WebSocket upgrade refused by the server";
				return errno = EPROTO, -1;
			}
			if (!acc || vl != 28 || memcmp(acc, w->accept, 28)) {
				t->error = "WebSocket upgrade: wrong Sec-WebSocket-Accept";
				return errno = EPROTO, -1;
			}
			buf__consume(&w->rin, hl);
			w->open = true;
			return 1;
		}
		if (len > 4096) break;
		ssize_t n = fill(w);
		if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		if (n == 0) {
			t->error = "WebSocket upgrade: connection closed by the server";
			return errno = EPROTO, -1;
		}
	}
	t->error = "WebSocket upgrade: answer head too long";
	return errno = EPROTO, -1;
}
