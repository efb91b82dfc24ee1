/* opts: the command line of midge-pub, midge-sub and midge-rr, parsed as Mosquitto 2.0's
 * mosquitto_pub / mosquitto_sub / mosquitto_rr parse theirs: the same flags, the same defaults, the
 * same checks and the same one-line error messages, after the options file of each tool
 * ($XDG_CONFIG_HOME/midge_pub or ~/.config/midge_pub, midge_sub, midge_rr) read first. */
#ifndef MIDGE_TOOLS_OPTS_H
#define MIDGE_TOOLS_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum tool_kind { TOOL_PUB, TOOL_SUB, TOOL_RR };

/* What midge-pub (or midge-rr) sends: -m, -f, -s, -l or -n. */
enum pub_mode { PUB_NONE, PUB_MESSAGE, PUB_FILE, PUB_STDIN_FILE, PUB_STDIN_LINE, PUB_NULL };

/* The packet a -D property is for (Mosquitto's command names). */
enum opt_cmd {
	OPT_CMD_CONNECT = 1,
	OPT_CMD_CONNACK = 2,
	OPT_CMD_PUBLISH = 3,
	OPT_CMD_PUBACK = 4,
	OPT_CMD_PUBREC = 5,
	OPT_CMD_PUBREL = 6,
	OPT_CMD_PUBCOMP = 7,
	OPT_CMD_SUBSCRIBE = 8,
	OPT_CMD_UNSUBSCRIBE = 10,
	OPT_CMD_DISCONNECT = 14,
	OPT_CMD_AUTH = 15,
	OPT_CMD_WILL = 0x100,
};

/* Property value types, numbered as Mosquitto numbers them (its messages print the number). */
enum opt_prop_type {
	OPT_PROP_BYTE = 1,
	OPT_PROP_INT16 = 2,
	OPT_PROP_INT32 = 3,
	OPT_PROP_VARINT = 4,
	OPT_PROP_BINARY = 5,
	OPT_PROP_STRING = 6,
	OPT_PROP_PAIR = 7,
};

/* One -D property, or the session expiry of -x / -c. */
struct opt_prop {
	int cmd;    /* enum opt_cmd */
	uint8_t id; /* enum mqtt_prop_id */
	int type;   /* enum opt_prop_type */
	uint32_t value;
	char *name; /* user property name */
	char *str;  /* string or binary value, or the user property value */
};

struct tool_opts {
	enum tool_kind kind;
	/* connection */
	char *host;         /* "localhost" once loaded */
	int port;           /* -1: the default (1883) */
	char *unix_path;    /* --unix */
	char *bind_address; /* -A */
	char *id;           /* -i, or -I's prefix with the process id appended */
	char *id_prefix;    /* -I */
	int keepalive;
	bool clean_session;       /* false with -c */
	int protocol_version;     /* MQTT_V31, MQTT_V311 or MQTT_V5 */
	long long session_expiry; /* -x: -1 unset; set into connect properties when loaded (v5) */
	char *username, *password;
	bool nodelay;
	unsigned max_inflight; /* -M */
	/* will */
	char *will_topic, *will_payload;
	size_t will_payload_len;
	int will_qos;
	bool will_retain;
	/* publishing (pub, rr) */
	char *topic;
	enum pub_mode pub_mode;
	char *message; /* -m text; the tool loads -f / -s here too */
	size_t message_len;
	char *file_input;
	bool retain;
	int repeat_count;
	double repeat_delay; /* seconds */
	/* subscribing (sub, rr) */
	char **topics;
	size_t ntopics;
	char **filter_outs;
	size_t nfilter_outs;
	char **unsub_topics;
	size_t nunsub_topics;
	char *response_topic; /* rr -e */
	int qos;
	int msg_count;      /* -C; rr: 1 */
	unsigned timeout;   /* -W seconds, 0 none */
	bool no_retain;     /* -R */
	bool retained_only; /* --retained-only */
	bool remove_retained;
	bool exit_after_sub; /* -E */
	uint8_t sub_opts;    /* MQTT 5 subscription options: retain handling (-R), retain as published */
	int random_filter;   /* --random-filter in 1/10000, 10000: print all */
	char *format;        /* -F */
	bool verbose;
	bool eol; /* false with -N */
	bool pretty;
	/* output */
	bool debug, quiet;
	/* TLS (--tls-engine and --keyform engine are refused), and SOCKS, not done yet */
	char *cafile, *capath, *certfile, *keyfile, *ciphers, *tls_version, *tls_alpn, *tls_engine, *keyform,
	    *tls_engine_kpass_sha1, *psk, *psk_identity, *proxy;
	bool insecure, tls_use_os_certs;
	bool url_tls; /* -L mqtts:// or wss:// */
	bool url_ws;  /* -L ws:// or wss://: MQTT over WebSocket (libmidge's default path, /mqtt) */
	/* MQTT 5 properties, in the order given */
	struct opt_prop *props;
	size_t nprops;
	bool have_topic_alias;
};

/* Result of opts__load / opts__parse_args. */
enum opts_rc { OPTS_OK = 0, OPTS_ERROR = 1, OPTS_HELP = 2, OPTS_VERSION = 3 };

/* Sets the defaults of the tool (zeroed o first). */
void opts__init(struct tool_opts *o, enum tool_kind kind);
/* Frees everything o holds and leaves it zeroed. */
void opts__free(struct tool_opts *o);

/* Parses argv[1..argc) onto o, as one line of the options file or the real command line. Error
 * messages go to err. Returns an enum opts_rc. */
int opts__parse_args(struct tool_opts *o, int argc, char *const argv[], FILE *err);

/* Everything Mosquitto's client_config_load does: defaults, the options file (path from
 * opts__file_path), the command line, then the checks that need all options (will, TLS pairs, client
 * id with -c, topics, session expiry into the CONNECT properties, property validity). Error messages
 * go to err; the caller prints the "Use ... --help" line. Returns an enum opts_rc. */
int opts__load(struct tool_opts *o, enum tool_kind kind, int argc, char *const argv[], FILE *err);

/* Replaces *dst with a copy of s (shared by the option and -D property readers). Returns 0, or -1 after
 * reporting "Error: Out of memory." on err. */
int opts__set_str(char **dst, const char *s, FILE *err);

/* The options file of kind: $XDG_CONFIG_HOME/<name> or $HOME/.config/<name> with name midge_pub,
 * midge_sub or midge_rr, in buf. Returns buf, or NULL when neither variable is set. */
const char *opts__file_path(enum tool_kind kind, char *buf, size_t size);

/* True when the connection is to be over TLS, as Mosquitto's clients decide: a CA (--cafile, --capath), --psk,
 * --tls-use-os-certs, -L mqtts:// or port 8883. --cert, --key, --insecure, --tls-version, --ciphers and
 * --tls-alpn alone do not turn it on. */
bool opts__tls(const struct tool_opts *o);
/* The port to connect to: -p or -L's, else 8883 with --cafile, --capath or --psk, else 1883 (so
 * --tls-use-os-certs alone stays on 1883, as with mosquitto_pub). */
int opts__port(const struct tool_opts *o);

#endif
