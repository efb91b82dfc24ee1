/* midge-sub: subscribes to topics and prints the messages it receives (payload, -v, or a -F format), until
 * -C messages, -W seconds, -E, --retained-only's first fresh message or a signal; a drop-in for Mosquitto 2's
 * mosquitto_sub. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"
#include "client.h"
#include "format.h"
#include "midge/midge.h"
#include "midge/mqtt.h"
#include "opts.h"

#define PROG "midge-sub"

static const char usage[] =
    "midge-sub is a simple mqtt client that will subscribe to a set of topics and print all messages it receives.\n"
    "midge-sub version " MIDGE_VERSION " running on libmidge " MIDGE_VERSION ".\n"
    "\n"
    "Usage: midge-sub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}\n"
    "                 [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]\n"
    "                 [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]\n"
    "                 [-F format]\n"
    "                 [-W timeout_secs]\n"
    "                 [-A bind_address] [--nodelay]\n"
    "                 [-i id] [-I id_prefix]\n"
    "                 [-d] [-N] [--quiet] [-v]\n"
    "                 [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n"
    "                 [{--cafile file | --capath dir} [--cert file] [--key file]\n"
    "                   [--ciphers ciphers] [--insecure]\n"
    "                   [--tls-alpn protocol]\n"
    "                   [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n"
    "                   [--tls-use-os-certs]\n"
    "                 [--psk hex-key --psk-identity identity [--ciphers ciphers]]\n"
    "                 [--proxy socks-url]\n"
    "                 [-D command identifier value]\n"
    "       midge-sub --help\n"
    "\n"
    " -A : bind the outgoing socket to this host/ip address. Use to control which interface\n"
    "      the client communicates over.\n"
    " -c : disable clean session/enable persistent client mode\n"
    "      When this argument is used, the broker will be instructed not to clean existing sessions\n"
    "      for the same client id when the client connects, and sessions will never expire when the\n"
    "      client disconnects. MQTT v5 clients can change their session expiry interval with the -x\n"
    "      argument.\n"
    " -C : disconnect and exit after receiving the 'msg_count' messages.\n"
    " -d : enable debug messages.\n"
    " -D : Define MQTT v5 properties. See the documentation for more details.\n"
    " -E : Exit once all subscriptions have been acknowledged by the broker.\n"
    " -F : output format.\n"
    " -h : mqtt host to connect to. Defaults to localhost.\n"
    " -i : id to use for this client. Defaults to none (MQTT 3.1: a random one).\n"
    " -I : define the client id as id_prefix appended with the process id. Useful for when the\n"
    "      broker is using the clientid_prefixes option.\n"
    " -k : keep alive in seconds for this client. Defaults to 60.\n"
    " -L : specify user, password, hostname, port and topic as a URL in the form:\n"
    "      mqtt(s)://[username[:password]@]host[:port]/topic, or ws(s):// for MQTT over\n"
    "      WebSocket (ports 80 and 443, path /mqtt)\n"
    " -N : do not add an end of line character when printing the payload.\n"
    " -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.\n"
    " -P : provide a password\n"
    " -q : quality of service level to use for the subscription. Defaults to 0.\n"
    " -R : do not print stale messages (those with retain set).\n"
    " -t : mqtt topic to subscribe to. May be repeated multiple times.\n"
    " -T : topic string to filter out of results. May be repeated.\n"
    " -u : provide a username\n"
    " -U : unsubscribe from a topic. May be repeated.\n"
    " -v : print published messages verbosely.\n"
    " -V : specify the version of the MQTT protocol to use when connecting.\n"
    "      Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.\n"
    " -W : Specifies a timeout in seconds how long to process incoming MQTT messages.\n"
    " -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5\n"
    "      clients only. Set to 0-4294967294 to specify the session will expire in that many\n"
    "      seconds after the client disconnects, or use -1, 4294967295, or ∞ for a session\n"
    "      that does not expire. Defaults to -1 if -c is also given, or 0 if -c not given.\n"
    " --help : display this message.\n"
    " --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible\n"
    "             expense of more packets being sent.\n"
    " --pretty : print formatted output rather than minimised output when using the\n"
    "            JSON output format option.\n"
    " --quiet : don't print error messages.\n"
    " --random-filter : only print a percentage of received messages. Set to 100 to have all\n"
    "                   messages printed, 50.0 to have half of the messages received on average\n"
    "                   printed, and so on.\n"
    " --retained-only : only handle messages with the retained flag set, and exit when the\n"
    "                   first non-retained message is received.\n"
    " --remove-retained : send a message to the server to clear any received retained messages\n"
    "                     Use -T to filter out messages you do not want to be cleared.\n"
    " --unix : connect to a broker through a unix domain socket instead of a TCP socket,\n"
    "          e.g. /tmp/midge.sock\n"
    " --will-payload : payload for the client Will, which is sent by the broker in case of\n"
    "                  unexpected disconnection. If not given and will-topic is set, a zero\n"
    "                  length message will be sent.\n"
    " --will-qos : QoS level for the client Will.\n"
    " --will-retain : if given, make the client Will retained.\n"
    " --will-topic : the topic on which to publish the client Will.\n"
    " --cafile : path to a file containing trusted CA certificates to enable encrypted\n"
    "            certificate based communication.\n"
    " --capath : path to a directory containing trusted CA certificates to enable encrypted\n"
    "            communication.\n"
    " --cert : client certificate for authentication, if required by server.\n"
    " --key : client private key for authentication, if required by server.\n"
    " --keyform : keyfile type, can be either \"pem\" or \"engine\".\n"
    " --ciphers : openssl compatible list of TLS ciphers to support.\n"
    " --tls-version : TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.\n"
    "                 Defaults to tlsv1.2 if available.\n"
    " --insecure : do not check that the server certificate hostname matches the remote\n"
    "              hostname. Using this option means that you cannot be sure that the\n"
    "              remote host is the server you wish to connect to and so is insecure.\n"
    "              Do not use this option in a production environment.\n"
    " --tls-engine : If set, enables the use of a SSL engine device.\n"
    " --tls-engine-kpass-sha1 : SHA1 of the key password to be used with the selected SSL engine.\n"
    " --tls-use-os-certs : Load and trust OS provided CA certificates.\n"
    " --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.\n"
    " --psk-identity : client identity string for TLS-PSK mode.\n"
    " --proxy : SOCKS5 proxy URL of the form:\n"
    "           socks5h://[username[:password]@]hostname[:port]\n"
    "           Only \"none\" and \"username\" authentication is supported.\n"
    "\n"
    "See midge-sub(1) for more information.\n"
    "\n";

static struct sub {
	struct tool t;
	struct tool_opts o;
	struct fmt_options fmt;
	bool process_messages;
	int msg_count;
	int last_mid; /* of the last --remove-retained publish, 0 when none */
	bool disconnect_sent;
	bool done;
	int rc;
} S;

