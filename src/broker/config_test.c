/* Unit tests for the configuration parser: options, defaults, scoping, include_dir and messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "config.h"
#include "midge/midge.h"

static char err[512];

/* Parses text into a fresh config c (caller finis it). Returns config__parse's result. */
static int parse(struct config *c, const char *text)
{
	config__defaults(c);
	return config__parse(c, "t.conf", text, strlen(text), err, sizeof(err));
}

/* Parses text, expecting failure with exactly the message msg. */
static void expect_err(const char *text, const char *msg)
{
	struct config c;
	int rc = parse(&c, text);
	CHECK_EQ(rc, MIDGE_ERR_INVAL);
	if (strcmp(err, msg) != 0) fprintf(stderr, "  text: %s\n  got:  %s\n  want: %s\n", text, err, msg);
	CHECK(strcmp(err, msg) == 0);
	config__fini(&c);
}

/* Parses text, expecting success with exactly one warning msg (or none when msg is NULL), as Mosquitto
 * accepts what follows an option's values. */
static void expect_warn(const char *text, const char *msg)
{
	struct config c;
	CHECK_EQ(parse(&c, text), 0);
	CHECK_EQ(c.nwarnings, msg ? 1u : 0u);
	if (msg && c.nwarnings == 1) {
		if (strcmp(c.warnings[0], msg) != 0) fprintf(stderr, "  got:  %s\n  want: %s\n", c.warnings[0], msg);
		CHECK(strcmp(c.warnings[0], msg) == 0);
	}
	config__fini(&c);
}

/* Parses text, expecting success. */
static void expect_ok(const char *text)
{
	struct config c;
	int rc = parse(&c, text);
	if (rc) fprintf(stderr, "  text: %s\n  error: %s\n", text, err);
	CHECK_EQ(rc, 0);
	config__fini(&c);
}

static void test_defaults(void)
{
	struct config c;
	config__defaults(&c);
	CHECK_EQ(c.nlisteners, 0);
	CHECK_EQ(c.threads, 0);
	CHECK(c.allow_zero_length_clientid);
	CHECK_EQ(c.max_keepalive, 65535);
	CHECK_EQ(c.max_packet_size, 0);
	CHECK_EQ(c.message_size_limit, 0);
	CHECK_EQ(c.max_inflight_messages, 20);
	CHECK_EQ(c.max_queued_messages, 1000);
	CHECK_EQ(c.max_queued_bytes, 0);
	CHECK(!c.queue_qos0_messages);
	CHECK(c.retain_available);
	CHECK_EQ(c.sys_interval, 10);
	CHECK_EQ(c.persistent_client_expiration, 0);
	CHECK(!c.upgrade_outgoing_qos);
	CHECK_EQ(c.log_dest, LOG_DEST_STDERR);
	CHECK_EQ(c.log_type, LOG_T_ERR | LOG_T_WARNING | LOG_T_NOTICE | LOG_T_INFO);
	CHECK(c.log_timestamp);
	CHECK(c.log_timestamp_format == NULL);
	CHECK(c.connection_messages);
	CHECK(c.pid_file == NULL);
	CHECK(strcmp(config__user(&c), "mosquitto") == 0);
	CHECK(!c.per_listener_settings);
	CHECK_EQ(c.listen_backlog, 1024);
	CHECK_EQ(c.connect_timeout, 10);
	CHECK_EQ(c.cluster_node_timeout, 5);
	CHECK_EQ(c.max_output_bytes, 16777216);
	config__fini(&c);
	/* An empty file and one of comments and blanks change nothing. */
	CHECK_EQ(parse(&c, ""), 0);
	CHECK_EQ(c.nlisteners, 0);
	config__fini(&c);
	CHECK_EQ(parse(&c, "# comment\n\n   \t\n   # indented comment\r\n"), 0);
	CHECK_EQ(c.max_inflight_messages, 20);
	config__fini(&c);
}

