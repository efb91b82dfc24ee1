/* sn_opts: the command line of midge-sn-pub and midge-sn-sub: mosquitto_pub / mosquitto_sub's flags where MQTT-SN
 * has the same thing, njh's mqtt-sn-tools' where it has a flag of its own (-T predefined topic id, -e sleep,
 * --fe, --wlnid). Parsing and checks only; the tools do the rest. */
#ifndef MIDGE_TOOLS_SN_OPTS_H
#define MIDGE_TOOLS_SN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "opts.h" /* enum pub_mode, enum opts_rc, opts__set_str */

enum sn_tool_kind { SN_TOOL_PUB, SN_TOOL_SUB };

#define SN_OPTS_WLNID_MAX 252

/* Everything the two tools take. Strings are owned (sn_opts__free frees them). */
struct sn_opts {
	enum sn_tool_kind kind;
	char *host; /* "localhost" by default */
	int port;   /* 1884 by default */
	char *id;   /* -i, else "midge-sn-pub-PID" / "midge-sn-sub-PID" once loaded */
	int keepalive;
	bool clean;   /* false with -c */
	double retry; /* --retry: Tretry seconds, default 10 */
	int retries;  /* --retries: Nretry, default 5 */
	/* topics: pub takes one -t or one -T; sub any number of each */
	char **topics;
	size_t ntopics;
	uint16_t *predef_ids;
	size_t npredef_ids;
	char *predef_file; /* --predefined-file */
	/* pub */
	enum pub_mode pub_mode; /* PUB_MESSAGE, PUB_STDIN_FILE, PUB_STDIN_LINE or PUB_NULL */
	char *message;
	size_t message_len;
	bool retain;
	int qos; /* -1 .. 2 (sub: 0 .. 2) */
	/* sub */
	int count;        /* -C, 0: no limit */
	unsigned timeout; /* -W seconds, 0: none */
	int sleep_s;      /* -e seconds, 0: stay awake */
	bool verbose;     /* -v */
	/* will */
	char *will_topic, *will_payload;
	int will_qos;
	bool will_retain;
	/* forwarder */
	bool fe;
	uint8_t wlnid[SN_OPTS_WLNID_MAX];
	size_t wlnid_len; /* 0 until loaded: then the process id in decimal unless --wlnid */
	bool debug;
};

/* Parses argv[1..argc) for kind onto a fresh o (defaults first), then checks what needs all options (one topic
 * and one message for pub, QoS -1 with a short or predefined topic, will payload with a will topic, ...) and
 * fills the defaults that depend on the process (client id, wireless node id). Errors go to err as
 * "Error: ...\n". Returns OPTS_OK, OPTS_ERROR or OPTS_HELP (o then holds what it parsed: sn_opts__free it). */
int sn_opts__load(struct sn_opts *o, enum sn_tool_kind kind, int argc, char *const argv[], FILE *err);
/* Frees what o holds and leaves it zeroed. */
void sn_opts__free(struct sn_opts *o);

#endif
