/* Unit tests for the bridge sections of the configuration: every option, Mosquitto's defaults, topic prefixes,
 * addresses, several bridges, and each error with its file:line message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "config.h"
#include "midge/midge.h"

static char err[512];

/* Parses and validates text into a fresh c (the caller finis it). Returns the first non-zero result. */
static int load(struct config *c, const char *text)
{
	config__defaults(c);
	int rc = config__parse(c, "b.conf", text, strlen(text), err, sizeof(err));
	return rc ? rc : config__validate(c, err, sizeof(err));
}

/* text must fail (when parsing or validating) with exactly msg. */
static void expect_err(const char *text, const char *msg)
{
	struct config c;
	int rc = load(&c, text);
	CHECK_EQ(rc, MIDGE_ERR_INVAL);
	if (strcmp(err, msg) != 0) fprintf(stderr, "  text: %s\n  got:  %s\n  want: %s\n", text, err, msg);
	CHECK(strcmp(err, msg) == 0);
	config__fini(&c);
}

/* text must load with exactly one warning, msg. */
static void expect_warn(const char *text, const char *msg)
{
	struct config c;
	int rc = load(&c, text);
	if (rc) fprintf(stderr, "  text: %s\n  error: %s\n", text, err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(c.nwarnings, 1u);
	if (c.nwarnings == 1 && strcmp(c.warnings[0], msg) != 0)
		fprintf(stderr, "  got:  %s\n  want: %s\n", c.warnings[0], msg);
	CHECK(c.nwarnings == 1 && strcmp(c.warnings[0], msg) == 0);
	config__fini(&c);
}

/* A minimal complete bridge, for tests that add one option to it. */
#define MIN "connection b\naddress 127.0.0.1\ntopic #\n"

static bool eq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void test_defaults(void)
{
	struct config c;
	CHECK_EQ(load(&c, MIN), 0);
	CHECK_EQ(c.nbridges, 1u);
	CHECK_EQ(c.nwarnings, 0u);
	const struct bridge_conf *b = &c.bridges[0];
	CHECK(eq(b->name, "b"));
	CHECK(eq(b->file, "b.conf"));
	CHECK_EQ(b->line, 1);
	CHECK_EQ(b->naddresses, 1u);
	CHECK(eq(b->addresses[0].host, "127.0.0.1"));
	CHECK_EQ(b->addresses[0].port, 1883);
	CHECK_EQ(b->addresses[0].transport, BRIDGE_TCP);
	CHECK(b->addresses[0].path == NULL);
	CHECK(!b->round_robin);
	CHECK_EQ(b->ntopics, 1u);
	CHECK(eq(b->topics[0].pattern, "#"));
	CHECK_EQ(b->topics[0].direction, BRIDGE_OUT);
	CHECK_EQ(b->topics[0].qos, 0);
	CHECK(b->topics[0].local_prefix == NULL && b->topics[0].remote_prefix == NULL);
	CHECK(eq(b->topics[0].local_topic, "#") && eq(b->topics[0].remote_topic, "#"));
	CHECK_EQ(b->topics[0].line, 3);
	CHECK_EQ(b->protocol_version, 4);
	CHECK(!b->cleansession);
	CHECK_EQ(b->local_cleansession, -1);
	CHECK_EQ(b->keepalive, 60);
	CHECK(b->remote_clientid == NULL && b->remote_username == NULL && b->remote_password == NULL);
	CHECK(b->local_clientid == NULL && b->local_username == NULL && b->local_password == NULL);
	CHECK(b->try_private);
	CHECK(b->notifications);
	CHECK(!b->notifications_local_only);
	CHECK(b->notification_topic == NULL);
	CHECK_EQ(b->restart_timeout, 0u);
	CHECK_EQ(b->backoff_base, 5u);
	CHECK_EQ(b->backoff_cap, 30u);
	CHECK_EQ(b->start_type, BRIDGE_START_AUTOMATIC);
	CHECK_EQ(b->idle_timeout, 60u);
	CHECK_EQ(b->threshold, 10u);
	CHECK_EQ(b->max_packet_size, 0u);
	CHECK(b->outgoing_retain);
	CHECK(b->attempt_unsubscribe);
	CHECK(b->bind_address == NULL);
	CHECK(b->cafile == NULL && b->capath == NULL && b->certfile == NULL && b->keyfile == NULL);
	CHECK(!b->insecure);
	CHECK_EQ(b->tls_version, 0);
	CHECK(b->alpn == NULL && b->ciphers == NULL && b->ciphers_tls13 == NULL);
	CHECK(b->identity == NULL && b->psk == NULL);
	CHECK(!config__bridge_tls(b, &b->addresses[0]));
	/* The client ids Mosquitto makes: <hostname>.<name>, and local.<that>. */
	char host[256], want[600], buf[600];
	CHECK_EQ(gethostname(host, sizeof(host)), 0);
	snprintf(want, sizeof(want), "%s.b", host);
	CHECK(eq(config__bridge_remote_clientid(b, buf, sizeof(buf)), want));
	snprintf(want, sizeof(want), "local.%s.b", host);
	CHECK(eq(config__bridge_local_clientid(b, buf, sizeof(buf)), want));
	config__fini(&c);
	CHECK(c.bridges == NULL && c.nbridges == 0);
}

static void test_every_option(void)
{
	struct config c;
	const char *text = "connection aws-iot\n"
	                   "address a.example.com:8883 b.example.com\n"
	                   "round_robin true\n"
	                   "topic sensors/# out 1\n"
	                   "topic cmd/+ in 2 local/ remote/\n"
	                   "topic state both 0 \"\" edge/\n"
	                   "bridge_protocol_version mqttv50\n"
	                   "cleansession true\n"
	                   "local_cleansession false\n"
	                   "keepalive_interval 30\n"
	                   "remote_clientid edge-1\n"
	                   "remote_username user name\n"
	                   "remote_password p@ss word\n"
	                   "local_clientid bridge-local\n"
	                   "local_username lu\n"
	                   "local_password lp\n"
	                   "try_private false\n"
	                   "notifications false\n"
	                   "notifications_local_only true\n"
	                   "notification_topic edge/state\n"
	                   "restart_timeout 10 60\n"
	                   "start_type lazy\n"
	                   "idle_timeout 120\n"
	                   "threshold 50\n"
	                   "bridge_max_packet_size 131072\n"
	                   "bridge_outgoing_retain false\n"
	                   "bridge_attempt_unsubscribe false\n"
	                   "bridge_bind_address 127.0.0.2\n"
	                   "bridge_cafile /etc/certs/root CA.pem\n"
	                   "bridge_capath /etc/ssl/certs\n"
	                   "bridge_certfile /etc/certs/edge.crt\n"
	                   "bridge_keyfile /etc/certs/edge.key\n"
	                   "bridge_insecure false\n"
	                   "bridge_require_ocsp false\n"
	                   "bridge_tls_version tlsv1.3\n"
	                   "bridge_alpn x-amzn-mqtt-ca\n"
	                   "bridge_ciphers ECDHE-RSA-AES128-GCM-SHA256\n"
	                   "bridge_ciphers_tls1.3 TLS_AES_128_GCM_SHA256\n";
	int rc = load(&c, text);
	if (rc) fprintf(stderr, "  error: %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(c.nwarnings, 0u);
	CHECK_EQ(c.nbridges, 1u);
	if (c.nbridges != 1) {
		config__fini(&c);
		return;
	}
	const struct bridge_conf *b = &c.bridges[0];
	CHECK_EQ(b->naddresses, 2u);
	CHECK(eq(b->addresses[0].host, "a.example.com") && b->addresses[0].port == 8883);
	CHECK(eq(b->addresses[1].host, "b.example.com") && b->addresses[1].port == 1883);
	CHECK(b->round_robin);
	CHECK_EQ(b->ntopics, 3u);
	CHECK(b->topics[0].direction == BRIDGE_OUT && b->topics[0].qos == 1);
	const struct bridge_topic *t = &b->topics[1];
	CHECK(t->direction == BRIDGE_IN && t->qos == 2 && eq(t->pattern, "cmd/+"));
	CHECK(eq(t->local_prefix, "local/") && eq(t->remote_prefix, "remote/"));
	CHECK(eq(t->local_topic, "local/cmd/+") && eq(t->remote_topic, "remote/cmd/+"));
	t = &b->topics[2];
	CHECK(t->direction == BRIDGE_BOTH && t->qos == 0 && t->local_prefix == NULL);
	CHECK(eq(t->local_topic, "state") && eq(t->remote_topic, "edge/state"));
	CHECK_EQ(b->protocol_version, 5);
	CHECK(b->cleansession);
	CHECK_EQ(b->local_cleansession, 0);
	CHECK_EQ(b->keepalive, 30);
	CHECK(eq(b->remote_clientid, "edge-1") && eq(b->remote_username, "user name"));
	CHECK(eq(b->remote_password, "p@ss word"));
	CHECK(eq(b->local_clientid, "bridge-local") && eq(b->local_username, "lu") && eq(b->local_password, "lp"));
	CHECK(!b->try_private && !b->notifications && b->notifications_local_only);
	CHECK(eq(b->notification_topic, "edge/state"));
	CHECK(b->restart_timeout == 0 && b->backoff_base == 10 && b->backoff_cap == 60);
	CHECK_EQ(b->start_type, BRIDGE_START_LAZY);
	CHECK(b->idle_timeout == 120 && b->threshold == 50);
	CHECK_EQ(b->max_packet_size, 131072u);
	CHECK(!b->outgoing_retain && !b->attempt_unsubscribe);
	CHECK(eq(b->bind_address, "127.0.0.2"));
	CHECK(eq(b->cafile, "/etc/certs/root CA.pem") && eq(b->capath, "/etc/ssl/certs"));
	CHECK(eq(b->certfile, "/etc/certs/edge.crt") && eq(b->keyfile, "/etc/certs/edge.key"));
	CHECK(!b->insecure);
	CHECK_EQ(b->tls_version, 13);
	CHECK(eq(b->alpn, "x-amzn-mqtt-ca") && eq(b->ciphers, "ECDHE-RSA-AES128-GCM-SHA256"));
	CHECK(eq(b->ciphers_tls13, "TLS_AES_128_GCM_SHA256"));
	CHECK(config__bridge_tls(b, &b->addresses[0]) && config__bridge_tls(b, &b->addresses[1]));
	char buf[64];
	CHECK(eq(config__bridge_remote_clientid(b, buf, sizeof(buf)), "edge-1"));
	CHECK(eq(config__bridge_local_clientid(b, buf, sizeof(buf)), "bridge-local"));
	config__fini(&c);

	/* The other values of the enumerations and the PSK pair. */
	CHECK_EQ(load(&c, MIN "bridge_protocol_version mqttv31\nstart_type once\nrestart_timeout 20\n"
	                      "bridge_identity edge\nbridge_psk 0a1B2c\nbridge_insecure true\n"
	                      "bridge_tls_version tlsv1.2\nlocal_cleansession true\n"),
	         0);
	b = &c.bridges[0];
	CHECK(b->protocol_version == 3 && b->start_type == BRIDGE_START_ONCE);
	CHECK(b->restart_timeout == 20 && b->backoff_base == 5 && b->backoff_cap == 30);
	CHECK(eq(b->identity, "edge") && eq(b->psk, "0a1B2c") && b->insecure && b->tls_version == 12);
	CHECK_EQ(b->local_cleansession, 1);
	CHECK(config__bridge_tls(b, &b->addresses[0]));
	CHECK_EQ(c.nwarnings, 1u); /* bridge_insecure true is worth a note, as in Mosquitto */
	if (c.nwarnings)
		CHECK(eq(c.warnings[0], "b.conf:9: bridge 'b' does not check the remote certificate's host name "
		                        "(bridge_insecure)"));
	config__fini(&c);
	CHECK_EQ(load(&c, MIN "bridge_protocol_version mqttv311\nstart_type automatic\n"), 0);
	CHECK(c.bridges[0].protocol_version == 4 && c.bridges[0].start_type == BRIDGE_START_AUTOMATIC);
	config__fini(&c);
}

static void test_addresses(void)
{
	struct config c;
	CHECK_EQ(load(&c, "connection b\naddresses [::1]:1884 [fe80::1] 10.0.0.1:1 ::1:8883 ws://h:8080/mqtt/x "
	                  "wss://[::1] ws://name # a comment\ntopic a\n"),
	         0);
	const struct bridge_conf *b = &c.bridges[0];
	CHECK_EQ(b->naddresses, 7u);
	if (b->naddresses == 7) {
		const struct bridge_address *a = b->addresses;
		CHECK(eq(a[0].host, "::1") && a[0].port == 1884 && a[0].transport == BRIDGE_TCP);
		CHECK(eq(a[1].host, "fe80::1") && a[1].port == 1883);
		CHECK(eq(a[2].host, "10.0.0.1") && a[2].port == 1);
		/* Mosquitto splits at the last ':', so a bare IPv6 address carries its port. */
		CHECK(eq(a[3].host, "::1") && a[3].port == 8883);
		CHECK(eq(a[4].host, "h") && a[4].port == 8080 && a[4].transport == BRIDGE_WS && eq(a[4].path, "/mqtt/x"));
		CHECK(eq(a[5].host, "::1") && a[5].port == 443 && a[5].transport == BRIDGE_WSS && eq(a[5].path, "/mqtt"));
		CHECK(eq(a[6].host, "name") && a[6].port == 80 && eq(a[6].path, "/mqtt"));
		CHECK(!config__bridge_tls(b, &a[4]) && config__bridge_tls(b, &a[5]) && !config__bridge_tls(b, &a[0]));
	}
	config__fini(&c);
	/* wss:// is TLS on its own; its TLS options are allowed. */
	CHECK_EQ(load(&c, "connection b\naddress wss://broker.example.com/mqtt\ntopic a\nbridge_certfile c\n"
	                  "bridge_keyfile k\n"),
	         0);
	config__fini(&c);
	expect_err("connection b\naddress", "b.conf:2: missing value for 'address'");
	expect_err("connection b\naddress # nothing", "b.conf:2: missing value for 'address'");
	expect_err("connection b\naddress h:0", "b.conf:2: invalid address 'h:0' for 'address' (expected host[:port] "
	                                        "with a port 1..65535; an IPv6 address as [addr]:port)");
	expect_err("connection b\naddresses h1 h:65536", "b.conf:2: invalid address 'h:65536' for 'addresses' "
	                                                 "(expected host[:port] with a port 1..65535; an IPv6 "
	                                                 "address as [addr]:port)");
	expect_err("connection b\naddress h:x", "b.conf:2: invalid address 'h:x' for 'address' (expected host[:port] "
	                                        "with a port 1..65535; an IPv6 address as [addr]:port)");
	expect_err("connection b\naddress :1883", "b.conf:2: invalid address ':1883' for 'address' (expected "
	                                          "host[:port] with a port 1..65535; an IPv6 address as [addr]:port)");
	expect_err("connection b\naddress [::1", "b.conf:2: invalid address '[::1' for 'address' (expected host[:port] "
	                                         "with a port 1..65535; an IPv6 address as [addr]:port)");
	expect_err("connection b\naddress ws://", "b.conf:2: invalid address 'ws://' for 'address' (expected "
	                                          "host[:port] with a port 1..65535; an IPv6 address as "
	                                          "[addr]:port)");
	expect_err("connection b\naddress mqtts://h:8883",
	           "b.conf:2: invalid address 'mqtts://h:8883' for 'address' (expected host[:port], "
	           "ws://host[:port]/path or wss://host[:port]/path)");
	expect_err("connection b\naddress h1\naddress h2", "b.conf:3: option 'address' given twice in connection 'b'");
	/* TLS does not apply to a plain ws:// address, whichever comes first. */
	expect_err("connection b\naddress ws://h/mqtt\nbridge_cafile ca.pem",
	           "b.conf:3: option 'bridge_cafile' does not apply to a ws:// address (use wss:// for TLS)");
	expect_err("connection b\nbridge_psk 12\naddress h ws://h",
	           "b.conf:3: a ws:// address cannot be used with bridge_psk (use wss:// for TLS)");
}

static void test_topics(void)
{
	struct config c;
	/* Mosquitto's table of prefixes: every valid row. */
	CHECK_EQ(load(&c, "connection b\naddress h\n"
	                  "topic pattern both 0 L/ R/\n"
	                  "topic pattern both 0 L/ \"\"\n"
	                  "topic pattern both 0 \"\" R/\n"
	                  "topic pattern both 0 \"\" \"\"\n"
	                  "topic \"\" both 0 local remote\n"
	                  "topic # both 2 local/topic/ remote/topic/\n"
	                  "topic clients/total in 0 test/mosquitto/org/ $SYS/broker/\n"
	                  "topic a OUT 1 # a comment\n"
	                  "topic a/b # a comment\n"),
	         0);
	const struct bridge_conf *b = &c.bridges[0];
	CHECK_EQ(b->ntopics, 9u);
	if (b->ntopics == 9) {
		const struct bridge_topic *t = b->topics;
		CHECK(eq(t[0].local_topic, "L/pattern") && eq(t[0].remote_topic, "R/pattern"));
		CHECK(eq(t[1].local_topic, "L/pattern") && eq(t[1].remote_topic, "pattern") && !t[1].remote_prefix);
		CHECK(eq(t[2].local_topic, "pattern") && eq(t[2].remote_topic, "R/pattern") && !t[2].local_prefix);
		CHECK(eq(t[3].local_topic, "pattern") && eq(t[3].remote_topic, "pattern"));
		CHECK(t[4].pattern == NULL && eq(t[4].local_topic, "local") && eq(t[4].remote_topic, "remote"));
		CHECK(eq(t[5].local_topic, "local/topic/#") && eq(t[5].remote_topic, "remote/topic/#") && t[5].qos == 2);
		CHECK(eq(t[6].local_topic, "test/mosquitto/org/clients/total"));
		CHECK(eq(t[6].remote_topic, "$SYS/broker/clients/total") && t[6].direction == BRIDGE_IN);
		CHECK(t[7].direction == BRIDGE_OUT && t[7].qos == 1);
		CHECK(t[8].direction == BRIDGE_OUT && t[8].qos == 0 && eq(t[8].pattern, "a/b"));
	}
	config__fini(&c);
	/* The invalid rows, and bad values. */
	const char *needs = "invalid 'topic': an empty pattern (\"\") needs both a local and a remote prefix";
	char want[256];
	snprintf(want, sizeof(want), "b.conf:2: %s", needs);
	expect_err("connection b\ntopic \"\" both 0 local \"\"", want);
	expect_err("connection b\ntopic \"\" both 0 \"\" remote", want);
	expect_err("connection b\ntopic \"\" both 0 \"\" \"\"", want);
	expect_err("connection b\ntopic \"\"", want);
	expect_err("connection b\ntopic", "b.conf:2: missing value for 'topic'");
	expect_err("connection b\ntopic a sideways", "b.conf:2: invalid direction 'sideways' for 'topic' (expected in, "
	                                             "out or both)");
	expect_err("connection b\ntopic a in 3", "b.conf:2: invalid QoS '3' for 'topic' (expected 0, 1 or 2)");
	expect_err("connection b\ntopic a in x", "b.conf:2: invalid QoS 'x' for 'topic' (expected 0, 1 or 2)");
	expect_err("connection b\ntopic a/#/b", "b.conf:2: invalid topic filter 'a/#/b' for 'topic'");
	expect_err("connection b\ntopic a+", "b.conf:2: invalid topic filter 'a+' for 'topic'");
	expect_err("connection b\ntopic a in 0 l/+/ r/",
	           "b.conf:2: invalid local prefix 'l/+/' for 'topic' (a topic name, no wildcards)");
	expect_err("connection b\ntopic a in 0 l/ r/#",
	           "b.conf:2: invalid remote prefix 'r/#' for 'topic' (a topic name, no wildcards)");
	expect_err("connection b\ntopic # in 0 local r/",
	           "b.conf:2: invalid 'topic': the local prefix and the pattern make 'local#', not a valid topic filter");
	expect_err("connection b\ntopic + in 0 l/ remote",
	           "b.conf:2: invalid 'topic': the remote prefix and the pattern make 'remote+', not a valid topic "
	           "filter");
	/* Extra words and repeated lines draw a note, as Mosquitto skips them. */
	expect_warn(MIN "topic a in 0 l/ r/ extra", "b.conf:4: ignored extra argument 'extra' for 'topic'");
	expect_warn(MIN "topic # out 0", "b.conf:4: duplicate bridge topic '#' ignored");
}

static void test_values(void)
{
	/* Below Mosquitto's minimum: raised, with a note. */
	struct config c;
	CHECK_EQ(load(&c, MIN "keepalive_interval 1\nidle_timeout 0\nthreshold -4\nrestart_timeout 0\n"), 0);
	CHECK_EQ(c.bridges[0].keepalive, 5);
	CHECK_EQ(c.bridges[0].idle_timeout, 1u);
	CHECK_EQ(c.bridges[0].threshold, 1u);
	CHECK_EQ(c.bridges[0].restart_timeout, 1u);
	CHECK_EQ(c.nwarnings, 4u);
	if (c.nwarnings == 4) {
		CHECK(eq(c.warnings[0], "b.conf:4: value 1 for 'keepalive_interval' is too low, 5 is used (as Mosquitto "
		                        "does)"));
		CHECK(eq(c.warnings[3], "b.conf:7: value 0 for 'restart_timeout' is too low, 1 is used (as Mosquitto "
		                        "does)"));
	}
	config__fini(&c);
	expect_err(MIN "keepalive_interval 65536",
	           "b.conf:4: invalid value '65536' for 'keepalive_interval' (expected an integer 5..65535)");
	expect_err(MIN "keepalive_interval 6x",
	           "b.conf:4: invalid value '6x' for 'keepalive_interval' (expected an integer 5..65535)");
	expect_err(MIN "idle_timeout", "b.conf:4: missing value for 'idle_timeout'");
	expect_err(MIN "threshold many", "b.conf:4: invalid value 'many' for 'threshold' (expected an integer "
	                                 "1..2147483647)");
	expect_err(MIN "bridge_max_packet_size -1", "b.conf:4: invalid value '-1' for 'bridge_max_packet_size' "
	                                            "(expected an integer 0..268435460)");
	expect_err(MIN "bridge_max_packet_size 268435461", "b.conf:4: invalid value '268435461' for "
	                                                   "'bridge_max_packet_size' (expected an integer "
	                                                   "0..268435460)");
	expect_err(MIN "restart_timeout 30 10",
	           "b.conf:4: invalid value for 'restart_timeout' (the backoff cap 10 is lower than the base 30)");
	expect_err(MIN "restart_timeout soon", "b.conf:4: invalid value 'soon' for 'restart_timeout' (expected "
	                                       "seconds, or a backoff base and cap in seconds)");
	expect_err(MIN "restart_timeout", "b.conf:4: missing value for 'restart_timeout'");
	expect_err(MIN "round_robin maybe", "b.conf:4: invalid value 'maybe' for 'round_robin' (expected true or false)");
	expect_err(MIN "cleansession", "b.conf:4: missing value for 'cleansession'");
	expect_err(MIN "bridge_protocol_version mqttv5",
	           "b.conf:4: invalid value 'mqttv5' for 'bridge_protocol_version' (expected mqttv50, mqttv311 or "
	           "mqttv31)");
	expect_err(MIN "start_type manual", "b.conf:4: 'start_type manual' is not supported (nor by Mosquitto)");
	expect_err(MIN "start_type eager",
	           "b.conf:4: invalid value 'eager' for 'start_type' (expected automatic, lazy or once)");
	expect_err(MIN "bridge_tls_version tlsv1.0",
	           "b.conf:4: invalid value 'tlsv1.0' for 'bridge_tls_version' (expected tlsv1.3, tlsv1.2 or tlsv1.1)");
	expect_err(MIN "notification_topic a/+/state",
	           "b.conf:4: invalid topic 'a/+/state' for 'notification_topic' (a topic name, no wildcards)");
	expect_err(MIN "bridge_require_ocsp true",
	           "b.conf:4: option 'bridge_require_ocsp' is only supported as 'bridge_require_ocsp false' for now "
	           "(Midge's TLS client does not check OCSP responses yet)");
	/* The key is a secret: the message does not repeat it. */
	expect_err(MIN "bridge_identity i\nbridge_psk 0xsecret", "b.conf:5: invalid value for 'bridge_psk' (expected 1 "
	                                                         "to 256 bytes in hexadecimal, without 0x, not zero)");
	expect_err(MIN "remote_username \xff", "b.conf:4: invalid value for 'remote_username' (not valid UTF-8)");
	expect_err(MIN "remote_clientid", "b.conf:4: missing value for 'remote_clientid'");
	/* Strings once per bridge, as Mosquitto; the old names are the same options. */
	expect_err(MIN "remote_clientid a\nclientid b", "b.conf:5: option 'clientid' given twice in connection 'b'");
	expect_err(MIN "bridge_tls_version tlsv1.2\nbridge_tls_version tlsv1.3",
	           "b.conf:5: option 'bridge_tls_version' given twice in connection 'b'");
	expect_warn(MIN "username u", "b.conf:4: option 'username' is deprecated, use 'remote_username'");
	expect_warn(MIN "clientid u", "b.conf:4: option 'clientid' is deprecated, use 'remote_clientid'");
	expect_warn(MIN "remote_username u\npassword p", "b.conf:5: option 'password' is deprecated, use "
	                                                 "'remote_password'");
	expect_warn(MIN "keepalive_interval 60 30", "b.conf:4: ignored extra argument '30' for 'keepalive_interval'");
}

static void test_sections(void)
{
	/* A bridge option needs a `connection` before it, in the same file. */
	expect_err("topic a/#", "b.conf:1: option 'topic' is a bridge option: it must follow a 'connection' line in the "
	                        "same file");
	expect_err("connection", "b.conf:1: missing value for 'connection'");
	expect_err(MIN "connection b", "b.conf:4: duplicate connection name 'b' (first at b.conf:1)");
	/* A `listener` does not end the section (as Mosquitto), and listener options stay the listener's. */
	struct config c;
	CHECK_EQ(load(&c, "connection b\naddress h\nlistener 1884\ncafile ca.pem\ntopic a\ntry_private false\n"), 0);
	CHECK_EQ(c.nbridges, 1u);
	CHECK(c.bridges[0].ntopics == 1 && !c.bridges[0].try_private && c.bridges[0].cafile == NULL);
	CHECK(c.nlisteners == 1 && eq(c.listeners[0].cafile, "ca.pem"));
	config__fini(&c);
	/* Several bridges: each option goes to the latest. */
	CHECK_EQ(load(&c, "connection one\naddress h1\ntopic a in\nkeepalive_interval 10\n"
	                  "connection two\naddress h2:1884\ntopic b both 1\nremote_clientid two-id\n"
	                  "connection three\naddress ws://h3:8080\ntopic c\n"),
	         0);
	CHECK_EQ(c.nbridges, 3u);
	if (c.nbridges == 3) {
		CHECK(eq(c.bridges[0].name, "one") && c.bridges[0].keepalive == 10 && c.bridges[0].line == 1);
		CHECK(c.bridges[1].keepalive == 60 && eq(c.bridges[1].remote_clientid, "two-id"));
		CHECK(c.bridges[1].addresses[0].port == 1884 && c.bridges[1].line == 5);
		CHECK(eq(c.bridges[2].topics[0].pattern, "c") && c.bridges[2].addresses[0].transport == BRIDGE_WS);
	}
	config__fini(&c);
	/* Checks over a whole section, at its `connection` line. */
	expect_err("connection b\ntopic a", "b.conf:1: connection 'b': no address given (address host[:port])");
	expect_err("listener 1883\nconnection b\naddress h", "b.conf:2: connection 'b': no topic given (topic PATTERN "
	                                                     "[in|out|both] [QOS] [LOCAL-PREFIX] [REMOTE-PREFIX])");
	expect_err(MIN "bridge_psk 1234", "b.conf:1: connection 'b': bridge_psk needs bridge_identity");
	expect_err(MIN "bridge_identity me", "b.conf:1: connection 'b': bridge_identity needs bridge_psk");
	expect_err(MIN "bridge_cafile ca\nbridge_certfile c", "b.conf:1: connection 'b': bridge_certfile needs "
	                                                      "bridge_keyfile");
	expect_err(MIN "bridge_cafile ca\nbridge_keyfile k", "b.conf:1: connection 'b': bridge_keyfile needs "
	                                                     "bridge_certfile");
	expect_err(MIN "remote_password p", "b.conf:1: connection 'b': remote_password needs remote_username before "
	                                    "MQTT 5 (bridge_protocol_version mqttv50)");
	struct config ok;
	CHECK_EQ(load(&ok, MIN "remote_password p\nbridge_protocol_version mqttv50\n"), 0);
	config__fini(&ok);
	expect_err(MIN "bridge_certfile c\nbridge_keyfile k",
	           "b.conf:1: connection 'b': TLS options are set but TLS is not used: give bridge_cafile or "
	           "bridge_capath (e.g. bridge_capath /etc/ssl/certs), as Mosquitto uses TLS only with one of them");
	/* Certificates or a pre-shared key, whichever comes first. */
	expect_err(MIN "bridge_cafile ca\nbridge_psk 12", "b.conf:5: option 'bridge_psk' cannot be used with "
	                                                  "bridge_cafile/bridge_capath/bridge_certfile/bridge_keyfile: "
	                                                  "a bridge uses certificates or a pre-shared key, not both");
	expect_err(MIN "bridge_identity i\nbridge_certfile c", "b.conf:5: option 'bridge_certfile' cannot be used with "
	                                                       "bridge_identity/bridge_psk: a bridge uses certificates "
	                                                       "or a pre-shared key, not both");
	/* Two bridges may not share a local client id: they would take over each other's session. */
	expect_err("connection a\naddress h\ntopic t\nlocal_clientid same\n"
	           "connection b\naddress h\ntopic t\nlocal_clientid same\n",
	           "b.conf:5: connection 'b': local client id 'same' is also that of connection 'a' (set local_clientid "
	           "on one of them)");
	expect_err("connection a\naddress h\ntopic t\nremote_clientid x\n"
	           "connection b\naddress h\ntopic t\nlocal_clientid local.x\n",
	           "b.conf:5: connection 'b': local client id 'local.x' is also that of connection 'a' (set "
	           "local_clientid on one of them)");
}

/* Bridge options need their `connection` in the same file: one in an include_dir file does not reach back. */
static void test_include_dir(void)
{
	char dir[] = "/tmp/midge-bridge-test-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], main_conf[256];
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f) return;
	fputs("topic in/#\n", f);
	fclose(f);
	snprintf(main_conf, sizeof(main_conf), "%s/main.conf.txt", dir);
	f = fopen(main_conf, "w");
	CHECK(f != NULL);
	if (!f) return;
	fprintf(f, "connection b\naddress h\ninclude_dir %s\ntopic out/#\n", dir);
	fclose(f);
	struct config c;
	config__defaults(&c);
	CHECK_EQ(config__load(&c, main_conf, err, sizeof(err)), MIDGE_ERR_INVAL);
	char want[512];
	snprintf(want, sizeof(want), "%s:1: option 'topic' is a bridge option: it must follow a 'connection' line in "
	                             "the same file",
	         path);
	CHECK(eq(err, want));
	config__fini(&c);
	/* Without the stray line, the main file's section goes on after include_dir. */
	f = fopen(path, "w");
	if (f) fputs("# nothing\n", f), fclose(f);
	config__defaults(&c);
	CHECK_EQ(config__load(&c, main_conf, err, sizeof(err)), 0);
	CHECK(c.nbridges == 1 && c.bridges[0].ntopics == 1);
	config__fini(&c);
	unlink(path);
	unlink(main_conf);
	rmdir(dir);
}

int main(void)
{
	test_defaults();
	test_every_option();
	test_addresses();
	test_topics();
	test_values();
	test_sections();
	test_include_dir();
	CHECK_DONE();
}
