/* sn_opts: parses midge-sn-pub's and midge-sn-sub's command lines. See sn_opts.h. */
#include "sn_opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules.h"

enum {
	F_PUB = 1,
	F_SUB = 2,
	F_ALL = 3,
};

enum flag_id {
	FL_HOST,
	FL_PORT,
	FL_TOPIC,
	FL_PREDEF,
	FL_MESSAGE,
	FL_NULL,
	FL_STDIN_FILE,
	FL_STDIN_LINE,
	FL_QOS,
	FL_ID,
	FL_KEEPALIVE,
	FL_RETAIN,
	FL_NO_CLEAN,
	FL_COUNT,
	FL_VERBOSE,
	FL_DEBUG,
	FL_SLEEP,
	FL_RETRY,
	FL_RETRIES,
	FL_WILL_TOPIC,
	FL_WILL_PAYLOAD,
	FL_WILL_QOS,
	FL_WILL_RETAIN,
	FL_FE,
	FL_WLNID,
	FL_TIMEOUT,
	FL_PREDEF_FILE,
	FL_HELP,
};

struct flag {
	const char *name, *alias;
	enum flag_id id;
	int tools;
	bool arg;
};

static const struct flag flags[] = {
    {"-h", "--host", FL_HOST, F_ALL, true},
    {"-p", "--port", FL_PORT, F_ALL, true},
    {"-t", "--topic", FL_TOPIC, F_ALL, true},
    {"-T", "--predefined-topic", FL_PREDEF, F_ALL, true},
    {"-m", "--message", FL_MESSAGE, F_PUB, true},
    {"-n", "--null-message", FL_NULL, F_PUB, false},
    {"-s", "--stdin-file", FL_STDIN_FILE, F_PUB, false},
    {"-l", "--stdin-line", FL_STDIN_LINE, F_PUB, false},
    {"-q", "--qos", FL_QOS, F_ALL, true},
    {"-i", "--id", FL_ID, F_ALL, true},
    {"-k", "--keepalive", FL_KEEPALIVE, F_ALL, true},
    {"-r", "--retain", FL_RETAIN, F_PUB, false},
    {"-c", "--disable-clean-session", FL_NO_CLEAN, F_ALL, false},
    {"-C", "--count", FL_COUNT, F_SUB, true},
    {"-v", "--verbose", FL_VERBOSE, F_SUB, false},
    {"-d", "--debug", FL_DEBUG, F_ALL, false},
    {"-e", "--sleep", FL_SLEEP, F_SUB, true},
    {"-W", "--timeout", FL_TIMEOUT, F_SUB, true},
    {"--retry", NULL, FL_RETRY, F_ALL, true},
    {"--retries", NULL, FL_RETRIES, F_ALL, true},
    {"--will-topic", NULL, FL_WILL_TOPIC, F_ALL, true},
    {"--will-payload", NULL, FL_WILL_PAYLOAD, F_ALL, true},
    {"--will-qos", NULL, FL_WILL_QOS, F_ALL, true},
    {"--will-retain", NULL, FL_WILL_RETAIN, F_ALL, false},
    {"--fe", NULL, FL_FE, F_ALL, false},
    {"--wlnid", NULL, FL_WLNID, F_ALL, true},
    {"--predefined-file", NULL, FL_PREDEF_FILE, F_ALL, true},
    {"--help", NULL, FL_HELP, F_ALL, false},
};

void sn_opts__free(struct sn_opts *o)
{
	free(o->host);
	free(o->id);
	for (size_t i = 0; i < o->ntopics; i++)
		free(o->topics[i]);
	free(o->topics);
	free(o->predef_ids);
	free(o->predef_file);
	free(o->message);
	free(o->will_topic);
	free(o->will_payload);
	memset(o, 0, sizeof(*o));
}

static void init(struct sn_opts *o, enum sn_tool_kind kind)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->port = 1884;
	o->keepalive = 60;
	o->clean = true;
	o->retry = 10;
	o->retries = 5;
}

/* A whole decimal number in [lo, hi]; false (with the message) otherwise. */
static bool number(const char *s, long lo, long hi, long *v, const char *what, FILE *err)
{
	char *end = NULL;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (end == s || *end || errno || n < lo || n > hi) {
		fprintf(err, "Error: %s must be a number from %ld to %ld, not '%s'.\n", what, lo, hi, s);
		return false;
	}
	*v = n;
	return true;
}

static bool seconds(const char *s, double *v, FILE *err)
{
	char *end = NULL;
	double d = strtod(s, &end);
	if (end == s || *end || !(d >= 0.001 && d <= 3600)) {
		fprintf(err, "Error: --retry must be a number of seconds from 0.001 to 3600, not '%s'.\n", s);
		return false;
	}
	*v = d;
	return true;
}

static int set_pub_mode(struct sn_opts *o, enum pub_mode mode, FILE *err)
{
	if (o->pub_mode != PUB_NONE) {
		fprintf(err, "Error: Only one type of message can be sent at once.\n");
		return -1;
	}
	o->pub_mode = mode;
	return 0;
}

