/* Unit tests of the HTTP head parsers (http_req.c): real upgrade requests, every refusal, the limits; and
 * upgrade responses as Midge, Mosquitto and a refusing server send them. */
#include <string.h>

#include "../../tests/unit/check.h"
#include "http/http_req.h"

static struct http_request req;

static int parse_n(const char *s, size_t n, size_t max) { return http__parse_request(s, n, max, &req); }
static int parse(const char *s) { return parse_n(s, strlen(s), 8192); }
/* For literals with a NUL inside. */
#define PARSE_LIT(s) parse_n(s, sizeof(s) - 1, 8192)

static bool str_is(struct http_str s, const char *t) { return s.len == strlen(t) && memcmp(s.p, t, s.len) == 0; }

/* The value of header name is exactly v (case-sensitive compare of the value). */
static bool header_is(const char *name, const char *v)
{
	const struct http_str *s = http__header(&req, name);
	return s && str_is(*s, v);
}

/* Every proper prefix of a complete head is HTTP_NEED_MORE, and the head parses as OK from its own bytes. */
static void check_prefixes(const char *s)
{
	size_t n = strlen(s);
	int bad = 0;
	for (size_t k = 0; k < n; k++)
		if (parse_n(s, k, 8192) != HTTP_NEED_MORE) bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(parse_n(s, n, 8192), HTTP_OK);
	CHECK_EQ(req.head_len, n);
}

static const char chromium[] = "GET /mqtt HTTP/1.1\r\n"
			       "Host: localhost:8080\r\n"
			       "Connection: Upgrade\r\n"
			       "Pragma: no-cache\r\n"
			       "Cache-Control: no-cache\r\n"
			       "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
			       "Chrome/120.0.0.0 Safari/537.36\r\n"
			       "Upgrade: websocket\r\n"
			       "Origin: http://localhost:8080\r\n"
			       "Sec-WebSocket-Version: 13\r\n"
			       "Accept-Encoding: gzip, deflate, br\r\n"
			       "Accept-Language: en-US,en;q=0.9\r\n"
			       "Cookie: _ga=GA1.1.2046712946.1700000000; session=\"a b\"\r\n"
			       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			       "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
			       "Sec-WebSocket-Protocol: mqtt\r\n"
			       "\r\n";

static const char firefox[] = "GET /ws?client=dash&v=2 HTTP/1.1\r\n"
			      "Host: broker.example.org\r\n"
			      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
			      "Accept: */*\r\n"
			      "Accept-Language: en-US,en;q=0.5\r\n"
			      "Accept-Encoding: gzip, deflate, br\r\n"
			      "Sec-WebSocket-Version: 13\r\n"
			      "Origin: https://broker.example.org\r\n"
			      "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n"
			      "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			      "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
			      "DNT: 1\r\n"
			      "Connection: keep-alive, Upgrade\r\n"
			      "Sec-Fetch-Dest: empty\r\n"
			      "Sec-Fetch-Mode: websocket\r\n"
			      "Sec-Fetch-Site: same-origin\r\n"
			      "Pragma: no-cache\r\n"
			      "Cache-Control: no-cache\r\n"
			      "Upgrade: websocket\r\n"
			      "\r\n";

/* MQTT.js in Node.js, through the ws package. */
static const char mqttjs[] = "GET /mqtt HTTP/1.1\r\n"
			     "Sec-WebSocket-Version: 13\r\n"
			     "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
			     "Connection: Upgrade\r\n"
			     "Upgrade: websocket\r\n"
			     "Sec-WebSocket-Protocol: mqtt\r\n"
			     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
			     "Host: 127.0.0.1:9001\r\n"
			     "\r\n";

/* Eclipse Paho's Java client (WebSocketHandshake) and Python client (which spells Sec-Websocket-*). */
static const char paho_java[] = "GET /mqtt HTTP/1.1\r\n"
				"Host: 127.0.0.1:9001\r\n"
				"Upgrade: websocket\r\n"
				"Connection: Upgrade\r\n"
				"Sec-WebSocket-Key: 9y7xR4Dt0FmW8Ky+zrVbpg==\r\n"
				"Sec-WebSocket-Protocol: mqtt\r\n"
				"Sec-WebSocket-Version: 13\r\n"
				"\r\n";