static void disconnect_once(uint8_t reason)
{
	if (S.disconnect_sent) return;
	S.disconnect_sent = true;
	tool__disconnect(&S.t, reason);
}

static void on_connect(struct midge_client *c, void *ud, int rc, bool sp, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)sp;
	tool__connack(&S.t, rc, props);
	if (rc != 0) {
		tool__connack_error(&S.t, rc, "Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.", false);
		S.rc = rc;
		S.done = true;
		return;
	}
	bool v5 = S.o.protocol_version == MQTT_V5;
	uint8_t *options = calloc(S.o.ntopics, 1);
	if (!options) {
		tool__err(&S.t, "Error: Out of memory.\n");
		S.rc = TOOL_EXIT_ERROR;
		S.done = true;
		return;
	}
	for (size_t i = 0; i < S.o.ntopics; i++)
		options[i] = (uint8_t)(S.o.qos | (v5 ? S.o.sub_opts : 0));
	uint16_t mid = 0;
	int src = midge_client_subscribe(S.t.c, (const char *const *)S.o.topics, options, S.o.ntopics,
	                                 v5 ? S.t.props[TP_SUBSCRIBE] : NULL, &mid);
	free(options);
	if (src == MIDGE_ERR_INVAL) {
		/* mosquitto_sub would wait for ever on a subscription it never sent: say why instead. */
		const char *bad = S.o.topics[0];
		for (size_t i = 0; i < S.o.ntopics; i++)
			if (!S.o.topics[i][0]) bad = S.o.topics[i];
		tool__err(&S.t, "Error: Invalid subscription topic '%s', are all '+' and '#' wildcards correct?\n",
		          bad);
		S.rc = TOOL_EXIT_ERROR;
		disconnect_once(0);
		return;
	}
	for (size_t i = 0; i < S.o.ntopics; i++)
		tool__debug(&S.t, "sending SUBSCRIBE (Mid: %u, Topic: %s, QoS: %d, Options: 0x%02x)", mid,
		            S.o.topics[i], S.o.qos, v5 ? S.o.sub_opts : 0);
	for (size_t i = 0; i < S.o.nunsub_topics; i++) {
		const char *f = S.o.unsub_topics[i];
		if (midge_client_unsubscribe(S.t.c, &f, 1, v5 ? S.t.props[TP_UNSUBSCRIBE] : NULL, &mid) == 0)
			tool__debug(&S.t, "sending UNSUBSCRIBE (Mid: %u, Topic: %s)", mid, f);
	}
}