static int add_topic(struct sn_opts *o, const char *t, FILE *err)
{
	if (!*t || !rules__utf8(t)) {
		fprintf(err, "Error: Invalid topic '%s' (empty or malformed UTF-8).\n", t);
		return -1;
	}
	if (o->kind == SN_TOOL_PUB ? !rules__pub_topic(t) : !rules__sub_topic(t)) {
		fprintf(err,
		        o->kind == SN_TOOL_PUB ? "Error: Invalid publish topic '%s', does it contain '+' or '#'?\n"
		                               : "Error: Invalid subscription topic '%s', are all '+' and '#' "
		                                 "wildcards correct?\n",
		        t);
		return -1;
	}
	char **v = realloc(o->topics, (o->ntopics + 1) * sizeof(*v));
	if (v) o->topics = v;
	if (!v || !(v[o->ntopics] = strdup(t))) {
		fprintf(err, "Error: Out of memory.\n");
		return -1;
	}
	o->ntopics++;
	return 0;
}

static int add_predef(struct sn_opts *o, const char *a, FILE *err)
{
	long v;
	if (!number(a, 1, 65534, &v, "A predefined topic id", err)) return -1;
	uint16_t *ids = realloc(o->predef_ids, (o->npredef_ids + 1) * sizeof(*ids));
	if (!ids) {
		fprintf(err, "Error: Out of memory.\n");
		return -1;
	}
	o->predef_ids = ids;
	ids[o->npredef_ids++] = (uint16_t)v;
	return 0;
}

/* --wlnid: "0x" and hex digits for octets, else the text itself. */
static int set_wlnid(struct sn_opts *o, const char *a, FILE *err)
{
	size_t n = strlen(a);
	if (n > 2 && a[0] == '0' && (a[1] == 'x' || a[1] == 'X')) {
		const char *h = a + 2;
		size_t hl = n - 2;
		if (hl % 2 || hl / 2 > SN_OPTS_WLNID_MAX || strspn(h, "0123456789abcdefABCDEF") != hl) goto bad;
		for (size_t i = 0; i < hl / 2; i++) {
			char byte[3] = {h[2 * i], h[2 * i + 1], 0};
			o->wlnid[i] = (uint8_t)strtoul(byte, NULL, 16);
		}
		o->wlnid_len = hl / 2;
		return 0;
	}
	if (n < 1 || n > SN_OPTS_WLNID_MAX) goto bad;
	memcpy(o->wlnid, a, n);
	o->wlnid_len = n;
	return 0;
bad:
	fprintf(err, "Error: --wlnid must be 1 to %d octets, as text or as 0x and hex digits.\n", SN_OPTS_WLNID_MAX);
	return -1;
}

static int apply(struct sn_opts *o, const struct flag *f, const char *a, FILE *err)
{
	long v;
	switch (f->id) {
	case FL_HOST:
		return opts__set_str(&o->host, a, err);
	case FL_PORT:
		if (!number(a, 1, 65535, &v, "The port", err)) return -1;
		o->port = (int)v;
		return 0;
	case FL_TOPIC:
		if (o->kind == SN_TOOL_PUB && (o->ntopics || o->npredef_ids)) goto one_topic;
		return add_topic(o, a, err);
	case FL_PREDEF:
		if (o->kind == SN_TOOL_PUB && (o->ntopics || o->npredef_ids)) goto one_topic;
		return add_predef(o, a, err);
	case FL_MESSAGE:
		if (set_pub_mode(o, PUB_MESSAGE, err) || opts__set_str(&o->message, a, err)) return -1;
		o->message_len = strlen(a);
		return 0;
	case FL_NULL:
		return set_pub_mode(o, PUB_NULL, err);
	case FL_STDIN_FILE:
		return set_pub_mode(o, PUB_STDIN_FILE, err);
	case FL_STDIN_LINE:
		return set_pub_mode(o, PUB_STDIN_LINE, err);
	case FL_QOS:
		if (!number(a, o->kind == SN_TOOL_PUB ? -1 : 0, 2, &v, "QoS", err)) return -1;
		o->qos = (int)v;
		return 0;
	case FL_ID:
		if (!*a || strlen(a) > 23) {
			fprintf(err, "Error: A client id must be 1 to 23 characters (MQTT-SN 1.2).\n");
			return -1;
		}
		return opts__set_str(&o->id, a, err);
	case FL_KEEPALIVE:
		if (!number(a, 0, 65535, &v, "The keepalive", err)) return -1;
		o->keepalive = (int)v;
		return 0;
	case FL_RETAIN:
		o->retain = true;
		return 0;
	case FL_NO_CLEAN:
		o->clean = false;
		return 0;
	case FL_COUNT:
		if (!number(a, 1, 1000000000, &v, "The message count", err)) return -1;
		o->count = (int)v;
		return 0;
	case FL_VERBOSE:
		o->verbose = true;
		return 0;
	case FL_DEBUG:
		o->debug = true;
		return 0;
	case FL_SLEEP:
		if (!number(a, 1, 65535, &v, "The sleep duration", err)) return -1;
		o->sleep_s = (int)v;
		return 0;
	case FL_TIMEOUT:
		if (!number(a, 1, 3600 * 24 * 365, &v, "The timeout", err)) return -1;
		o->timeout = (unsigned)v;
		return 0;
	case FL_RETRY:
		return seconds(a, &o->retry, err) ? 0 : -1;
	case FL_RETRIES:
		if (!number(a, 0, 255, &v, "The number of retries", err)) return -1;
		o->retries = (int)v;
		return 0;
	case FL_WILL_TOPIC:
		if (!*a || !rules__utf8(a) || !rules__pub_topic(a)) {
			fprintf(err, "Error: Invalid will topic '%s', does it contain '+' or '#'?\n", a);
			return -1;
		}
		return opts__set_str(&o->will_topic, a, err);
	case FL_WILL_PAYLOAD:
		return opts__set_str(&o->will_payload, a, err);
	case FL_WILL_QOS:
		if (!number(a, 0, 2, &v, "The will QoS", err)) return -1;
		o->will_qos = (int)v;
		return 0;
	case FL_WILL_RETAIN:
		o->will_retain = true;
		return 0;
	case FL_FE:
		o->fe = true;
		return 0;
	case FL_WLNID:
		return set_wlnid(o, a, err);
	case FL_PREDEF_FILE:
		return opts__set_str(&o->predef_file, a, err);
	case FL_HELP:
		return 0;
	}
	return 0;
one_topic:
	fprintf(err, "Error: Only one topic (-t or -T) can be published to at once.\n");
	return -1;
}

