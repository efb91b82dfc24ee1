/* midge-rr: request / response: subscribes to the response topic (-e), publishes the request (-t, with an
 * MQTT 5 Response Topic), prints the first message that comes back and exits; a drop-in for Mosquitto 2's
 * mosquitto_rr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "format.h"
#include "midge/midge.h"
#include "midge/mqtt.h"
#include "opts.h"

#define PROG "midge-rr"

static const char usage[] =
    "midge-rr is an mqtt client that can be used to publish a request message and wait for a response.\n"
    "             Defaults to MQTT v5, where the Request-Response feature will be used, but v3.1.1 can also be used\n"
    "             with v3.1.1 brokers.\n"
    "midge-rr version " MIDGE_VERSION " running on libmidge " MIDGE_VERSION ".\n"
    "\n"
    "Usage: midge-rr {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL} -e "
    "response-topic\n"
    "                [-c] [-k keepalive] [-q qos] [-R] [-x session-expiry-interval\n"
    "                [-F format]\n"
    "                [-W timeout_secs]\n"
    "                [-A bind_address] [--nodelay]\n"
    "                [-i id] [-I id_prefix]\n"
    "                [-d] [-N] [--quiet] [-v]\n"
    "                [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n"
    "                [{--cafile file | --capath dir} [--cert file] [--key file]\n"
    "                  [--ciphers ciphers] [--insecure]\n"
    "                  [--tls-alpn protocol]\n"
    "                  [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n"
    "                  [--tls-use-os-certs]\n"
    "                 [--psk hex-key --psk-identity identity [--ciphers ciphers]]\n"
    "                [--proxy socks-url]\n"
    "                [-D command identifier value]\n"
    "       midge-rr --help\n"
    "\n"
    " -A : bind the outgoing socket to this host/ip address. Use to control which interface\n"
    "      the client communicates over.\n"
    " -c : disable clean session/enable persistent client mode\n"
    "      When this argument is used, the broker will be instructed not to clean existing sessions\n"
    "      for the same client id when the client connects, and sessions will never expire when the\n"
    "      client disconnects. MQTT v5 clients can change their session expiry interval with the -x\n"
    "      argument.\n"
    " -d : enable debug messages.\n"
    " -D : Define MQTT v5 properties. See the documentation for more details.\n"
    " -e : Response topic. The client will subscribe to this topic to wait for a response.\n"
    " -F : output format.\n"
    " -h : mqtt host to connect to. Defaults to localhost.\n"
    " -i : id to use for this client. Defaults to none (MQTT 3.1: a random one).\n"
    " -k : keep alive in seconds for this client. Defaults to 60.\n"
    " -L : specify user, password, hostname, port and topic as a URL in the form:\n"
    "      mqtt(s)://[username[:password]@]host[:port]/topic, or ws(s):// for MQTT over\n"
    "      WebSocket (ports 80 and 443, path /mqtt)\n"
    " -N : do not add an end of line character when printing the payload.\n"
    " -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.\n"
    " -P : provide a password\n"
    " -q : quality of service level to use for communications. Defaults to 0.\n"
    " -R : do not print stale messages (those with retain set).\n"
    " -t : topic where the request message will be sent.\n"
    " -u : provide a username\n"
    " -v : print received messages verbosely.\n"
    " -V : specify the version of the MQTT protocol to use when connecting.\n"
    "      Defaults to 5.\n"
    " -W : Specifies a timeout in seconds how long to wait for a response.\n"
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
    " --ciphers : openssl compatible list of TLS ciphers to support.\n"
    " --tls-use-os-certs : Load and trust OS provided CA certificates.\n"
    " --tls-version : TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.\n"
    "                 Defaults to tlsv1.2 if available.\n"
    " --insecure : do not check that the server certificate hostname matches the remote\n"
    "              hostname. Using this option means that you cannot be sure that the\n"
    "              remote host is the server you wish to connect to and so is insecure.\n"
    "              Do not use this option in a production environment.\n"
    " --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.\n"
    " --psk-identity : client identity string for TLS-PSK mode.\n"
    " --proxy : SOCKS5 proxy URL of the form:\n"
    "           socks5h://[username[:password]@]hostname[:port]\n"
    "           Only \"none\" and \"username\" authentication is supported.\n"
    "\n"
    "See midge-rr(1) for more information.\n"
    "\n";

/* mosquitto_rr's states. */
enum state { RR_NEW, RR_CONNECTED, RR_READY_TO_PUBLISH, RR_WAIT_FOR_RESPONSE, RR_DISCONNECT };

