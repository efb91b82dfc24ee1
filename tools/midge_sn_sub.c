/* midge-sn-sub: subscribes at an MQTT-SN gateway and prints the messages it receives (the payload, or "topic
 * payload" with -v), awake or, with -e, asleep and waking every few seconds for what the gateway kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "format.h"
#include "midge/midge.h"
#include "sn_tool.h"

#define PROG "midge-sn-sub"
#define EXIT_TIMED_OUT 27 /* mosquitto_sub's status after -W */

static const char usage[] =
    "midge-sn-sub subscribes at an MQTT-SN 1.2 gateway and prints the messages it receives.\n"
    "midge-sn-sub version " MIDGE_VERSION ".\n"
    "\n"
    "Usage: midge-sn-sub [-h host] [-p port] {-t topic | -T predefined-topic-id}...\n"
    "                    [-q qos] [-C count] [-W seconds] [-v] [-e seconds]\n"
    "                    [-i id] [-k keepalive] [-c] [-d]\n"
    "                    [--retry seconds] [--retries n] [--predefined-file file]\n"
    "                    [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n"
    "                    [--fe [--wlnid id]]\n"
    "       midge-sn-sub --help\n"
    "\n"
    " -c : disable clean session (keep the session and subscriptions at the gateway).\n"
    " -C : disconnect and exit after this many messages.\n"
    " -d : print each datagram sent and received on stderr.\n"
    " -e : sleep: after subscribing, tell the gateway we sleep, and wake every this many seconds to\n"
    "      receive what it kept for us meanwhile.\n"
    " -h : the gateway's host name or address (IPv4 or IPv6). Defaults to localhost.\n"
    " -i : client id (1 to 23 characters). Defaults to midge-sn-sub- and the process id.\n"
    " -k : keep alive in seconds. Defaults to 60.\n"
    " -p : the gateway's UDP port. Defaults to 1884.\n"
    " -q : quality of service of the subscriptions: 0, 1 or 2. Defaults to 0.\n"
    " -t : a topic filter to subscribe to (wildcards allowed; a two-character name goes as a short\n"
    "      topic). May be repeated.\n"
    " -T : a predefined topic id to subscribe to (1 to 65534). May be repeated.\n"
    " -v : print 'topic payload' (a predefined id the --predefined-file does not name prints as its\n"
    "      number).\n"
    " -W : exit after this many seconds (status 27, 'Timed out').\n"
    SN_TOOL_USAGE_COMMON;

struct sub {
	struct sn_opts o;
	struct fmt_options fmt;
	int printed;
};

static void on_message(void *ud, const struct snc_message *m)
{
	struct sub *s = ud;
	/* A wake-up may bring more than -C still wants: the gateway has them acknowledged, we print no more. */
	if (s->o.count && s->printed >= s->o.count) return;
	char topic[65536 + 1], id[8];
	if (m->topic) {
		memcpy(topic, m->topic, m->topic_len);
		topic[m->topic_len] = 0;
	} else {
		snprintf(id, sizeof(id), "%u", m->topic_id);
	}
	struct fmt_message fm = {.topic = m->topic ? topic : id,
	                         .payload = m->payload,
	                         .payload_len = m->len,
	                         .qos = m->qos,
	                         .retain = m->retain,
	                         .mid = m->msg_id};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	fmt__print(stdout, stderr, &s->fmt, &fm, &now);
	s->printed++;
}

static bool done(const struct sub *s)
{
	return s->o.count && s->printed >= s->o.count;
}

/* Waits for messages until -C, -W (then *timed_out) or a signal. */
static int receive(struct snc *c, struct sub *s, uint64_t end, bool *timed_out)
{
	while (!done(s) && !sn_tool_interrupted) {
		uint64_t now = clock__ms();
		if (end && now >= end) {
			*timed_out = true;
			return 0;
		}
		int wait = -1;
		if (s->o.sleep_s) {
			/* Asleep: nothing to receive until we wake, which is when the sleep is over or -W comes. */
			uint64_t wake = now + (uint64_t)s->o.sleep_s * 1000;
			int rc = snc__loop(c, (int)((end && end < wake ? end : wake) - now));
			if (rc) return rc;
			if (clock__ms() >= wake && (rc = snc__wake(c))) return rc;
			continue;
		}
		if (end) wait = (int)(end - now);
		int rc = snc__loop(c, wait);
		if (rc) return rc;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	static struct sub s; /* with the client below: large, so not on the stack */
	static struct snc c;
	int status = sn_tool__parse(&s.o, SN_TOOL_SUB, PROG, usage, argc, argv);
	if (status >= 0) return status;
	s.fmt = (struct fmt_options){.verbose = s.o.verbose, .eol = true};
	uint64_t end = s.o.timeout ? clock__ms() + (uint64_t)s.o.timeout * 1000 : 0;
	sn_tool__signals();
	if (sn_tool__open(&c, &s.o, &(struct snc_callbacks){.on_message = on_message, .ud = &s})) {
		sn_opts__free(&s.o);
		return 1;
	}
	int rc = snc__connect(&c);
	for (size_t i = 0; !rc && i < s.o.ntopics; i++)
		rc = snc__subscribe(&c, SNC_TOPIC_NAME(s.o.topics[i]), s.o.qos, NULL);
	for (size_t i = 0; !rc && i < s.o.npredef_ids; i++)
		rc = snc__subscribe(&c, SNC_TOPIC_PREDEFINED(s.o.predef_ids[i]), s.o.qos, NULL);
	if (!rc && s.o.sleep_s) rc = snc__sleep(&c, s.o.sleep_s);
	bool timed_out = false;
	if (!rc) rc = receive(&c, &s, end, &timed_out);
	/* A signal ends the wait it interrupted with "interrupted": not an error, the way out. */
	if (rc == MIDGE_ERR_AGAIN && sn_tool_interrupted) rc = 0;
	status = rc ? sn_tool__fail(&c) : 0;
	if (c.state != SNC_DISCONNECTED && snc__disconnect(&c) && !status && !sn_tool_interrupted)
		status = sn_tool__fail(&c);
	if (!status && timed_out) {
		fprintf(stderr, "Timed out\n");
		status = EXIT_TIMED_OUT;
	}
	snc__close(&c);
	sn_opts__free(&s.o);
	return status;
}
