/* Status responses and http_dir files. See http_static.h. */
#include "http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "midge/midge.h"

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

int http__response_head(struct buf *out, int status, const char *type, size_t len, const char *extra)
{
	char h[512];
	int n = snprintf(h, sizeof(h),
			 "HTTP/1.1 %d %s\r\nServer: midge\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n%s\r\n",
			 status, reason(status), type, len, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(h)) return MIDGE_ERR_INVAL;
	return buf__append(out, h, (size_t)n);
}

int http__status_response(struct buf *out, int status, const char *extra_headers)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	int rc = http__response_head(out, status, "text/plain; charset=utf-8", (size_t)n, extra_headers);
	return rc ? rc : buf__append(out, body, (size_t)n);
}

static const char *mime_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"}, {".json", "application/json"},
	    {".map", "application/json"}, {".svg", "image/svg+xml"},
	    {".png", "image/png"}, {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
	    {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
	    {".wasm", "application/wasm"}, {".woff2", "font/woff2"},
	};
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcasecmp(dot, types[i].ext)) return types[i].type;
	return "application/octet-stream";
}

/* The target's path, %-decoded, into out. False when it holds a NUL, a bad escape, a backslash or a ".."
 * segment: none of them names a file under dir. */
static bool decode_path(struct http_str target, char *out, size_t n)
{
	size_t len = target.len;
	const char *q = memchr(target.p, '?', len);
	if (q) len = (size_t)(q - target.p);
	if (http__pct_decode(target.p, len, out, n) < 0 || strchr(out, '\\')) return false;
	if (out[0] != '/') return false;
	for (const char *s = out; (s = strstr(s, "..")); s += 2)
		if (s[-1] == '/' && (s[2] == '/' || s[2] == 0)) return false;
	return true;
}

/* Opens the file at path (already known to lie under the served directory) for reading. Status 200 (fd and
 * size set), 403 or 404. */
static int open_file(const char *path, int *fd, uint64_t *size)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0) return errno == EACCES ? 403 : 404;
	struct stat st;
	if (fstat(*fd, &st) || !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return 404;
	}
	*size = (uint64_t)st.st_size;
	return 200;
}

/* A status response; returns the status, or MIDGE_ERR_NOMEM. */
static int respond(struct buf *out, int status, const char *extra)
{
	int rc = http__status_response(out, status, extra);
	return rc ? rc : status;
}

int http__serve_file(struct buf *out, const char *dir, const struct http_request *req, int *body_fd,
		     uint64_t *body_len)
{
	*body_fd = -1;
	*body_len = 0;
	bool get = http__method_is(req, "GET"), is_head = http__method_is(req, "HEAD");
	if (!get && !is_head) return respond(out, 405, "Allow: GET, HEAD\r\n");
	char path[PATH_MAX], full[PATH_MAX * 2], root[PATH_MAX], real[PATH_MAX];
	if (!dir || !decode_path(req->target, path, sizeof(path)) || !realpath(dir, root))
		return respond(out, 404, NULL);
	snprintf(full, sizeof(full), "%s%s", root, path);
	struct stat st;
	if (!stat(full, &st) && S_ISDIR(st.st_mode))
		snprintf(full + strlen(full), sizeof(full) - strlen(full), "%sindex.html",
			 full[strlen(full) - 1] == '/' ? "" : "/");
	/* A link may not lead out of the served directory. */
	size_t rl = strlen(root);
	if (!realpath(full, real) || strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != 0))
		return respond(out, 404, NULL);
	int fd;
	uint64_t size;
	int status = open_file(real, &fd, &size);
	if (status != 200) return respond(out, status, NULL);
	int rc = http__response_head(out, 200, mime_type(real), (size_t)size, "Cache-Control: no-cache\r\n");
	if (rc || !get) {
		close(fd);
		return rc ? rc : 200;
	}
	*body_fd = fd;
	*body_len = size;
	return 200;
}
