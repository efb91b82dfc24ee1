/* Unit tests of the WebSocket upgrade of libmidge (ws_handshake.c): the request, and every way an answer is refused. */
#include <string.h>

#include "../../tests/unit/check.h"
#include "client/ws_handshake.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455 1.3's example, and its accept */
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static char why[256];

static int check(const char *answer, size_t *head)
{
	why[0] = 0;
	return ws_handshake__check(answer, strlen(answer), ACCEPT, head, why, sizeof why);
}

/* answer is refused with exactly want as the reason. */
static void refused(const char *answer, const char *want)
{
	size_t head = 0;
	CHECK_EQ(check(answer, &head), WS_HS_REFUSED);
	CHECK(strcmp(why, want) == 0);
	if (strcmp(why, want)) fprintf(stderr, "  got: %s\n  want: %s\n", why, want);
}

#define OK_HEAD                                                                                                        \
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                            \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n"

static void test_request(void)
{
	char out[512];
	size_t n = ws_handshake__request(out, sizeof out, "broker.example", 80, false, "/mqtt", KEY);
	const char *want =
	    "GET /mqtt HTTP/1.1\r\nHost: broker.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
	CHECK_EQ(n, strlen(want));
	CHECK(strcmp(out, want) == 0);
	/* The port is named unless it is the scheme's; IPv6 in brackets. */
	ws_handshake__request(out, sizeof out, "::1", 443, true, "/", KEY);
	CHECK(strstr(out, "GET / HTTP/1.1\r\nHost: [::1]\r\n") == out);
	ws_handshake__request(out, sizeof out, "h", 443, false, "/a?b=c", KEY);
	CHECK(strstr(out, "GET /a?b=c HTTP/1.1\r\nHost: h:443\r\n") == out);
	ws_handshake__request(out, sizeof out, "h", 80, true, "/", KEY);
	CHECK(strstr(out, "Host: h:80\r\n") != NULL);
	CHECK_EQ(ws_handshake__request(out, 40, "h", 80, false, "/mqtt", KEY), 0u);
}

static void test_answers(void)
{
	size_t head = 0;
	const char *ok = OK_HEAD "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
	CHECK_EQ(check(ok, &head), WS_HS_OK);
	CHECK_EQ(head, strlen(ok));
	/* Every prefix waits for more. */
	int bad = 0;
	for (size_t k = 0; k < strlen(ok); k++)
		if (ws_handshake__check(ok, k, ACCEPT, &head, why, sizeof why) != WS_HS_NEED_MORE) bad++;
	CHECK_EQ(bad, 0);
	/* Tokens and names in any case, lists, frames right after the head. */
	const char *mosq =
	    "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
	    "sec-websocket-accept: " ACCEPT "\r\nsec-websocket-protocol: mqtt\r\n\r\n\x82\x02\x20\x02";
	CHECK_EQ(check(mosq, &head), WS_HS_OK);
	CHECK_EQ(head, strlen(mosq) - 4);

	refused("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
	        "WebSocket handshake refused: HTTP 404 Not Found");
	refused("HTTP/1.1 400 \r\n\r\n", "WebSocket handshake refused: HTTP 400");
	refused("HTTP/1.1 426 Upgrade\tRequired\xff\r\n\r\n",
	        "WebSocket handshake refused: HTTP 426 Upgrade?Required?");
	refused("HTTP/1.0 101 Switching Protocols\r\n\r\n", "WebSocket handshake failed: 101 over HTTP/1.0");
	refused("HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
	        "WebSocket handshake failed: no Upgrade: websocket in the answer");
	refused("HTTP/1.1 101 x\r\nUpgrade: websocket\r\n\r\n",
	        "WebSocket handshake failed: no Connection: Upgrade in the answer");
	refused("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	        "WebSocket handshake failed: no Sec-WebSocket-Accept in the answer");
	refused("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	        "Sec-WebSocket-Accept: S3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	        "WebSocket handshake failed: wrong Sec-WebSocket-Accept");
	refused(OK_HEAD "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
	        "WebSocket handshake failed: wrong Sec-WebSocket-Accept");
	refused(OK_HEAD "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
	        "WebSocket handshake failed: the server chose an extension that was not offered");
	refused(OK_HEAD "\r\n", "WebSocket handshake failed: the server did not accept the subprotocol mqtt");
	refused(OK_HEAD "Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n",
	        "WebSocket handshake failed: the server chose the subprotocol 'mqttv3.1', not mqtt");
	refused(OK_HEAD "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
	        "WebSocket handshake failed: the server chose the subprotocol '(several)', not mqtt");
	/* Not HTTP at all: an MQTT broker's CONNACK, or a TLS alert to a plain request. */
	refused("\x20\x02\x00\x00", "WebSocket handshake failed: the answer is not HTTP/1.x (not a WebSocket server?)");
	refused("\x15\x03\x01\x00\x02\x02\x46",
	        "WebSocket handshake failed: the answer is not HTTP/1.x (not a WebSocket server?)");
	char big[WS_HANDSHAKE_MAX_HEAD + 64];
	memset(big, 'a', sizeof big);
	memcpy(big, "HTTP/1.1 101 x\r\nX: ", 19);
	big[sizeof big - 1] = 0;
	refused(big, "WebSocket handshake failed: the answer's head is too large");
}

int main(void)
{
	test_request();
	test_answers();
	CHECK_DONE();
}
