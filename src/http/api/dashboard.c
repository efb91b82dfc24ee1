/* The dashboard's files, embedded in the binary (api.h, docs/http-api.md), served on a web listener without
 * http_dir. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "http/http_static.h"
#include "midge/midge.h"

const struct dashboard_file *dashboard__find(const char *path, size_t len)
{
	if (len == 1 && path[0] == '/') path = "/index.html", len = strlen(path);
	for (size_t i = 0; i < dashboard__nfiles; i++) {
		const struct dashboard_file *f = &dashboard__files[i];
		if (strlen(f->path) == len && !memcmp(f->path, path, len)) return f;
	}
	return NULL;
}

/* True when an If-None-Match value v names etag: "*", or one of its comma-separated entity tags (a weak W/ one
 * too: the comparison for If-None-Match is the weak one, RFC 9110 13.1.2). */
static bool etag_matches(const struct http_str *v, const char *etag)
{
	if (!v) return false;
	size_t n = strlen(etag);
	const char *p = v->p, *end = v->p + v->len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *s = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		size_t len = (size_t)(p - s);
		if (len >= 2 && s[0] == 'W' && s[1] == '/') s += 2, len -= 2;
		if ((len == 1 && *s == '*') || (len == n && !memcmp(s, etag, n))) return true;
	}
	return false;
}

/* A status response; returns the status, or MIDGE_ERR_NOMEM. */
static int respond(struct buf *out, int status, const char *extra)
{
	int rc = http__status_response(out, status, extra);
	return rc ? rc : status;
}

int dashboard__serve(const struct http_request *rq, struct buf *out)
{
	bool get = http__method_is(rq, "GET");
	if (!get && !http__method_is(rq, "HEAD")) return respond(out, 405, "Allow: GET, HEAD\r\n");
	const char *q = memchr(rq->target.p, '?', rq->target.len);
	size_t plen = q ? (size_t)(q - rq->target.p) : rq->target.len;
	const struct dashboard_file *f = dashboard__find(rq->target.p, plen);
	if (!f) return respond(out, 404, NULL);
	/* no-cache with an ETag: a browser asks each time, and is told 304 without the bytes until the broker (and so
	 * the file) changes. */
	char extra[128];
	snprintf(extra, sizeof(extra), "Cache-Control: no-cache\r\nETag: %s\r\n", f->etag);
	int status = etag_matches(http__header(rq, "If-None-Match"), f->etag) ? 304 : 200;
	/* A 304's Content-Length is the one a 200 would have (RFC 9110 8.6); it has no body. */
	int rc = http__response_head(out, status, f->type, f->len, extra);
	if (!rc && get && status == 200) rc = buf__append(out, f->data, f->len);
	return rc ? MIDGE_ERR_NOMEM : status;
}
