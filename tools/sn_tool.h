/* sn_tool: what midge-sn-pub and midge-sn-sub share on top of snclient: the client set up from the parsed
 * options, the "-d" lines describing each datagram, error reporting and signals. */
#ifndef MIDGE_TOOLS_SN_TOOL_H
#define MIDGE_TOOLS_SN_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sn_opts.h"
#include "snclient/snclient.h"

/* The end of both tools' --help: the long options they share. */
#define SN_TOOL_USAGE_COMMON \
    " --fe : wrap every datagram in a forwarder's envelope (MQTT-SN 1.2 section 5.5).\n" \
    " --wlnid : the wireless node id in the envelope: text, or 0x and hex digits. Defaults to the\n" \
    "           process id.\n" \
    " --help : display this message.\n" \
    " --predefined-file : 'ID TOPIC' lines, as the gateway's mqttsn_predefined_file.\n" \
    " --retries : how many times a message is resent without an answer before the gateway is taken as\n" \
    "             lost (Nretry). Defaults to 5.\n" \
    " --retry : seconds to wait for an answer before resending (Tretry). Defaults to 10.\n" \
    " --will-payload : the will's payload. Defaults to an empty one.\n" \
    " --will-qos : QoS of the will (0, 1 or 2). Defaults to 0.\n" \
    " --will-retain : the will is to be retained.\n" \
    " --will-topic : the topic of the will, which the gateway publishes if this client goes away unexpectedly.\n"

/* Set by SIGINT / SIGTERM; a wait in snclient then ends with MIDGE_ERR_AGAIN ("interrupted"). */
extern volatile sig_atomic_t sn_tool_interrupted;

/* SIGINT and SIGTERM set sn_tool_interrupted (without SA_RESTART, so that poll returns); SIGPIPE ignored. */
void sn_tool__signals(void);
/* Parses the command line for kind; prints usage (--help, on stdout) or the error and a hint to --help (on
 * stderr). Returns -1 to go on, else the exit status (0 after --help, 1 after an error); o is freed then. */
int sn_tool__parse(struct sn_opts *o, enum sn_tool_kind kind, const char *prog, const char *usage, int argc,
                   char *argv[]);
/* Initialises c from o with cb (on_datagram replaced by the -d printer when o->debug), reads the predefined
 * file, and opens the socket. Returns 0, or 1 after printing "Error: ..." (c is then closed). */
int sn_tool__open(struct snc *c, const struct sn_opts *o, const struct snc_callbacks *cb);
/* Prints "Error: <what snclient said>" and returns 1. */
int sn_tool__fail(const struct snc *c);
/* One line about m for -d, without "Sending "/"Received ": "PUBLISH (d0, q1, r0, topic 5, m3, 2 bytes)". */
void sn_tool__describe(const struct sn_msg *m, char *buf, size_t size);

#endif
