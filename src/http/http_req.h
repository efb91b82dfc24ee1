/* A strict parser of one HTTP/1.1 request head (request line and header fields), for the WebSocket
 * upgrade and the web listener's files, and of a response head, for libmidge's WebSocket client: pure,
 * bounded, no allocation; strings are views into the input. */
#ifndef MIDGE_HTTP_REQ_H
#define MIDGE_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADERS 64 /* more header fields than this: HTTP_TOO_LARGE (431) */

struct http_str {
	const char *p;
	size_t len;
};

struct http_header {
	struct http_str name;  /* as sent; compare case-insensitively */
	struct http_str value; /* without the blanks around it; may be empty */
};

struct http_request {
	struct http_str method; /* a token, e.g. "GET" */
	struct http_str target; /* origin-form: starts with '/', no blanks or control characters */
	int version_minor;      /* HTTP/1.<version_minor>: 0 or 1 */
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t head_len; /* bytes of the head, up to and including the empty line */
};

struct http_response {
	int version_minor;      /* HTTP/1.<version_minor>: 0 or 1 */
	int status;             /* the three-digit status code, 100..999 */
	struct http_str reason; /* the reason phrase; may be empty */
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t head_len; /* bytes of the head, up to and including the empty line */
};

enum http_parse {
	HTTP_OK = 0,
	HTTP_NEED_MORE = 1,     /* no empty line yet within max_head bytes */
	HTTP_BAD = -1,          /* malformed request line or header field (400) */
	HTTP_TOO_LARGE = -2,    /* head longer than max_head, or too many header fields (431) */
	HTTP_BAD_VERSION = -3,  /* not HTTP/1.0 or HTTP/1.1 (505) */
};

/* Parses the request head at data[0..len). Lines end with CRLF (a bare LF is accepted, a bare CR is not);
 * header fields are `token ":" OWS value OWS` with visible ASCII, blanks and obs-text (0x80-0xFF) in values;
 * folded lines (starting with a blank) are HTTP_BAD, as RFC 7230 3.2.4 allows. max_head bounds the head's
 * size. On HTTP_OK, req's strings point into data (valid while data is). Bytes after the head are not
 * looked at. */
int http__parse_request(const char *data, size_t len, size_t max_head, struct http_request *req);

/* Parses a response head at data[0..len) as http__parse_request does a request's: the status line is
 * `HTTP/1.x SP 3DIGIT SP reason-phrase` (the SP before an empty reason may be missing, as some servers send);
 * header fields and line ends as for requests. HTTP_BAD also comes as soon as the bytes so far cannot start a
 * response (a peer that is not an HTTP server). On HTTP_OK, resp's strings point into data. */
int http__parse_response(const char *data, size_t len, size_t max_head, struct http_response *resp);

/* The value of the first header field called name (ASCII case-insensitive), or NULL. Owned by req. */
const struct http_str *http__header(const struct http_request *req, const char *name);

/* How many header fields called name there are (a request with two Sec-WebSocket-Key fields is bad). */
size_t http__header_count(const struct http_request *req, const char *name);

/* True when the comma-separated list in value holds token (ASCII case-insensitive, blanks around items
 * ignored): "keep-alive, Upgrade" holds "upgrade". */
bool http__has_token(struct http_str value, const char *token);

/* True when any header field called name holds token in its comma-separated list: a list may be split over
 * several fields of the same name (RFC 7230 3.2.2), e.g. "Connection: keep-alive" then "Connection: Upgrade". */
bool http__header_has_token(const struct http_request *req, const char *name, const char *token);

/* True when the request's method is exactly m (methods are case-sensitive, RFC 7230 3.1.1). */
bool http__method_is(const struct http_request *req, const char *m);

/* %-decodes s[0..len) into out (room for n bytes with the NUL added); other bytes, '+' included, are kept.
 * Returns the decoded length, or -1 for a bad escape, a decoded NUL, or no room. */
long http__pct_decode(const char *s, size_t len, char *out, size_t n);

/* The raw value of query parameter name in target (after '?', `name=value` pairs joined by '&'), or false
 * when there is none. A name without '=' has the empty value. */
bool http__query(struct http_str target, const char *name, struct http_str *value);

/* True when s equals the C string t, ASCII case-insensitively. */
bool http__str_ieq(struct http_str s, const char *t);

#endif
