/* client: the libmidge client of midge-pub, midge-sub and midge-rr, built from their options and driven
 * from their own thread, with Mosquitto's messages for every way connecting can fail. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "midge/mqtt.h"

volatile sig_atomic_t tool_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	tool_interrupted = 1;
}

void tool__signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: poll must return at once so the loop sees the flag. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

double tool__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *tool__reason_string(int rc)
{
	switch (rc) {
	case 0x00:
		return "Success";
	case 0x01:
		return "Granted QoS 1";
	case 0x02:
		return "Granted QoS 2";
	case 0x04:
		return "Disconnect with Will Message";
	case 0x10:
		return "No matching subscribers";
	case 0x11:
		return "No subscription existed";
	case 0x18:
		return "Continue authentication";
	case 0x19:
		return "Re-authenticate";
	case 0x80:
		return "Unspecified error";
	case 0x81:
		return "Malformed Packet";
	case 0x82:
		return "Protocol Error";
	case 0x83:
		return "Implementation specific error";
	case 0x84:
		return "Unsupported Protocol Version";
	case 0x85:
		return "Client Identifier not valid";
	case 0x86:
		return "Bad User Name or Password";
	case 0x87:
		return "Not authorized";
	case 0x88:
		return "Server unavailable";
	case 0x89:
		return "Server busy";
	case 0x8A:
		return "Banned";
	case 0x8B:
		return "Server shutting down";
	case 0x8C:
		return "Bad authentication method";
	case 0x8D:
		return "Keep Alive timeout";
	case 0x8E:
		return "Session taken over";
	case 0x8F:
		return "Topic Filter invalid";
	case 0x90:
		return "Topic Name invalid";
	case 0x91:
		return "Packet Identifier in use";
	case 0x92:
		return "Packet Identifier not found";
	case 0x93:
		return "Receive Maximum exceeded";
	case 0x94:
		return "Topic Alias invalid";
	case 0x95:
		return "Packet too large";
	case 0x96:
		return "Message rate too high";
	case 0x97:
		return "Quota exceeded";
	case 0x98:
		return "Administrative action";
	case 0x99:
		return "Payload format invalid";
	case 0x9A:
		return "Retain not supported";
	case 0x9B:
		return "QoS not supported";
	case 0x9C:
		return "Use another server";
	case 0x9D:
		return "Server moved";
	case 0x9E:
		return "Shared Subscriptions not supported";
	case 0x9F:
		return "Connection rate exceeded";
	case 0xA0:
		return "Maximum connect time";
	case 0xA1:
		return "Subscription identifiers not supported";
	case 0xA2:
		return "Wildcard Subscriptions not supported";
	default:
		return "Unknown reason";
	}
}

const char *tool__connack_string(int rc)
{
	switch (rc) {
	case 0:
		return "Connection Accepted.";
	case 1:
		return "Connection Refused: unacceptable protocol version.";
	case 2:
		return "Connection Refused: identifier rejected.";
	case 3:
		return "Connection Refused: broker unavailable.";
	case 4:
		return "Connection Refused: bad user name or password.";
	case 5:
		return "Connection Refused: not authorised.";
	default:
		return "Connection Refused: unknown reason.";
	}
}

void tool__err(struct tool *t, const char *fmt, ...)
{
	if (t->o->quiet) return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void tool__debug(struct tool *t, const char *fmt, ...)
{
	if (!t->o->debug) return;
	va_list ap;
	printf("Client %s ", t->shown_id ? t->shown_id : "(null)");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- building the client ---- */

static int props_index(int cmd)
{
	switch (cmd) {
	case OPT_CMD_CONNECT:
		return TP_CONNECT;
	case OPT_CMD_PUBLISH:
		return TP_PUBLISH;
	case OPT_CMD_SUBSCRIBE:
		return TP_SUBSCRIBE;
	case OPT_CMD_UNSUBSCRIBE:
		return TP_UNSUBSCRIBE;
	case OPT_CMD_DISCONNECT:
		return TP_DISCONNECT;
	default:
		return TP_WILL;
	}
}

