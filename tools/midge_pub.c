/* midge-pub: publishes one message (-m, -f, -s, -n), a message per line of stdin (-l), or one message
 * repeatedly (--repeat), then disconnects; a drop-in for Mosquitto 2's mosquitto_pub. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "midge/midge.h"
#include "midge/mqtt.h"
#include "opts.h"

#define PROG "midge-pub"

static const char usage[] =
    "midge-pub is a simple mqtt client that will publish a message on a single topic and exit.\n"
    "midge-pub version " MIDGE_VERSION " running on libmidge " MIDGE_VERSION ".\n"
    "\n"
    "Usage: midge-pub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}\n"
    "                 {-f file | -l | -n | -m message}\n"
    "                 [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]\n"
    "                 [-A bind_address] [--nodelay]\n"
    "                 [-i id] [-I id_prefix]\n"
    "                 [-d] [--quiet]\n"
    "                 [-M max_inflight]\n"
    "                 [-u username [-P password]]\n"
    "                 [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n"
    "                 [{--cafile file | --capath dir} [--cert file] [--key file]\n"
    "                   [--ciphers ciphers] [--insecure]\n"
    "                   [--tls-alpn protocol]\n"
    "                   [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n"
    "                   [--tls-use-os-certs]\n"
    "                 [--psk hex-key --psk-identity identity [--ciphers ciphers]]\n"
    "                 [--proxy socks-url]\n"
    "                 [--property command identifier value]\n"
    "                 [-D command identifier value]\n"
    "       midge-pub --help\n"
    "\n"
    " -A : bind the outgoing socket to this host/ip address. Use to control which interface\n"
    "      the client communicates over.\n"
    " -d : enable debug messages.\n"
    " -c : disable clean session/enable persistent client mode\n"
    "      When this argument is used, the broker will be instructed not to clean existing sessions\n"
    "      for the same client id when the client connects, and sessions will never expire when the\n"
    "      client disconnects. MQTT v5 clients can change their session expiry interval with the -x\n"
    "      argument.\n"
    " -D : Define MQTT v5 properties. See the documentation for more details.\n"
    " -f : send the contents of a file as the message.\n"
    " -h : mqtt host to connect to. Defaults to localhost.\n"
    " -i : id to use for this client. Defaults to none (MQTT 3.1: a random one).\n"
    " -I : define the client id as id_prefix appended with the process id. Useful for when the\n"
    "      broker is using the clientid_prefixes option.\n"
    " -k : keep alive in seconds for this client. Defaults to 60.\n"
    " -L : specify user, password, hostname, port and topic as a URL in the form:\n"
    "      mqtt(s)://[username[:password]@]host[:port]/topic, or ws(s):// for MQTT over\n"
    "      WebSocket (ports 80 and 443, path /mqtt)\n"
    " -l : read messages from stdin, sending a separate message for each line.\n"
    " -m : message payload to send.\n"
    " -M : the maximum inflight messages for QoS 1/2..\n"
    " -n : send a null (zero length) message.\n"
    " -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.\n"
    " -P : provide a password\n"
    " -q : quality of service level to use for all messages. Defaults to 0.\n"
    " -r : message should be retained.\n"
    " -s : read message from stdin, sending the entire input as a message.\n"
    " -t : mqtt topic to publish to.\n"
    " -u : provide a username\n"
    " -V : specify the version of the MQTT protocol to use when connecting.\n"
    "      Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.\n"
    " -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5\n"
    "      clients only. Set to 0-4294967294 to specify the session will expire in that many\n"
    "      seconds after the client disconnects, or use -1, 4294967295, or ∞ for a session\n"
    "      that does not expire. Defaults to -1 if -c is also given, or 0 if -c not given.\n"
    " --help : display this message.\n"
    " --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible\n"
    "             expense of more packets being sent.\n"
    " --quiet : don't print error messages.\n"
    " --repeat : if publish mode is -f, -m, or -s, then repeat the publish N times.\n"
    " --repeat-delay : if using --repeat, wait time seconds between publishes. Defaults to 0.\n"
    " --unix : connect to a broker through a unix domain socket instead of a TCP socket,\n"
    "          e.g. /tmp/midge.sock\n"
    " --will-payload : payload for the client Will, which is sent by the broker in case of\n"
    "                  unexpected disconnection. If not given and will-topic is set, a zero\n"
    "                  length message will be sent.\n"
    " --will-qos : QoS level for the client Will.\n"
    " --will-retain : if given, make the client Will retained.\n"
    " --will-topic : the topic on which to publish the client Will.\n"
    " --cafile : path to a file containing trusted CA certificates to enable encrypted\n"
    "            communication.\n"
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
    " --tls-engine : If set, enables the use of a TLS engine device.\n"
    " --tls-engine-kpass-sha1 : SHA1 of the key password to be used with the selected SSL engine.\n"
    " --tls-use-os-certs : Load and trust OS provided CA certificates.\n"
    " --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.\n"
    " --psk-identity : client identity string for TLS-PSK mode.\n"
    " --proxy : SOCKS5 proxy URL of the form:\n"
    "           socks5h://[username[:password]@]hostname[:port]\n"
    "           Only \"none\" and \"username\" authentication is supported.\n"
    "\n"
    "See midge-pub(1) for more information.\n"
    "\n";

enum state { ST_CONNECTING, ST_CONNECTED, ST_DONE };

static struct pub {
	struct tool t;
	struct tool_opts o;
	enum state state;
	bool first_sent;   /* the message of -m/-f/-s/-n went out once */
	int publish_count; /* publishes completed */
	bool ready_for_repeat;
	double repeat_at;
	bool disconnect_sent;
	/* -l */
	char *line;
	size_t line_len, line_cap;
	bool stdin_done;
	size_t pending; /* -l publishes not yet completed */
	int rc;
} P;