static void test_every_option(void)
{
	struct config c;
	const char *text = "allow_zero_length_clientid false\n"
	                   "max_keepalive 60\n"
	                   "max_packet_size 1000\n"
	                   "message_size_limit 500\n"
	                   "max_inflight_messages 10\n"
	                   "max_queued_messages 0\n"
	                   "max_queued_bytes 5000000000\n"
	                   "queue_qos0_messages true\n"
	                   "retain_available false\n"
	                   "sys_interval 0\n"
	                   "persistent_client_expiration 2d\n"
	                   "upgrade_outgoing_qos true\n"
	                   "log_timestamp false\n"
	                   "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
	                   "connection_messages false\n"
	                   "pid_file /run/midge dir/midge.pid\n"
	                   "user nobody\n"
	                   "per_listener_settings false\n"
	                   "threads 4\n"
	                   "listen_backlog 128\n"
	                   "connect_timeout 30\n"
	                   "cluster_node_timeout 2\n"
	                   "max_output_bytes 65536\n"
	                   "set_tcp_nodelay true\n"
	                   "allow_anonymous true\n"
	                   "persistence false\n";
	CHECK_EQ(parse(&c, text), 0);
	CHECK(!c.allow_zero_length_clientid);
	CHECK_EQ(c.max_keepalive, 60);
	CHECK_EQ(c.max_packet_size, 1000);
	CHECK_EQ(c.message_size_limit, 500);
	CHECK_EQ(c.max_inflight_messages, 10);
	CHECK_EQ(c.max_queued_messages, 0);
	CHECK_EQ(c.max_queued_bytes, 5000000000ULL);
	CHECK(c.queue_qos0_messages);
	CHECK(!c.retain_available);
	CHECK_EQ(c.sys_interval, 0);
	CHECK_EQ(c.persistent_client_expiration, 2 * 86400);
	CHECK(c.upgrade_outgoing_qos);
	CHECK(!c.log_timestamp);
	CHECK(c.log_timestamp_format && strcmp(c.log_timestamp_format, "%Y-%m-%dT%H:%M:%S") == 0);
	CHECK(!c.connection_messages);
	CHECK(c.pid_file && strcmp(c.pid_file, "/run/midge dir/midge.pid") == 0);
	CHECK(strcmp(config__user(&c), "nobody") == 0);
	CHECK(!c.per_listener_settings);
	CHECK_EQ(c.threads, 4);
	CHECK_EQ(c.listen_backlog, 128);
	CHECK_EQ(c.connect_timeout, 30);
	CHECK_EQ(c.cluster_node_timeout, 2);
	CHECK_EQ(c.max_output_bytes, 65536);
	CHECK_EQ(c.nlisteners, 0);
	CHECK_EQ(c.nwarnings, 0);
	config__fini(&c);

	/* Booleans also take 1 and 0, as in Mosquitto; the last value given wins. */
	CHECK_EQ(parse(&c, "retain_available 0\nqueue_qos0_messages 1\nuser a\nuser b\n"), 0);
	CHECK(!c.retain_available);
	CHECK(c.queue_qos0_messages);
	CHECK(strcmp(c.user, "b") == 0);
	config__fini(&c);

	/* Limits at both ends. */
	CHECK_EQ(parse(&c, "max_inflight_messages 65535\nmax_keepalive 0\nmax_packet_size 20\nsys_interval 65535\n"
	                   "message_size_limit 268435455\nmax_connections -1\n"),
	         0);
	CHECK_EQ(c.max_inflight_messages, 0); /* Mosquitto: 65535 means no limit */
	CHECK_EQ(c.max_keepalive, 0);
	CHECK_EQ(c.max_packet_size, 20);
	CHECK_EQ(c.sys_interval, 65535);
	CHECK_EQ(c.message_size_limit, 268435455);
	CHECK_EQ(c.nlisteners, 0); /* max_connections -1 is the default: no default listener made */
	config__fini(&c);
	CHECK_EQ(parse(&c, "max_packet_size 0\nmax_packet_size 268435460\n"), 0);
	CHECK_EQ(c.max_packet_size, 268435460);
	config__fini(&c);
}

static void test_durations(void)
{
	struct config c;
	static const struct {
		const char *v;
		int64_t secs;
	} ok[] = {{"1h", 3600}, {"2d", 172800}, {"1w", 604800}, {"3m", 3 * 2592000}, {"1y", 31536000}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[64];
		snprintf(text, sizeof(text), "persistent_client_expiration %s\n", ok[i].v);
		CHECK_EQ(parse(&c, text), 0);
		CHECK_EQ(c.persistent_client_expiration, ok[i].secs);
		config__fini(&c);
	}
	const char *bad[] = {"10", "h", "0d", "-1d", "1.5d", "1x", "99999999999999999999y"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[64], msg[256];
		snprintf(text, sizeof(text), "persistent_client_expiration %s", bad[i]);
		snprintf(msg, sizeof(msg),
		         "t.conf:1: invalid value '%s' for 'persistent_client_expiration' (expected a positive number "
		         "followed by s, h, d, w, m or y, e.g. 2d)",
		         bad[i]);
		expect_err(text, msg);
	}
}