/* The -D properties as libmidge lists. 0 or MIDGE_ERR_*. */
static int build_props(struct tool *t)
{
	for (size_t i = 0; i < t->o->nprops; i++) {
		const struct opt_prop *p = &t->o->props[i];
		int k = props_index(p->cmd);
		/* libmidge never sends topic aliases (they only save bytes on this one connection): the message
		 * goes out with its topic instead. */
		if (k == TP_PUBLISH && p->id == MQTT_PROP_TOPIC_ALIAS) continue;
		if (!t->props[k] && !(t->props[k] = midge_props_new())) return MIDGE_ERR_NOMEM;
		int rc;
		switch (p->type) {
		case OPT_PROP_BINARY:
			rc = midge_props_add_binary(t->props[k], p->id, p->str, strlen(p->str));
			break;
		case OPT_PROP_STRING:
			rc = midge_props_add_string(t->props[k], p->id, p->str);
			break;
		case OPT_PROP_PAIR:
			rc = midge_props_add_user(t->props[k], p->name, p->str);
			break;
		default:
			rc = midge_props_add_int(t->props[k], p->id, p->value);
			break;
		}
		if (rc) return rc;
	}
	/* libmosquitto asks for a Receive Maximum of 20 (mosquitto_sub -C n, n < 20, and mosquitto_rr: n) unless
	 * the user did. */
	struct midge_prop rm;
	if (!midge_props_get(t->props[TP_CONNECT], MQTT_PROP_RECEIVE_MAXIMUM, &rm)) {
		int n = t->o->kind != TOOL_PUB && t->o->msg_count > 0 && t->o->msg_count < 20 ? t->o->msg_count : 20;
		if (!t->props[TP_CONNECT] && !(t->props[TP_CONNECT] = midge_props_new())) return MIDGE_ERR_NOMEM;
		return midge_props_add_int(t->props[TP_CONNECT], MQTT_PROP_RECEIVE_MAXIMUM, (uint32_t)n);
	}
	return 0;
}

/* A client id for MQTT 3.1, which needs one: 23 characters, as libmosquitto makes "mosq-...". */
static char *random_id(void)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	char *id = malloc(24);
	if (!id) return NULL;
	unsigned seed = (unsigned)getpid() ^ (unsigned)(tool__now() * 1e6);
	memcpy(id, "midge-", 6);
	for (int i = 6; i < 23; i++)
		id[i] = chars[rand_r(&seed) % (sizeof(chars) - 1)];
	id[23] = '\0';
	return id;
}

static void on_log(struct midge_client *c, void *userdata, int level, const char *line)
{
	(void)c;
	(void)level;
	struct tool *t = userdata;
	/* "connection attempt ended: connect to 127.0.0.1 port 1: Connection refused": keep the cause. */
	const char *ended = strstr(line, " ended: ");
	if (!ended) return;
	const char *cause = strrchr(ended, ':');
	snprintf(t->last_error, sizeof(t->last_error), "%s", cause ? cause + 2 : line);
	snprintf(t->last_tls_error, sizeof(t->last_tls_error), "%s", strncmp(ended + 8, "TLS ", 4) ? "" : ended + 8);
}

/* What Mosquitto's clients cannot do here yet, refused before anything is sent. */
static int refuse_unsupported(struct tool *t)
{
	struct tool_opts *o = t->o;
	if (o->proxy) {
		fprintf(stderr, "Error: SOCKS proxies (--proxy) are not supported yet.\n");
		return TOOL_EXIT_ERROR;
	}
	if (o->port == 0) {
		/* Mosquitto takes port 0 (--unix) as a unix socket at the host's path. */
		struct stat st;
		if (stat(o->host, &st) != 0) {
			tool__err(t, "Error: %s\n", strerror(errno));
			return TOOL_EXIT_ERROR;
		}
		fprintf(stderr, "Error: Unix sockets (--unix) are not supported yet.\n");
		return TOOL_EXIT_ERROR;
	}
	return 0;
}

/* A readable file, as mosquitto_tls_set wants cafile, certfile and keyfile to be. */
static bool file_found(const char *path)
{
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (f) fclose(f);
	return !path || f;
}

/* The TLS settings, checked in the order and with the messages of Mosquitto's client_tls_opts_set. As there,
 * --cert and --key go with a CA only, and --psk only without one. Returns 0 or the exit code. */
