/* Unit tests of the option parser: defaults, every kind of flag, the options file, and Mosquitto's
 * error messages (as mosquitto_pub / _sub / _rr 2.0.11 print them). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "midge/mqtt.h"
#include "opts.h"
#include "rules.h"

static char *err_text;
static size_t err_len;

/* Loads argv (NULL-terminated, without the program name) for kind; the error output is in err_text. */
static int load(struct tool_opts *o, enum tool_kind kind, const char *const *args)
{
	char *argv[64] = {"prog"};
	int argc = 1;
	while (args[argc - 1])
		argv[argc] = (char *)args[argc - 1], argc++;
	free(err_text);
	FILE *err = open_memstream(&err_text, &err_len);
	int rc = opts__load(o, kind, argc, argv, err);
	fclose(err);
	return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Expects kind with args to fail with exactly this error output. */
static void expect_error(enum tool_kind kind, const char *const *args, const char *msg)
{
	struct tool_opts o;
	int rc = load(&o, kind, args);
	CHECK_EQ(rc, OPTS_ERROR);
	if (strcmp(err_text, msg)) fprintf(stderr, "  expected %s  got      %s", msg, err_text);
	CHECK(!strcmp(err_text, msg));
	opts__free(&o);
}

static void check_defaults(void)
{
	struct tool_opts o;
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-t", "a/b", "-m", "hi")), OPTS_OK);
	CHECK(!strcmp(o.host, "localhost"));
	CHECK_EQ(o.port, -1);
	CHECK_EQ(o.keepalive, 60);
	CHECK_EQ(o.protocol_version, MQTT_V311);
	CHECK(o.clean_session);
	CHECK_EQ(o.pub_mode, PUB_MESSAGE);
	CHECK(!strcmp(o.message, "hi") && o.message_len == 2);
	CHECK(!strcmp(o.topic, "a/b"));
	CHECK_EQ(o.nprops, 0u);
	opts__free(&o);

	CHECK_EQ(load(&o, TOOL_RR, ARGS("-t", "req", "-e", "resp", "-m", "x")), OPTS_OK);
	CHECK_EQ(o.protocol_version, MQTT_V5);
	CHECK_EQ(o.msg_count, 1);
	CHECK(!strcmp(o.response_topic, "resp"));
	opts__free(&o);

	CHECK_EQ(load(&o, TOOL_SUB,
	              ARGS("-t", "a/#", "-t", "+/b", "-T", "a/x", "-U", "c", "-C", "3", "-W", "9", "-v", "-N", "-F",
	                   "%t %p", "--pretty", "-R", "--retain-as-published", "-q", "2", "-E", "--remove-retained")),
	         OPTS_OK);
	CHECK_EQ(o.ntopics, 2u);
	CHECK(!strcmp(o.topics[1], "+/b"));
	CHECK_EQ(o.nfilter_outs, 1u);
	CHECK_EQ(o.nunsub_topics, 1u);
	CHECK_EQ(o.msg_count, 3);
	CHECK_EQ(o.timeout, 9u);
	CHECK(o.verbose && !o.eol && o.pretty && o.no_retain && o.exit_after_sub && o.remove_retained);
	CHECK_EQ(o.sub_opts, 0x28);
	CHECK_EQ(o.qos, 2);
	CHECK(!strcmp(o.format, "%t %p"));
	opts__free(&o);
}

static void check_url_and_connection(void)
{
	struct tool_opts o;
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-L", "MQTT://user:pw@example.org:1884/a/b", "-n")), OPTS_OK);
	CHECK(!strcmp(o.host, "example.org"));
	CHECK_EQ(o.port, 1884);
	CHECK(!strcmp(o.username, "user") && !strcmp(o.password, "pw"));
	CHECK(!strcmp(o.topic, "a/b"));
	CHECK_EQ(o.pub_mode, PUB_NULL);
	opts__free(&o);

	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-L", "mqtt://h/x/#", "-t", "y")), OPTS_OK);
	CHECK(!strcmp(o.host, "h") && o.port == 1883 && o.ntopics == 2);
	opts__free(&o);

	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-L", "mqtts://h/x")), OPTS_OK);
	CHECK(o.port == 8883 && opts__tls(&o) && !o.url_ws);
	opts__free(&o);
	/* MQTT over WebSocket: the path is the topic, as for mqtt://. */
	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-L", "ws://u@h:9001/x/y")), OPTS_OK);
	CHECK(o.port == 9001 && o.url_ws && !opts__tls(&o) && o.ntopics == 1 && !strcmp(o.topics[0], "x/y"));
	CHECK(o.username && !strcmp(o.username, "u"));
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-L", "WS://h/t", "-n")), OPTS_OK);
	CHECK(o.port == 80 && o.url_ws && !opts__tls(&o));
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-L", "wss://h/t", "-n")), OPTS_OK);
	CHECK(o.port == 443 && o.url_ws && opts__tls(&o));
	opts__free(&o);

	CHECK_EQ(load(&o, TOOL_PUB,
	              ARGS("-t", "a", "-s", "-h", "x", "-p", "1999", "-k", "5", "-i", "me", "-c", "-u", "u", "-P", "p",
	                   "--will-topic", "w", "--will-payload", "bye", "--will-qos", "2", "--will-retain", "-r", "-q",
	                   "1", "--repeat", "3", "--repeat-delay", "0.5", "-M", "7", "-d", "--quiet", "--nodelay", "-V",
	                   "mqttv31")),
	         OPTS_OK);
	CHECK(!strcmp(o.host, "x") && o.port == 1999 && o.keepalive == 5 && !o.clean_session);
	CHECK(!strcmp(o.will_topic, "w") && o.will_payload_len == 3 && o.will_qos == 2 && o.will_retain);
	CHECK(o.retain && o.qos == 1 && o.repeat_count == 3 && o.repeat_delay == 0.5 && o.max_inflight == 7);
	CHECK(o.debug && o.quiet && o.nodelay && o.protocol_version == MQTT_V31 && o.pub_mode == PUB_STDIN_FILE);
	CHECK(!opts__tls(&o));
	opts__free(&o);

	/* When TLS is on and which port it defaults to, as with mosquitto_pub. */
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-t", "a", "-n", "--cafile", "ca.crt")), OPTS_OK);
	CHECK(opts__tls(&o) && opts__port(&o) == 8883);
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-t", "a", "-n", "--psk", "00ff", "--psk-identity", "i", "-p", "1")), OPTS_OK);
	CHECK(opts__tls(&o) && opts__port(&o) == 1);
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-t", "a", "-n", "--tls-use-os-certs")), OPTS_OK);
	CHECK(opts__tls(&o) && opts__port(&o) == 1883);
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-t", "a", "-n", "-p", "8883")), OPTS_OK);
	CHECK(opts__tls(&o));
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_PUB, ARGS("-t", "a", "-n", "--insecure", "--cert", "c", "--key", "k", "--tls-alpn", "x",
	                                 "--tls-version", "tlsv1.3", "--ciphers", "HIGH")),
	         OPTS_OK);
	CHECK(!opts__tls(&o) && opts__port(&o) == 1883);
	opts__free(&o);

	CHECK_EQ(load(&o, TOOL_PUB, ARGS("--unix", "/tmp/s", "-t", "a", "-l")), OPTS_OK);
	CHECK(o.port == 0 && !strcmp(o.host, "/tmp/s") && o.pub_mode == PUB_STDIN_LINE);
	opts__free(&o);
}

