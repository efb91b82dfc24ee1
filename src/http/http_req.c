/* The strict HTTP/1.1 request- and response-head parsers (RFC 7230 sections 3, 3.1, 3.2, 5.3.1): see
 * http_req.h. */
#include "http_req.h"

#include <string.h>

static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

/* RFC 7230 3.2.6 tchar. */
static bool is_tchar(unsigned char c)
{
	if (is_alpha(c) || is_digit(c)) return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte of a field value (RFC 7230 3.2: VCHAR, SP, HTAB, obs-text). */
static bool is_value_char(unsigned char c) { return (c >= 0x20 && c != 0x7F) || c == '\t'; }

/* A byte of an origin-form target: visible ASCII only; RFC 3986 admits no raw octets past 0x7E. Finer URI
 * grammar is left to whoever maps the path, as servers differ on raw '|' or '{' and browsers send them. */
static bool is_target_char(unsigned char c) { return c > 0x20 && c < 0x7F; }

/* What the first line of a head is, or LINE_FIELD for the lines after it. */
enum first_line { LINE_REQUEST, LINE_STATUS, LINE_FIELD };

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }

/* Request line: method SP request-target SP HTTP-version, exactly one SP between (RFC 7230 3.1.1). */
static int parse_request_line(const unsigned char *p, size_t n, struct http_request *req)
{
	size_t i = 0;
	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ') return HTTP_BAD;
	req->method = (struct http_str){(const char *)p, i};

	size_t t = ++i;
	while (i < n && is_target_char(p[i]))
		i++;
	/* Only origin-form: absolute-form is for proxies, authority-form for CONNECT, '*' for OPTIONS. */
	if (i == t || p[t] != '/' || i == n || p[i] != ' ') return HTTP_BAD;
	req->target = (struct http_str){(const char *)p + t, i - t};

	const unsigned char *v = p + i + 1;
	if (n - i - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
		return HTTP_BAD;
	/* Well-formed but another version: 505, so a client learns why rather than seeing a bare 400. */
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return HTTP_BAD_VERSION;
	req->version_minor = v[7] - '0';
	return HTTP_OK;
}

/* Status line: HTTP-version SP status-code SP reason-phrase (RFC 7230 3.1.2). */
static int parse_status_line(const unsigned char *p, size_t n, struct http_response *resp)
{
	if (n < 12 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]) || p[8] != ' ')
		return HTTP_BAD;
	if (!is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]) || p[9] == '0') return HTTP_BAD;
	if (n > 12 && p[12] != ' ') return HTTP_BAD;
	for (size_t i = 13; i < n; i++)
		if (!is_value_char(p[i])) return HTTP_BAD;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) return HTTP_BAD_VERSION;
	resp->version_minor = p[7] - '0';
	resp->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	resp->reason = (struct http_str){(const char *)p + (n > 13 ? 13 : n), n > 13 ? n - 13 : 0};
	return HTTP_OK;
}

/* Header field: field-name ":" OWS field-value OWS; no blank before the colon (RFC 7230 3.2.4, a request
 * smuggling vector) and no obs-fold, which shows up here as a line starting with a blank. */
static int parse_field(const unsigned char *p, size_t n, struct http_header *h)
{
	size_t i = 0;
	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ':') return HTTP_BAD;
	h->name = (struct http_str){(const char *)p, i};
	for (size_t k = i + 1; k < n; k++)
		if (!is_value_char(p[k])) return HTTP_BAD;
	size_t b = i + 1, e = n;
	while (b < e && is_blank(p[b]))
		b++;
	while (e > b && is_blank(p[e - 1]))
		e--;
	h->value = (struct http_str){(const char *)p + b, e - b};
	return HTTP_OK;
}

/* False when the start of a line p[0..n), whose end has not arrived, already holds a byte no complete line
 * could: so a peer speaking something else (say MQTT to a WebSocket port) is refused at once instead of
 * after max_head bytes or a timeout. Accepts only what parse_request_line / parse_status_line / parse_field
 * might still accept. */
static bool plausible_prefix(const unsigned char *p, size_t n, enum first_line first)
{
	if (n == 0) return true;
	if (first == LINE_STATUS && memcmp(p, "HTTP/", n < 5 ? n : 5) != 0) return false;
	if (first == LINE_REQUEST ? !is_tchar(p[0]) : is_blank(p[0])) return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c == '\r') {
			if (i + 1 < n) return false; /* a CR can only be the first half of a line end */
		} else if (first == LINE_REQUEST ? (c <= 0x20 && c != ' ') || c >= 0x7F : !is_value_char(c)) {
			return false;
		}
	}
	return true;
}