static int set_tls(struct tool *t)
{
	const struct tool_opts *o = t->o;
	bool ca = o->cafile || o->capath;
	if (ca && (!file_found(o->cafile) || !file_found(o->certfile) || !file_found(o->keyfile))) {
		tool__err(t, "Error: Problem setting TLS options: File not found.\n");
		return TOOL_EXIT_ERROR;
	}
	if (!ca && o->psk && (!*o->psk || strspn(o->psk, "0123456789abcdefABCDEF") != strlen(o->psk))) {
		tool__err(t, "Error: Problem setting TLS-PSK options.\n");
		return TOOL_EXIT_ERROR;
	}
	if (o->tls_engine || o->tls_engine_kpass_sha1 || (o->keyform && !strcmp(o->keyform, "engine"))) {
		tool__err(t, "Error: TLS engines (--tls-engine, --keyform engine, --tls-engine-kpass-sha1) are not "
		             "supported.\n");
		return TOOL_EXIT_ERROR;
	}
	if (o->keyform && strcmp(o->keyform, "pem")) {
		tool__err(t, "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n");
		return TOOL_EXIT_ERROR;
	}
	if (o->tls_version && strcmp(o->tls_version, "tlsv1.3") && strcmp(o->tls_version, "tlsv1.2") &&
	    strcmp(o->tls_version, "tlsv1.1")) {
		tool__err(t, "Error: Problem setting TLS options, check the options are valid.\n");
		return TOOL_EXIT_ERROR;
	}
	if (!opts__tls(o)) return 0;
	struct midge_tls_options tls = {
	    .cafile = o->cafile,
	    .capath = o->capath,
	    .use_os_certs = o->tls_use_os_certs,
	    .certfile = ca ? o->certfile : NULL,
	    .keyfile = ca ? o->keyfile : NULL,
	    .insecure = o->insecure,
	    .tls_version = o->tls_version,
	    .ciphers = o->ciphers,
	    .alpn = o->tls_alpn,
	    .psk = ca ? NULL : o->psk,
	    .psk_identity = ca ? NULL : o->psk_identity,
	};
	int rc = midge_client_set_tls(t->c, &tls);
	if (rc == MIDGE_ERR_NOMEM) {
		tool__err(t, "Error: Out of memory.\n");
		return TOOL_EXIT_ERROR;
	}
	if (rc) {
		/* libmosquitto builds its context when connecting: a cipher list or key it refuses shows there. */
		tool__err(t, "Unable to connect (A TLS error occurred.).\n");
		if (o->debug) {
			char why[256];
			midge_client_error_text(t->c, why, sizeof why);
			tool__err(t, "%s\n", why);
		}
		return TOOL_EXIT_ERROR;
	}
	return 0;
}

