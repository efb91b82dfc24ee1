/* lmclient: a libmidge client scripted by test_13_libmidge.py. Options (argv) fill midge_client_options;
 * commands come one per line on stdin; every callback and every command's result is one JSON line on stdout.
 *
 * Modes (-m): "thread" runs midge_client_start's thread; "ext" drives the client from this program's own poll
 * loop with midge_client_loop_read/_write/_misc (stdin is polled with it); "wait" has no loop at all but the
 * one midge_client_wait and the "drive" command run.
 *
 * Commands:
 *   connect URL | start | stop FLUSH_MS | quit
 *   wait connected|published|disconnected MS
 *   sub OPTIONS FILTER... (OPTIONS: the options byte, e.g. 1 or 0x05) | unsub FILTER...
 *   subp OPTIONS FILTER K=V   (with one user property)
 *   pub TOPIC QOS RETAIN PAYLOAD [ct=S rt=S cd=HEX u=K=V pfi=N mei=N]...   (PAYLOAD "-" for empty)
 *   pubn TOPIC QOS N PREFIX      N messages "PREFIX-i"; waits and retries while the queue is full
 *   tpub TOPIC QOS N THREADS PREFIX   THREADS threads publish N messages "PREFIX-t-i" each, at once
 *   drive MS | disconnect [REASON] | sleep MS
 *   tls [KEY=VALUE | insecure | oscerts]...   midge_client_set_tls (see set_tls)
 *   errtext                      midge_client_error_text, as "text"
 *   ack MID QOS | tack MID QOS   midge_client_ack, from this thread or from a new thread (joined)
 *
 * Long options: --bridge (options.bridge), --manual-ack (options.manual_ack), --ack-in-callback (manual_ack, and
 * on_message acknowledges each QoS 1/2 message itself; its event then has "ackrc"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "midge/client.h"

struct app {
	struct midge_client *c;
	const char *mode;
	pthread_mutex_t out; /* one JSON line at a time */
	atomic_int tpub_running;
	atomic_long tpub_again; /* MIDGE_ERR_AGAIN answers the publishing threads waited out */
	pthread_t tpub_threads[64];
	int tpub_n;
	bool ack_in_callback;
};

/* ---- output ---- */

static void put_json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void put_hex(const void *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++)
		printf("%02x", ((const unsigned char *)p)[i]);
	putchar('"');
}

static void put_props(const struct midge_props *p)
{
	if (!p) {
		printf("null");
		return;
	}
	putchar('[');
	size_t pos = 0;
	struct midge_prop pr;
	bool first = true;
	while (midge_props_next(p, &pos, &pr)) {
		printf("%s{\"id\":%u,", first ? "" : ",", pr.id);
		first = false;
		switch (pr.id) {
		case MQTT_PROP_CONTENT_TYPE:
		case MQTT_PROP_RESPONSE_TOPIC:
		case MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER:
		case MQTT_PROP_AUTHENTICATION_METHOD:
		case MQTT_PROP_RESPONSE_INFORMATION:
		case MQTT_PROP_SERVER_REFERENCE:
		case MQTT_PROP_REASON_STRING:
			printf("\"s\":");
			put_json_str(pr.str, pr.len);
			break;
		case MQTT_PROP_CORRELATION_DATA:
		case MQTT_PROP_AUTHENTICATION_DATA:
			printf("\"hex\":");
			put_hex(pr.str, pr.len);
			break;
		case MQTT_PROP_USER_PROPERTY:
			printf("\"k\":");
			put_json_str(pr.str, pr.len);
			printf(",\"v\":");
			put_json_str(pr.str2, pr.len2);
			break;
		default:
			printf("\"n\":%" PRIu32, pr.value);
		}
		putchar('}');
	}
	putchar(']');
}

static void out_begin(struct app *a)
{
	pthread_mutex_lock(&a->out);
}
static void out_end(struct app *a)
{
	printf("}\n");
	fflush(stdout);
	pthread_mutex_unlock(&a->out);
}

static void ret(struct app *a, const char *cmd, int rc, const char *fmt, ...)
{
	out_begin(a);
	printf("{\"ev\":\"ret\",\"cmd\":\"%s\",\"rc\":%d,\"err\":\"%s\"", cmd, rc, midge_strerror(rc));
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	out_end(a);
}

/* ---- callbacks ---- */