static struct rr {
	struct tool t;
	struct tool_opts o;
	struct fmt_options fmt;
	enum state state;
	bool timed_out;
	int rc;
} R;

static void on_connect(struct midge_client *c, void *ud, int rc, bool sp, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)sp;
	tool__connack(&R.t, rc, props);
	if (rc != 0) {
		tool__connack_error(&R.t, rc, PROG " only supports connecting to an MQTT v5 broker", true);
		R.rc = rc;
		R.state = RR_DISCONNECT;
		return;
	}
	R.state = RR_CONNECTED;
	const char *f = R.o.response_topic;
	uint8_t opt = (uint8_t)R.o.qos;
	uint16_t mid = 0;
	const struct midge_props *p = R.o.protocol_version == MQTT_V5 ? R.t.props[TP_SUBSCRIBE] : NULL;
	if (midge_client_subscribe(R.t.c, &f, &opt, 1, p, &mid) == 0)
		tool__debug(&R.t, "sending SUBSCRIBE (Mid: %u, Topic: %s, QoS: %d, Options: 0x00)", mid, f, R.o.qos);
}

static void on_disconnect(struct midge_client *c, void *ud, int reason, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	tool__disconnected(&R.t, reason, props);
	R.t.gone = true; /* no reconnect: a publish waiting for room in the queue must give up */
	if (R.state == RR_DISCONNECT) return;
	R.state = RR_DISCONNECT;
	if (R.timed_out) return;
	bool unreached = reason == MIDGE_ERR_IO || reason == MIDGE_ERR_TIMEOUT || reason == MIDGE_ERR_TLS;
	if (!R.t.ever_connected && unreached) {
		/* libmosquitto's connect is synchronous: "Error: Connection refused" */
		R.rc = tool__connect_failed(&R.t);
	} else if (reason != 0) {
		tool__err(&R.t, "Error: The connection was lost.\n");
		R.rc = TOOL_EXIT_CONN_LOST;
	}
}

static void on_subscribe(struct midge_client *c, void *ud, uint16_t mid, const uint8_t *codes, size_t n,
                         const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)mid;
	(void)props;
	tool__debug(&R.t, "received SUBACK");
	if (n && codes[0] < 128) {
		R.state = RR_READY_TO_PUBLISH;
	} else {
		R.state = RR_DISCONNECT;
		tool__err(&R.t, "%s\n", tool__reason_string(n ? codes[0] : 0x80));
		tool__disconnect(&R.t, 0);
	}
}

static void on_publish(struct midge_client *c, void *ud, uint16_t mid, int reason, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)props;
	tool__debug_published(&R.t, mid, R.o.qos, reason);
	if (R.state != RR_DISCONNECT) R.state = RR_WAIT_FOR_RESPONSE;
}

static void on_message(struct midge_client *c, void *ud, const struct midge_message *m)
{
	(void)c;
	(void)ud;
	tool__debug_message(&R.t, m);
	size_t count = midge_props_count(m->props), n = 0, pos = 0;
	struct midge_prop *props = count ? calloc(count, sizeof(*props)) : NULL;
	while (props && n < count && midge_props_next(m->props, &pos, &props[n]))
		n++;
	struct fmt_message fm = {m->topic, m->payload, m->payload_len, m->qos, m->retain, m->mid, n ? props : NULL, n};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	fmt__print(stdout, stderr, &R.fmt, &fm, &now);
	free(props);
	R.state = RR_DISCONNECT;
}

