/* midge-sn-pub: publishes one message (-m, -n, -s) or a message per line of stdin (-l) to an MQTT-SN gateway, at
 * QoS -1 (no connection), 0, 1 or 2, then disconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "midge/midge.h"
#include "sn_tool.h"

#define PROG "midge-sn-pub"

static const char usage[] =
    "midge-sn-pub publishes a message to an MQTT-SN 1.2 gateway and exits.\n"
    "midge-sn-pub version " MIDGE_VERSION ".\n"
    "\n"
    "Usage: midge-sn-pub [-h host] [-p port] {-t topic | -T predefined-topic-id}\n"
    "                    {-m message | -n | -s | -l}\n"
    "                    [-q qos] [-r] [-i id] [-k keepalive] [-c] [-d]\n"
    "                    [--retry seconds] [--retries n] [--predefined-file file]\n"
    "                    [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n"
    "                    [--fe [--wlnid id]]\n"
    "       midge-sn-pub --help\n"
    "\n"
    " -c : disable clean session (keep the session and topic ids at the gateway).\n"
    " -d : print each datagram sent and received on stderr.\n"
    " -h : the gateway's host name or address (IPv4 or IPv6). Defaults to localhost.\n"
    " -i : client id (1 to 23 characters). Defaults to midge-sn-pub- and the process id.\n"
    " -k : keep alive in seconds. Defaults to 60.\n"
    " -l : read messages from stdin, publishing one for each line.\n"
    " -m : the message to publish.\n"
    " -n : publish a null (zero length) message.\n"
    " -p : the gateway's UDP port. Defaults to 1884.\n"
    " -q : quality of service: -1, 0, 1 or 2. Defaults to 0. QoS -1 publishes without connecting, and\n"
    "      needs -T or a two-character (short) topic name.\n"
    " -r : the message is to be retained.\n"
    " -s : read the whole of stdin as the message.\n"
    " -t : the topic name to publish to. A two-character name goes as a short topic; a longer one is\n"
    "      REGISTERed first (or sent as its id when --predefined-file lists it).\n"
    " -T : a predefined topic id to publish to (1 to 65534).\n"
    SN_TOOL_USAGE_COMMON;

/* The message: what -m gave, all of stdin (-s), or nothing (-n). */
static int load_stdin(struct sn_opts *o)
{
	size_t cap = 0;
	for (;;) {
		if (o->message_len == cap) {
			cap = cap ? cap * 2 : 4096;
			char *grown = realloc(o->message, cap);
			if (!grown) {
				fprintf(stderr, "Error: Out of memory.\n");
				return -1;
			}
			o->message = grown;
		}
		size_t n = fread(o->message + o->message_len, 1, cap - o->message_len, stdin);
		o->message_len += n;
		if (n == 0) break;
	}
	if (ferror(stdin)) {
		fprintf(stderr, "Error: Unable to read stdin.\n");
		return -1;
	}
	return 0;
}

static int publish(struct snc *c, const struct sn_opts *o, const char *payload, size_t len)
{
	struct snc_topic t = o->ntopics ? SNC_TOPIC_NAME(o->topics[0]) : SNC_TOPIC_PREDEFINED(o->predef_ids[0]);
	return snc__publish(c, t, payload, len, o->qos, o->retain, NULL);
}

/* -l: a message per line, without its end of line; the last line counts even without one. */
static int publish_lines(struct snc *c, const struct sn_opts *o)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	while (!rc && !sn_tool_interrupted && (n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n') n--;
		if (n > 0 && line[n - 1] == '\r') n--;
		rc = publish(c, o, line, (size_t)n);
	}
	free(line);
	return rc;
}

int main(int argc, char *argv[])
{
	struct sn_opts o;
	int status = sn_tool__parse(&o, SN_TOOL_PUB, PROG, usage, argc, argv);
	if (status >= 0) return status;
	if (o.pub_mode == PUB_STDIN_FILE && load_stdin(&o)) {
		sn_opts__free(&o);
		return 1;
	}
	sn_tool__signals();
	static struct snc c; /* 64 KiB of receive buffer: not on the stack */
	if (sn_tool__open(&c, &o, &(struct snc_callbacks){0})) {
		sn_opts__free(&o);
		return 1;
	}
	int rc = o.qos >= 0 ? snc__connect(&c) : 0;
	if (!rc)
		rc = o.pub_mode == PUB_STDIN_LINE ? publish_lines(&c, &o)
		                                  : publish(&c, &o, o.pub_mode == PUB_NULL ? NULL : o.message,
		                                            o.pub_mode == PUB_NULL ? 0 : o.message_len);
	status = rc ? sn_tool__fail(&c) : 0;
	/* A session that is still there is ended properly, even after a refused publish. */
	if (c.state != SNC_DISCONNECTED && snc__disconnect(&c) && !status) status = sn_tool__fail(&c);
	snc__close(&c);
	sn_opts__free(&o);
	return status;
}