static void test_listeners(void)
{
	struct config c;
	const char *text = "max_connections 5\n" /* before any listener: the default listener */
	                   "listener 1883\n"
	                   "listener 8883 127.0.0.1\n"
	                   "bind_interface eth0\n"
	                   "socket_domain ipv4\n"
	                   "max_connections 100\n"
	                   "protocol mqtt\n"
	                   "listener 9000 ::1\n"
	                   "socket_domain ipv6\n";
	CHECK_EQ(parse(&c, text), 0);
	CHECK_EQ(c.nlisteners, 4);
	if (c.nlisteners == 4) {
		struct listener_conf *l = c.listeners;
		CHECK(l[0].is_default);
		CHECK_EQ(l[0].port, 1883);
		CHECK_EQ(l[0].max_connections, 5);
		CHECK_EQ(l[0].line, 1);
		CHECK(strcmp(l[0].file, "t.conf") == 0);
		CHECK(!l[1].is_default);
		CHECK_EQ(l[1].port, 1883);
		CHECK(l[1].bind_address == NULL);
		CHECK(l[1].bind_interface == NULL);
		CHECK_EQ(l[1].socket_domain, AF_UNSPEC);
		CHECK_EQ(l[1].max_connections, -1);
		CHECK_EQ(l[2].port, 8883);
		CHECK(l[2].bind_address && strcmp(l[2].bind_address, "127.0.0.1") == 0);
		CHECK(l[2].bind_interface && strcmp(l[2].bind_interface, "eth0") == 0);
		CHECK_EQ(l[2].socket_domain, AF_INET);
		CHECK_EQ(l[2].max_connections, 100);
		CHECK_EQ(l[2].line, 3);
		CHECK_EQ(l[3].port, 9000);
		CHECK_EQ(l[3].socket_domain, AF_INET6);
		CHECK_EQ(l[3].max_connections, -1);
	}
	/* The default listener and a plain `listener 1883` clash. */
	CHECK_EQ(config__validate(&c, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "t.conf:2: duplicate listener on port 1883 (first declared at t.conf:1)") == 0);
	config__fini(&c);

	/* port and bind_address make (or change) the default listener, with a deprecation note. */
	CHECK_EQ(parse(&c, "listener 8883\nport 1884\nbind_address 10.0.0.1\nmax_connections 7\n"), 0);
	CHECK_EQ(c.nlisteners, 2);
	if (c.nlisteners == 2) {
		CHECK(c.listeners[1].is_default);
		CHECK_EQ(c.listeners[1].port, 1884);
		CHECK(strcmp(c.listeners[1].bind_address, "10.0.0.1") == 0);
		CHECK_EQ(c.listeners[1].max_connections, -1);
		CHECK_EQ(c.listeners[0].max_connections, 7); /* listener scope: the latest `listener` */
	}
	CHECK_EQ(c.nwarnings, 2);
	if (c.nwarnings == 2) {
		CHECK(strcmp(c.warnings[0], "t.conf:2: option 'port' is deprecated, use 'listener 1884' instead") == 0);
	}
	CHECK_EQ(config__validate(&c, err, sizeof(err)), 0);
	config__fini(&c);

	/* Same port on different addresses or disjoint socket domains is fine; same address is not. */
	CHECK_EQ(parse(&c, "listener 1883 127.0.0.1\nlistener 1883 ::1\nlistener 1884\nsocket_domain ipv4\n"
	                   "listener 1884\nsocket_domain ipv6\n"),
	         0);
	CHECK_EQ(config__validate(&c, err, sizeof(err)), 0);
	config__fini(&c);
	CHECK_EQ(parse(&c, "listener 1883 127.0.0.1\n\nlistener 1883 127.0.0.1\n"), 0);
	CHECK_EQ(config__validate(&c, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "t.conf:3: duplicate listener on port 1883 address 127.0.0.1 (first declared at t.conf:1)") ==
	      0);
	config__fini(&c);

	/* Listener errors. */
	expect_err("listener", "t.conf:1: missing value for 'listener'");
	expect_err("listener 70000", "t.conf:1: invalid value '70000' for 'listener' (expected a port 1..65535)");
	expect_err("listener 0", "t.conf:1: invalid value '0' for 'listener' (expected a port 1..65535)");
	expect_err("listener x", "t.conf:1: invalid value 'x' for 'listener' (expected a port 1..65535)");
	expect_warn("listener 1883 0.0.0.0 extra", "t.conf:1: ignored extra argument 'extra' for 'listener'");
	expect_err("listener 0 /tmp/mqtt.sock",
	           "t.conf:1: option 'listener' with a Unix socket path is not supported yet (it arrives in a later "
	           "release)");
	expect_err("port 0", "t.conf:1: invalid value '0' for 'port' (expected a port 1..65535)");
	expect_err("socket_domain ipv5", "t.conf:1: invalid value 'ipv5' for 'socket_domain' (expected ipv4 or ipv6)");
	expect_err("listener 1\nmax_connections -2",
	           "t.conf:2: invalid value '-2' for 'max_connections' (expected -1 for no limit or an integer "
	           "0..2147483647)");
	struct config wc;
	CHECK_EQ(parse(&wc, "websockets_headers_size 2048\nlistener 8080\nprotocol websockets\nhttp_dir /var/www x\n"
	                    "websockets_origin http://a.example\nwebsockets_origin https://b.example\n"
	                    "websockets_log_level 255\nlistener 1883\n"),
	         0);
	CHECK(wc.listeners[0].websockets && !wc.listeners[1].websockets);
	CHECK(!strcmp(wc.listeners[0].http_dir, "/var/www x"));
	CHECK_EQ(wc.listeners[0].norigins, 2);
	CHECK(!strcmp(wc.listeners[0].origins[1], "https://b.example"));
	CHECK_EQ(wc.websockets_headers_size, 2048);
	config__fini(&wc);
	expect_err("websockets_headers_size 70000",
	           "t.conf:1: invalid value '70000' for 'websockets_headers_size' (expected an integer 0..65536)");
	expect_err("protocol http", "t.conf:1: invalid value 'http' for 'protocol' (expected mqtt, websockets or mqttsn)");
	expect_err("bind_interface", "t.conf:1: missing value for 'bind_interface'");
}