static const char paho_python[] = "GET /mqtt HTTP/1.1\r\n"
				  "Host: 127.0.0.1:9001\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "Origin: https://127.0.0.1:9001\r\n"
				  "Sec-WebSocket-Key: 1hRk6VqVq7W1mJ0yq+7Wmw==\r\n"
				  "Sec-Websocket-Version: 13\r\n"
				  "Sec-Websocket-Protocol: mqtt\r\n"
				  "\r\n";

static void test_clients(void)
{
	CHECK_EQ(parse(chromium), HTTP_OK);
	CHECK(str_is(req.method, "GET") && str_is(req.target, "/mqtt") && req.version_minor == 1);
	CHECK_EQ(req.nheaders, 14);
	CHECK_EQ(req.head_len, strlen(chromium));
	CHECK(header_is("host", "localhost:8080"));
	CHECK(header_is("UPGRADE", "websocket"));
	CHECK(header_is("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(header_is("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"));
	CHECK(header_is("Cookie", "_ga=GA1.1.2046712946.1700000000; session=\"a b\""));
	CHECK(http__has_token(*http__header(&req, "Connection"), "upgrade"));
	CHECK(http__has_token(*http__header(&req, "Sec-WebSocket-Protocol"), "mqtt"));
	CHECK_EQ(http__header_count(&req, "Sec-WebSocket-Key"), 1);
	CHECK(str_is(req.headers[0].name, "Host") && str_is(req.headers[13].name, "Sec-WebSocket-Protocol"));
	check_prefixes(chromium);

	CHECK_EQ(parse(firefox), HTTP_OK);
	CHECK(str_is(req.target, "/ws?client=dash&v=2"));
	CHECK_EQ(req.nheaders, 18);
	CHECK(header_is("accept", "*/*"));
	CHECK(http__has_token(*http__header(&req, "connection"), "Upgrade"));
	CHECK(http__has_token(*http__header(&req, "connection"), "keep-alive"));
	CHECK(!http__has_token(*http__header(&req, "connection"), "close"));
	CHECK(http__has_token(*http__header(&req, "Sec-WebSocket-Protocol"), "mqtt"));
	CHECK(http__has_token(*http__header(&req, "Sec-WebSocket-Protocol"), "mqttv3.1"));
	CHECK(!http__has_token(*http__header(&req, "Sec-WebSocket-Protocol"), "mqttv3"));
	check_prefixes(firefox);

	CHECK_EQ(parse(mqttjs), HTTP_OK);
	CHECK_EQ(req.nheaders, 7);
	CHECK(header_is("Host", "127.0.0.1:9001"));
	check_prefixes(mqttjs);

	CHECK_EQ(parse(paho_java), HTTP_OK);
	CHECK(header_is("Sec-WebSocket-Version", "13"));
	check_prefixes(paho_java);
	CHECK_EQ(parse(paho_python), HTTP_OK);
	CHECK(header_is("Sec-WebSocket-Version", "13") && header_is("sec-websocket-protocol", "mqtt"));
	CHECK(http__header(&req, "Sec-WebSocket-Extensions") == NULL);
	check_prefixes(paho_python);

	/* The client's first MQTT bytes may arrive with the head: they are not part of it, nor looked at. */
	char buf[256];
	size_t n = strlen(paho_java);
	memcpy(buf, paho_java, n);
	memcpy(buf + n, "\x82\x8e\x00\x00\x00\x00\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 20);
	CHECK_EQ(parse_n(buf, n + 20, 8192), HTTP_OK);
	CHECK_EQ(req.head_len, n);
}

static void test_request_line(void)
{
	CHECK_EQ(parse("GET / HTTP/1.0\r\n\r\n"), HTTP_OK);
	CHECK(str_is(req.target, "/") && req.version_minor == 0 && req.nheaders == 0 && req.head_len == 18);
	CHECK_EQ(parse("OPTIONS /a/b?c=d%20e&f=/g:h@i!$'()*+,;= HTTP/1.1\r\n\r\n"), HTTP_OK);
	CHECK(str_is(req.method, "OPTIONS") && str_is(req.target, "/a/b?c=d%20e&f=/g:h@i!$'()*+,;="));
	CHECK_EQ(parse("M-._~!#$%&'*+^`|9 / HTTP/1.1\r\n\r\n"), HTTP_OK); /* every tchar */
	CHECK(str_is(req.method, "M-._~!#$%&'*+^`|9"));
	CHECK_EQ(parse("get /x HTTP/1.1\r\n\r\n"), HTTP_OK); /* a token; whether it is a known method is not ours */

	static const char *const bad[] = {
		"\r\n\r\n",                        /* no request line (leading empty lines are not skipped) */
		"\r\nGET / HTTP/1.1\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",         /* one SP exactly */
		"GET /  HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",
		"GET\t/ HTTP/1.1\r\n\r\n",
		"GET /\tHTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\t\r\n\r\n",
		"GET HTTP/1.1\r\n\r\n",
		"GET /\r\n\r\n",                   /* HTTP/0.9 */
		"GET\r\n\r\n",
		"/ HTTP/1.1\r\n\r\n",
		"GE(T / HTTP/1.1\r\n\r\n",
		"GE\"T / HTTP/1.1\r\n\r\n",
		"G\x80T / HTTP/1.1\r\n\r\n",
		"GET mqtt HTTP/1.1\r\n\r\n",       /* not origin-form */
		"GET * HTTP/1.1\r\n\r\n",
		"GET http://h/mqtt HTTP/1.1\r\n\r\n",
		"CONNECT h:80 HTTP/1.1\r\n\r\n",
		"GET /a\x7f HTTP/1.1\r\n\r\n",
		"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.10\r\n\r\n",
		"GET / HTTP/11\r\n\r\n",
		"GET / HTTP/1.\r\n\r\n",
		"GET / HTTP/1.x\r\n\r\n",
		"GET / HTTP/a.1\r\n\r\n",
		"GET / HTTP/1,1\r\n\r\n",
		"GET / HTTP 1.1\r\n\r\n",
		"GET / HTTPS/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\r\n\r\n",        /* a bare CR */
		"GET / HTTP/1.1\rHost: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i]);
		CHECK_EQ(rc, HTTP_BAD);
		if (rc != HTTP_BAD) fprintf(stderr, "  bad[%zu] gave %d\n", i, rc);
	}
	CHECK_EQ(PARSE_LIT("GET /\0 HTTP/1.1\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(PARSE_LIT("G\0T / HTTP/1.1\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(PARSE_LIT("GET / HTTP/1.1\0\r\n\r\n"), HTTP_BAD);

	CHECK_EQ(parse("GET / HTTP/2.0\r\n\r\n"), HTTP_BAD_VERSION);
	CHECK_EQ(parse("GET / HTTP/1.2\r\n\r\n"), HTTP_BAD_VERSION);
	CHECK_EQ(parse("GET / HTTP/1.9\r\n\r\n"), HTTP_BAD_VERSION);
	CHECK_EQ(parse("GET / HTTP/0.9\r\n\r\n"), HTTP_BAD_VERSION);
	CHECK_EQ(parse("GET / HTTP/3.1\r\n\r\n"), HTTP_BAD_VERSION);
	/* The version is judged once its line is complete, not before. */
	CHECK_EQ(parse("GET / HTTP/2.0"), HTTP_NEED_MORE);
	CHECK_EQ(parse("GET / HTTP/2.0\r\n"), HTTP_BAD_VERSION);
}

static void test_fields(void)
{
	CHECK_EQ(parse("GET / HTTP/1.1\r\nA:b\r\nC: \t d e \t \r\nEmpty:\r\nBlank:  \t \r\nX-8: caf\xc3\xa9 \x80\xff\r\n"
		       "Tab:\tx\ty\r\n\r\n"),
		 HTTP_OK);
	CHECK_EQ(req.nheaders, 6);
	CHECK(header_is("a", "b"));
	CHECK(header_is("c", "d e"));
	CHECK(header_is("empty", "") && header_is("blank", ""));
	CHECK(header_is("x-8", "caf\xc3\xa9 \x80\xff"));
	CHECK(header_is("tab", "x\ty"));
	/* Every tchar in a name, and every visible character in a value. */
	CHECK_EQ(parse("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: !\"#()<>@[\\]{}~:;,/?=\r\n\r\n"), HTTP_OK);
	CHECK(header_is("!#$%&'*+-.^_`|~09AZaz", "!\"#()<>@[\\]{}~:;,/?="));

	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",   /* RFC 7230 3.2.4: no blank before the colon */
		"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost\r\n\r\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\n:\r\n\r\n",
		"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost@: x\r\n\r\n",
		"GET / HTTP/1.1\r\n(Host): x\r\n\r\n",
		"GET / HTTP/1.1\r\nH\xc3\xa9: x\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",  /* obs-fold */
		"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: x\r\n\r\n",   /* a blank between the request line and the first field */
		"GET / HTTP/1.1\r\n \r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nA: \x1b[0m\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",     /* bare CR inside a value */
		"GET / HTTP/1.1\r\nA: b\r\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\rB: c\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n\r\r\n",     /* the empty line with a bare CR */
		"GET / HTTP/1.1\r\nA: b\r\n\r \r\n",
		"GET / HTTP/1.1\r\nA: b\r\n\rX",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i]);
		CHECK_EQ(rc, HTTP_BAD);
		if (rc != HTTP_BAD) fprintf(stderr, "  bad field[%zu] gave %d\n", i, rc);
	}
	CHECK_EQ(PARSE_LIT("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(PARSE_LIT("GET / HTTP/1.1\r\nA\0: b\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(PARSE_LIT("GET / HTTP/1.1\r\nA: b\r\n\0\r\n"), HTTP_BAD);
}

static void test_line_ends(void)
{
	const char *lf = "GET /x HTTP/1.1\nHost: h\nUpgrade: websocket\n\n";
	CHECK_EQ(parse(lf), HTTP_OK);
	CHECK(req.nheaders == 2 && header_is("upgrade", "websocket") && req.head_len == strlen(lf));
	check_prefixes(lf);
	const char *mixed = "GET /x HTTP/1.1\r\nHost: h\nA: b\r\n\n";
	CHECK_EQ(parse(mixed), HTTP_OK);
	CHECK(req.nheaders == 2 && header_is("host", "h") && header_is("a", "b"));
	check_prefixes(mixed);
	CHECK_EQ(parse("GET / HTTP/1.1\n\r\n"), HTTP_OK);
	CHECK_EQ(req.head_len, 17);
	/* A trailing CR may be the first half of a CRLF: wait. */
	CHECK_EQ(parse("GET / HTTP/1.1\r"), HTTP_NEED_MORE);
	CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\r"), HTTP_NEED_MORE);
	CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\r\n\r"), HTTP_NEED_MORE);
	CHECK_EQ(parse(""), HTTP_NEED_MORE);
}

/* A line that cannot become valid is refused before its end arrives. */
static void test_early_refusal(void)
{
	/* An MQTT CONNECT sent to a WebSocket port. */
	CHECK_EQ(PARSE_LIT("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c"), HTTP_BAD);
	CHECK_EQ(PARSE_LIT("\x16\x03\x01\x02\x00\x01"), HTTP_BAD); /* a TLS ClientHello */
	CHECK_EQ(parse(" "), HTTP_BAD);
	CHECK_EQ(parse("GET /\x01"), HTTP_BAD);
	CHECK_EQ(parse("GET\t"), HTTP_BAD);
	CHECK_EQ(parse("GET /\xc3"), HTTP_BAD);
	CHECK_EQ(parse("GET / HTTP/1.1\rX"), HTTP_BAD);
	CHECK_EQ(parse("GET / HTTP/1.1\r\n "), HTTP_BAD);
	CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\x01"), HTTP_BAD);
	CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\rc"), HTTP_BAD);
	CHECK_EQ(PARSE_LIT("GET / HTTP/1.1\r\nA: b\0"), HTTP_BAD);
	/* ...but a line that may still turn out well waits, even when it is bad already in ways judged at its end. */
	CHECK_EQ(parse("GET"), HTTP_NEED_MORE);
	CHECK_EQ(parse("GET / HTTP/1.1\r\nHost"), HTTP_NEED_MORE);
	CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: caf\xc3\xa9"), HTTP_NEED_MORE);
}

static void test_limits(void)
{
	const char *h = "GET /mqtt HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t n = strlen(h);
	/* The head may fill max_head exactly, no more. */
	CHECK_EQ(parse_n(h, n, n), HTTP_OK);
	CHECK_EQ(parse_n(h, n, n + 1), HTTP_OK);
	CHECK_EQ(parse_n(h, n, n - 1), HTTP_TOO_LARGE);
	CHECK_EQ(parse_n(h, n - 1, n), HTTP_NEED_MORE);
	CHECK_EQ(parse_n(h, n - 1, n - 1), HTTP_TOO_LARGE);
	CHECK_EQ(parse_n(h, n - 2, n - 1), HTTP_NEED_MORE);
	CHECK_EQ(parse_n(h, 0, 0), HTTP_TOO_LARGE);
	/* Bytes past max_head are not looked at, good or bad. */
	char buf[64];
	memcpy(buf, h, n);
	buf[n] = '\0';
	CHECK_EQ(parse_n(buf, n + 1, n), HTTP_OK);
	CHECK_EQ(parse_n("GET / HTTP/1.1\r\nA: b\0", 22, 20), HTTP_TOO_LARGE);
	CHECK_EQ(parse_n("GET / HTTP/1.1\r\nA: b\0", 22, 21), HTTP_BAD);

	/* HTTP_MAX_HEADERS fields, then one more. */
	static char big[HTTP_MAX_HEADERS * 16 + 64];
	size_t k = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		k += (size_t)sprintf(big + k, "X-%d: %d\r\n", i, i);
	memcpy(big + k, "\r\n", 3);
	CHECK_EQ(parse(big), HTTP_OK);
	CHECK_EQ(req.nheaders, HTTP_MAX_HEADERS);
	CHECK(header_is("x-63", "63"));
	memcpy(big + k, "Y: 1\r\n\r\n", 9);
	CHECK_EQ(parse(big), HTTP_TOO_LARGE);
	big[k + 6] = '\0'; /* known at the extra field's end, before the empty line */
	CHECK_EQ(parse(big), HTTP_TOO_LARGE);
	big[k + 5] = '\0';
	CHECK_EQ(parse(big), HTTP_NEED_MORE);
	memcpy(big + k, "Y : 1\r\n\r\n", 10); /* a bad field past the limit is still bad */
	CHECK_EQ(parse(big), HTTP_BAD);
}

static void test_lookups(void)
{
	CHECK_EQ(parse("GET / HTTP/1.1\r\nSec-WebSocket-Key: a\r\nX: 1\r\nsec-websocket-key: b\r\n\r\n"), HTTP_OK);
	CHECK_EQ(http__header_count(&req, "Sec-WebSocket-Key"), 2);
	CHECK(header_is("SEC-WEBSOCKET-KEY", "a")); /* the first */
	CHECK_EQ(http__header_count(&req, "x"), 1);
	CHECK_EQ(http__header_count(&req, "Y"), 0);
	CHECK(http__header(&req, "Y") == NULL);
	CHECK(http__header(&req, "Sec-WebSocket-Ke") == NULL);
	CHECK(http__header(&req, "Sec-WebSocket-Keys") == NULL);
	CHECK(http__header(&req, "") == NULL);

	struct http_str s = {"Upgrade", 7};
	CHECK(http__str_ieq(s, "upgrade") && http__str_ieq(s, "UPGRADE") && http__str_ieq(s, "Upgrade"));
	CHECK(!http__str_ieq(s, "upgrad") && !http__str_ieq(s, "upgrades") && !http__str_ieq(s, ""));
	CHECK(http__str_ieq((struct http_str){"", 0}, ""));
	/* ASCII letters only: '@' is not '`', '[' is not '{', and bytes past 0x7F are compared as they are. */
	CHECK(!http__str_ieq((struct http_str){"@[", 2}, "`{"));
	CHECK(!http__str_ieq((struct http_str){"\xc9", 1}, "\xe9"));
	/* Only s.len bytes of s are read. */
	CHECK(http__str_ieq((struct http_str){"mqttXYZ", 4}, "MQTT"));
}

static bool has(const char *v, const char *t) { return http__has_token((struct http_str){v, strlen(v)}, t); }

static void test_tokens(void)
{
	CHECK(has("Upgrade", "upgrade"));
	CHECK(has("keep-alive, Upgrade", "upgrade"));
	CHECK(has("keep-alive,Upgrade", "UPGRADE"));
	CHECK(has("Upgrade, keep-alive", "keep-alive"));
	CHECK(has(" \tupgrade\t ", "upgrade"));
	CHECK(has(",, upgrade ,,", "upgrade"));
	CHECK(has("a , b , c", "b"));
	CHECK(!has("Upgrade2", "upgrade"));
	CHECK(!has("upgrade-x", "upgrade"));
	CHECK(!has("xupgrade", "upgrade"));
	CHECK(!has("up grade", "upgrade"));
	CHECK(!has("upgrade;q=1", "upgrade"));
	CHECK(!has("", "upgrade"));
	CHECK(!has(",,", "upgrade"));
	CHECK(!has("a,,b", ""));
	CHECK(!has("", ""));
	CHECK(!has("keep-alive", "upgrade"));
	CHECK(http__has_token((struct http_str){NULL, 0}, "x") == false);
	/* Only value.len bytes are read. */
	CHECK(!http__has_token((struct http_str){"a, upgrade", 3}, "upgrade"));
	CHECK(http__has_token((struct http_str){"a, upgrade, b", 10}, "upgrade"));
}

static struct http_response resp;

static int parse_resp_n(const char *s, size_t n) { return http__parse_response(s, n, 8192, &resp); }
static int parse_resp(const char *s) { return parse_resp_n(s, strlen(s)); }

static void test_responses(void)
{
	static const char midge[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
	size_t n = strlen(midge);
	int bad = 0;
	for (size_t k = 0; k < n; k++)
		if (parse_resp_n(midge, k) != HTTP_NEED_MORE) bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(parse_resp(midge), HTTP_OK);
	CHECK_EQ(resp.head_len, n);
	CHECK_EQ(resp.status, 101);
	CHECK_EQ(resp.version_minor, 1);
	CHECK(str_is(resp.reason, "Switching Protocols"));
	CHECK_EQ(resp.nheaders, 4u);
	CHECK(str_is(resp.headers[2].name, "Sec-WebSocket-Accept"));
	CHECK(str_is(resp.headers[2].value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

	/* Frames may follow the head at once: head_len ends at the empty line. */
	CHECK_EQ(parse_resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n\x82\x00"), HTTP_OK);
	CHECK_EQ(resp.status, 404);
	CHECK(str_is(resp.reason, "Not Found"));
	CHECK_EQ(resp.head_len, strlen("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
	CHECK_EQ(parse_resp("HTTP/1.0 200\n\n"), HTTP_OK); /* no reason, no SP, bare LFs */
	CHECK(resp.status == 200 && resp.reason.len == 0 && resp.version_minor == 0);
	CHECK_EQ(parse_resp("HTTP/1.1 101 \r\n\r\n"), HTTP_OK);

	CHECK_EQ(parse_resp("HTTP/2 101 x\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTTP/2.0 101 x\r\n\r\n"), HTTP_BAD_VERSION);
	CHECK_EQ(parse_resp("HTTP/1.1 1011 x\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTTP/1.1 099 x\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTTP/1.1  101 x\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTTP/1.1 101 x\r\nUpgrade : websocket\r\n\r\n"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTTP/1.1 101 x\r\n folded\r\n\r\n"), HTTP_BAD);
	/* Not an HTTP server: refused from the first bytes, not after max_head or a timeout. */
	CHECK_EQ(parse_resp_n("\x20\x02\x00\x00", 4), HTTP_BAD);
	CHECK_EQ(parse_resp("GET / HTTP/1.1\r\n"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTTX"), HTTP_BAD);
	CHECK_EQ(parse_resp("HTT"), HTTP_NEED_MORE);
	CHECK_EQ(http__parse_response("HTTP/1.1 101 x\r\nA: b\r\n", 24, 20, &resp), HTTP_TOO_LARGE);
}

int main(void)
{
	test_responses();
	test_clients();
	test_request_line();
	test_fields();
	test_line_ends();
	test_early_refusal();
	test_limits();
	test_lookups();
	test_tokens();
	CHECK_DONE();
}