/* The checks that need every option. */
static int check(struct sn_opts *o, FILE *err)
{
	if (!o->ntopics && !o->npredef_ids) {
		fprintf(err, "Error: No topic given (-t topic or -T predefined-topic-id).\n");
		return -1;
	}
	if (o->kind == SN_TOOL_PUB && o->pub_mode == PUB_NONE) {
		fprintf(err, "Error: Nothing to publish (-m message, -n, -s or -l).\n");
		return -1;
	}
	/* With a predefined file, a name it lists goes as its id: the library checks that once the file is read. */
	if (o->kind == SN_TOOL_PUB && o->qos == -1 && o->ntopics && strlen(o->topics[0]) != 2 && !o->predef_file) {
		fprintf(err, "Error: QoS -1 needs a predefined topic id (-T) or a two-character (short) topic name.\n");
		return -1;
	}
	if ((o->will_payload || o->will_qos || o->will_retain) && !o->will_topic) {
		fprintf(err, "Error: Will payload, QoS or retain given, but no will topic (--will-topic).\n");
		return -1;
	}
	if (o->kind == SN_TOOL_PUB && o->qos == -1 && o->will_topic) {
		fprintf(err, "Error: A will needs a connection, and QoS -1 publishes without one.\n");
		return -1;
	}
	if (o->wlnid_len && !o->fe) {
		fprintf(err, "Error: --wlnid given without --fe.\n");
		return -1;
	}
	return 0;
}

int sn_opts__load(struct sn_opts *o, enum sn_tool_kind kind, int argc, char *const argv[], FILE *err)
{
	init(o, kind);
	int bit = kind == SN_TOOL_PUB ? F_PUB : F_SUB;
	for (int i = 1; i < argc; i++) {
		const struct flag *f = NULL;
		for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
			if (!strcmp(argv[i], flags[k].name) || (flags[k].alias && !strcmp(argv[i], flags[k].alias)))
				f = &flags[k];
		if (!f || !(f->tools & bit)) {
			fprintf(err, "Error: Unknown option '%s'.\n", argv[i]);
			return OPTS_ERROR;
		}
		if (f->id == FL_HELP) return OPTS_HELP;
		const char *a = NULL;
		if (f->arg) {
			if (i + 1 >= argc) {
				fprintf(err, "Error: %s argument given but no value specified.\n", argv[i]);
				return OPTS_ERROR;
			}
			a = argv[++i];
		}
		if (apply(o, f, a, err)) return OPTS_ERROR;
	}
	if (check(o, err)) return OPTS_ERROR;
	if (!o->host && opts__set_str(&o->host, "localhost", err)) return OPTS_ERROR;
	if (!o->id) {
		char id[32];
		snprintf(id, sizeof(id), "midge-sn-%s-%ld", kind == SN_TOOL_PUB ? "pub" : "sub", (long)getpid());
		if (opts__set_str(&o->id, id, err)) return OPTS_ERROR;
	}
	/* Like njh's tools, a node id defaults to the process id. */
	if (o->fe && !o->wlnid_len)
		o->wlnid_len = (size_t)snprintf((char *)o->wlnid, sizeof(o->wlnid), "%ld", (long)getpid());
	return OPTS_OK;
}