static void test_per_listener_settings(void)
{
	struct config c;
	CHECK_EQ(parse(&c, "per_listener_settings true\nlistener 1883\nallow_zero_length_clientid false\n"
	                   "listener 1884\n"),
	         0);
	CHECK(c.per_listener_settings);
	CHECK(c.allow_zero_length_clientid);
	CHECK_EQ(c.nlisteners, 2);
	if (c.nlisteners == 2) {
		CHECK(!config__allow_zero_length_clientid(&c, &c.listeners[0]));
		CHECK(config__allow_zero_length_clientid(&c, &c.listeners[1]));
	}
	config__fini(&c);
	CHECK_EQ(parse(&c, "listener 1883\nallow_zero_length_clientid false\n"), 0);
	CHECK(!c.allow_zero_length_clientid);
	CHECK(!config__allow_zero_length_clientid(&c, &c.listeners[0]));
	config__fini(&c);
	/* Once true it stays true, as in Mosquitto. */
	CHECK_EQ(parse(&c, "per_listener_settings true\nper_listener_settings false\n"), 0);
	CHECK(c.per_listener_settings);
	config__fini(&c);
	expect_err("log_dest dlt", "t.conf:1: 'log_dest dlt' is not supported: Midge has no DLT support (use syslog or file)");
	expect_err("allow_anonymous true\nper_listener_settings true",
	           "t.conf:2: option 'per_listener_settings' must come before any security option");
}

static void test_security(void)
{
	struct config c;
	CHECK_EQ(parse(&c, "listener 1883\npassword_file /etc/midge/pw file\nacl_file acl\nallow_anonymous false\n"), 0);
	CHECK_EQ(c.allow_anonymous, 0);
	CHECK(!config__allow_anonymous(&c, &c.listeners[0]));
	CHECK(!strcmp(config__password_file(&c, &c.listeners[0]), "/etc/midge/pw file"));
	CHECK(!strcmp(config__acl_file(&c, NULL), "acl"));
	config__fini(&c);
	/* Unset is false (Mosquitto 2); main.c lets anonymous clients in when no listener is configured. */
	CHECK_EQ(parse(&c, "listener 1883\n"), 0);
	CHECK_EQ(c.allow_anonymous, -1);
	CHECK(!config__allow_anonymous(&c, &c.listeners[0]));
	config__fini(&c);
	CHECK_EQ(parse(&c, "per_listener_settings true\nlistener 1883\nallow_anonymous true\n"
	                   "listener 1884\npassword_file p2\nacl_file a2\n"),
	         0);
	CHECK(config__allow_anonymous(&c, &c.listeners[0]));
	CHECK(!config__allow_anonymous(&c, &c.listeners[1]));
	CHECK(config__password_file(&c, &c.listeners[0]) == NULL);
	CHECK(!strcmp(config__password_file(&c, &c.listeners[1]), "p2"));
	CHECK(!strcmp(config__acl_file(&c, &c.listeners[1]), "a2"));
	CHECK(c.password_file == NULL);
	config__fini(&c);
	expect_err("password_file", "t.conf:1: missing value for 'password_file'");
	expect_err("allow_anonymous maybe", "t.conf:1: invalid value 'maybe' for 'allow_anonymous' (expected true or false)");
	/* The encryption guard */
	CHECK_EQ(parse(&c, "encrypted_topic secret/#\nencrypted_topic +/pw\nlistener 8883\nencrypted_only true\n"), 0);
	CHECK_EQ(c.nencrypted_topics, 2);
	CHECK(!strcmp(c.encrypted_topics[1], "+/pw"));
	CHECK(c.listeners[0].encrypted_only);
	config__fini(&c);
	expect_err("encrypted_topic a/#/b", "t.conf:1: invalid topic filter 'a/#/b' for 'encrypted_topic'");
	expect_err("encrypted_topic $share/g/a", "t.conf:1: invalid topic filter '$share/g/a' for 'encrypted_topic'");
}

static void test_logging(void)
{
	struct config c;
	/* The first log_dest replaces the default; later ones (and repeats) accumulate. */
	CHECK_EQ(parse(&c, "log_dest stdout\nlog_dest syslog\nlog_dest stdout\nlog_dest file /var/log/midge log.txt\n"
	                   "log_dest topic\n"),
	         0);
	CHECK_EQ(c.log_dest, LOG_DEST_STDOUT | LOG_DEST_SYSLOG | LOG_DEST_FILE | LOG_DEST_TOPIC);
	CHECK(c.log_file && strcmp(c.log_file, "/var/log/midge log.txt") == 0);
	config__fini(&c);
	CHECK_EQ(parse(&c, "log_dest stderr\nlog_dest none\n"), 0);
	CHECK_EQ(c.log_dest, LOG_DEST_NONE);
	config__fini(&c);
	CHECK_EQ(parse(&c, "log_dest none\nlog_dest stderr\n"), 0);
	CHECK_EQ(c.log_dest, LOG_DEST_STDERR);
	config__fini(&c);

	CHECK_EQ(parse(&c, "log_type error\nlog_type subscribe\nlog_type error\nlog_type unsubscribe\n"
	                   "log_type websockets\nlog_type debug\n"),
	         0);
	CHECK_EQ(c.log_type, LOG_T_ERR | LOG_T_SUBSCRIBE | LOG_T_UNSUBSCRIBE | LOG_T_WEBSOCKETS | LOG_T_DEBUG);
	config__fini(&c);
	CHECK_EQ(parse(&c, "log_type warning\nlog_type notice\nlog_type information\n"), 0);
	CHECK_EQ(c.log_type, LOG_T_WARNING | LOG_T_NOTICE | LOG_T_INFO);
	config__fini(&c);
	CHECK_EQ(parse(&c, "log_type all\n"), 0);
	CHECK_EQ(c.log_type, LOG_T_ALL);
	config__fini(&c);
	CHECK_EQ(parse(&c, "log_type all\nlog_type none\nlog_type debug\n"), 0);
	CHECK_EQ(c.log_type, LOG_T_DEBUG);
	config__fini(&c);

	expect_err("log_dest", "t.conf:1: missing value for 'log_dest'");
	expect_err("log_dest file", "t.conf:1: missing file name for 'log_dest file'");
	expect_err("log_dest file a\nlog_dest file b", "t.conf:2: option 'log_dest file' given twice");
	expect_warn("log_dest stdout stderr", "t.conf:1: ignored extra argument 'stderr' for 'log_dest'");
	expect_err("log_dest console",
	           "t.conf:1: invalid value 'console' for 'log_dest' (expected stdout, stderr, syslog, file PATH, "
	           "topic, dlt or none)");
	expect_err("log_type verbose",
	           "t.conf:1: invalid value 'verbose' for 'log_type' (expected error, warning, notice, information, "
	           "subscribe, unsubscribe, websockets, debug, all or none)");
	expect_err("log_timestamp_format", "t.conf:1: missing value for 'log_timestamp_format'");
}