static void on_disconnect(struct midge_client *c, void *ud, int reason, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	tool__disconnected(&S.t, reason, props);
	if (S.done) return;
	if (S.disconnect_sent) {
		S.done = true;
	} else if (!S.t.ever_connected && !S.t.connack_rc) {
		S.rc = tool__connect_failed(&S.t);
		S.done = true;
	}
	/* Otherwise the connection was lost: the library reconnects, and on_connect subscribes again. */
}

static void on_subscribe(struct midge_client *c, void *ud, uint16_t mid, const uint8_t *codes, size_t n,
                         const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)props;
	tool__debug(&S.t, "received SUBACK");
	if (S.o.debug && !S.o.quiet) {
		printf("Subscribed (mid: %u): %d", mid, n ? codes[0] : 0);
		for (size_t i = 1; i < n; i++)
			printf(", %d", codes[i]);
		printf("\n");
		fflush(stdout);
	}
	if (S.o.exit_after_sub) disconnect_once(0);
}

static void on_unsubscribe(struct midge_client *c, void *ud, uint16_t mid, const uint8_t *codes, size_t n,
                           const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)mid;
	(void)codes;
	(void)n;
	(void)props;
	tool__debug(&S.t, "received UNSUBACK");
}

static void on_publish(struct midge_client *c, void *ud, uint16_t mid, int reason, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)props;
	tool__debug_published(&S.t, mid, 1, reason);
	if (!S.process_messages && (mid == S.last_mid || S.last_mid == 0)) disconnect_once(0);
}

/* A message as the format engine wants it. */
static void print_message(const struct midge_message *m)
{
	if (S.o.random_filter < 10000 && random() % 10000 >= S.o.random_filter) return;
	size_t count = midge_props_count(m->props), n = 0, pos = 0;
	struct midge_prop *props = count ? calloc(count, sizeof(*props)) : NULL;
	while (props && n < count && midge_props_next(m->props, &pos, &props[n]))
		n++;
	struct fmt_message fm = {m->topic, m->payload, m->payload_len, m->qos, m->retain, m->mid, n ? props : NULL, n};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	fmt__print(stdout, stderr, &S.fmt, &fm, &now);
	free(props);
}