int tool__create(struct tool *t, const char *prog, struct tool_opts *o, const struct midge_callbacks *cb,
                 void *userdata, bool reconnect)
{
	memset(t, 0, sizeof(*t));
	t->prog = prog;
	t->o = o;
	int rc = refuse_unsupported(t);
	if (rc) return rc;
	bool v5 = o->protocol_version == MQTT_V5;
	const char *invalid_id =
	    o->kind == TOOL_PUB ? "Error: Invalid id.\n" : "Error: Invalid id and/or clean_session.\n";
	if (o->id_prefix) {
		if (asprintf(&t->generated_id, "%s%d", o->id_prefix, (int)getpid()) < 0) {
			t->generated_id = NULL;
			tool__err(t, "Error: Out of memory.\n");
			return TOOL_EXIT_ERROR;
		}
	} else if (!o->id && o->protocol_version == MQTT_V31) {
		if (!(t->generated_id = random_id())) {
			tool__err(t, "Error: Out of memory.\n");
			return TOOL_EXIT_ERROR;
		}
	}
	const char *id = t->generated_id ? t->generated_id : o->id;
	if (!id && !o->clean_session) {
		tool__err(t, "%s", invalid_id);
		return TOOL_EXIT_ERROR;
	}
	if (id && !(t->shown_id = strdup(id))) {
		tool__err(t, "Error: Out of memory.\n");
		return TOOL_EXIT_ERROR;
	}
	if (!v5 && o->password && !o->username) {
		tool__err(t, "Error: Problem setting username and/or password.\n");
		return TOOL_EXIT_ERROR;
	}
	if (v5 && (rc = build_props(t)) != 0) {
		/* What Mosquitto accepts but libmidge refuses to send, e.g. a Subscription Identifier of 0. */
		tool__err(t, rc == MIDGE_ERR_NOMEM ? "Error: Out of memory.\n" : "Error: Invalid property value.\n");
		return TOOL_EXIT_ERROR;
	}
	if (!v5) {
		/* libmosquitto refuses properties before MQTT 5 where they would change what is sent. */
		bool will_props = false, connect_props = false;
		for (size_t i = 0; i < o->nprops; i++) {
			will_props |= o->props[i].cmd == OPT_CMD_WILL;
			connect_props |= o->props[i].cmd == OPT_CMD_CONNECT;
		}
		if (will_props && o->will_topic) {
			tool__err(t, "Error: Problem setting will.\n");
			return TOOL_EXIT_ERROR;
		}
		if (connect_props) {
			tool__err(t, "Unable to connect (This feature is not supported.).\n");
			return TOOL_EXIT_ERROR;
		}
	}
	struct midge_client_options co = {
	    .client_id = id,
	    .version = o->protocol_version,
	    .clean_start = o->clean_session,
	    .persistent = !o->clean_session,
	    .keepalive = (uint16_t)o->keepalive,
	    .username = o->username,
	    .password = o->password,
	    .password_len = o->password ? strlen(o->password) : 0,
	    .will_topic = o->will_topic,
	    .will_payload = o->will_payload,
	    .will_payload_len = o->will_payload_len,
	    .will_qos = (uint8_t)o->will_qos,
	    .will_retain = o->will_retain,
	    .will_props = o->will_topic ? t->props[TP_WILL] : NULL,
	    .connect_props = t->props[TP_CONNECT],
	    .max_inflight = (uint16_t)(o->max_inflight > 65535 ? 65535 : o->max_inflight),
	    .reconnect = reconnect,
	    .reconnect_min_ms = 1000,
	    .reconnect_max_ms = 1000,
	    .bind_address = o->bind_address,
	};
	/* libmosquitto keeps a zero-length will payload as "none"; libmidge wants a pointer with a length. */
	if (o->will_topic && !o->will_payload) co.will_payload = "";
	t->c = midge_client_new(&co);
	if (!t->c) {
		tool__err(t, "%s", invalid_id);
		return TOOL_EXIT_ERROR;
	}
	struct midge_callbacks all = *cb;
	all.on_log = on_log;
	t->app = userdata;
	midge_client_set_callbacks(t->c, &all, t);
	return set_tls(t);
}

void tool__destroy(struct tool *t)
{
	midge_client_destroy(t->c);
	for (int k = 0; k < TP_COUNT; k++)
		midge_props_free(t->props[k]);
	free(t->shown_id);
	free(t->generated_id);
	memset(t, 0, sizeof(*t));
}

int tool__connect(struct tool *t)
{
	struct tool_opts *o = t->o;
	char url[600];
	int port = opts__port(o);
	const char *scheme = o->url_ws ? (opts__tls(o) ? "wss" : "ws") : opts__tls(o) ? "mqtts" : "mqtt";
	/* An IPv6 address goes in brackets. */
	if (strchr(o->host, ':') && o->host[0] != '[')
		snprintf(url, sizeof(url), "%s://[%s]:%d", scheme, o->host, port);
	else
		snprintf(url, sizeof(url), "%s://%s:%d", scheme, o->host, port);
	tool__debug(t, "sending CONNECT");
	int rc = midge_client_connect(t->c, url);
	if (rc == 0) return 0;
	if (rc == MIDGE_ERR_NOMEM)
		tool__err(t, "Error: Out of memory.\n");
	else
		tool__err(t, "Unable to connect (Lookup error.).\n");
	return TOOL_EXIT_ERROR;
}

