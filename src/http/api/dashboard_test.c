/* Unit tests of the dashboard's embedded files (dashboard.c, on the generated dashboard_files.c): what is
 * found at which path, and the responses to GET, HEAD, other methods and unknown paths. */
#include <string.h>

#include "../../../tests/unit/check.h"
#include "http/api/api.h"
#include "http/http_req.h"

/* The response to the request head s, in out (emptied first); returns the status dashboard__serve gave. */
static int serve(const char *s, struct buf *out)
{
	struct http_request rq;
	buf__fini(out);
	CHECK_EQ(http__parse_request(s, strlen(s), 8192, &rq), HTTP_OK);
	return dashboard__serve(&rq, out);
}

/* True when the response in out starts with the status line of status and holds the header line h. */
static bool response_has(const struct buf *out, int status, const char *h)
{
	char line[32];
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
	const char *p = (const char *)buf__head(out);
	size_t n = buf__len(out);
	return n > strlen(line) && !memcmp(p, line, strlen(line)) && memmem(p, n, h, strlen(h)) != NULL;
}

/* The body of the response in out: what follows the empty line. */
static size_t body_len(const struct buf *out, const char **body)
{
	const char *p = (const char *)buf__head(out);
	const char *end = memmem(p, buf__len(out), "\r\n\r\n", 4);
	if (!end) return (size_t)-1;
	*body = end + 4;
	return buf__len(out) - (size_t)(*body - p);
}

static void test_find(void)
{
	const struct dashboard_file *index = dashboard__find("/index.html", 11);
	CHECK(index != NULL);
	CHECK(dashboard__find("/", 1) == index);
	CHECK(index && !strcmp(index->type, "text/html; charset=utf-8") && index->len > 100);
	CHECK(index && memmem(index->data, index->len, "app.js", 6) != NULL);
	static const char *const paths[] = {"/app.js", "/style.css", "/mqtt.min.js", "/uPlot.iife.min.js",
	                                    "/uPlot.min.css"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct dashboard_file *f = dashboard__find(paths[i], strlen(paths[i]));
		CHECK(f != NULL && f->len > 0);
	}
	CHECK(dashboard__find("/app.js", 7) &&
	      !strcmp(dashboard__find("/app.js", 7)->type, "text/javascript; charset=utf-8"));
	CHECK(dashboard__find("/uPlot.min.css", 14) &&
	      !strcmp(dashboard__find("/uPlot.min.css", 14)->type, "text/css; charset=utf-8"));
	/* Only whole paths: no prefix, no longer one, no directory of the sources. */
	CHECK(dashboard__find("/app.j", 6) == NULL);
	CHECK(dashboard__find("/app.js/", 8) == NULL);
	CHECK(dashboard__find("/web/app.js", 11) == NULL);
	CHECK(dashboard__find("", 0) == NULL);
	CHECK(dashboard__find("//", 2) == NULL);
	/* The length is what counts, not a NUL. */
	CHECK(dashboard__find("/app.jsX", 7) != NULL);
}

static void test_serve(void)
{
	struct buf out = {0};
	const struct dashboard_file *index = dashboard__find("/", 1);
	const char *body;
	char cl[64];
	snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", index->len);

	CHECK_EQ(serve("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &out), 200);
	CHECK(response_has(&out, 200, "Content-Type: text/html; charset=utf-8\r\n"));
	CHECK(response_has(&out, 200, "Cache-Control: no-cache\r\n"));
	CHECK(response_has(&out, 200, cl));
	CHECK(body_len(&out, &body) == index->len && !memcmp(body, index->data, index->len));

	/* A query does not change the file. */
	CHECK_EQ(serve("GET /index.html?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", &out), 200);
	CHECK(body_len(&out, &body) == index->len);

	CHECK_EQ(serve("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", &out), 200);
	CHECK(response_has(&out, 200, cl));
	CHECK(body_len(&out, &body) == 0);

	/* The ETag, and 304 without the body when the browser has it. */
	char etag[64], req[256];
	CHECK(index->etag[0] == '"' && strlen(index->etag) == 22 && index->etag[21] == '"');
	snprintf(etag, sizeof(etag), "ETag: %s\r\n", index->etag);
	CHECK_EQ(serve("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &out), 200);
	CHECK(response_has(&out, 200, etag));
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", index->etag);
	CHECK_EQ(serve(req, &out), 304);
	CHECK(response_has(&out, 304, etag));
	CHECK(body_len(&out, &body) == 0);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"old\", W/%s\r\n\r\n", index->etag);
	CHECK_EQ(serve(req, &out), 304);
	CHECK_EQ(serve("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n", &out), 304);
	CHECK_EQ(serve("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"old\"\r\n\r\n", &out), 200);
	CHECK(body_len(&out, &body) == index->len);
	/* Another file's tag is not this one's. */
	snprintf(req, sizeof(req), "GET /app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", index->etag);
	CHECK_EQ(serve(req, &out), 200);

	CHECK_EQ(serve("POST /app.js HTTP/1.1\r\nHost: x\r\n\r\n", &out), 405);
	CHECK(response_has(&out, 405, "Allow: GET, HEAD\r\n"));
	CHECK_EQ(serve("get / HTTP/1.1\r\nHost: x\r\n\r\n", &out), 405);

	CHECK_EQ(serve("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", &out), 404);
	CHECK(response_has(&out, 404, "Content-Type: text/plain"));
	CHECK_EQ(serve("GET /%61pp.js HTTP/1.1\r\nHost: x\r\n\r\n", &out), 404);
	buf__fini(&out);
}

int main(void)
{
	test_find();
	test_serve();
	CHECK_DONE();
}
