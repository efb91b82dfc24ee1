/* The dashboard's files, embedded in the binary (api.h, docs/http-api.md), served on a web listener without
 * http_dir. */
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
	/* no-cache: a browser asks again (cheaply) after the broker is upgraded, rather than keep an old page. */
	int rc = http__response_head(out, 200, f->type, f->len, "Cache-Control: no-cache\r\n");
	if (!rc && get) rc = buf__append(out, f->data, f->len);
	return rc ? MIDGE_ERR_NOMEM : 200;
}
