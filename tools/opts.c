/* opts: parses the command line (and options file) of midge-pub, midge-sub and midge-rr exactly as
 * Mosquitto 2.0.11's client_shared.c does, messages and quirks included, so scripts written for the
 * mosquitto clients behave the same with ours. */
#include "opts.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules.h"
#include "format.h"
#include "property.h"
#include "midge/mqtt.h"

#define LINE_MAX_LEN 1024

void opts__init(struct tool_opts *o, enum tool_kind kind)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->port = -1;
	o->max_inflight = 20;
	o->keepalive = 60;
	o->clean_session = true;
	o->eol = true;
	o->repeat_count = 1;
	o->random_filter = 10000;
	o->session_expiry = -1;
	if (kind == TOOL_RR) {
		o->protocol_version = MQTT_V5;
		o->msg_count = 1;
	} else {
		o->protocol_version = MQTT_V311;
	}
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void opts__free(struct tool_opts *o)
{
	char **strings[] = {&o->host,
	                    &o->unix_path,
	                    &o->bind_address,
	                    &o->id,
	                    &o->id_prefix,
	                    &o->username,
	                    &o->password,
	                    &o->will_topic,
	                    &o->will_payload,
	                    &o->topic,
	                    &o->message,
	                    &o->file_input,
	                    &o->response_topic,
	                    &o->format,
	                    &o->cafile,
	                    &o->capath,
	                    &o->certfile,
	                    &o->keyfile,
	                    &o->ciphers,
	                    &o->tls_version,
	                    &o->tls_alpn,
	                    &o->tls_engine,
	                    &o->keyform,
	                    &o->tls_engine_kpass_sha1,
	                    &o->psk,
	                    &o->psk_identity,
	                    &o->proxy};
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		free(*strings[i]);
	free_list(o->topics, o->ntopics);
	free_list(o->filter_outs, o->nfilter_outs);
	free_list(o->unsub_topics, o->nunsub_topics);
	for (size_t i = 0; i < o->nprops; i++) {
		free(o->props[i].name);
		free(o->props[i].str);
	}
	free(o->props);
	memset(o, 0, sizeof(*o));
}

/* ---- small helpers ---- */