static void on_connect(struct midge_client *c, void *ud, int rc, bool sp, const struct midge_props *p)
{
	struct app *a = ud;
	(void)c;
	out_begin(a);
	printf("{\"ev\":\"connect\",\"rc\":%d,\"sp\":%s,\"props\":", rc, sp ? "true" : "false");
	put_props(p);
	out_end(a);
}

static void on_disconnect(struct midge_client *c, void *ud, int reason, const struct midge_props *p)
{
	struct app *a = ud;
	(void)c;
	out_begin(a);
	printf("{\"ev\":\"disconnect\",\"rc\":%d,\"props\":", reason);
	put_props(p);
	out_end(a);
}

static void on_message(struct midge_client *c, void *ud, const struct midge_message *m)
{
	struct app *a = ud;
	int ackrc = a->ack_in_callback && m->qos ? midge_client_ack(c, m->mid, m->qos) : 1;
	out_begin(a);
	if (ackrc != 1)
		printf("{\"ackrc\":%d,", ackrc);
	else
		putchar('{');
	printf("\"ev\":\"msg\",\"topic\":");
	put_json_str(m->topic, m->topic_len);
	printf(",\"nul\":%s,\"qos\":%u,\"retain\":%s,\"dup\":%s,\"mid\":%u,\"payload\":",
	       m->topic[m->topic_len] ? "false" : "true", m->qos, m->retain ? "true" : "false",
	       m->dup ? "true" : "false", m->mid);
	put_hex(m->payload, m->payload_len);
	printf(",\"props\":");
	put_props(m->props);
	out_end(a);
}

static void on_publish(struct midge_client *c, void *ud, uint16_t mid, int reason, const struct midge_props *p)
{
	struct app *a = ud;
	(void)c;
	out_begin(a);
	printf("{\"ev\":\"published\",\"mid\":%u,\"rc\":%d,\"props\":", mid, reason);
	put_props(p);
	out_end(a);
}

static void on_ack(struct app *a, const char *ev, uint16_t mid, const uint8_t *codes, size_t n,
                   const struct midge_props *p)
{
	out_begin(a);
	printf("{\"ev\":\"%s\",\"mid\":%u,\"codes\":[", ev, mid);
	for (size_t i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", codes[i]);
	printf("],\"props\":");
	put_props(p);
	out_end(a);
}

static void on_subscribe(struct midge_client *c, void *ud, uint16_t mid, const uint8_t *codes, size_t n,
                         const struct midge_props *p)
{
	(void)c;
	on_ack(ud, "suback", mid, codes, n, p);
}

static void on_unsubscribe(struct midge_client *c, void *ud, uint16_t mid, const uint8_t *codes, size_t n,
                           const struct midge_props *p)
{
	(void)c;
	on_ack(ud, "unsuback", mid, codes, n, p);
}

static void on_log(struct midge_client *c, void *ud, int level, const char *line)
{
	struct app *a = ud;
	(void)c;
	out_begin(a);
	printf("{\"ev\":\"log\",\"level\":%d,\"line\":", level);
	put_json_str(line, strlen(line));
	out_end(a);
}

/* ---- driving ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR) {
	}
}

/* One turn of this program's own loop (mode ext): poll the client's socket and wake-up fd (and stdin when
 * stdin_fd >= 0) and call the loop functions. Returns stdin's revents. */
static short ext_step(struct app *a, int timeout_ms, int stdin_fd)
{
	struct pollfd fds[3];
	nfds_t n = 0;
	int s = midge_client_socket(a->c);
	fds[n++] = (struct pollfd){.fd = midge_client_wakeup_fd(a->c), .events = POLLIN};
	if (s >= 0)
		fds[n++] =
		    (struct pollfd){.fd = s, .events = (short)(POLLIN | (midge_client_want_write(a->c) ? POLLOUT : 0))};
	nfds_t in = n;
	if (stdin_fd >= 0) fds[n++] = (struct pollfd){.fd = stdin_fd, .events = POLLIN};
	if (poll(fds, n, timeout_ms) < 0) return 0;
	if (s >= 0) {
		if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) midge_client_loop_read(a->c);
		if (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) midge_client_loop_write(a->c);
	}
	midge_client_loop_misc(a->c); /* timers, and the work other threads queued (it drains the wake-up fd) */
	return stdin_fd >= 0 ? fds[in].revents : 0;
}