static void on_message(struct midge_client *c, void *ud, const struct midge_message *m)
{
	(void)c;
	(void)ud;
	tool__debug_message(&S.t, m);
	/* After our DISCONNECT (-E, -C, a signal) nothing more is handled, as with libmosquitto. */
	if (!S.process_messages || S.disconnect_sent) return;
	if (S.o.retained_only && !m->retain) {
		S.process_messages = false;
		if (S.last_mid == 0) disconnect_once(0);
		return;
	}
	if (m->retain && S.o.no_retain) return;
	for (size_t i = 0; i < S.o.nfilter_outs; i++)
		if (rules__matches(S.o.filter_outs[i], m->topic)) return;
	if (S.o.remove_retained && m->retain) {
		uint16_t mid = 0;
		if (tool__publish(&S.t, m->topic, NULL, 0, 1, true, NULL, &mid) == 0) S.last_mid = mid;
	}
	print_message(m);
	if (S.o.msg_count > 0 && ++S.msg_count == S.o.msg_count) {
		S.process_messages = false;
		if (S.last_mid == 0) disconnect_once(0);
	}
}

/* -W or a signal: Mosquitto's clients disconnect with "Disconnect with Will Message" once connected, and
 * exit at once (status 255) before that. */
static void stop_now(bool timed_out)
{
	if (!S.t.ever_connected) {
		tool__destroy(&S.t);
		opts__free(&S.o);
		exit(255);
	}
	S.process_messages = false;
	if (timed_out) {
		tool__err(&S.t, "Timed out\n");
		S.rc = TOOL_EXIT_TIMEOUT;
	}
	disconnect_once(MQTT_RC_DISCONNECT_WITH_WILL);
	if (!S.t.connected) S.done = true; /* between connections: nothing to say goodbye on */
}

static void run(void)
{
	double deadline = S.o.timeout ? tool__now() + S.o.timeout : 0;
	bool stopping = false;
	double stop_deadline = 0;
	while (!S.done) {
		int wait = 1000;
		if (deadline && !stopping) {
			double left = deadline - tool__now();
			wait = left <= 0 ? 0 : left < 1 ? (int)(left * 1000) + 1 : 1000;
		}
		tool__step(&S.t, -1, wait);
		if (S.done) break;
		if (!stopping && (tool_interrupted || (deadline && tool__now() >= deadline))) {
			stopping = true;
			stop_deadline = tool__now() + 5;
			stop_now(!tool_interrupted);
		} else if (stopping && tool__now() > stop_deadline) {
			break; /* the broker never let us go: leave anyway */
		}
	}
}

int main(int argc, char *argv[])
{
	if (!tool__parse_args(&S.o, TOOL_SUB, PROG, usage, argc, argv)) goto out;
	if (S.o.no_retain && S.o.retained_only) {
		fprintf(stderr, "\nError: Combining '-R' and '--retained-only' makes no sense.\n");
		goto out;
	}
	S.fmt = (struct fmt_options){S.o.format, S.o.verbose, S.o.eol, S.o.pretty, S.o.quiet};
	S.process_messages = true;
	struct timespec seed;
	clock_gettime(CLOCK_REALTIME, &seed);
	srandom((unsigned)seed.tv_nsec);
	static const struct midge_callbacks cb = {.on_connect = on_connect,
	                                          .on_disconnect = on_disconnect,
	                                          .on_message = on_message,
	                                          .on_publish = on_publish,
	                                          .on_subscribe = on_subscribe,
	                                          .on_unsubscribe = on_unsubscribe};
	tool__signals();
	S.rc = tool__create(&S.t, PROG, &S.o, &cb, &S, true);
	if (S.rc == 0) S.rc = tool__connect(&S.t);
	if (S.rc == 0) run();
	tool__destroy(&S.t);
	opts__free(&S.o);
	return S.rc;
out:
	opts__free(&S.o);
	return 1;
}