static void check_properties(void)
{
	struct tool_opts o;
	CHECK_EQ(load(&o, TOOL_PUB,
	              ARGS("-t", "a", "-m", "x", "-D", "publish", "user-property", "k", "v", "-D", "PUBLISH",
	                   "Content-Type", "text/plain", "-D", "publish", "message-expiry-interval", "30", "-D",
	                   "connect", "receive-maximum", "7", "-D", "will", "will-delay-interval", "3", "-D", "publish",
	                   "topic-alias", "1")),
	         OPTS_OK);
	CHECK_EQ(o.protocol_version, MQTT_V5);
	CHECK_EQ(o.nprops, 6u);
	CHECK(o.props[0].cmd == OPT_CMD_PUBLISH && o.props[0].id == MQTT_PROP_USER_PROPERTY &&
	      !strcmp(o.props[0].name, "k") && !strcmp(o.props[0].str, "v"));
	CHECK(o.props[1].id == MQTT_PROP_CONTENT_TYPE && !strcmp(o.props[1].str, "text/plain"));
	CHECK(o.props[2].id == MQTT_PROP_MESSAGE_EXPIRY_INTERVAL && o.props[2].value == 30);
	CHECK(o.props[3].cmd == OPT_CMD_CONNECT && o.props[3].value == 7);
	CHECK(o.props[4].cmd == OPT_CMD_WILL);
	CHECK(o.have_topic_alias);
	opts__free(&o);

	/* -c in MQTT 5: a session that never expires, added to the CONNECT properties. */
	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-t", "a", "-V", "5", "-c", "-i", "me")), OPTS_OK);
	CHECK(o.nprops == 1 && o.props[0].id == MQTT_PROP_SESSION_EXPIRY_INTERVAL && o.props[0].value == UINT32_MAX);
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-t", "a", "-V", "5", "-x", "0x10")), OPTS_OK);
	CHECK(o.nprops == 1 && o.props[0].value == 16);
	opts__free(&o);
	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-t", "a", "-x", "10")), OPTS_OK);
	CHECK_EQ(o.nprops, 0u); /* MQTT 3.1.1: no properties */
	opts__free(&o);
}