/* Lets the client make progress while a command must wait, in the modes where no thread does it. */
static void progress(struct app *a, int ms)
{
	if (strcmp(a->mode, "ext") == 0)
		ext_step(a, ms, -1);
	else if (strcmp(a->mode, "wait") == 0)
		midge_client_loop(a->c, ms);
	else
		sleep_ms(ms);
}

/* ---- commands ---- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	return -1;
}

/* Adds "ct=S rt=S cd=HEX u=K=V pfi=N mei=N" to p; false on a bad spec. */
static bool add_prop(struct midge_props *p, char *spec)
{
	char *eq = strchr(spec, '=');
	if (!eq) return false;
	*eq = 0;
	char *v = eq + 1;
	if (!strcmp(spec, "ct")) return midge_props_add_string(p, MQTT_PROP_CONTENT_TYPE, v) == 0;
	if (!strcmp(spec, "rt")) return midge_props_add_string(p, MQTT_PROP_RESPONSE_TOPIC, v) == 0;
	if (!strcmp(spec, "pfi"))
		return midge_props_add_int(p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, (uint32_t)atol(v)) == 0;
	if (!strcmp(spec, "mei"))
		return midge_props_add_int(p, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, (uint32_t)atol(v)) == 0;
	if (!strcmp(spec, "ta")) return midge_props_add_int(p, MQTT_PROP_TOPIC_ALIAS, (uint32_t)atol(v)) == 0;
	if (!strcmp(spec, "u")) {
		char *eq2 = strchr(v, '=');
		if (!eq2) return false;
		*eq2 = 0;
		return midge_props_add_user(p, v, eq2 + 1) == 0;
	}
	if (!strcmp(spec, "cd")) {
		size_t n = strlen(v) / 2;
		unsigned char *b = malloc(n + 1);
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(hexval(v[2 * i]) << 4 | hexval(v[2 * i + 1]));
		bool ok = midge_props_add_binary(p, MQTT_PROP_CORRELATION_DATA, b, n) == 0;
		free(b);
		return ok;
	}
	return false;
}

struct tpub {
	struct app *a;
	char *topic;
	uint8_t qos;
	long n;
	int t;
	char *prefix;
};

/* Publishes n messages, waiting out a full queue: the library answers MIDGE_ERR_AGAIN rather than grow. */
static int publish_n(struct app *a, const char *topic, uint8_t qos, long n, const char *prefix, int t, bool loop)
{
	for (long i = 0; i < n; i++) {
		char payload[128];
		int len = t >= 0 ? snprintf(payload, sizeof payload, "%s-%d-%ld", prefix, t, i)
		                 : snprintf(payload, sizeof payload, "%s-%ld", prefix, i);
		int rc;
		while ((rc = midge_client_publish(a->c, topic, payload, (size_t)len, qos, false, NULL, NULL)) ==
		       MIDGE_ERR_AGAIN) {
			atomic_fetch_add(&a->tpub_again, 1);
			if (loop)
				progress(a, 5);
			else
				sleep_ms(1);
		}
		if (rc) return rc;
	}
	return 0;
}

static void *tpub_main(void *arg)
{
	struct tpub *t = arg;
	int rc = publish_n(t->a, t->topic, t->qos, t->n, t->prefix, t->t, false);
	if (atomic_fetch_sub(&t->a->tpub_running, 1) == 1 || rc) {
		out_begin(t->a);
		printf("{\"ev\":\"tpub_done\",\"thread\":%d,\"rc\":%d,\"again\":%ld", t->t, rc,
		       atomic_load(&t->a->tpub_again));
		out_end(t->a);
	}
	free(t->topic);
	free(t->prefix);
	free(t);
	return NULL;
}

static int wait_kind(const char *s)
{
	if (!strcmp(s, "connected")) return MIDGE_WAIT_CONNECTED;
	if (!strcmp(s, "published")) return MIDGE_WAIT_PUBLISHED;
	if (!strcmp(s, "disconnected")) return MIDGE_WAIT_DISCONNECTED;
	return 0;
}

/* tls KEY=VALUE...: midge_client_set_tls with cafile, capath, cert, key, version, ciphers, ciphers13, alpn, psk,
 * pskid, and the flags insecure and oscerts; "tls" alone sets the defaults. */