static void test_errors(void)
{
	expect_err("foo bar", "t.conf:1: unknown option 'foo'");
	expect_err("\n\n# c\nmax_inflight_messages abc",
	           "t.conf:4: invalid value 'abc' for 'max_inflight_messages' (expected an integer 0..65535)");
	expect_err("max_inflight_messages 65536",
	           "t.conf:1: invalid value '65536' for 'max_inflight_messages' (expected an integer 0..65535)");
	expect_err("max_inflight_messages -1",
	           "t.conf:1: invalid value '-1' for 'max_inflight_messages' (expected an integer 0..65535)");
	expect_err("max_keepalive 65536",
	           "t.conf:1: invalid value '65536' for 'max_keepalive' (expected an integer 0..65535)");
	expect_err("max_packet_size 19",
	           "t.conf:1: invalid value '19' for 'max_packet_size' (expected 0 for no limit or an integer "
	           "20..268435460)");
	expect_err("max_packet_size 268435461",
	           "t.conf:1: invalid value '268435461' for 'max_packet_size' (expected 0 for no limit or an integer "
	           "20..268435460)");
	expect_err("message_size_limit 268435456",
	           "t.conf:1: invalid value '268435456' for 'message_size_limit' (expected an integer 0..268435455)");
	expect_err("sys_interval 65536",
	           "t.conf:1: invalid value '65536' for 'sys_interval' (expected an integer 0..65535)");
	expect_err("max_queued_bytes -1",
	           "t.conf:1: invalid value '-1' for 'max_queued_bytes' (expected an integer 0..9223372036854775807)");
	expect_err("max_queued_messages 99999999999999999999999",
	           "t.conf:1: invalid value '99999999999999999999999' for 'max_queued_messages' (expected an integer "
	           "0..2147483647)");
	expect_err("threads 1025", "t.conf:1: invalid value '1025' for 'threads' (expected an integer 0..1024)");
	expect_err("listen_backlog 0",
	           "t.conf:1: invalid value '0' for 'listen_backlog' (expected an integer 1..65535)");
	expect_err("connect_timeout 0",
	           "t.conf:1: invalid value '0' for 'connect_timeout' (expected an integer 1..65535)");
	expect_err("cluster_node_timeout 0",
	           "t.conf:1: invalid value '0' for 'cluster_node_timeout' (expected an integer 1..3600)");
	expect_err("cluster_node_timeout 2.5",
	           "t.conf:1: invalid value '2.5' for 'cluster_node_timeout' (expected an integer 1..3600)");
	expect_err(
	    "max_output_bytes 1k",
	    "t.conf:1: invalid value '1k' for 'max_output_bytes' (expected an integer 1024..9223372036854775807)");
	expect_err("retain_available yes",
	           "t.conf:1: invalid value 'yes' for 'retain_available' (expected true or false)");
	expect_err("retain_available", "t.conf:1: missing value for 'retain_available'");
	expect_err("max_keepalive", "t.conf:1: missing value for 'max_keepalive'");
	expect_err("pid_file", "t.conf:1: missing value for 'pid_file'");
	expect_warn("retain_available false # trailing comment", NULL);
	expect_warn("listener 1883 127.0.0.1 #comment", NULL);
	expect_warn("user a b", "t.conf:1: ignored extra argument 'b' for 'user'");
	expect_warn("max_keepalive 1 2", "t.conf:1: ignored extra argument '2' for 'max_keepalive'");
	expect_err("max_keepalive +5",
	           "t.conf:1: invalid value '+5' for 'max_keepalive' (expected an integer 0..65535)");
	expect_err("max_keepalive 5x",
	           "t.conf:1: invalid value '5x' for 'max_keepalive' (expected an integer 0..65535)");
	expect_err("Listener 1883", "t.conf:1: unknown option 'Listener'");
	expect_err("bridge_foo 1", "t.conf:1: unknown option 'bridge_foo'");
	expect_err("store_clean_interval 10", "t.conf:1: unknown option 'store_clean_interval'");
	/* A NUL byte inside a line. */
	struct config c;
	config__defaults(&c);
	CHECK_EQ(config__parse(&c, "n.conf", "user a\0b\n", 9, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "n.conf:1: line contains a NUL byte") == 0);
	config__fini(&c);
	/* A tiny error buffer truncates without overflowing; a NULL one is fine. */
	char small[8];
	config__defaults(&c);
	CHECK_EQ(config__parse(&c, "t.conf", "foo", 3, small, sizeof(small)), MIDGE_ERR_INVAL);
	CHECK(strlen(small) == 7);
	CHECK_EQ(config__parse(&c, "t.conf", "foo", 3, NULL, 0), MIDGE_ERR_INVAL);
	config__fini(&c);
}

