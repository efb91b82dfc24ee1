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