static int set_tls(struct app *a, int argc, char **argv)
{
	struct midge_tls_options t = {0};
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *v = eq ? eq + 1 : NULL;
		if (eq) *eq = 0;
		const char *k = argv[i];
		if (!strcmp(k, "insecure")) t.insecure = true;
		else if (!strcmp(k, "oscerts")) t.use_os_certs = true;
		else if (!v) return MIDGE_ERR_INVAL;
		else if (!strcmp(k, "cafile")) t.cafile = v;
		else if (!strcmp(k, "capath")) t.capath = v;
		else if (!strcmp(k, "cert")) t.certfile = v;
		else if (!strcmp(k, "key")) t.keyfile = v;
		else if (!strcmp(k, "version")) t.tls_version = v;
		else if (!strcmp(k, "ciphers")) t.ciphers = v;
		else if (!strcmp(k, "ciphers13")) t.ciphers_tls13 = v;
		else if (!strcmp(k, "alpn")) t.alpn = v;
		else if (!strcmp(k, "psk")) t.psk = v;
		else if (!strcmp(k, "pskid")) t.psk_identity = v;
		else return MIDGE_ERR_INVAL;
	}
	return midge_client_set_tls(a->c, argc ? &t : NULL);
}

struct tack {
	struct app *a;
	uint16_t mid;
	uint8_t qos;
	int rc;
};

static void *tack_main(void *arg)
{
	struct tack *t = arg;
	t->rc = midge_client_ack(t->a->c, t->mid, t->qos);
	return NULL;
}

