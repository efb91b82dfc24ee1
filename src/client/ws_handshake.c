/* The WebSocket upgrade request of libmidge and the check of the answer: see ws_handshake.h. */
#include "ws_handshake.h"

#include <stdio.h>
#include <string.h>

#include "http/http_req.h"

size_t ws_handshake__request(char *out, size_t n, const char *host, uint16_t port, bool tls, const char *target,
                             const char *key)
{
	bool v6 = strchr(host, ':') != NULL;
	char portpart[8] = "";
	if (port != (tls ? 443 : 80)) snprintf(portpart, sizeof portpart, ":%u", port);
	int k = snprintf(out, n,
	                 "GET %s HTTP/1.1\r\n"
	                 "Host: %s%s%s%s\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n"
	                 "Sec-WebSocket-Protocol: mqtt\r\n"
	                 "\r\n",
	                 target, v6 ? "[" : "", host, v6 ? "]" : "", portpart, key);
	return k > 0 && (size_t)k < n ? (size_t)k : 0;
}

/* The fields called name in resp: how many, and the value of the first in *first. */
static size_t fields(const struct http_response *resp, const char *name, struct http_str *first)
{
	size_t count = 0;
	for (size_t i = 0; i < resp->nheaders; i++) {
		if (!http__str_ieq(resp->headers[i].name, name)) continue;
		if (!count && first) *first = resp->headers[i].value;
		count++;
	}
	return count;
}

/* True when some field called name holds token in its comma-separated list. */
static bool has_token(const struct http_response *resp, const char *name, const char *token)
{
	for (size_t i = 0; i < resp->nheaders; i++)
		if (http__str_ieq(resp->headers[i].name, name) && http__has_token(resp->headers[i].value, token))
			return true;
	return false;
}

/* s as printable ASCII for a log line: other bytes become '?', at most 80 of them. */
static void printable(struct http_str s, char *out, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < s.len && i < 80 && k + 1 < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		out[k++] = c >= 0x20 && c < 0x7F ? (char)c : '?';
	}
	if (n) out[k] = 0;
}

static int refuse(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "WebSocket handshake failed: %s", what);
	return WS_HS_REFUSED;
}

int ws_handshake__check(const char *data, size_t len, const char *accept, size_t *head_len, char *why, size_t whylen)
{
	struct http_response resp;
	int r = http__parse_response(data, len, WS_HANDSHAKE_MAX_HEAD, &resp);
	if (r == HTTP_NEED_MORE) return WS_HS_NEED_MORE;
	if (r == HTTP_TOO_LARGE) return refuse(why, whylen, "the answer's head is too large");
	if (r != HTTP_OK) return refuse(why, whylen, "the answer is not HTTP/1.x (not a WebSocket server?)");
	if (resp.status != 101) {
		char reason[96];
		printable(resp.reason, reason, sizeof reason);
		snprintf(why, whylen, "WebSocket handshake refused: HTTP %d%s%s", resp.status, *reason ? " " : "",
		         reason);
		return WS_HS_REFUSED;
	}
	if (resp.version_minor != 1) return refuse(why, whylen, "101 over HTTP/1.0");
	if (!has_token(&resp, "Upgrade", "websocket"))
		return refuse(why, whylen, "no Upgrade: websocket in the answer");
	if (!has_token(&resp, "Connection", "upgrade"))
		return refuse(why, whylen, "no Connection: Upgrade in the answer");
	struct http_str v = {0};
	size_t n = fields(&resp, "Sec-WebSocket-Accept", &v);
	if (n == 0) return refuse(why, whylen, "no Sec-WebSocket-Accept in the answer");
	if (n > 1 || v.len != strlen(accept) || memcmp(v.p, accept, v.len) != 0)
		return refuse(why, whylen, "wrong Sec-WebSocket-Accept");
	if (fields(&resp, "Sec-WebSocket-Extensions", NULL))
		return refuse(why, whylen, "the server chose an extension that was not offered");
	/* RFC 6455 4.1: a server that names no subprotocol has agreed to none; browsers then fail the connection, and
	 * so does this client: a broker that does not say mqtt may not speak it either. */
	n = fields(&resp, "Sec-WebSocket-Protocol", &v);
	if (n == 0) return refuse(why, whylen, "the server did not accept the subprotocol mqtt");
	if (n > 1 || !(v.len == 4 && memcmp(v.p, "mqtt", 4) == 0)) {
		char proto[96];
		printable(v, proto, sizeof proto);
		snprintf(why, whylen, "WebSocket handshake failed: the server chose the subprotocol '%s', not mqtt",
		         n > 1 ? "(several)" : proto);
		return WS_HS_REFUSED;
	}
	*head_len = resp.head_len;
	return WS_HS_OK;
}
