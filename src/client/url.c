/* Parsing of server URLs: scheme, user information, host (IPv6 in brackets), port and, for WebSocket, the path. */
#include "url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"
#include "midge/midge.h"

void url__fini(struct url *u)
{
	free(u->host);
	free(u->username);
	free(u->password);
	free(u->path);
	memset(u, 0, sizeof(*u));
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes p[0..n) into a new NUL-terminated string; *len gets its length. NULL with *rc set on a bad
 * escape (INVAL) or no memory. */
static char *decode(const char *p, size_t n, size_t *len, int *rc)
{
	char *out = malloc(n + 1);
	if (!out) {
		*rc = MIDGE_ERR_NOMEM;
		return NULL;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			out[o++] = p[i];
			continue;
		}
		int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
		int lo = i + 2 < n ? hexval(p[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(out);
			*rc = MIDGE_ERR_INVAL;
			return NULL;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = 0;
	*len = o;
	return out;
}

/* Characters of a host name or IPv4 address (RFC 3986 reg-name without escapes and sub-delims). */
static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '.' || ch == '_';
}

static bool ipv6_char(char ch)
{
	return hexval(ch) >= 0 || ch == ':' || ch == '.';
}

/* Parses "host[:port]" of p[0..n) into u. */
static int parse_hostport(const char *p, size_t n, struct url *u)
{
	const char *host = p, *rest;
	size_t hlen;
	if (n && p[0] == '[') {
		const char *close = memchr(p, ']', n);
		if (!close) return MIDGE_ERR_INVAL;
		host = p + 1;
		hlen = (size_t)(close - host);
		for (size_t i = 0; i < hlen; i++)
			if (!ipv6_char(host[i])) return MIDGE_ERR_INVAL;
		rest = close + 1;
	} else {
		hlen = 0;
		while (hlen < n && p[hlen] != ':')
			hlen++;
		for (size_t i = 0; i < hlen; i++)
			if (!host_char(host[i])) return MIDGE_ERR_INVAL;
		rest = p + hlen;
	}
	if (hlen == 0) return MIDGE_ERR_INVAL;
	size_t rlen = (size_t)(p + n - rest);
	u->port = u->ws ? (u->tls ? URL_WSS_PORT : URL_WS_PORT) : u->tls ? URL_TLS_PORT : URL_DEFAULT_PORT;
	if (rlen) {
		/* ":" then 1..5 digits naming 1..65535 */
		if (rest[0] != ':' || rlen < 2 || rlen > 6) return MIDGE_ERR_INVAL;
		unsigned port = 0;
		for (size_t i = 1; i < rlen; i++) {
			if (rest[i] < '0' || rest[i] > '9') return MIDGE_ERR_INVAL;
			port = port * 10 + (unsigned)(rest[i] - '0');
		}
		if (port == 0 || port > 65535) return MIDGE_ERR_INVAL;
		u->port = (uint16_t)port;
	}
	u->host = strndup(host, hlen);
	return u->host ? 0 : MIDGE_ERR_NOMEM;
}

/* Parses "user[:password]" of p[0..n) into u. The user name must be what MQTT carries: valid UTF-8. */
static int parse_userinfo(const char *p, size_t n, struct url *u)
{
	const char *colon = memchr(p, ':', n);
	size_t ulen = colon ? (size_t)(colon - p) : n, len;
	int rc = 0;
	u->username = decode(p, ulen, &len, &rc);
	if (!u->username) return rc;
	if (!utf8__valid((const uint8_t *)u->username, len)) return MIDGE_ERR_INVAL;
	if (colon) {
		u->password = decode(colon + 1, n - ulen - 1, &u->password_len, &rc);
		if (!u->password) return rc;
	}
	return 0;
}

/* The request target of a ws(s) URL: p[0..n) from its '/' (or '?') on, sent as written in the GET line, so
 * only visible ASCII, and no fragment (which is never sent). NULL with *rc set when refused or out of memory. */
static char *ws_target(const char *p, size_t n, int *rc)
{
	if (n == 0) {
		p = URL_WS_PATH;
		n = strlen(URL_WS_PATH);
	}
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7F || p[i] == '#') {
			*rc = MIDGE_ERR_INVAL;
			return NULL;
		}
	/* "ws://h?x" has a query but no path: the target still starts with '/' (RFC 3986 6.2.3). */
	char *t = malloc(n + 2);
	if (!t) {
		*rc = MIDGE_ERR_NOMEM;
		return NULL;
	}
	size_t o = 0;
	if (p[0] != '/') t[o++] = '/';
	memcpy(t + o, p, n);
	t[o + n] = 0;
	return t;
}

static int parse(const char *s, struct url *u)
{
	const char *sep = strstr(s, "://");
	if (sep) {
		size_t slen = (size_t)(sep - s);
		static const struct {
			const char *name;
			bool tls, ws;
		} schemes[] = {{"mqtt", false, false},
		               {"mqtts", true, false},
		               {"ssl", true, false},
		               {"ws", false, true},
		               {"wss", true, true}};
		size_t i = 0, n = sizeof schemes / sizeof schemes[0];
		while (i < n && (slen != strlen(schemes[i].name) || strncasecmp(s, schemes[i].name, slen) != 0))
			i++;
		if (i == n) return MIDGE_ERR_INVAL;
		u->tls = schemes[i].tls;
		u->ws = schemes[i].ws;
		s = sep + 3;
	}
	/* The authority ends at a path, which over MQTT may only be "/" (MQTT has no use for one). */
	size_t alen = strcspn(s, "/?#");
	if (u->ws) {
		int rc = 0;
		u->path = ws_target(s + alen, strlen(s + alen), &rc);
		if (!u->path) return rc;
	} else if (s[alen] && strcmp(s + alen, "/") != 0) {
		return MIDGE_ERR_INVAL;
	}
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (s[i] == '@') at = s + i; /* the last one: a password may hold '@' only escaped, but be lenient */
	if (at) {
		int rc = parse_userinfo(s, (size_t)(at - s), u);
		if (rc) return rc;
		alen -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	return parse_hostport(s, alen, u);
}

int url__parse(const char *s, struct url *u)
{
	memset(u, 0, sizeof(*u));
	if (!s || !*s) return MIDGE_ERR_INVAL;
	int rc = parse(s, u);
	if (rc) url__fini(u);
	return rc;
}
