/* Unit tests of url__parse: schemes, user information, hosts (names, IPv4, IPv6), ports and what is refused. */
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "client/url.h"
#include "midge/midge.h"

/* Parses s and checks host and port; user/pass NULL means "absent". */
static void ok(const char *s, const char *host, unsigned port, const char *user, const char *pass)
{
	struct url u;
	int rc = url__parse(s, &u);
	CHECK_EQ(rc, 0);
	if (rc) {
		fprintf(stderr, "  url: %s\n", s);
		return;
	}
	CHECK(strcmp(u.host, host) == 0);
	CHECK_EQ(u.port, port);
	CHECK(user ? u.username && strcmp(u.username, user) == 0 : u.username == NULL);
	CHECK(pass ? u.password && u.password_len == strlen(pass) && memcmp(u.password, pass, u.password_len) == 0
	           : u.password == NULL);
	url__fini(&u);
	CHECK(u.host == NULL);
}

/* Parses s and checks that it is over TLS (or not) with that port. */
static void tls(const char *s, bool want_tls, unsigned port)
{
	struct url u;
	CHECK_EQ(url__parse(s, &u), 0);
	CHECK_EQ(u.tls, want_tls);
	CHECK_EQ(u.port, port);
	CHECK(!u.ws && u.path == NULL);
	url__fini(&u);
}

/* Parses s and checks that it is a WebSocket URL, over TLS or not, with that port and request target. */
static void ws(const char *s, bool want_tls, unsigned port, const char *path)
{
	struct url u;
	CHECK_EQ(url__parse(s, &u), 0);
	CHECK(u.ws);
	CHECK_EQ(u.tls, want_tls);
	CHECK_EQ(u.port, port);
	CHECK(u.path && strcmp(u.path, path) == 0);
	if (!u.path || strcmp(u.path, path)) fprintf(stderr, "  url: %s gave path %s\n", s, u.path ? u.path : "(null)");
	url__fini(&u);
}

static void bad(const char *s, int want)
{
	struct url u;
	int rc = url__parse(s, &u);
	CHECK_EQ(rc, want);
	if (rc != want) fprintf(stderr, "  url: %s gave %d\n", s ? s : "(null)", rc);
	CHECK(u.host == NULL && u.username == NULL && u.password == NULL && u.path == NULL);
}