bool tool__step(struct tool *t, int extra_fd, int timeout_ms)
{
	struct pollfd fds[3];
	nfds_t n = 0;
	int sock = midge_client_socket(t->c);
	fds[n++] = (struct pollfd){.fd = midge_client_wakeup_fd(t->c), .events = POLLIN};
	int sock_at = -1, extra_at = -1;
	if (sock >= 0) {
		sock_at = (int)n;
		fds[n++] =
		    (struct pollfd){.fd = sock, .events = POLLIN | (midge_client_want_write(t->c) ? POLLOUT : 0)};
	}
	if (extra_fd >= 0) {
		extra_at = (int)n;
		fds[n++] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
	}
	int r = poll(fds, n, timeout_ms);
	if (r > 0 && sock_at >= 0) {
		short ev = fds[sock_at].revents;
		if (ev & (POLLIN | POLLERR | POLLHUP)) midge_client_loop_read(t->c);
		if (ev & (POLLOUT | POLLERR | POLLHUP)) midge_client_loop_write(t->c);
	}
	midge_client_loop_misc(t->c);
	return r > 0 && extra_at >= 0 && (fds[extra_at].revents & (POLLIN | POLLHUP | POLLERR));
}

/* ---- the message of -s and -f ---- */

/* -s: all of stdin as the message. */
static int load_stdin(struct tool_opts *o)
{
	size_t cap = 0, len = 0;
	char *buf = NULL;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			char *grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				fprintf(stderr, "Error: Out of memory.\n");
				return -1;
			}
			buf = grown;
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		len += (size_t)n;
		if (len > MQTT_MAX_REMAINING) {
			free(buf);
			if (!o->quiet)
				fprintf(stderr, "Error: Message length must be less than %u bytes.\n\n",
				        MQTT_MAX_REMAINING);
			return -1;
		}
	}
	if (len == 0) {
		free(buf);
		if (!o->quiet) fprintf(stderr, "Error: Zero length input.\n");
		return -1;
	}
	free(o->message);
	o->message = buf;
	o->message_len = len;
	return 0;
}

/* -f: the file as the message. */
static int load_file(struct tool_opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (!o->quiet) fprintf(stderr, "Error: Unable to open file \"%s\".\n", path);
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode) || st.st_size > (off_t)MQTT_MAX_REMAINING) {
		fclose(f);
		if (!o->quiet) fprintf(stderr, "Error: File must be less than %u bytes.\n\n", MQTT_MAX_REMAINING);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1);
	if (!buf || (len && fread(buf, 1, len, f) != len)) {
		free(buf);
		fclose(f);
		if (!o->quiet) fprintf(stderr, "Error: Unable to read file \"%s\".\n", path);
		return -1;
	}
	fclose(f);
	free(o->message);
	o->message = buf;
	o->message_len = len;
	return 0;
}

int tool__load_message(struct tool_opts *o)
{
	if (o->pub_mode == PUB_STDIN_FILE && load_stdin(o)) {
		if (!o->quiet) fprintf(stderr, "Error loading input from stdin.\n");
		return -1;
	}
	if (o->pub_mode == PUB_FILE && load_file(o, o->file_input)) {
		if (!o->quiet) fprintf(stderr, "Error loading input file \"%s\".\n", o->file_input);
		return -1;
	}
	return 0;
}

/* ---- callbacks' shared parts ---- */

void tool__connack(struct tool *t, int rc, const struct midge_props *props)
{
	struct midge_prop p;
	if (rc == 0 && midge_props_get(props, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER, &p)) {
		char *id = strndup(p.str, p.len);
		if (id) {
			free(t->shown_id);
			t->shown_id = id;
		}
	}
	tool__debug(t, "received CONNACK (%d)", rc);
	if (rc == 0) {
		t->connected = true;
		t->ever_connected = true;
	} else {
		t->connack_rc = rc;
	}
}

void tool__disconnected(struct tool *t, int reason, const struct midge_props *props)
{
	(void)props;
	/* A DISCONNECT from the server ended it (not a refused CONNACK): Mosquitto's clients say so with -d. */
	if (reason > 0 && t->connected && t->o->debug) {
		printf("Received DISCONNECT (%d)\n", reason);
		fflush(stdout);
	}
	t->connected = false;
	t->end_reason = reason;
}

void tool__connack_error(struct tool *t, int rc, const char *hint, bool rr_style)
{
	if (t->o->protocol_version == MQTT_V5 || rr_style) {
		if (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION && hint)
			tool__err(t, "Connection error: %s. %s\n", tool__reason_string(rc), hint);
		else
			tool__err(t, "Connection error: %s\n", tool__reason_string(rc));
	} else {
		tool__err(t, "Connection error: %s\n", tool__connack_string(rc));
	}
}