static void test_syntax(void)
{
	struct config c;
	/* CRLF, tabs, surrounding blanks, a final line without newline, a UTF-8 BOM. */
	const char text[] = "\xEF\xBB\xBFmax_keepalive 30\r\n\t  sys_interval\t\t5   \r\n\r\n  # x\r\nthreads 2";
	CHECK_EQ(parse(&c, text), 0);
	CHECK_EQ(c.max_keepalive, 30);
	CHECK_EQ(c.sys_interval, 5);
	CHECK_EQ(c.threads, 2);
	config__fini(&c);
	/* A line number counts every line, comments and blanks included. */
	expect_err("# 1\n\n   \nfoo\n", "t.conf:4: unknown option 'foo'");
	expect_err("a\r\n", "t.conf:1: unknown option 'a'");
	/* Values with blanks keep their inner blanks for path-like options. */
	CHECK_EQ(parse(&c, "log_timestamp_format   %H:%M  %S  \n"), 0);
	CHECK(strcmp(c.log_timestamp_format, "%H:%M  %S") == 0);
	config__fini(&c);
	/* config__fini leaves a reusable, default config. */
	CHECK_EQ(parse(&c, "listener 1\npid_file x\nport 2\n"), 0);
	config__fini(&c);
	CHECK_EQ(c.nlisteners, 0);
	CHECK(c.listeners == NULL && c.files == NULL && c.warnings == NULL && c.pid_file == NULL);
	CHECK_EQ(c.max_inflight_messages, 20);
	config__fini(&c);
}

static void test_not_supported(void)
{
	expect_err("dhparamfile /etc/dh.pem",
	           "t.conf:1: option 'dhparamfile' is not supported yet (OpenSSL's built-in groups are used)");
	expect_err("listener 8883\n\n\n\n\n\ntls_engine pkcs11",
	           "t.conf:7: option 'tls_engine' is not supported yet (OpenSSL engines are not used)");
	expect_err("plugin_opt_foo bar",
	           "t.conf:1: option 'plugin_opt_foo' is not supported yet (Midge has no plugin interface yet; "
	           "password_file and acl_file are supported)");
	expect_err("auth_opt_backend x",
	           "t.conf:1: option 'auth_opt_backend' is not supported yet (Midge has no plugin interface yet; "
	           "password_file and acl_file are supported)");
	expect_err("persistence maybe", "t.conf:1: invalid value 'maybe' for 'persistence' (expected true or false)");
	expect_err("persistence_sync fast",
	           "t.conf:1: invalid value 'fast' for 'persistence_sync' (expected durable or group)");
	expect_err("persistence_corrupt delete",
	           "t.conf:1: invalid value 'delete' for 'persistence_corrupt' (expected refuse or move_aside)");
	expect_err("persistence_group_interval 0",
	           "t.conf:1: invalid value '0' for 'persistence_group_interval' (expected an integer 1..10000)");
	expect_err("persistence_location", "t.conf:1: missing value for 'persistence_location'");
	expect_err("connection b1\nbridge_receive_maximum 10",
	           "t.conf:2: option 'bridge_receive_maximum' is not supported yet (a Mosquitto 2.1 bridge option; "
	           "those of Mosquitto 2.0 are supported)");
	expect_err("mount_point a/",
	           "t.conf:1: option 'mount_point' is not supported yet (it arrives in a later release)");
	expect_err("max_qos 3", "t.conf:1: invalid value '3' for 'max_qos' (expected an integer 0..2)");
	/* Every Mosquitto 2 option name is recognised: none of these is an "unknown option". */
	static const char *names[] = {"dhparamfile",
	                              "tls_engine",
	                              "tls_engine_kpass_sha1",
	                              "tls_keyform",
	                              "disable_client_cert_date_checks",
	                              "plugin",
	                              "auth_plugin",
	                              "global_plugin",
	                              "auth_plugin_deny_special_chars",
	                              "bridge_max_topic_alias",
	                              "bridge_receive_maximum",
	                              "bridge_reload_type",
	                              "bridge_session_expiry_interval",
	                              "bridge_tcp_keepalive",
	                              "bridge_tcp_user_timeout",
	                              "maximum_qos",
	                              "check_retain_source",
	                              "memory_limit",
	                              "clientid_prefixes",
	                              "auto_id_prefix",
	                              "use_username_as_clientid",
	                              "global_max_clients",
	                              "global_max_connections",
	                              "max_inflight_bytes",
	                              "log_facility",
	                              "accept_protocol_versions",
	                              "enable_control_api",
	                              "quic_log_level"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct config c;
		char text[128];
		snprintf(text, sizeof(text), "%s xyz\n", names[i]);
		CHECK_EQ(parse(&c, text), MIDGE_ERR_INVAL);
		CHECK(strstr(err, "not supported yet") || strstr(err, "only supported as"));
		if (!strstr(err, names[i])) fprintf(stderr, "  %s: %s\n", names[i], err);
		CHECK(strstr(err, names[i]) != NULL);
		config__fini(&c);
	}
	/* The values Midge already behaves as are accepted. */
	expect_ok("allow_anonymous true\npersistence false\nretained_persistence false\nmax_qos 2\nmaximum_qos 2\n"
	          "check_retain_source true\nmemory_limit 0\nuse_username_as_clientid false\nglobal_max_clients -1\n"
	          "global_max_connections -1\nmax_inflight_bytes 0\nenable_control_api false\n"
	          "require_certificate false\nuse_identity_as_username 0\nuse_subject_as_username false\n"
	          "set_tcp_nodelay true\n");
	/* Deprecated or obsolete options are accepted with a note. */
	struct config c;
	CHECK_EQ(parse(&c, "set_tcp_nodelay false\nallow_duplicate_messages true\nretry_interval 20\n"), 0);
	CHECK_EQ(c.nwarnings, 3);
	if (c.nwarnings == 3) {
		CHECK(strcmp(c.warnings[0],
		             "t.conf:1: 'set_tcp_nodelay false' is ignored: Midge always sets TCP_NODELAY") == 0);
		CHECK(strcmp(c.warnings[2], "t.conf:3: option 'retry_interval' is obsolete and ignored") == 0);
	}
	config__fini(&c);
}