/* See opts.h. */
int opts__set_str(char **dst, const char *s, FILE *err)
{
	char *copy = strdup(s);
	if (!copy) {
		fprintf(err, "Error: Out of memory.\n");
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

static int list_add(char ***list, size_t *n, const char *s, FILE *err)
{
	char **grown = realloc(*list, (*n + 1) * sizeof(char *));
	if (!grown) {
		fprintf(err, "Error: Out of memory.\n");
		return -1;
	}
	*list = grown;
	grown[*n] = strdup(s);
	if (!grown[*n]) {
		fprintf(err, "Error: Out of memory.\n");
		return -1;
	}
	(*n)++;
	return 0;
}

/* glibc's atoi: strtol truncated to int. */
static int to_int(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

/* Mosquitto's cfg_add_topic: a -t / -L topic / -e argument checked for its role. */
static int add_topic(struct tool_opts *o, bool response, const char *topic, const char *arg, FILE *err)
{
	if (!rules__utf8(topic)) {
		fprintf(err, "Error: Malformed UTF-8 in %s argument.\n\n", arg);
		return -1;
	}
	if (response) {
		if (!rules__pub_topic(topic)) {
			fprintf(err, "Error: Invalid response topic '%s', does it contain '+' or '#'?\n", topic);
			return -1;
		}
		return opts__set_str(&o->response_topic, topic, err);
	}
	if (o->kind == TOOL_PUB || o->kind == TOOL_RR) {
		if (!rules__pub_topic(topic)) {
			fprintf(err, "Error: Invalid publish topic '%s', does it contain '+' or '#'?\n", topic);
			return -1;
		}
		return opts__set_str(&o->topic, topic, err);
	}
	if (!rules__sub_topic(topic)) {
		fprintf(err, "Error: Invalid subscription topic '%s', are all '+' and '#' wildcards correct?\n", topic);
		return -1;
	}
	return list_add(&o->topics, &o->ntopics, topic, err);
}

/* -L mqtt://[user[:password]@]host[:port]/topic, mqtts://, and ws:// or wss:// for MQTT over WebSocket (whose path is
 * then libmidge's default, /mqtt: the URL's path is the topic) */
static int parse_url(struct tool_opts *o, const char *arg, FILE *err)
{
	char *copy = strdup(arg);
	int rc = -1;
	if (!copy) {
		fprintf(err, "Error: Out of memory.\n");
		return -1;
	}
	char *url = copy;
	if (!strncasecmp(url, "mqtt://", 7)) {
		url += 7;
		o->port = 1883;
	} else if (!strncasecmp(url, "mqtts://", 8)) {
		url += 8;
		o->port = 8883;
		o->url_tls = true;
	} else if (!strncasecmp(url, "ws://", 5)) {
		url += 5;
		o->port = 80;
		o->url_ws = true;
	} else if (!strncasecmp(url, "wss://", 6)) {
		url += 6;
		o->port = 443;
		o->url_ws = o->url_tls = true;
	} else {
		fprintf(err, "Error: unsupported URL scheme.\n\n");
		goto out;
	}
	char *topic = strchr(url, '/');
	if (!topic) {
		fprintf(err, "Error: Invalid URL for -L argument specified - topic missing.\n");
		goto out;
	}
	*topic++ = '\0';
	if (add_topic(o, false, topic, "-L topic", err)) goto out;
	char *at = strchr(url, '@');
	if (at) {
		*at++ = '\0';
		char *colon = strchr(url, ':');
		if (colon) {
			*colon = '\0';
			if (opts__set_str(&o->password, colon + 1, err)) goto out;
		}
		if (opts__set_str(&o->username, url, err)) goto out;
		url = at;
	}
	char *colon = strchr(url, ':');
	if (colon) {
		*colon = '\0';
		o->port = to_int(colon + 1);
	}
	rc = opts__set_str(&o->host, url, err);
out:
	free(copy);
	return rc;
}

/* ---- the flags ---- */

/* Which tools accept a flag. */
#define F_PUB 1
#define F_SUB 2
#define F_RR 4
#define F_ALL 7

enum flag_id {
	FL_BIND,
	FL_CAFILE,
	FL_CAPATH,
	FL_CERT,
	FL_CIPHERS,
	FL_COUNT,
	FL_CLEAN,
	FL_DEBUG,
	FL_PROPERTY,
	FL_RESPONSE,
	FL_EXIT_SUB,
	FL_FILE,
	FL_FORMAT,
	FL_HELP,
	FL_HOST,
	FL_INSECURE,
	FL_ID,
	FL_ID_PREFIX,
	FL_KEEPALIVE,
	FL_KEY,
	FL_KEYFORM,
	FL_URL,
	FL_STDIN_LINE,
	FL_MESSAGE,
	FL_INFLIGHT,
	FL_NODELAY,
	FL_NULL,
	FL_NO_EOL,
	FL_PORT,
	FL_PRETTY,
	FL_PASSWORD,
	FL_PROXY,
	FL_PSK,
	FL_PSK_ID,
	FL_QOS,
	FL_QUIET,
	FL_RETAIN,
	FL_NO_RETAIN,
	FL_RANDOM,
	FL_REMOVE_RETAINED,
	FL_REPEAT,
	FL_REPEAT_DELAY,
	FL_RAP,
	FL_RETAINED_ONLY,
	FL_STDIN_FILE,
	FL_TOPIC,
	FL_FILTER_OUT,
	FL_ALPN,
	FL_ENGINE,
	FL_KPASS,
	FL_OS_CERTS,
	FL_TLS_VERSION,
	FL_UNSUB,
	FL_USERNAME,
	FL_UNIX,
	FL_VERSION_PROTO,
	FL_VERBOSE,
	FL_VERSION,
	FL_TIMEOUT,
	FL_WILL_PAYLOAD,
	FL_WILL_QOS,
	FL_WILL_RETAIN,
	FL_WILL_TOPIC,
	FL_EXPIRY,
};

struct flag {
	const char *name, *alias;
	enum flag_id id;
	int tools;
	/* For flags with an argument: what Mosquitto says is missing ("Error: <missing>.") */
	const char *missing;
};

static const struct flag flags[] = {
    {"-A", NULL, FL_BIND, F_ALL, "-A argument given but no address specified"},
    {"--cafile", NULL, FL_CAFILE, F_ALL, "--cafile argument given but no file specified"},
    {"--capath", NULL, FL_CAPATH, F_ALL, "--capath argument given but no directory specified"},
    {"--cert", NULL, FL_CERT, F_ALL, "--cert argument given but no file specified"},
    {"--ciphers", NULL, FL_CIPHERS, F_ALL, "--ciphers argument given but no ciphers specified"},
    {"-C", NULL, FL_COUNT, F_SUB, "-C argument given but no count specified"},
    {"-c", "--disable-clean-session", FL_CLEAN, F_ALL, NULL},
    {"-d", "--debug", FL_DEBUG, F_ALL, NULL},
    {"-D", "--property", FL_PROPERTY, F_ALL, NULL},
    {"-e", NULL, FL_RESPONSE, F_RR, "-e argument given but no response topic specified"},
    {"-E", NULL, FL_EXIT_SUB, F_SUB, NULL},
    {"-f", "--file", FL_FILE, F_PUB | F_RR, "-f argument given but no file specified"},
    {"-F", NULL, FL_FORMAT, F_SUB | F_RR, "-F argument given but no format specified"},
    {"--help", NULL, FL_HELP, F_ALL, NULL},
    {"-h", "--host", FL_HOST, F_ALL, "-h argument given but no host specified"},
    {"--insecure", NULL, FL_INSECURE, F_ALL, NULL},
    {"-i", "--id", FL_ID, F_ALL, "-i argument given but no id specified"},
    {"-I", "--id-prefix", FL_ID_PREFIX, F_ALL, "-I argument given but no id prefix specified"},
    {"-k", "--keepalive", FL_KEEPALIVE, F_ALL, "-k argument given but no keepalive specified"},
    {"--key", NULL, FL_KEY, F_ALL, "--key argument given but no file specified"},
    {"--keyform", NULL, FL_KEYFORM, F_ALL, "--keyform argument given but no keyform specified"},
    {"-L", "--url", FL_URL, F_ALL, "-L argument given but no URL specified"},
    {"-l", "--stdin-line", FL_STDIN_LINE, F_PUB, NULL},
    {"-m", "--message", FL_MESSAGE, F_PUB | F_RR, "-m argument given but no message specified"},
    {"-M", NULL, FL_INFLIGHT, F_ALL, "-M argument given but max_inflight not specified"},
    {"--nodelay", NULL, FL_NODELAY, F_ALL, NULL},
    {"-n", "--null-message", FL_NULL, F_PUB | F_RR, NULL},
    {"-N", NULL, FL_NO_EOL, F_SUB | F_RR, NULL},
    {"-p", "--port", FL_PORT, F_ALL, "-p argument given but no port specified"},
    {"--pretty", NULL, FL_PRETTY, F_SUB | F_RR, NULL},
    {"-P", "--pw", FL_PASSWORD, F_ALL, "-P argument given but no password specified"},
    {"--proxy", NULL, FL_PROXY, F_ALL, "--proxy argument given but no proxy url specified"},
    {"--psk", NULL, FL_PSK, F_ALL, "--psk argument given but no key specified"},
    {"--psk-identity", NULL, FL_PSK_ID, F_ALL, "--psk-identity argument given but no identity specified"},
    {"-q", "--qos", FL_QOS, F_ALL, "-q argument given but no QoS specified"},
    {"--quiet", NULL, FL_QUIET, F_ALL, NULL},
    {"-r", "--retain", FL_RETAIN, F_PUB, NULL},
    {"-R", NULL, FL_NO_RETAIN, F_SUB | F_RR, NULL},
    {"--random-filter", NULL, FL_RANDOM, F_SUB, "--random-filter argument given but no chance specified"},
    {"--remove-retained", NULL, FL_REMOVE_RETAINED, F_SUB, NULL},
    {"--repeat", NULL, FL_REPEAT, F_PUB, "--repeat argument given but no count specified"},
    {"--repeat-delay", NULL, FL_REPEAT_DELAY, F_PUB, "--repeat-delay argument given but no time specified"},
    {"--retain-as-published", NULL, FL_RAP, F_SUB | F_RR, NULL},
    {"--retained-only", NULL, FL_RETAINED_ONLY, F_SUB, NULL},
    {"-s", "--stdin-file", FL_STDIN_FILE, F_PUB | F_RR, NULL},
    {"-t", "--topic", FL_TOPIC, F_ALL, "-t argument given but no topic specified"},
    {"-T", "--filter-out", FL_FILTER_OUT, F_SUB, "-T argument given but no topic filter specified"},
    {"--tls-alpn", NULL, FL_ALPN, F_ALL, "--tls-alpn argument given but no protocol specified"},
    {"--tls-engine", NULL, FL_ENGINE, F_ALL, "--tls-engine argument given but no engine_id specified"},
    {"--tls-engine-kpass-sha1", NULL, FL_KPASS, F_ALL,
     "--tls-engine-kpass-sha1 argument given but no kpass sha1 specified"},
    {"--tls-use-os-certs", NULL, FL_OS_CERTS, F_ALL, NULL},
    {"--tls-version", NULL, FL_TLS_VERSION, F_ALL, "--tls-version argument given but no version specified"},
    {"-U", "--unsubscribe", FL_UNSUB, F_SUB, "-U argument given but no unsubscribe topic specified"},
    {"-u", "--username", FL_USERNAME, F_ALL, "-u argument given but no username specified"},
    {"--unix", NULL, FL_UNIX, F_ALL, "--unix argument given but no socket path specified"},
    {"-V", "--protocol-version", FL_VERSION_PROTO, F_ALL, "--protocol-version argument given but no version specified"},
    {"-v", "--verbose", FL_VERBOSE, F_SUB | F_RR, NULL},
    {"--version", NULL, FL_VERSION, F_ALL, NULL},
    {"-W", NULL, FL_TIMEOUT, F_SUB | F_RR, "-W argument given but no timeout specified"},
    {"--will-payload", NULL, FL_WILL_PAYLOAD, F_ALL, "--will-payload argument given but no will payload specified"},
    {"--will-qos", NULL, FL_WILL_QOS, F_ALL, "--will-qos argument given but no will QoS specified"},
    {"--will-retain", NULL, FL_WILL_RETAIN, F_ALL, NULL},
    {"--will-topic", NULL, FL_WILL_TOPIC, F_ALL, "--will-topic argument given but no will topic specified"},
    {"-x", NULL, FL_EXPIRY, F_ALL, "-x argument given but no session expiry interval specified"},
};

static const struct flag *find_flag(const char *arg, enum tool_kind kind)
{
	int bit = kind == TOOL_PUB ? F_PUB : kind == TOOL_SUB ? F_SUB : F_RR;
	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		const struct flag *f = &flags[k];
		if (!strcmp(arg, f->name) || (f->alias && !strcmp(arg, f->alias))) return (f->tools & bit) ? f : NULL;
	}
	return NULL;
}

static int set_pub_mode(struct tool_opts *o, enum pub_mode mode, FILE *err)
{
	if (o->pub_mode != PUB_NONE) {
		fprintf(err, "Error: Only one type of message can be sent at once.\n\n");
		return -1;
	}
	o->pub_mode = mode;
	return 0;
}

static int parse_expiry(struct tool_opts *o, const char *arg, FILE *err)
{
	if (!strcmp(arg, "\xE2\x88\x9E")) { /* ∞ */
		o->session_expiry = UINT32_MAX;
		return 0;
	}
	char *end = NULL;
	long long v = strtoll(arg, &end, 0);
	if (end == arg || *end != '\0') {
		fprintf(err, "Error: session-expiry-interval not a number.\n\n");
		return -1;
	}
	if (v > (long long)UINT32_MAX || v < -1) {
		fprintf(err, "Error: session-expiry-interval out of range.\n\n");
		return -1;
	}
	o->session_expiry = v == -1 ? (long long)UINT32_MAX : v;
	return 0;
}

/* A -T or -U filter: UTF-8 and wildcard checks. */
static int add_filter(char ***list, size_t *n, const char *arg, const char *flag, const char *what, FILE *err)
{
	if (!rules__utf8(arg)) {
		fprintf(err, "Error: Malformed UTF-8 in %s argument.\n\n", flag);
		return -1;
	}
	if (!rules__sub_topic(arg)) {
		fprintf(err, "Error: Invalid %s topic '%s', are all '+' and '#' wildcards correct?\n", what, arg);
		return -1;
	}
	return list_add(list, n, arg, err);
}

/* One flag with its argument a (NULL for flags without one). */
static int apply_flag(struct tool_opts *o, const struct flag *f, const char *a, FILE *err)
{
	int v;
	switch (f->id) {
	case FL_BIND:
		return opts__set_str(&o->bind_address, a, err);
	case FL_CAFILE:
		return opts__set_str(&o->cafile, a, err);
	case FL_CAPATH:
		return opts__set_str(&o->capath, a, err);
	case FL_CERT:
		return opts__set_str(&o->certfile, a, err);
	case FL_CIPHERS:
		return opts__set_str(&o->ciphers, a, err);
	case FL_COUNT:
		o->msg_count = to_int(a);
		if (o->msg_count < 1) {
			fprintf(err, "Error: Invalid message count \"%d\".\n\n", o->msg_count);
			return -1;
		}
		return 0;
	case FL_CLEAN:
		o->clean_session = false;
		return 0;
	case FL_DEBUG:
		o->debug = true;
		return 0;
	case FL_RESPONSE:
		return add_topic(o, true, a, "-e", err);
	case FL_EXIT_SUB:
		o->exit_after_sub = true;
		return 0;
	case FL_FILE:
		if (set_pub_mode(o, PUB_FILE, err)) return -1;
		return opts__set_str(&o->file_input, a, err);
	case FL_FORMAT: {
		char buf[64];
		if (opts__set_str(&o->format, a, err)) return -1;
		const char *msg = fmt__check(a, buf, sizeof(buf));
		if (msg) {
			fprintf(err, "%s\n", msg);
			return -1;
		}
		return 0;
	}
	case FL_HOST:
		return opts__set_str(&o->host, a, err);
	case FL_INSECURE:
		o->insecure = true;
		return 0;
	case FL_ID:
		if (o->id_prefix) {
			fprintf(err, "Error: -i and -I argument cannot be used together.\n\n");
			return -1;
		}
		return opts__set_str(&o->id, a, err);
	case FL_ID_PREFIX:
		if (o->id) {
			fprintf(err, "Error: -i and -I argument cannot be used together.\n\n");
			return -1;
		}
		return opts__set_str(&o->id_prefix, a, err);
	case FL_KEEPALIVE:
		o->keepalive = to_int(a);
		if (o->keepalive < 5 || o->keepalive > 65535) {
			fprintf(err, "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n");
			return -1;
		}
		return 0;
	case FL_KEY:
		return opts__set_str(&o->keyfile, a, err);
	case FL_KEYFORM:
		return opts__set_str(&o->keyform, a, err);
	case FL_URL:
		return parse_url(o, a, err);
	case FL_STDIN_LINE:
		return set_pub_mode(o, PUB_STDIN_LINE, err);
	case FL_MESSAGE:
		if (set_pub_mode(o, PUB_MESSAGE, err)) return -1;
		o->message_len = strlen(a);
		return opts__set_str(&o->message, a, err);
	case FL_INFLIGHT:
		v = to_int(a);
		if (v < 1) {
			fprintf(err, "Error: Maximum inflight messages must be greater than 0.\n\n");
			return -1;
		}
		o->max_inflight = (unsigned)v;
		return 0;
	case FL_NODELAY:
		o->nodelay = true;
		return 0;
	case FL_NULL:
		return set_pub_mode(o, PUB_NULL, err);
	case FL_NO_EOL:
		o->eol = false;
		return 0;
	case FL_PORT:
		o->port = to_int(a);
		if (o->port < 0 || o->port > 65535) {
			fprintf(err, "Error: Invalid port given: %d\n", o->port);
			return -1;
		}
		return 0;
	case FL_PRETTY:
		o->pretty = true;
		return 0;
	case FL_PASSWORD:
		return opts__set_str(&o->password, a, err);
	case FL_PROXY:
		if (strncmp(a, "socks5h://", 10)) {
			fprintf(err, "Error: Unsupported proxy protocol: %s\n", a);
			return -1;
		}
		return opts__set_str(&o->proxy, a, err);
	case FL_PSK:
		return opts__set_str(&o->psk, a, err);
	case FL_PSK_ID:
		return opts__set_str(&o->psk_identity, a, err);
	case FL_QOS:
		o->qos = to_int(a);
		if (o->qos < 0 || o->qos > 2) {
			fprintf(err, "Error: Invalid QoS given: %d\n", o->qos);
			return -1;
		}
		return 0;
	case FL_QUIET:
		o->quiet = true;
		return 0;
	case FL_RETAIN:
		o->retain = true;
		return 0;
	case FL_NO_RETAIN:
		o->no_retain = true;
		o->sub_opts |= 0x20; /* Retain Handling 2: send no retained messages */
		return 0;
	case FL_RANDOM:
		o->random_filter = (int)(10.0 * atof(a));
		if (o->random_filter > 10000 || o->random_filter < 1) {
			fprintf(err, "Error: --random-filter chance must be between 0.1-100.0\n\n");
			return -1;
		}
		return 0;
	case FL_REMOVE_RETAINED:
		o->remove_retained = true;
		return 0;
	case FL_REPEAT:
		o->repeat_count = to_int(a);
		if (o->repeat_count < 1) {
			fprintf(err, "Error: --repeat argument must be >0.\n\n");
			return -1;
		}
		return 0;
	case FL_REPEAT_DELAY:
		o->repeat_delay = (float)atof(a);
		if (o->repeat_delay < 0.0) {
			fprintf(err, "Error: --repeat-delay argument must be >=0.0.\n\n");
			return -1;
		}
		return 0;
	case FL_RAP:
		o->sub_opts |= MQTT_SUBOPT_RAP;
		return 0;
	case FL_RETAINED_ONLY:
		o->retained_only = true;
		return 0;
	case FL_STDIN_FILE:
		return set_pub_mode(o, PUB_STDIN_FILE, err);
	case FL_TOPIC:
		return add_topic(o, false, a, "-t", err);
	case FL_FILTER_OUT:
		return add_filter(&o->filter_outs, &o->nfilter_outs, a, "-T", "filter", err);
	case FL_ALPN:
		return opts__set_str(&o->tls_alpn, a, err);
	case FL_ENGINE:
		return opts__set_str(&o->tls_engine, a, err);
	case FL_KPASS:
		return opts__set_str(&o->tls_engine_kpass_sha1, a, err);
	case FL_OS_CERTS:
		o->tls_use_os_certs = true;
		return 0;
	case FL_TLS_VERSION:
		return opts__set_str(&o->tls_version, a, err);
	case FL_UNSUB:
		return add_filter(&o->unsub_topics, &o->nunsub_topics, a, "-U", "unsubscribe", err);
	case FL_USERNAME:
		return opts__set_str(&o->username, a, err);
	case FL_UNIX:
		o->port = 0;
		return opts__set_str(&o->host, a, err);
	case FL_VERSION_PROTO:
		if (!strcmp(a, "mqttv31") || !strcmp(a, "31")) {
			o->protocol_version = MQTT_V31;
		} else if (!strcmp(a, "mqttv311") || !strcmp(a, "311")) {
			o->protocol_version = MQTT_V311;
		} else if (!strcmp(a, "mqttv5") || !strcmp(a, "5")) {
			o->protocol_version = MQTT_V5;
		} else {
			fprintf(err, "Error: Invalid protocol version argument given.\n\n");
			return -1;
		}
		return 0;
	case FL_VERBOSE:
		o->verbose = true;
		return 0;
	case FL_TIMEOUT:
		v = to_int(a);
		if (v < 1) {
			fprintf(err, "Error: Invalid timeout \"%d\".\n\n", v);
			return -1;
		}
		o->timeout = (unsigned)v;
		return 0;
	case FL_WILL_PAYLOAD:
		o->will_payload_len = strlen(a);
		return opts__set_str(&o->will_payload, a, err);
	case FL_WILL_QOS:
		o->will_qos = to_int(a);
		if (o->will_qos < 0 || o->will_qos > 2) {
			fprintf(err, "Error: Invalid will QoS %d.\n\n", o->will_qos);
			return -1;
		}
		return 0;
	case FL_WILL_RETAIN:
		o->will_retain = true;
		return 0;
	case FL_WILL_TOPIC:
		if (!rules__utf8(a)) {
			fprintf(err, "Error: Malformed UTF-8 in --will-topic argument.\n\n");
			return -1;
		}
		if (!rules__pub_topic(a)) {
			fprintf(err, "Error: Invalid will topic '%s', does it contain '+' or '#'?\n", a);
			return -1;
		}
		return opts__set_str(&o->will_topic, a, err);
	case FL_EXPIRY:
		return parse_expiry(o, a, err);
	case FL_PROPERTY:
	case FL_HELP:
	case FL_VERSION:
		break; /* handled by the caller */
	}
	return 0;
}

int opts__parse_args(struct tool_opts *o, int argc, char *const argv[], FILE *err)
{
	for (int i = 1; i < argc; i++) {
		const struct flag *f = find_flag(argv[i], o->kind);
		if (!f) {
			fprintf(err, "Error: Unknown option '%s'.\n", argv[i]);
			return OPTS_ERROR;
		}
		if (f->id == FL_HELP) return OPTS_HELP;
		if (f->id == FL_VERSION) return OPTS_VERSION;
		if (f->id == FL_PROPERTY) {
			i++;
			if (property__parse(o, argc, argv, &i, err)) return OPTS_ERROR;
			o->protocol_version = MQTT_V5;
			continue;
		}
		const char *a = NULL;
		if (f->missing) {
			if (i == argc - 1) {
				fprintf(err, "Error: %s.\n\n", f->missing);
				return OPTS_ERROR;
			}
			a = argv[++i];
		}
		if (apply_flag(o, f, a, err)) return OPTS_ERROR;
	}
	return OPTS_OK;
}

const char *opts__file_path(enum tool_kind kind, char *buf, size_t size)
{
	const char *name = kind == TOOL_PUB ? "midge_pub" : kind == TOOL_SUB ? "midge_sub" : "midge_rr";
	const char *env = getenv("XDG_CONFIG_HOME");
	if (env) {
		snprintf(buf, size, "%s/%s", env, name);
		return buf;
	}
	env = getenv("HOME");
	if (env) {
		snprintf(buf, size, "%s/.config/%s", env, name);
		return buf;
	}
	return NULL;
}

/* The options file: "-flag value" per line (the value is the rest of the line), '#' comments. */
static int load_file(struct tool_opts *o, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_LEN];
	int rc = OPTS_OK;
	if (!f) return OPTS_OK;
	while (rc == OPTS_OK && fgets(line, sizeof(line), f)) {
		if (line[0] == '#') continue;
		size_t len = strlen(line);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *p = line;
		while (*p == ' ')
			p++;
		if (!*p) continue;
		char *args[3] = {"", p, NULL};
		char *sp = strchr(p, ' ');
		if (sp) {
			*sp = '\0';
			if (sp[1]) args[2] = sp + 1;
		}
		rc = opts__parse_args(o, args[2] ? 3 : 2, args, err);
	}
	fclose(f);
	return rc;
}

bool opts__tls(const struct tool_opts *o)
{
	return o->cafile || o->capath || o->psk || o->tls_use_os_certs || o->url_tls || opts__port(o) == 8883;
}

int opts__port(const struct tool_opts *o)
{
	if (o->port >= 0) return o->port;
	return o->cafile || o->capath || o->psk ? 8883 : 1883;
}

/* The checks of client_config_load that need every option. */
static int check_loaded(struct tool_opts *o, FILE *err)
{
	if (o->will_payload && !o->will_topic) {
		fprintf(err, "Error: Will payload given, but no will topic given.\n");
		return OPTS_ERROR;
	}
	if (o->will_retain && !o->will_topic) {
		fprintf(err, "Error: Will retain given, but no will topic given.\n");
		return OPTS_ERROR;
	}
	if ((o->certfile && !o->keyfile) || (o->keyfile && !o->certfile)) {
		fprintf(err, "Error: Both certfile and keyfile must be provided if one of them is set.\n");
		return OPTS_ERROR;
	}
	if (o->keyform && !o->keyfile) {
		fprintf(err, "Error: If keyform is set, keyfile must be also specified.\n");
		return OPTS_ERROR;
	}
	if (o->tls_engine_kpass_sha1 && (!o->keyform || !o->tls_engine)) {
		fprintf(err, "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be "
		             "provided.\n");
		return OPTS_ERROR;
	}
	if ((o->cafile || o->capath) && o->psk) {
		fprintf(err, "Error: Only one of --psk or --cafile/--capath may be used at once.\n");
		return OPTS_ERROR;
	}
	if (o->psk && !o->psk_identity) {
		fprintf(err, "Error: --psk-identity required if --psk used.\n");
		return OPTS_ERROR;
	}
	if (o->protocol_version == MQTT_V5) {
		if (!o->clean_session && o->session_expiry == -1) o->session_expiry = UINT32_MAX;
		if (o->session_expiry > 0) {
			if (o->session_expiry == UINT32_MAX && (o->id_prefix || !o->id)) {
				fprintf(err, "Error: You must provide a client id if you are using an infinite session "
				             "expiry interval.\n");
				return OPTS_ERROR;
			}
			struct opt_prop *p = property__append(o, err);
			if (!p) return OPTS_ERROR;
			p->cmd = OPT_CMD_CONNECT;
			p->id = MQTT_PROP_SESSION_EXPIRY_INTERVAL;
			p->type = OPT_PROP_INT32;
			p->value = (uint32_t)o->session_expiry;
		}
	} else if (!o->clean_session && (o->id_prefix || !o->id)) {
		fprintf(err, "Error: You must provide a client id if you are using the -c option.\n");
		return OPTS_ERROR;
	}
	if (o->kind == TOOL_SUB && o->ntopics == 0) {
		fprintf(err, "Error: You must specify a topic to subscribe to.\n");
		return OPTS_ERROR;
	}
	if (!o->host && opts__set_str(&o->host, "localhost", err)) return OPTS_ERROR;
	static const int order[] = {OPT_CMD_CONNECT,     OPT_CMD_PUBLISH,    OPT_CMD_SUBSCRIBE,
	                            OPT_CMD_UNSUBSCRIBE, OPT_CMD_DISCONNECT, OPT_CMD_WILL};
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		const char *why = property__check(o, order[k]);
		if (why) {
			fprintf(err, "Error in %s properties: %s\n", property__command_label(order[k]), why);
			return OPTS_ERROR;
		}
	}
	return OPTS_OK;
}

int opts__load(struct tool_opts *o, enum tool_kind kind, int argc, char *const argv[], FILE *err)
{
	char path[4096];
	opts__init(o, kind);
	if (opts__file_path(kind, path, sizeof(path))) {
		int rc = load_file(o, path, err);
		if (rc != OPTS_OK) return rc;
	}
	int rc = opts__parse_args(o, argc, argv, err);
	if (rc != OPTS_OK) return rc;
	return check_loaded(o, err);
}