int main(void)
{
	ok("mqtt://broker.example:1884", "broker.example", 1884, NULL, NULL);
	ok("mqtt://broker.example", "broker.example", 1883, NULL, NULL);
	ok("MQTT://Broker.Example/", "Broker.Example", 1883, NULL, NULL);
	ok("localhost", "localhost", 1883, NULL, NULL);
	ok("127.0.0.1:1", "127.0.0.1", 1, NULL, NULL);
	ok("host_1-a.b:65535", "host_1-a.b", 65535, NULL, NULL);
	ok("mqtt://[::1]:1885", "::1", 1885, NULL, NULL);
	ok("[fe80::1:2]", "fe80::1:2", 1883, NULL, NULL);
	ok("[::ffff:10.0.0.1]:99", "::ffff:10.0.0.1", 99, NULL, NULL);
	ok("mqtt://alice@h", "h", 1883, "alice", NULL);
	ok("mqtt://alice:secret@h:2", "h", 2, "alice", "secret");
	ok("mqtt://alice:@h", "h", 1883, "alice", "");
	ok("mqtt://:pw@h", "h", 1883, "", "pw");
	/* Escapes: '@', ':' and '/' in credentials, and a password byte that is not UTF-8. */
	ok("mqtt://a%40b%3Ac:p%2F%3a%40@h", "h", 1883, "a@b:c", "p/:@");
	struct url u;
	CHECK_EQ(url__parse("mqtt://u:%ff%00x@h", &u), 0);
	CHECK_EQ(u.password_len, 3u); /* the NUL is part of a binary password */
	CHECK_MEM(u.password, "\xff\0x", 3);
	CHECK(strcmp(u.username, "u") == 0);
	url__fini(&u);
	ok("mqtt://user:p@ss@h", "h", 1883, "user", "p@ss"); /* the last '@' ends the user information */

	/* TLS: mqtts:// and ssl:// (as Paho names it), default port 8883. */
	ok("mqtts://u:p@broker.example", "broker.example", 8883, "u", "p");
	tls("mqtts://h", true, 8883);
	tls("MQTTS://h:18883/", true, 18883);
	tls("ssl://[::1]", true, 8883);
	tls("mqtt://h", false, 1883);
	tls("h", false, 1883);

	/* WebSocket: ports 80 and 443, path "/mqtt" when none is given, else as written. */
	ws("ws://h", false, 80, "/mqtt");
	ws("WS://u:p@h:8080", false, 8080, "/mqtt");
	ws("ws://h/", false, 80, "/");
	ws("ws://h:9001/mqtt", false, 9001, "/mqtt");
	ws("wss://[::1]/a/b%20c?x=1&y", true, 443, "/a/b%20c?x=1&y");
	ws("wss://h:8443?token=abc", true, 8443, "/?token=abc");
	ws("wss://broker.example", true, 443, "/mqtt");
	ok("ws://alice:s%40cret@h:81/p", "h", 81, "alice", "s@cret");

	bad(NULL, MIDGE_ERR_INVAL);
	bad("", MIDGE_ERR_INVAL);
	bad("mqtt://", MIDGE_ERR_INVAL);
	bad("mqtt://:1883", MIDGE_ERR_INVAL);
	bad("mqtt://h:", MIDGE_ERR_INVAL);
	bad("mqtt://h:0", MIDGE_ERR_INVAL);
	bad("mqtt://h:65536", MIDGE_ERR_INVAL);
	bad("mqtt://h:123456", MIDGE_ERR_INVAL);
	bad("mqtt://h:12a", MIDGE_ERR_INVAL);
	bad("mqtt://h:-1", MIDGE_ERR_INVAL);
	bad("mqtt://h/path", MIDGE_ERR_INVAL);
	bad("mqtt://h?x=1", MIDGE_ERR_INVAL);
	bad("mqtt://h#frag", MIDGE_ERR_INVAL);
	bad("mqtt://h h", MIDGE_ERR_INVAL);
	bad("mqtt://::1", MIDGE_ERR_INVAL);
	bad("mqtt://[::1", MIDGE_ERR_INVAL);
	bad("mqtt://[]:1", MIDGE_ERR_INVAL);
	bad("mqtt://[::g]", MIDGE_ERR_INVAL);
	bad("mqtt://[::1]x", MIDGE_ERR_INVAL);
	bad("mqtt://@", MIDGE_ERR_INVAL);
	bad("mqtt://u@", MIDGE_ERR_INVAL);
	bad("mqtt://u%4@h", MIDGE_ERR_INVAL);
	bad("mqtt://u%zz@h", MIDGE_ERR_INVAL);
	bad("mqtt://u:%@h", MIDGE_ERR_INVAL);
	bad("mqtt://%ff@h", MIDGE_ERR_INVAL); /* a user name must be UTF-8 */
	bad("http://h", MIDGE_ERR_INVAL);
	bad("tcp://h", MIDGE_ERR_INVAL);
	bad("://h", MIDGE_ERR_INVAL);
	bad("mqtts://", MIDGE_ERR_INVAL);
	bad("ssls://h", MIDGE_ERR_INVAL);
	bad("ws://h#frag", MIDGE_ERR_INVAL);
	bad("ws://h/a b", MIDGE_ERR_INVAL);
	bad("ws://h/\x7f", MIDGE_ERR_INVAL);
	bad("ws://h/\xc3\xa9", MIDGE_ERR_INVAL); /* sent as written: percent-encode it */
	bad("ws://:80/mqtt", MIDGE_ERR_INVAL);
	bad("wss://h:0/mqtt", MIDGE_ERR_INVAL);
	bad("wsx://h", MIDGE_ERR_INVAL);
	CHECK_DONE();
}