/* The request, with the Response Topic property in MQTT 5. */
static void publish_request(void)
{
	const struct midge_props *props = NULL;
	if (R.o.protocol_version == MQTT_V5) props = R.t.props[TP_PUBLISH];
	const void *payload = R.o.pub_mode == PUB_NULL ? NULL : R.o.message;
	size_t len = R.o.pub_mode == PUB_NULL ? 0 : R.o.message_len;
	if (tool__publish(&R.t, R.o.topic, payload, len, R.o.qos, false, props, NULL) != 0) {
		tool__err(&R.t, "Error: Invalid input. Does your topic contain '+' or '#'?\n");
		R.state = RR_DISCONNECT;
	}
}

static void run(void)
{
	double deadline = R.o.timeout ? tool__now() + R.o.timeout : 0;
	double give_up = 0;
	while (R.state != RR_DISCONNECT) {
		int wait = 1000;
		if (deadline && !R.timed_out) {
			double left = deadline - tool__now();
			wait = left <= 0 ? 0 : left < 1 ? (int)(left * 1000) + 1 : 1000;
		}
		tool__step(&R.t, -1, wait);
		if (R.state == RR_READY_TO_PUBLISH) {
			R.state = RR_WAIT_FOR_RESPONSE;
			publish_request();
		}
		if (!R.timed_out && deadline && tool__now() >= deadline) {
			R.timed_out = true;
			give_up = tool__now() + 5;
			if (R.t.connected)
				tool__disconnect(&R.t, MQTT_RC_DISCONNECT_WITH_WILL);
			else
				break;
		} else if (R.timed_out && tool__now() > give_up) {
			break;
		}
	}
	if (R.timed_out) {
		tool__err(&R.t, "Timed out\n");
		R.rc = TOOL_EXIT_TIMEOUT;
	}
}

/* Adds the Response Topic to the request's properties (MQTT 5), as mosquitto_rr does. 0 or -1. */
static int add_response_topic(void)
{
	if (R.o.protocol_version != MQTT_V5) return 0;
	for (size_t i = 0; i < R.o.nprops; i++) {
		if (R.o.props[i].cmd == OPT_CMD_PUBLISH && R.o.props[i].id == MQTT_PROP_RESPONSE_TOPIC) {
			if (!R.o.quiet) fprintf(stderr, "Error in PUBLISH properties: Duplicate response topic.\n");
			return -1;
		}
	}
	if (!R.t.props[TP_PUBLISH] && !(R.t.props[TP_PUBLISH] = midge_props_new())) return -1;
	return midge_props_add_string(R.t.props[TP_PUBLISH], MQTT_PROP_RESPONSE_TOPIC, R.o.response_topic) ? -1 : 0;
}

int main(int argc, char *argv[])
{
	if (!tool__parse_args(&R.o, TOOL_RR, PROG, usage, argc, argv)) goto out;
	if (!R.o.topic || R.o.pub_mode == PUB_NONE || !R.o.response_topic) {
		fprintf(stderr, "Error: All of topic, message, and response topic must be supplied.\n");
		fprintf(stderr, "\nUse '" PROG " --help' to see usage.\n");
		goto out;
	}
	if (tool__load_message(&R.o)) goto out;
	R.fmt = (struct fmt_options){R.o.format, R.o.verbose, R.o.eol, R.o.pretty, R.o.quiet};
	static const struct midge_callbacks cb = {.on_connect = on_connect,
	                                          .on_disconnect = on_disconnect,
	                                          .on_message = on_message,
	                                          .on_publish = on_publish,
	                                          .on_subscribe = on_subscribe};
	signal(SIGPIPE, SIG_IGN);
	R.rc = tool__create(&R.t, PROG, &R.o, &cb, &R, false);
	if (R.rc == 0 && add_response_topic()) R.rc = TOOL_EXIT_ERROR;
	if (R.rc == 0) R.rc = tool__connect(&R.t);
	if (R.rc == 0) run();
	tool__destroy(&R.t);
	opts__free(&R.o);
	return R.rc;
out:
	opts__free(&R.o);
	return 1;
}
