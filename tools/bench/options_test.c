/* Tests of midge-bench's command line: defaults per scenario, every option, and refusals with their reason. */
#include <string.h>

#include "check.h"
#include "options.h"

#define ARGS(...) ((char *[]){"midge-bench", __VA_ARGS__, NULL})
#define NARGS(...) ((int)(sizeof((char *[]){"midge-bench", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, ...) bench_opts__parse(&(o), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), err, sizeof err)

static char err[256];

/* Refused, with a reason that contains want. */
#define BAD(want, ...)                                                                        \
	do {                                                                                  \
		struct bench_opts b_;                                                         \
		err[0] = 0;                                                                   \
		CHECK_EQ(PARSE(b_, __VA_ARGS__), -1);                                         \
		CHECK(strstr(err, want) != NULL);                                             \
		if (!strstr(err, want)) fprintf(stderr, "  reason was: %s\n", err);          \
	} while (0)

int main(void)
{
	struct bench_opts o;
	char topic[64];

	/* Defaults. */
	CHECK_EQ(PARSE(o, "fanin"), 0);
	CHECK_EQ(o.scenario, SC_FANIN);
	CHECK(!strcmp(o.host, "127.0.0.1"));
	CHECK_EQ(o.port, 1883);
	CHECK_EQ(o.transport, BT_TCP);
	CHECK_EQ(o.version, 4);
	CHECK_EQ(o.qos, 0);
	CHECK_EQ(o.payload, 64);
	CHECK_EQ(o.window, 100);
	CHECK_EQ(o.threads, 2);
	CHECK_EQ(o.connect_rate, 1000);
	CHECK(o.duration == 10);
	CHECK(o.rate == 0);
	CHECK(o.clean);
	CHECK(!o.json);
	CHECK_EQ(o.publishers, 1);
	CHECK_EQ(o.subscribers, 1);
	CHECK(!strcmp(o.topic, "bench/%i"));
	CHECK(!strcmp(o.filter, "bench/#"));
	CHECK(!strncmp(o.id_prefix, "bench-", 6));
	CHECK(!o.no_sys);
	CHECK(o.sys_wait == 12);
	CHECK(bench_opts__topic(&o, 7, topic, sizeof topic));
	CHECK(!strcmp(topic, "bench/7"));

	/* Everything given; the scenario after the options, or with --scenario. */
	CHECK_EQ(PARSE(o, "-h", "::1", "-p", "1884", "-V", "5", "-q", "2", "-s", "100", "-r", "2000", "-d", "1.5",
		       "--warmup", "0.5", "-w", "10", "-i", "x-", "-t", "a/%i/b", "-c", "8", "--connect-rate", "50",
		       "--threads", "1", "--json", "-k", "30", "--no-clean", "shared", "-S", "3"),
		 0);
	CHECK_EQ(o.scenario, SC_SHARED);
	CHECK(!strcmp(o.host, "::1"));
	CHECK_EQ(o.port, 1884);
	CHECK_EQ(o.version, 5);
	CHECK_EQ(o.qos, 2);
	CHECK_EQ(o.payload, 100);
	CHECK(o.rate == 2000);
	CHECK(o.duration == 1.5);
	CHECK(o.warmup == 0.5);
	CHECK_EQ(o.window, 10);
	CHECK(!strcmp(o.id_prefix, "x-"));
	CHECK_EQ(o.publishers, 8);
	CHECK_EQ(o.subscribers, 3);
	CHECK_EQ(o.connect_rate, 50);
	CHECK_EQ(o.threads, 1);
	CHECK(o.json);
	CHECK_EQ(o.keepalive, 30);
	CHECK(!o.clean);
	CHECK(!strcmp(o.filter, "a/#"));
	CHECK(bench_opts__topic(&o, 12, topic, sizeof topic));
	CHECK(!strcmp(topic, "a/12/b"));
	CHECK_EQ(PARSE(o, "--scenario", "p2p", "-c", "4", "-n", "100", "-I", "5"), 0);
	CHECK_EQ(o.scenario, SC_P2P);
	CHECK_EQ(o.subscribers, 4);
	CHECK_EQ(o.count, 100);
	CHECK_EQ(o.interval_ms, 5);
	/* The broker's drop counter: how long to wait for it, or not at all. */
	CHECK_EQ(PARSE(o, "fanin", "--sys-wait", "3"), 0);
	CHECK(o.sys_wait == 3);
	CHECK(!o.no_sys);
	CHECK_EQ(PARSE(o, "fanin", "--sys-wait", "0.5"), 0);
	CHECK(o.sys_wait == 0.5);
	CHECK_EQ(PARSE(o, "fanin", "--no-sys"), 0);
	CHECK(o.no_sys);
	CHECK_EQ(PARSE(o, "sub", "-t", "x/+/y", "-S", "2"), 0);
	CHECK(!strcmp(o.filter, "x/+/y"));
	CHECK_EQ(o.publishers, 0);
	CHECK_EQ(PARSE(o, "conn"), 0);
	CHECK_EQ(o.publishers, 100);
	CHECK_EQ(o.subscribers, 0);
	CHECK_EQ(PARSE(o, "pub", "-t", "fixed/topic"), 0);
	CHECK(!strcmp(o.filter, "fixed/topic"));
	CHECK_EQ(PARSE(o, "fanin", "-V", "mqttv311", "-t", "100%%/%i"), 0);
	CHECK(bench_opts__topic(&o, 3, topic, sizeof topic));
	CHECK(!strcmp(topic, "100%/3"));
	CHECK_EQ(PARSE(o, "--help"), 1);

	/* URLs. */
	CHECK_EQ(PARSE(o, "pub", "-L", "mqtt://example.org"), 0);
	CHECK(!strcmp(o.host, "example.org"));
	CHECK_EQ(o.port, 1883);
	CHECK_EQ(PARSE(o, "pub", "-L", "mqtts://localhost:8884", "--cafile", "ca.crt"), 0);
	CHECK_EQ(o.transport, BT_TLS);
	CHECK_EQ(o.port, 8884);
	CHECK(!strcmp(o.cafile, "ca.crt"));
	CHECK_EQ(PARSE(o, "pub", "-L", "ws://127.0.0.1:8080"), 0);
	CHECK_EQ(o.transport, BT_WS);
	CHECK(!strcmp(o.path, "/mqtt"));
	CHECK_EQ(PARSE(o, "pub", "-L", "wss://[::1]:9001/ws/x", "--insecure"), 0);
	CHECK_EQ(o.transport, BT_WSS);
	CHECK(!strcmp(o.host, "::1"));
	CHECK_EQ(o.port, 9001);
	CHECK(!strcmp(o.path, "/ws/x"));
	CHECK(o.insecure);

	/* Refusals. */
	BAD("no scenario", "-q", "1");
	BAD("unknown scenario 'bogus'", "bogus");
	BAD("unexpected argument", "pub", "sub");
	BAD("unknown option", "pub", "--frobnicate");
	BAD("needs an argument", "pub", "-q");
	BAD("bad QoS", "pub", "-q", "3");
	BAD("bad QoS", "pub", "-q", "-1");
	BAD("unsupported MQTT version", "pub", "-V", "31");
	BAD("bad payload size", "pub", "-s", "23");
	BAD("bad rate", "pub", "-r", "fast");
	BAD("bad rate", "pub", "-r", "-5");
	BAD("-r and -I both", "pub", "-r", "10", "-I", "5");
	BAD("-n and -d both", "pub", "-n", "10", "-d", "5");
	BAD("bad duration", "pub", "-d", "0");
	BAD("bad window", "pub", "-q", "1", "-w", "0");
	BAD("bad window", "pub", "-w", "65536");
	BAD("bad thread count", "pub", "--threads", "0");
	BAD("bad port", "pub", "-p", "70000");
	BAD("bad client count", "pub", "-c", "0");
	BAD("unsupported URL", "pub", "-L", "http://x");
	BAD("bad port in URL", "pub", "-L", "mqtt://x:0");
	BAD("bad URL", "pub", "-L", "mqtt://");
	BAD("only for ws", "pub", "-L", "mqtt://x/path");
	BAD("-L and -h/-p both", "pub", "-L", "mqtt://x", "-p", "1");
	BAD("--cafile and --insecure", "pub", "--cafile", "ca.crt");
	BAD("bad topic pattern", "pub", "-t", "a/+/%i");
	BAD("bad topic pattern", "pub", "-t", "a/%d");
	BAD("fanout has one publisher", "fanout", "-c", "2");
	BAD("fanin has one subscriber", "fanin", "-S", "2");
	BAD("p2p has as many", "p2p", "-c", "4", "-S", "3");
	BAD("p2p needs %i", "p2p", "-t", "same");
	BAD("-S is not for", "pub", "-S", "2");
	BAD("-c is not for the sub", "sub", "-c", "2");
	BAD("not a count", "conn", "-n", "5");
	BAD("bad $SYS wait", "fanin", "--sys-wait", "-1");
	BAD("bad $SYS wait", "fanin", "--sys-wait", "soon");
	BAD("bad $SYS wait", "fanin", "--sys-wait", "3601");
	BAD("needs an argument", "fanin", "--sys-wait");
	BAD("--sys-wait and --no-sys both", "fanin", "--no-sys", "--sys-wait", "3");
	CHECK_DONE();
}