int tool__connect_failed(struct tool *t)
{
	if (t->end_reason == MIDGE_ERR_TLS) {
		/* The reason ("TLS handshake failed: certificate verify failed") is for -d only, as libmosquitto's
		 * "OpenSSL Error" lines are. */
		if (t->o->debug && t->last_tls_error[0]) tool__err(t, "%s\n", t->last_tls_error);
		/* A refusal after the handshake (TLS 1.3 servers check the client's certificate then) is a lost
		 * connection to libmosquitto. */
		if (!strncmp(t->last_tls_error, "TLS session", 11)) {
			tool__err(t, "Error: The connection was lost.\n");
			return TOOL_EXIT_CONN_LOST;
		}
		tool__err(t, "Error: A TLS error occurred.\n");
		return TOOL_EXIT_TLS;
	}
	if (t->end_reason == MIDGE_ERR_TIMEOUT)
		tool__err(t, "Error: %s\n", strerror(ETIMEDOUT));
	else if (t->last_error[0] && t->end_reason == MIDGE_ERR_IO)
		tool__err(t, "Error: %s\n", t->last_error);
	else
		tool__err(t, "Error: %s\n", "The connection was lost.");
	return TOOL_EXIT_ERROR;
}

int tool__publish(struct tool *t, const char *topic, const void *payload, size_t len, int qos, bool retain,
                  const struct midge_props *props, uint16_t *mid)
{
	uint16_t m = 0;
	int rc;
	while ((rc = midge_client_publish(t->c, topic, payload, len, (uint8_t)qos, retain, props, &m)) ==
	       MIDGE_ERR_AGAIN) {
		/* The queue is full: let the connection drain it, unless this is a callback, which cannot drive the
		 * loop (the library then says INVAL). */
		if (tool_interrupted || t->gone || midge_client_loop_misc(t->c) == MIDGE_ERR_INVAL) return rc;
		tool__step(t, -1, 100);
	}
	if (rc == 0)
		tool__debug(t, "sending PUBLISH (d0, q%d, r%d, m%u, '%s', ... (%zu bytes))", qos, retain ? 1 : 0, m,
		            topic, len);
	if (mid) *mid = m;
	return rc;
}

void tool__disconnect(struct tool *t, uint8_t reason)
{
	tool__debug(t, "sending DISCONNECT");
	const struct midge_props *p = t->o->protocol_version == MQTT_V5 ? t->props[TP_DISCONNECT] : NULL;
	midge_client_disconnect(t->c, reason, p);
}

void tool__debug_message(struct tool *t, const struct midge_message *m)
{
	tool__debug(t, "received PUBLISH (d%d, q%d, r%d, m%u, '%s', ... (%zu bytes))", m->dup ? 1 : 0, m->qos,
	            m->retain ? 1 : 0, m->mid, m->topic, m->payload_len);
	if (m->qos == 1) {
		tool__debug(t, "sending PUBACK (m%u, rc0)", m->mid);
	} else if (m->qos == 2) {
		tool__debug(t, "sending PUBREC (m%u, rc0)", m->mid);
		tool__debug(t, "received PUBREL (Mid: %u)", m->mid);
		tool__debug(t, "sending PUBCOMP (m%u)", m->mid);
	}
}

void tool__debug_published(struct tool *t, uint16_t mid, int qos, int reason)
{
	if (qos == 1) {
		tool__debug(t, "received PUBACK (Mid: %u, RC:%d)", mid, reason);
	} else if (qos == 2) {
		tool__debug(t, "received PUBREC (Mid: %u)", mid);
		tool__debug(t, "sending PUBREL (m%u)", mid);
		tool__debug(t, "received PUBCOMP (Mid: %u, RC:%d)", mid, reason);
	}
}

bool tool__parse_args(struct tool_opts *o, enum tool_kind kind, const char *prog, const char *usage, int argc,
		      char *argv[])
{
	int rc = opts__load(o, kind, argc, argv, stderr);
	if (rc == OPTS_HELP) fputs(usage, stdout);
	else if (rc == OPTS_VERSION) printf("%s version %s running on libmidge %s.\n", prog, MIDGE_VERSION, MIDGE_VERSION);
	else if (rc != OPTS_OK) fprintf(stderr, "\nUse '%s --help' to see usage.\n", prog);
	return rc == OPTS_OK;
}