/* Runs one command line; false for quit. */
static bool command(struct app *a, char *line)
{
	char *argv[64];
	int argc = 0;
	for (char *tok = strtok(line, " \t\r\n"); tok && argc < 64; tok = strtok(NULL, " \t\r\n"))
		argv[argc++] = tok;
	if (argc == 0) return true;
	const char *cmd = argv[0];
	int rc = 0;
	uint16_t mid = 0;
	if (!strcmp(cmd, "quit")) return false;
	if (!strcmp(cmd, "connect") && argc == 2) {
		ret(a, cmd, midge_client_connect(a->c, argv[1]), NULL);
	} else if (!strcmp(cmd, "start")) {
		ret(a, cmd, midge_client_start(a->c), NULL);
	} else if (!strcmp(cmd, "stop") && argc == 2) {
		ret(a, cmd, midge_client_stop(a->c, atoi(argv[1]) > 0, (unsigned)atoi(argv[1])), NULL);
	} else if (!strcmp(cmd, "wait") && argc == 3) {
		ret(a, cmd, midge_client_wait(a->c, wait_kind(argv[1]), atoi(argv[2])), ",\"what\":\"%s\"", argv[1]);
	} else if (!strcmp(cmd, "drive") && argc == 2) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		long ms = atol(argv[1]), spent = 0;
		while (spent < ms) {
			progress(a, (int)(ms - spent < 50 ? ms - spent : 50));
			clock_gettime(CLOCK_MONOTONIC, &t1);
			spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		}
		ret(a, cmd, 0, NULL);
	} else if (!strcmp(cmd, "sleep") && argc == 2) {
		sleep_ms(atol(argv[1]));
		ret(a, cmd, 0, NULL);
	} else if ((!strcmp(cmd, "sub") || !strcmp(cmd, "subp")) && argc >= 3) {
		uint8_t opt[64];
		int n = !strcmp(cmd, "subp") ? 1 : argc - 2;
		for (int i = 0; i < n; i++)
			opt[i] = (uint8_t)strtol(argv[1], NULL, 0);
		struct midge_props *p = NULL;
		if (!strcmp(cmd, "subp") && argc == 4) {
			p = midge_props_new();
			char spec[256];
			snprintf(spec, sizeof spec, "u=%s", argv[3]);
			add_prop(p, spec);
		}
		rc = midge_client_subscribe(a->c, (const char *const *)argv + 2, opt, (size_t)n, p, &mid);
		midge_props_free(p);
		ret(a, cmd, rc, ",\"mid\":%u", mid);
	} else if (!strcmp(cmd, "unsub") && argc >= 2) {
		rc = midge_client_unsubscribe(a->c, (const char *const *)argv + 1, (size_t)argc - 1, NULL, &mid);
		ret(a, cmd, rc, ",\"mid\":%u", mid);
	} else if (!strcmp(cmd, "pub") && argc >= 5) {
		struct midge_props *p = argc > 5 ? midge_props_new() : NULL;
		bool ok = true;
		for (int i = 5; i < argc; i++)
			ok = ok && add_prop(p, argv[i]);
		const char *payload = strcmp(argv[4], "-") ? argv[4] : "";
		if (ok)
			rc = midge_client_publish(a->c, argv[1], payload, strlen(payload), (uint8_t)atoi(argv[2]),
			                          atoi(argv[3]) != 0, p, &mid);
		else
			rc = MIDGE_ERR_INVAL;
		midge_props_free(p);
		ret(a, cmd, rc, ",\"mid\":%u", mid);
	} else if (!strcmp(cmd, "pubbig") && argc == 4) { /* pubbig TOPIC QOS SIZE */
		size_t n = (size_t)atol(argv[3]);
		char *b = malloc(n + 1);
		memset(b, 'x', n);
		rc = midge_client_publish(a->c, argv[1], b, n, (uint8_t)atoi(argv[2]), false, NULL, &mid);
		free(b);
		ret(a, cmd, rc, ",\"mid\":%u", mid);
	} else if (!strcmp(cmd, "pubn") && argc == 5) {
		rc = publish_n(a, argv[1], (uint8_t)atoi(argv[2]), atol(argv[3]), argv[4], -1, true);
		ret(a, cmd, rc, NULL);
	} else if (!strcmp(cmd, "tpub") && argc == 6) {
		int threads = atoi(argv[4]);
		if (threads < 1 || a->tpub_n + threads > 64) threads = 0;
		atomic_store(&a->tpub_running, threads);
		rc = threads ? 0 : MIDGE_ERR_INVAL;
		for (int t = 0; t < threads; t++) {
			struct tpub *tp = malloc(sizeof(*tp));
			*tp = (struct tpub){a, strdup(argv[1]), (uint8_t)atoi(argv[2]), atol(argv[3]),
			                    t, strdup(argv[5])};
			if (pthread_create(&a->tpub_threads[a->tpub_n], NULL, tpub_main, tp))
				rc = MIDGE_ERR_NOMEM;
			else
				a->tpub_n++;
		}
		ret(a, cmd, rc, NULL);
	} else if (!strcmp(cmd, "disconnect")) {
		ret(a, cmd, midge_client_disconnect(a->c, (uint8_t)(argc > 1 ? atoi(argv[1]) : 0), NULL), NULL);
	} else if (!strcmp(cmd, "tls")) {
		rc = set_tls(a, argc - 1, argv + 1);
		ret(a, cmd, rc, NULL);
	} else if (!strcmp(cmd, "errtext")) {
		char text[256];
		midge_client_error_text(a->c, text, sizeof text);
		out_begin(a);
		printf("{\"ev\":\"ret\",\"cmd\":\"errtext\",\"rc\":0,\"text\":");
		put_json_str(text, strlen(text));
		out_end(a);
	} else if (!strcmp(cmd, "ack") && argc == 3) {
		ret(a, cmd, midge_client_ack(a->c, (uint16_t)atoi(argv[1]), (uint8_t)atoi(argv[2])), NULL);
	} else if (!strcmp(cmd, "tack") && argc == 3) {
		struct tack t = {a, (uint16_t)atoi(argv[1]), (uint8_t)atoi(argv[2]), MIDGE_ERR_NOMEM};
		pthread_t th;
		if (!pthread_create(&th, NULL, tack_main, &t)) pthread_join(th, NULL);
		ret(a, cmd, t.rc, NULL);
	} else if (!strcmp(cmd, "state")) {
		ret(a, cmd, 0, ",\"connected\":%s,\"socket\":%d", midge_client_connected(a->c) ? "true" : "false",
		    midge_client_socket(a->c));
	} else {
		ret(a, cmd, MIDGE_ERR_INVAL, ",\"unknown\":true");
	}
	return true;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: lmclient [-V 3|4|5] [-i ID] [-c] [-P] [-k KEEPALIVE] [-x EXPIRY] [-r MIN,MAX] [-I N] "
	                "[-Q N] [-T MS] [-w TOPIC:PAYLOAD:QOS:RETAIN] [-C ID=N] [-m thread|ext|wait] [-L] [--bridge] "
	                "[--manual-ack] [--ack-in-callback]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct app a = {.mode = "thread"};
	pthread_mutex_init(&a.out, NULL);
	struct midge_client_options o = {.version = MQTT_V311};
	struct midge_props *cprops = midge_props_new();
	bool logs = false;
	char *will = NULL;
	int opt;
	enum { OPT_BRIDGE = 256, OPT_MANUAL_ACK, OPT_ACK_IN_CALLBACK };
	static const struct option longs[] = {{"bridge", no_argument, NULL, OPT_BRIDGE},
	                                      {"manual-ack", no_argument, NULL, OPT_MANUAL_ACK},
	                                      {"ack-in-callback", no_argument, NULL, OPT_ACK_IN_CALLBACK},
	                                      {NULL, 0, NULL, 0}};
	while ((opt = getopt_long(argc, argv, "V:i:cPk:x:r:I:Q:T:w:C:m:L", longs, NULL)) != -1) {
		switch (opt) {
		case OPT_BRIDGE:
			o.bridge = true;
			break;
		case OPT_ACK_IN_CALLBACK:
			a.ack_in_callback = true;
			/* fall through */
		case OPT_MANUAL_ACK:
			o.manual_ack = true;
			break;
		case 'V':
			o.version = atoi(optarg);
			break;
		case 'i':
			o.client_id = optarg;
			break;
		case 'c':
			o.clean_start = true;
			break;
		case 'P':
			o.persistent = true;
			break;
		case 'k':
			o.keepalive = (uint16_t)atoi(optarg);
			o.no_keepalive = o.keepalive == 0;
			break;
		case 'x':
			o.session_expiry = (uint32_t)atol(optarg);
			break;
		case 'r':
			o.reconnect = true;
			o.reconnect_min_ms = (unsigned)atoi(optarg);
			o.reconnect_max_ms = strchr(optarg, ',') ? (unsigned)atoi(strchr(optarg, ',') + 1) : 0;
			break;
		case 'I':
			o.max_inflight = (uint16_t)atoi(optarg);
			break;
		case 'Q':
			o.max_queued = (size_t)atol(optarg);
			break;
		case 'T':
			o.connect_timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'w':
			will = optarg;
			break;
		case 'C': {
			char *eq = strchr(optarg, '=');
			if (!eq ||
			    midge_props_add_int(cprops, (uint8_t)strtol(optarg, NULL, 0), (uint32_t)atol(eq + 1)))
				usage();
			o.connect_props = cprops;
			break;
		}
		case 'm':
			a.mode = optarg;
			break;
		case 'L':
			logs = true;
			break;
		default:
			usage();
		}
	}
	if (will) { /* TOPIC:PAYLOAD:QOS:RETAIN */
		char *p1 = strchr(will, ':'), *p2 = p1 ? strchr(p1 + 1, ':') : NULL,
		     *p3 = p2 ? strchr(p2 + 1, ':') : NULL;
		if (!p3) usage();
		*p1 = *p2 = *p3 = 0;
		o.will_topic = will;
		o.will_payload = p1 + 1;
		o.will_payload_len = strlen(p1 + 1);
		o.will_qos = (uint8_t)atoi(p2 + 1);
		o.will_retain = atoi(p3 + 1) != 0;
	}
	a.c = midge_client_new(&o);
	midge_props_free(cprops); /* the client copied it */
	if (!a.c) {
		ret(&a, "new", MIDGE_ERR_INVAL, NULL);
		return 1;
	}
	struct midge_callbacks cb = {on_connect,   on_disconnect,  on_message,          on_publish,
	                             on_subscribe, on_unsubscribe, logs ? on_log : NULL};
	midge_client_set_callbacks(a.c, &cb, &a);
	if (!strcmp(a.mode, "thread") && midge_client_start(a.c)) return 1;
	ret(&a, "ready", 0, ",\"mode\":\"%s\"", a.mode);

	if (!strcmp(a.mode, "ext")) {
		/* This program's own event loop: stdin and the client in one poll. */
		char buf[65536];
		size_t have = 0;
		for (;;) {
			short ev = ext_step(&a, 100, 0);
			if (!(ev & (POLLIN | POLLHUP))) continue;
			ssize_t n = read(0, buf + have, sizeof buf - 1 - have);
			if (n <= 0) break;
			have += (size_t)n;
			char *nl;
			bool go = true;
			while (go && (nl = memchr(buf, '\n', have))) {
				*nl = 0;
				go = command(&a, buf);
				have -= (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, have);
			}
			if (!go) break;
		}
	} else {
		char line[65536];
		while (fgets(line, sizeof line, stdin) && command(&a, line)) {
		}
	}
	/* No DISCONNECT: destroy closes the socket, so the broker sends the will (tests rely on it). */
	for (int i = 0; i < a.tpub_n; i++)
		pthread_join(a.tpub_threads[i], NULL);
	midge_client_destroy(a.c);
	ret(&a, "exit", 0, NULL);
	return 0;
}