static void check_errors(void)
{
	expect_error(TOOL_PUB, ARGS("-Z"), "Error: Unknown option '-Z'.\n");
	expect_error(TOOL_PUB, ARGS("-v"), "Error: Unknown option '-v'.\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-m", "x"), "Error: Unknown option '-m'.\n");
	expect_error(TOOL_RR, ARGS("-C", "2"), "Error: Unknown option '-C'.\n");
	expect_error(TOOL_PUB, ARGS("-t"), "Error: -t argument given but no topic specified.\n\n");
	expect_error(TOOL_PUB, ARGS("--host"), "Error: -h argument given but no host specified.\n\n");
	expect_error(TOOL_PUB, ARGS("-V"), "Error: --protocol-version argument given but no version specified.\n\n");
	expect_error(TOOL_PUB, ARGS("-M"), "Error: -M argument given but max_inflight not specified.\n\n");
	expect_error(TOOL_PUB, ARGS("-t", "a/#", "-m", "x"),
	             "Error: Invalid publish topic 'a/#', does it contain '+' or '#'?\n");
	expect_error(TOOL_SUB, ARGS("-t", "a/#/b"),
	             "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-T", "a+"),
	             "Error: Invalid filter topic 'a+', are all '+' and '#' wildcards correct?\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-U", "#/"),
	             "Error: Invalid unsubscribe topic '#/', are all '+' and '#' wildcards correct?\n");
	expect_error(TOOL_RR, ARGS("-e", "b/#"), "Error: Invalid response topic 'b/#', does it contain '+' or '#'?\n");
	expect_error(TOOL_PUB, ARGS("-t", "a\xff"), "Error: Malformed UTF-8 in -t argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-t", "a\x01"), "Error: Malformed UTF-8 in -t argument.\n\n");
	expect_error(TOOL_PUB, ARGS("--will-topic", "\xc0\x80"),
	             "Error: Malformed UTF-8 in --will-topic argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-L", "foo://x/y"), "Error: unsupported URL scheme.\n\n");
	expect_error(TOOL_PUB, ARGS("-L", "mqtt://localhost"),
	             "Error: Invalid URL for -L argument specified - topic missing.\n");
	expect_error(TOOL_PUB, ARGS("-L", "mqtt://h/a\xff"), "Error: Malformed UTF-8 in -L topic argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-q", "3"), "Error: Invalid QoS given: 3\n");
	expect_error(TOOL_PUB, ARGS("-p", "99999"), "Error: Invalid port given: 99999\n");
	expect_error(TOOL_PUB, ARGS("-k", "2"),
	             "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n");
	expect_error(TOOL_PUB, ARGS("-V", "4"), "Error: Invalid protocol version argument given.\n\n");
	expect_error(TOOL_PUB, ARGS("-m", "x", "-n"), "Error: Only one type of message can be sent at once.\n\n");
	expect_error(TOOL_PUB, ARGS("-i", "a", "-I", "b"), "Error: -i and -I argument cannot be used together.\n\n");
	expect_error(TOOL_PUB, ARGS("--will-qos", "5"), "Error: Invalid will QoS 5.\n\n");
	expect_error(TOOL_PUB, ARGS("--repeat", "0"), "Error: --repeat argument must be >0.\n\n");
	expect_error(TOOL_PUB, ARGS("--repeat-delay", "-1"), "Error: --repeat-delay argument must be >=0.0.\n\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-C", "abc"), "Error: Invalid message count \"0\".\n\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-W", "-3"), "Error: Invalid timeout \"-3\".\n\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "--random-filter", "0"),
	             "Error: --random-filter chance must be between 0.1-100.0\n\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-F", "%z"), "Error: Invalid format specifier 'z'.\n");
	expect_error(TOOL_PUB, ARGS("-x", "abc"), "Error: session-expiry-interval not a number.\n\n");
	expect_error(TOOL_PUB, ARGS("-x", "-5"), "Error: session-expiry-interval out of range.\n\n");
	expect_error(TOOL_PUB, ARGS("--proxy", "foo"), "Error: Unsupported proxy protocol: foo\n");
	/* Checks once everything is read. */
	expect_error(TOOL_SUB, ARGS("-p", "1"), "Error: You must specify a topic to subscribe to.\n");
	expect_error(TOOL_SUB, ARGS("-t", "a", "-c"),
	             "Error: You must provide a client id if you are using the -c option.\n");
	expect_error(TOOL_PUB, ARGS("-t", "a", "-V", "5", "-c"),
	             "Error: You must provide a client id if you are using an infinite session expiry interval.\n");
	expect_error(TOOL_RR, ARGS("-t", "a", "-c"),
	             "Error: You must provide a client id if you are using an infinite session expiry interval.\n");
	expect_error(TOOL_SUB, ARGS("--will-payload", "x"), "Error: Will payload given, but no will topic given.\n");
	expect_error(TOOL_PUB, ARGS("--will-retain"), "Error: Will retain given, but no will topic given.\n");
	expect_error(TOOL_PUB, ARGS("--cert", "c"),
	             "Error: Both certfile and keyfile must be provided if one of them is set.\n");
	expect_error(TOOL_PUB, ARGS("--psk", "ab"), "Error: --psk-identity required if --psk used.\n");
}