static bool publish_props_refused(void)
{
	/* Before MQTT 5, libmosquitto refuses to publish with properties, and mosquitto_pub says nothing. */
	if (P.o.protocol_version == MQTT_V5) return false;
	for (size_t i = 0; i < P.o.nprops; i++)
		if (P.o.props[i].cmd == OPT_CMD_PUBLISH) return true;
	return false;
}

static void disconnect_once(void)
{
	if (P.disconnect_sent) return;
	P.disconnect_sent = true;
	tool__disconnect(&P.t, 0);
}

/* Publishes the message of -m/-f/-s/-n (again, with --repeat). */
static void publish_message(void)
{
	P.ready_for_repeat = false;
	if (publish_props_refused()) {
		disconnect_once();
		return;
	}
	const void *payload = P.o.pub_mode == PUB_NULL ? NULL : P.o.message;
	size_t len = P.o.pub_mode == PUB_NULL ? 0 : P.o.message_len;
	const struct midge_props *props = P.o.protocol_version == MQTT_V5 ? P.t.props[TP_PUBLISH] : NULL;
	int rc = tool__publish(&P.t, P.o.topic, payload, len, P.o.qos, P.o.retain, props, NULL);
	if (rc == 0) return;
	if (rc == MIDGE_ERR_INVAL)
		tool__err(&P.t, "Error: Invalid input. Does your topic contain '+' or '#'?\n");
	else if (rc == MIDGE_ERR_NOMEM)
		tool__err(&P.t, "Error: Out of memory when trying to publish message.\n");
	else if (rc == MIDGE_ERR_TOO_LARGE)
		tool__err(&P.t, "Error: Message payload is too large.\n");
	disconnect_once();
}

/* -l: publishes the complete lines read so far (all of it at the end of input). */
static void publish_lines(bool at_eof)
{
	const struct midge_props *props = P.o.protocol_version == MQTT_V5 ? P.t.props[TP_PUBLISH] : NULL;
	size_t start = 0;
	for (;;) {
		char *nl = memchr(P.line + start, '\n', P.line_len - start);
		size_t end = nl ? (size_t)(nl - P.line) : P.line_len;
		if (!nl && (!at_eof || end == start)) break;
		P.line[end] = '\0';
		if (!publish_props_refused()) {
			int rc = tool__publish(&P.t, P.o.topic, P.line + start, end - start, P.o.qos, P.o.retain, props,
			                       NULL);
			if (rc == 0) P.pending++;
		}
		start = nl ? end + 1 : end;
	}
	memmove(P.line, P.line + start, P.line_len - start);
	P.line_len -= start;
}

static void read_stdin_lines(void)
{
	if (P.line_cap - P.line_len < 65536) {
		size_t cap = P.line_cap ? P.line_cap * 2 : 65536 * 2;
		char *grown = realloc(P.line, cap);
		if (!grown) {
			tool__err(&P.t, "Error: Out of memory.\n");
			P.stdin_done = true;
			return;
		}
		P.line = grown;
		P.line_cap = cap;
	}
	ssize_t n = read(STDIN_FILENO, P.line + P.line_len, P.line_cap - P.line_len - 1);
	if (n < 0 && errno == EINTR) return;
	if (n > 0) {
		P.line_len += (size_t)n;
		publish_lines(false);
		return;
	}
	publish_lines(true);
	P.stdin_done = true;
	if (P.pending == 0) disconnect_once();
}