/* Splits a head into its lines: the first goes to parse_request_line or parse_status_line (into req or resp),
 * the others are header fields, into headers (HTTP_MAX_HEADERS of them at most, counted in *nheaders). */
static int parse_head(const char *data, size_t len, size_t max_head, enum first_line first, struct http_request *req,
		      struct http_response *resp, struct http_header *headers, size_t *nheaders, size_t *head_len)
{
	const unsigned char *p = (const unsigned char *)data;
	/* Nothing past max_head is looked at: the head, empty line included, must fit in it. */
	size_t limit = len < max_head ? len : max_head;
	size_t pos = 0;
	*nheaders = 0;
	*head_len = 0;
	for (;;) {
		const unsigned char *lf = limit > pos ? memchr(p + pos, '\n', limit - pos) : NULL;
		if (!lf) {
			if (!plausible_prefix(p + pos, limit - pos, pos == 0 ? first : LINE_FIELD)) return HTTP_BAD;
			return len >= max_head ? HTTP_TOO_LARGE : HTTP_NEED_MORE;
		}
		size_t next = (size_t)(lf - p) + 1, end = next - 1;
		if (end > pos && p[end - 1] == '\r') end--;
		int rc;
		if (pos == 0) {
			rc = first == LINE_REQUEST ? parse_request_line(p, end, req) : parse_status_line(p, end, resp);
		} else if (end == pos) {
			*head_len = next;
			return HTTP_OK;
		} else {
			struct http_header h;
			rc = parse_field(p + pos, end - pos, &h);
			if (rc == HTTP_OK) {
				if (*nheaders == HTTP_MAX_HEADERS) return HTTP_TOO_LARGE;
				headers[(*nheaders)++] = h;
			}
		}
		if (rc != HTTP_OK) return rc;
		pos = next;
	}
}

int http__parse_request(const char *data, size_t len, size_t max_head, struct http_request *req)
{
	return parse_head(data, len, max_head, LINE_REQUEST, req, NULL, req->headers, &req->nheaders, &req->head_len);
}

int http__parse_response(const char *data, size_t len, size_t max_head, struct http_response *resp)
{
	return parse_head(data, len, max_head, LINE_STATUS, NULL, resp, resp->headers, &resp->nheaders,
	                  &resp->head_len);
}

bool http__str_ieq(struct http_str s, const char *t)
{
	size_t n = strlen(t);
	if (s.len != n) return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) != lower((unsigned char)t[i])) return false;
	return true;
}

const struct http_str *http__header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (http__str_ieq(req->headers[i].name, name)) return &req->headers[i].value;
	return NULL;
}

size_t http__header_count(const struct http_request *req, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < req->nheaders; i++)
		if (http__str_ieq(req->headers[i].name, name)) n++;
	return n;
}

bool http__has_token(struct http_str value, const char *token)
{
	size_t i = 0;
	while (i <= value.len) {
		size_t e = i;
		while (e < value.len && value.p[e] != ',')
			e++;
		size_t b = i, z = e;
		while (b < z && is_blank((unsigned char)value.p[b]))
			b++;
		while (z > b && is_blank((unsigned char)value.p[z - 1]))
			z--;
		/* Empty items ("a,,b") are allowed by RFC 7230 7 and match nothing. */
		if (z > b && http__str_ieq((struct http_str){value.p + b, z - b}, token)) return true;
		i = e + 1;
	}
	return false;
}

bool http__header_has_token(const struct http_request *req, const char *name, const char *token)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (http__str_ieq(req->headers[i].name, name) && http__has_token(req->headers[i].value, token)) return true;
	return false;
}

bool http__method_is(const struct http_request *req, const char *m)
{
	return req->method.len == strlen(m) && memcmp(req->method.p, m, req->method.len) == 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

long http__pct_decode(const char *s, size_t len, char *out, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1, lo = hi >= 0 ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == 0 || o + 1 >= n) return -1;
		out[o++] = c;
	}
	if (n) out[o] = 0;
	return n ? (long)o : -1;
}

bool http__query(struct http_str target, const char *name, struct http_str *value)
{
	const char *q = memchr(target.p, '?', target.len);
	if (!q) return false;
	const char *p = q + 1, *end = target.p + target.len;
	size_t nl = strlen(name);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *ke = eq ? eq : e;
		if ((size_t)(ke - p) == nl && !memcmp(p, name, nl)) {
			*value = eq ? (struct http_str){eq + 1, (size_t)(e - eq - 1)} : (struct http_str){e, 0};
			return true;
		}
		p = e + 1;
	}
	return false;
}