static void check_property_errors(void)
{
	expect_error(TOOL_PUB, ARGS("-D", "publish", "topic-alias"),
	             "Error: --property argument given but not enough arguments specified.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "connect", "user-property", "a"),
	             "Error: --property argument given but not enough arguments specified.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "bogus", "foo", "1"),
	             "Error: Invalid command given in --property argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "suback", "user-property", "a", "b"),
	             "Error: Invalid command given in --property argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "publish", "foo", "1"),
	             "Error: Invalid property name given in --property argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "connect", "topic-alias", "1"),
	             "Error: topic-alias property not allowed for connect in --property argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "publish", "subscription-identifier", "3"),
	             "Error: subscription-identifier property not supported for publish in --property argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "puback", "user-property", "a", "b"),
	             "Error: user-property property not supported for puback in --property argument.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "connack", "user-property", "a", "b"), "");
	expect_error(TOOL_PUB, ARGS("-D", "publish", "topic-alias", "70000"),
	             "Error: Property value (70000) out of range for property topic-alias.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "publish", "message-expiry-interval", "4294967296"),
	             "Error: Property value (4294967296) out of range for property message-expiry-interval.\n\n");
	expect_error(TOOL_PUB, ARGS("-D", "subscribe", "subscription-identifier", "268435456"),
	             "Error adding property subscription-identifier 4\n");
	expect_error(
	    TOOL_PUB,
	    ARGS("-t", "a", "-m", "x", "-D", "publish", "content-type", "x", "-D", "publish", "content-type", "y"),
	    "Error in PUBLISH properties: Duplicate property in property list\n");
	expect_error(TOOL_PUB,
	             ARGS("-t", "a", "-m", "x", "-D", "publish", "topic-alias", "0", "-D", "connect",
	                  "maximum-packet-size", "0"),
	             "Error in CONNECT properties: A network protocol error occurred when communicating with the "
	             "broker.\n");
	expect_error(TOOL_PUB,
	             ARGS("-t", "a", "-m", "x", "-V", "5", "-x", "10", "-D", "connect", "session-expiry-interval", "5"),
	             "Error in CONNECT properties: Duplicate property in property list\n");
	expect_error(TOOL_PUB,
	             ARGS("-t", "a", "-m", "x", "-D", "will", "will-delay-interval", "1", "-D", "will",
	                  "will-delay-interval", "2"),
	             "Error in Will properties: Duplicate property in property list\n");
	/* An extra word after a user property is an unknown option. */
	expect_error(TOOL_PUB, ARGS("-D", "publish", "user-property", "a", "b", "c"), "Error: Unknown option 'c'.\n");
}

static void check_options_file(void)
{
	char dir[] = "/tmp/midge-opts-XXXXXX";
	char path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/midge_sub", dir);
	FILE *f = fopen(path, "w");
	fputs("# comment\n-t from/file\n\n-v\r\n-F %t  %p\n-h somewhere\n", f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", dir, 1);

	struct tool_opts o;
	CHECK_EQ(load(&o, TOOL_SUB, ARGS("-t", "cmd/line", "-h", "here")), OPTS_OK);
	CHECK_EQ(o.ntopics, 2u);
	CHECK(!strcmp(o.topics[0], "from/file") && !strcmp(o.topics[1], "cmd/line"));
	CHECK(o.verbose);
	CHECK(!strcmp(o.format, "%t  %p"));
	CHECK(!strcmp(o.host, "here"));
	opts__free(&o);

	f = fopen(path, "w");
	fputs("-q 7\n", f);
	fclose(f);
	expect_error(TOOL_SUB, ARGS("-t", "a"), "Error: Invalid QoS given: 7\n");

	char buf[300];
	CHECK(!strcmp(opts__file_path(TOOL_RR, buf, sizeof(buf)) + strlen(dir), "/midge_rr"));
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/x", 1);
	CHECK(!strcmp(opts__file_path(TOOL_PUB, buf, sizeof(buf)), "/home/x/.config/midge_pub"));
	unlink(path);
	rmdir(dir);
}

static void check_topic_rules(void)
{
	CHECK(rules__sub_topic("#") && rules__sub_topic("a/+/b") && rules__sub_topic("+") && rules__sub_topic(""));
	CHECK(!rules__sub_topic("a#") && !rules__sub_topic("a/#/b") && !rules__sub_topic("a+/b"));
	CHECK(rules__pub_topic("a/b") && rules__pub_topic("") && !rules__pub_topic("a/+"));
	CHECK(rules__utf8("h\xc3\xa9") && rules__utf8("\xf0\x9f\x98\x80"));
	CHECK(!rules__utf8("\xed\xa0\x80") && !rules__utf8("\xef\xbf\xbf") && !rules__utf8("\x7f") &&
	      !rules__utf8("\xc2\x85") && !rules__utf8("\xe0\x80\x80") && !rules__utf8("\xc3"));
}

int main(void)
{
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/nonexistent-midge-home", 1);
	check_defaults();
	check_url_and_connection();
	check_properties();
	check_errors();
	check_property_errors();
	check_options_file();
	check_topic_rules();
	free(err_text);
	CHECK_DONE();
}