static void on_connect(struct midge_client *c, void *ud, int rc, bool sp, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)sp;
	tool__connack(&P.t, rc, props);
	if (rc == 0) {
		P.state = ST_CONNECTED;
		return;
	}
	tool__connack_error(&P.t, rc, "Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.", false);
	tool__err(&P.t, "Error: %s\n",
	          P.o.protocol_version == MQTT_V5
	              ? "A network protocol error occurred when communicating with the broker."
	              : "The connection was refused.");
	P.rc = rc;
	P.state = ST_DONE;
}

static void on_disconnect(struct midge_client *c, void *ud, int reason, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	bool was_connected = P.t.connected;
	tool__disconnected(&P.t, reason, props);
	P.t.gone = true; /* no reconnect: a publish waiting for room in the queue must give up */
	if (P.state == ST_DONE) return;
	P.state = ST_DONE;
	if (reason == 0 && P.disconnect_sent) return;
	(void)was_connected;
	bool unreached = reason == MIDGE_ERR_IO || reason == MIDGE_ERR_TIMEOUT || reason == MIDGE_ERR_TLS;
	if (!P.t.ever_connected && unreached) {
		/* libmosquitto's connect is synchronous: "Error: Connection refused" */
		P.rc = tool__connect_failed(&P.t);
	} else {
		tool__err(&P.t, "Error: The connection was lost.\n");
		P.rc = TOOL_EXIT_CONN_LOST;
	}
}

static void on_publish(struct midge_client *c, void *ud, uint16_t mid, int reason, const struct midge_props *props)
{
	(void)c;
	(void)ud;
	(void)props;
	tool__debug_published(&P.t, mid, P.o.qos, reason);
	if (reason > 127) tool__err(&P.t, "Warning: Publish %d failed: %s.\n", mid, tool__reason_string(reason));
	P.publish_count++;
	if (P.o.pub_mode == PUB_STDIN_LINE) {
		if (P.pending) P.pending--;
		if (P.stdin_done && P.pending == 0) disconnect_once();
	} else if (P.publish_count < P.o.repeat_count) {
		P.ready_for_repeat = true;
		P.repeat_at = tool__now() + P.o.repeat_delay;
	} else {
		disconnect_once();
	}
}

static void run(void)
{
	while (P.state != ST_DONE) {
		int wait = 1000;
		bool want_stdin = P.o.pub_mode == PUB_STDIN_LINE && P.state == ST_CONNECTED && !P.stdin_done;
		if (P.ready_for_repeat) {
			double left = P.repeat_at - tool__now();
			wait = left <= 0 ? 0 : left < 1 ? (int)(left * 1000) + 1 : 1000;
		}
		bool readable = tool__step(&P.t, want_stdin ? STDIN_FILENO : -1, wait);
		if (P.state != ST_CONNECTED) continue;
		if (P.o.pub_mode == PUB_STDIN_LINE) {
			if (readable && !P.disconnect_sent) read_stdin_lines();
		} else if (!P.first_sent) {
			P.first_sent = true;
			publish_message();
		} else if (P.ready_for_repeat && tool__now() >= P.repeat_at) {
			publish_message();
		}
	}
}

int main(int argc, char *argv[])
{
	if (!tool__parse_args(&P.o, TOOL_PUB, PROG, usage, argc, argv)) goto out;
	if (tool__load_message(&P.o)) goto out;
	if (!P.o.topic || P.o.pub_mode == PUB_NONE) {
		fprintf(stderr, "Error: Both topic and message must be supplied.\n");
		fputs(usage, stdout);
		goto out;
	}
	static const struct midge_callbacks cb = {
	    .on_connect = on_connect, .on_disconnect = on_disconnect, .on_publish = on_publish};
	signal(SIGPIPE, SIG_IGN);
	P.rc = tool__create(&P.t, PROG, &P.o, &cb, &P, false);
	if (P.rc == 0) P.rc = tool__connect(&P.t);
	if (P.rc == 0) run();
	tool__destroy(&P.t);
	free(P.line);
	opts__free(&P.o);
	return P.rc;
out:
	opts__free(&P.o);
	return 1;
}
