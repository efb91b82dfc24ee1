/* client: what midge-pub, midge-sub and midge-rr share on top of libmidge: the client built from the parsed
 * options, connecting and reporting failures as Mosquitto's clients do, the network loop driven from the
 * tool's own thread (with stdin for midge-pub -l), signals, and the "-d" debug lines. */
#ifndef MIDGE_TOOLS_CLIENT_H
#define MIDGE_TOOLS_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "midge/client.h"
#include "opts.h"

/* Mosquitto's libmosquitto error numbers, which its clients use as exit codes. */
enum tool_exit {
	TOOL_EXIT_OK = 0,
	TOOL_EXIT_ERROR = 1,
	TOOL_EXIT_CONN_LOST = 7,
	TOOL_EXIT_TLS = 8,
	TOOL_EXIT_TIMEOUT = 27,
};

/* The property lists of -D, by packet. */
enum tool_props { TP_CONNECT, TP_PUBLISH, TP_SUBSCRIBE, TP_UNSUBSCRIBE, TP_DISCONNECT, TP_WILL, TP_COUNT };

struct tool {
	const char *prog; /* "midge-pub": in messages */
	void *app;        /* the tool's own state, as given to tool__create */
	struct tool_opts *o;
	struct midge_client *c;
	struct midge_props *props[TP_COUNT]; /* NULL when none given (or before MQTT 5) */
	char *shown_id;                      /* the client id of the -d lines; NULL prints "(null)" */
	char *generated_id;                  /* -I prefix + pid, or MQTT 3.1's random id */
	bool connected;                      /* between an accepted CONNACK and the end of that connection */
	bool ever_connected;                 /* some CONNACK accepted */
	bool gone;                           /* no connection and none coming: the loop should stop */
	int connack_rc;                      /* a refused CONNACK's code, else 0 */
	int end_reason;                      /* of the last connection: as on_disconnect gave it */
	char last_error[160];                /* the cause in the library's last "ended" log line */
	char last_tls_error[224];            /* that line's reason when it was TLS's, else "" */
};

/* Set by SIGINT / SIGTERM. */
extern volatile sig_atomic_t tool_interrupted;

/* Installs the signal handlers (SIGINT, SIGTERM end the tool; SIGPIPE ignored). */
void tool__signals(void);
/* Reads the options file and command line of prog into o; answers --help (usage on stdout), --version
 * and errors (the hint to --help) as Mosquitto's tools do. Returns true when the tool goes on; false
 * when it is to exit with status 1 (after freeing o). */
bool tool__parse_args(struct tool_opts *o, enum tool_kind kind, const char *prog, const char *usage, int argc,
		      char *argv[]);

/* Builds t->c from o for prog, with cb (its on_log is the tool's own) and reconnecting after a lost
 * connection when reconnect is set, and its TLS settings. Prints Mosquitto's messages for what cannot be
 * done (TLS engines, SOCKS, unix sockets, an invalid id, a password without user name, TLS files not
 * found). Returns 0 or the exit code. */
int tool__create(struct tool *t, const char *prog, struct tool_opts *o, const struct midge_callbacks *cb,
                 void *userdata, bool reconnect);
/* Frees everything of t (not o). */
void tool__destroy(struct tool *t);

/* Loads the message of -s (stdin) or -f (a file) into o->message / o->message_len, printing Mosquitto's
 * errors ("Error: Zero length input.", "Error: Unable to open file ..."). 0 or -1. */
int tool__load_message(struct tool_opts *o);

/* Starts connecting (-d: "sending CONNECT"). Returns 0, or the exit code after printing why not
 * (name resolution: "Unable to connect (Lookup error.)."). */
int tool__connect(struct tool *t);

/* One turn of the loop: waits at most timeout_ms for the connection (and extra_fd when >= 0), then
 * reads, writes and runs the timers. Returns true when extra_fd is readable. */
bool tool__step(struct tool *t, int extra_fd, int timeout_ms);

/* The shared parts of the callbacks; the tools call them from theirs. */
void tool__connack(struct tool *t, int rc, const struct midge_props *props);
void tool__disconnected(struct tool *t, int reason, const struct midge_props *props);
/* "Connection error: ..." for a refused CONNACK, as the tool's Mosquitto counterpart says it; hint is
 * appended for MQTT 5's Unsupported Protocol Version (NULL: none); rr_style uses MQTT 5 reason texts
 * whatever the version (as mosquitto_rr does). */
void tool__connack_error(struct tool *t, int rc, const char *hint, bool rr_style);
/* The error for a first connection attempt that failed before any CONNACK, e.g. "Error: Connection
 * refused", or "Error: A TLS error occurred." for a refused handshake (-d: with the reason before it).
 * Returns the exit code: 8 (libmosquitto's MOSQ_ERR_TLS) for a refused handshake, 7 for a TLS session the
 * server ended before CONNACK, else 1. */
int tool__connect_failed(struct tool *t);

/* Publishes through the library, waiting (looping) while its queue is full; -d: "sending PUBLISH".
 * Returns 0 or MIDGE_ERR_*. */
int tool__publish(struct tool *t, const char *topic, const void *payload, size_t len, int qos, bool retain,
                  const struct midge_props *props, uint16_t *mid);
/* Sends DISCONNECT with the -D disconnect properties (-d: "sending DISCONNECT"). */
void tool__disconnect(struct tool *t, uint8_t reason);

/* A "Client <id> ..." debug line when -d is set. */
void tool__debug(struct tool *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints an error unless --quiet. */
void tool__err(struct tool *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The -d lines for a received PUBLISH and the acknowledgements that follow it. */
void tool__debug_message(struct tool *t, const struct midge_message *m);
/* The -d lines for an acknowledged publish of ours (qos 1: PUBACK; qos 2: PUBREC, PUBREL, PUBCOMP). */
void tool__debug_published(struct tool *t, uint16_t mid, int qos, int reason);

/* libmosquitto's texts: mosquitto_reason_string, mosquitto_connack_string. */
const char *tool__reason_string(int rc);
const char *tool__connack_string(int rc);

/* Seconds since an arbitrary point, for the tools' timers. */
double tool__now(void);

#endif