/* Writes text to dir/name. */
static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f) return;
	fputs(text, f);
	fclose(f);
}

static void remove_tree(const char *dir, const char *const *names, size_t n)
{
	char path[512];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		remove(path);
	}
	rmdir(dir);
}

static void test_include_dir(void)
{
	char tmpl[] = "/tmp/midge-config-test-XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir) return;
	char inc[300], main_path[300];
	snprintf(inc, sizeof(inc), "%s/conf.d", dir);
	CHECK_EQ(mkdir(inc, 0700), 0);
	/* Sorted by strcmp: "B.conf" < "a.conf" < "b.conf"; other names are skipped. */
	write_file(inc, "b.conf", "sys_interval 8\nlog_dest syslog\n");
	write_file(inc, "a.conf", "max_keepalive 2\nsys_interval 7\nmax_connections 9\n");
	write_file(inc, "B.conf", "max_keepalive 1\nlisten_backlog 5\nlog_dest stdout\n");
	write_file(inc, "c.conf.bak", "foo bar\n");
	write_file(inc, "readme", "foo bar\n");
	write_file(inc, ".conf", "foo bar\n");
	char sub[400];
	snprintf(sub, sizeof(sub), "%s/d.conf", inc);
	CHECK_EQ(mkdir(sub, 0700), 0); /* a directory named *.conf is skipped */
	char text[1024];
	snprintf(text, sizeof(text), "listener 1883\nmax_keepalive 9\ninclude_dir %s\nthreads 3\n", inc);
	write_file(dir, "main.conf", text);
	snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);

	struct config c;
	config__defaults(&c);
	int rc = config__load(&c, main_path, err, sizeof(err));
	if (rc) fprintf(stderr, "  %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(c.max_keepalive, 2); /* B.conf, then a.conf */
	CHECK_EQ(c.listen_backlog, 5);
	CHECK_EQ(c.sys_interval, 8); /* a.conf, then b.conf */
	CHECK_EQ(c.threads, 3);
	CHECK_EQ(c.log_dest, LOG_DEST_STDOUT | LOG_DEST_SYSLOG); /* accumulates across files */
	CHECK_EQ(c.nfiles, 4);
	/* Listener options at the top of an included file apply to the default listener. */
	CHECK_EQ(c.nlisteners, 2);
	if (c.nlisteners == 2) {
		CHECK_EQ(c.listeners[0].max_connections, -1);
		CHECK(c.listeners[1].is_default);
		CHECK_EQ(c.listeners[1].max_connections, 9);
		CHECK_EQ(c.listeners[1].line, 3);
		CHECK(strstr(c.listeners[1].file, "/conf.d/a.conf") != NULL);
	}
	config__fini(&c);

	/* An error inside an included file names that file and line. */
	write_file(inc, "e.conf", "\nbogus 1\n");
	config__defaults(&c);
	CHECK_EQ(config__load(&c, main_path, err, sizeof(err)), MIDGE_ERR_INVAL);
	char want[512];
	snprintf(want, sizeof(want), "%s/e.conf:2: unknown option 'bogus'", inc);
	CHECK(strcmp(err, want) == 0);
	config__fini(&c);

	/* include_dir inside an included file is ignored with a note, as Mosquitto ignores it. */
	snprintf(text, sizeof(text), "include_dir %s\n", inc);
	write_file(inc, "e.conf", text);
	config__defaults(&c);
	CHECK_EQ(config__load(&c, main_path, err, sizeof(err)), 0);
	CHECK_EQ(c.nwarnings, 1);
	if (c.nwarnings == 1) CHECK(strstr(c.warnings[0], "include_dir is ignored in an included file") != NULL);
	config__fini(&c);

	/* A missing directory, a missing file, a directory as the file. */
	config__defaults(&c);
	CHECK_EQ(config__parse(&c, "m.conf", "include_dir /nonexistent/midge", 30, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "m.conf:1: cannot open include_dir '/nonexistent/midge': No such file or directory") == 0);
	config__fini(&c);
	config__defaults(&c);
	CHECK_EQ(config__load(&c, "/nonexistent/midge.conf", err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strcmp(err, "/nonexistent/midge.conf: cannot read: No such file or directory") == 0);
	config__fini(&c);
	config__defaults(&c);
	CHECK_EQ(config__load(&c, dir, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strstr(err, "cannot read: Is a directory") != NULL);
	config__fini(&c);
	expect_err("include_dir", "t.conf:1: missing value for 'include_dir'");

	const char *names[] = {"a.conf", "b.conf", "B.conf", "c.conf.bak", "readme", ".conf", "e.conf"};
	rmdir(sub);
	remove_tree(inc, names, sizeof(names) / sizeof(names[0]));
	remove(main_path);
	rmdir(dir);
}

/* The MQTT 5 options (issue 3): Mosquitto's max_qos and max_topic_alias, Midge's response_information
 * and per-listener server_reference. */
static void test_mqtt5_options(void)
{
	struct config c;
	CHECK_EQ(parse(&c, "max_qos 1\nmax_topic_alias 0\nresponse_information resp/ here\n"
			   "listener 1883\nserver_reference other.example:1883\nlistener 1884\n"),
		 0);
	CHECK_EQ(c.max_qos, 1);
	CHECK_EQ(c.max_topic_alias, 0);
	CHECK(c.response_information && strcmp(c.response_information, "resp/ here") == 0);
	CHECK_EQ(c.nlisteners, 2);
	CHECK(c.listeners[0].server_reference && strcmp(c.listeners[0].server_reference, "other.example:1883") == 0);
	CHECK(c.listeners[1].server_reference == NULL);
	config__fini(&c);
	config__defaults(&c);
	CHECK_EQ(c.max_qos, 2);
	CHECK_EQ(c.max_topic_alias, 10);
	CHECK_EQ(c.max_topic_alias_broker, 10);
	config__fini(&c);
	CHECK_EQ(parse(&c, "max_topic_alias_broker 0\n"), 0);
	CHECK_EQ(c.max_topic_alias_broker, 0);
	config__fini(&c);
	expect_err("max_topic_alias 70000",
		   "t.conf:1: invalid value '70000' for 'max_topic_alias' (expected an integer 0..65535)");
	expect_err("server_reference", "t.conf:1: missing value for 'server_reference'");
	expect_err("server_reference a\xc0\x80" "b", "t.conf:1: invalid value for 'server_reference' (not valid UTF-8 for MQTT)");
	expect_err("response_information x\xff" "y", "t.conf:1: invalid value for 'response_information' (not valid UTF-8 for MQTT)");
}

static void test_persistence_options(void)
{
	struct config c;
	config__defaults(&c);
	CHECK(!c.persistence);
	CHECK(c.retained_persistence);
	CHECK(!c.persistence_group);
	CHECK_EQ(c.persistence_group_ms, 50);
	config__fini(&c);
	CHECK_EQ(parse(&c, "persistence true\npersistence_location /var/lib/my broker/\npersistence_file m.db\n"
			   "autosave_interval 1800\nautosave_on_changes false\nretained_persistence false\n"
			   "persistence_sync group\npersistence_group_interval 200\npersistence_max_size 1048576\n"
			   "persistence_corrupt move_aside\n"),
		 0);
	CHECK(c.persistence);
	CHECK(!c.retained_persistence);
	CHECK(c.persistence_location && strcmp(c.persistence_location, "/var/lib/my broker/") == 0);
	CHECK(c.persistence_file && strcmp(c.persistence_file, "m.db") == 0);
	CHECK(c.persistence_group);
	CHECK_EQ(c.persistence_group_ms, 200);
	CHECK_EQ(c.persistence_max_size, 1048576);
	CHECK(c.persistence_move_corrupt);
	CHECK_EQ(c.nwarnings, 0);
	config__fini(&c);
	CHECK_EQ(parse(&c, "persistence_sync durable\npersistence_corrupt refuse\n"), 0);
	CHECK(!c.persistence_group);
	CHECK(!c.persistence_move_corrupt);
	config__fini(&c);
	expect_err("autosave_interval soon",
		   "t.conf:1: invalid value 'soon' for 'autosave_interval' (expected an integer 0..2147483647)");
}

static void test_example_file(void)
{
	/* The shipped example must load; the tests may run from the source tree or a build dir. */
	const char *paths[] = {"examples/midge.conf", "../examples/midge.conf", "../../examples/midge.conf",
	                       "../../../examples/midge.conf"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (access(paths[i], R_OK) != 0) continue;
		struct config c;
		config__defaults(&c);
		int rc = config__load(&c, paths[i], err, sizeof(err));
		if (rc) fprintf(stderr, "  %s\n", err);
		CHECK_EQ(rc, 0);
		CHECK(c.nlisteners >= 1);
		CHECK_EQ(config__validate(&c, err, sizeof(err)), 0);
		config__fini(&c);
		return;
	}
}

int main(void)
{
	test_defaults();
	test_every_option();
	test_durations();
	test_listeners();
	test_mqtt5_options();
	test_per_listener_settings();
	test_security();
	test_logging();
	test_errors();
	test_syntax();
	test_not_supported();
	test_include_dir();
	test_persistence_options();
	test_example_file();
	CHECK_DONE();
}
