/* options: midge-bench's command line into struct bench_opts, with every check made before anything runs. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payload.h"

static const char *const names[] = {"pub", "sub", "conn", "fanin", "fanout", "p2p", "shared"};

const char *bench_opts__scenario_name(enum bench_scenario s) { return names[s]; }

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static bool scenario_of(const char *s, enum bench_scenario *out)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i])) return *out = (enum bench_scenario)i, true;
	return false;
}

/* An unsigned integer in [lo, hi], the whole string. */
static bool num_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (!*s || *s == '-' || *s == '+') return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi) return false;
	*out = v;
	return true;
}

/* A finite non-negative number of seconds or messages/s. */
static bool num_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || errno || *end || !isfinite(v) || v < 0) return false;
	*out = v;
	return true;
}

static bool copy(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap) return false;
	memcpy(dst, src, n);
	dst[n] = 0;
	return true;
}

/* mqtt://, mqtts://, ws://, wss:// host[:port][/path]; an IPv6 address in brackets. */
static int parse_url(struct bench_opts *o, const char *url, char *err, size_t errlen)
{
	static const struct {
		const char *scheme;
		enum bench_transport t;
		uint16_t port;
	} schemes[] = {{"mqtt://", BT_TCP, 1883}, {"mqtts://", BT_TLS, 8883}, {"ws://", BT_WS, 80}, {"wss://", BT_WSS, 443}};
	const char *rest = NULL;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && !rest; i++) {
		size_t n = strlen(schemes[i].scheme);
		if (!strncmp(url, schemes[i].scheme, n)) {
			rest = url + n;
			o->transport = schemes[i].t;
			o->port = schemes[i].port;
		}
	}
	if (!rest) return fail(err, errlen, "unsupported URL '%s' (mqtt://, mqtts://, ws:// or wss://)", url);
	const char *slash = strchr(rest, '/');
	const char *hostend = slash ? slash : rest + strlen(rest);
	const char *h = rest, *colon = NULL;
	size_t hlen;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(hostend - h));
		if (!close) return fail(err, errlen, "bad URL '%s'", url);
		hlen = (size_t)(close - h - 1);
		h++;
		if (close + 1 < hostend) {
			if (close[1] != ':') return fail(err, errlen, "bad URL '%s'", url);
			colon = close + 1;
		}
	} else {
		colon = memchr(h, ':', (size_t)(hostend - h));
		hlen = (size_t)((colon ? colon : hostend) - h);
	}
	if (!hlen || memchr(h, '@', hlen)) return fail(err, errlen, "bad URL '%s' (no host, or a user part)", url);
	if (!copy(o->host, sizeof o->host, h, hlen)) return fail(err, errlen, "host name too long in '%s'", url);
	if (colon) {
		char port[8];
		uint64_t v;
		if (!copy(port, sizeof port, colon + 1, (size_t)(hostend - colon - 1)) || !num_u64(port, 1, 65535, &v))
			return fail(err, errlen, "bad port in URL '%s'", url);
		o->port = (uint16_t)v;
	}
	bool ws = o->transport == BT_WS || o->transport == BT_WSS;
	if (slash && !ws && strcmp(slash, "/")) return fail(err, errlen, "a path in URL '%s' is only for ws:// and wss://", url);
	if (ws && !copy(o->path, sizeof o->path, slash && slash[1] ? slash : "/mqtt", strlen(slash && slash[1] ? slash : "/mqtt")))
		return fail(err, errlen, "path too long in '%s'", url);
	return 0;
}

/* Checks a topic pattern: %i and %% only, no wildcards (publishers' topics are names). */
static bool pattern_ok(const char *p)
{
	for (; *p; p++) {
		if (*p == '+' || *p == '#') return false;
		if (*p == '%' && p[1] != 'i' && p[1] != '%') return false;
		if (*p == '%') p++;
	}
	return true;
}

bool bench_opts__topic(const struct bench_opts *o, uint32_t i, char *out, size_t outlen)
{
	size_t n = 0;
	for (const char *p = o->topic; *p; p++) {
		char num[16];
		const char *add = p;
		size_t k = 1;
		if (*p == '%' && p[1] == 'i') {
			k = (size_t)snprintf(num, sizeof num, "%u", i);
			add = num;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			p++;
		}
		if (n + k >= outlen) return false;
		memcpy(out + n, add, k);
		n += k;
	}
	out[n] = 0;
	return true;
}

/* The subscribers' filter where -t gives the publishers' pattern: "bench/%i" -> "bench/#" (the segment with
 * %i and all after it become #); a pattern without %i is its own filter. */
static void default_filter(struct bench_opts *o)
{
	const char *pct = strstr(o->topic, "%i");
	if (!pct) {
		snprintf(o->filter, sizeof o->filter, "%s", o->topic);
		return;
	}
	size_t seg = (size_t)(pct - o->topic);
	while (seg > 0 && o->topic[seg - 1] != '/') seg--;
	snprintf(o->filter, sizeof o->filter, "%.*s#", (int)seg, o->topic);
}

enum {
	OPT_SCENARIO = 256,
	OPT_CAFILE,
	OPT_INSECURE,
	OPT_WARMUP,
	OPT_CONNECT_RATE,
	OPT_THREADS,
	OPT_JSON,
	OPT_CLEAN,
	OPT_NO_CLEAN,
	OPT_FILTER,
	OPT_NO_SYS,
	OPT_SYS_WAIT,
	OPT_HELP,
};

int bench_opts__parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	*o = (struct bench_opts){.port = 1883, .version = 4, .payload = 64, .window = 100, .publishers = 0,
				 .connect_rate = 1000, .threads = 2, .keepalive = 60, .clean = true,
				 .sys_wait = 12};
	snprintf(o->host, sizeof o->host, "127.0.0.1");
	snprintf(o->id_prefix, sizeof o->id_prefix, "bench-%ld-", (long)getpid());
	static const struct option longs[] = {
		{"scenario", required_argument, NULL, OPT_SCENARIO},
		{"cafile", required_argument, NULL, OPT_CAFILE},
		{"insecure", no_argument, NULL, OPT_INSECURE},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"connect-rate", required_argument, NULL, OPT_CONNECT_RATE},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"json", no_argument, NULL, OPT_JSON},
		{"clean", no_argument, NULL, OPT_CLEAN},
		{"no-clean", no_argument, NULL, OPT_NO_CLEAN},
		{"filter", required_argument, NULL, OPT_FILTER},
		{"no-sys", no_argument, NULL, OPT_NO_SYS},
		{"sys-wait", required_argument, NULL, OPT_SYS_WAIT},
		{"help", no_argument, NULL, OPT_HELP},
		{0},
	};
	bool have_scenario = false, have_topic = false, have_filter = false, have_port = false, have_url = false;
	bool have_c = false, have_s = false, have_rate = false, have_d = false, have_sys_wait = false;
	const char *host = NULL;
	uint64_t v;
	opterr = 0;
	optind = 0; /* glibc: a full reset, so the parser can run again */
	int c;
	while ((c = getopt_long(argc, argv, ":h:p:L:V:q:s:r:I:n:d:w:i:t:c:S:k:", longs, NULL)) != -1) {
		switch (c) {
		case OPT_HELP: return 1;
		case OPT_SCENARIO:
			if (!scenario_of(optarg, &o->scenario)) return fail(err, errlen, "unknown scenario '%s'", optarg);
			have_scenario = true;
			break;
		case 'h': host = optarg; break;
		case 'p':
			if (!num_u64(optarg, 1, 65535, &v)) return fail(err, errlen, "bad port '%s'", optarg);
			o->port = (uint16_t)v;
			have_port = true;
			break;
		case 'L':
			if (parse_url(o, optarg, err, errlen)) return -1;
			have_url = true;
			break;
		case OPT_CAFILE: o->cafile = optarg; break;
		case OPT_INSECURE: o->insecure = true; break;
		case 'V':
			if (!strcmp(optarg, "311") || !strcmp(optarg, "mqttv311")) o->version = 4;
			else if (!strcmp(optarg, "5") || !strcmp(optarg, "mqttv5")) o->version = 5;
			else return fail(err, errlen, "unsupported MQTT version '%s' (311 or 5)", optarg);
			break;
		case 'q':
			if (!num_u64(optarg, 0, 2, &v)) return fail(err, errlen, "bad QoS '%s' (0, 1 or 2)", optarg);
			o->qos = (uint8_t)v;
			break;
		case 's':
			if (!num_u64(optarg, PAYLOAD_HEADER, 256u << 20, &v))
				return fail(err, errlen, "bad payload size '%s' (%d to 268435456 bytes)", optarg, PAYLOAD_HEADER);
			o->payload = (uint32_t)v;
			break;
		case 'r':
			if (!num_double(optarg, &o->rate)) return fail(err, errlen, "bad rate '%s'", optarg);
			have_rate = true;
			break;
		case 'I':
			if (!num_u64(optarg, 1, 3600000, &v)) return fail(err, errlen, "bad interval '%s' (ms)", optarg);
			o->interval_ms = (uint32_t)v;
			break;
		case 'n':
			if (!num_u64(optarg, 1, (uint64_t)1 << 35, &v)) return fail(err, errlen, "bad count '%s'", optarg);
			o->count = v;
			break;
		case 'd':
			if (!num_double(optarg, &o->duration) || o->duration <= 0 || o->duration > 1e6)
				return fail(err, errlen, "bad duration '%s' (seconds)", optarg);
			have_d = true;
			break;
		case OPT_WARMUP:
			if (!num_double(optarg, &o->warmup) || o->warmup > 1e6)
				return fail(err, errlen, "bad warm-up '%s' (seconds)", optarg);
			break;
		case 'w':
			if (!num_u64(optarg, 1, 65535, &v)) return fail(err, errlen, "bad window '%s' (1 to 65535)", optarg);
			o->window = (uint32_t)v;
			break;
		case 'i':
			if (strlen(optarg) > 40) return fail(err, errlen, "client id prefix too long (40 at most)");
			snprintf(o->id_prefix, sizeof o->id_prefix, "%s", optarg);
			break;
		case 't':
			if (!*optarg || strlen(optarg) >= sizeof o->topic - 16) return fail(err, errlen, "bad topic '%s'", optarg);
			snprintf(o->topic, sizeof o->topic, "%s", optarg);
			have_topic = true;
			break;
		case OPT_FILTER:
			if (!*optarg || strlen(optarg) >= sizeof o->filter - 16) return fail(err, errlen, "bad filter '%s'", optarg);
			snprintf(o->filter, sizeof o->filter, "%s", optarg);
			have_filter = true;
			break;
		case 'c':
			if (!num_u64(optarg, 1, 1000000, &v)) return fail(err, errlen, "bad client count '%s'", optarg);
			o->publishers = (uint32_t)v;
			have_c = true;
			break;
		case 'S':
			if (!num_u64(optarg, 1, 1000000, &v)) return fail(err, errlen, "bad subscriber count '%s'", optarg);
			o->subscribers = (uint32_t)v;
			have_s = true;
			break;
		case OPT_CONNECT_RATE:
			if (!num_u64(optarg, 1, 10000000, &v)) return fail(err, errlen, "bad connect rate '%s'", optarg);
			o->connect_rate = (uint32_t)v;
			break;
		case OPT_THREADS:
			if (!num_u64(optarg, 1, 64, &v)) return fail(err, errlen, "bad thread count '%s' (1 to 64)", optarg);
			o->threads = (uint32_t)v;
			break;
		case OPT_JSON: o->json = true; break;
		case 'k':
			if (!num_u64(optarg, 0, 65535, &v)) return fail(err, errlen, "bad keepalive '%s'", optarg);
			o->keepalive = (uint16_t)v;
			break;
		case OPT_CLEAN: o->clean = true; break;
		case OPT_NO_CLEAN: o->clean = false; break;
		case OPT_NO_SYS: o->no_sys = true; break;
		case OPT_SYS_WAIT:
			if (!num_double(optarg, &o->sys_wait) || o->sys_wait > 3600)
				return fail(err, errlen, "bad $SYS wait '%s' (0 to 3600 seconds)", optarg);
			have_sys_wait = true;
			break;
		case ':': return fail(err, errlen, "option %s needs an argument", argv[optind - 1]);
		default: return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	for (int i = optind; i < argc; i++) {
		if (have_scenario) return fail(err, errlen, "unexpected argument '%s'", argv[i]);
		if (!scenario_of(argv[i], &o->scenario)) return fail(err, errlen, "unknown scenario '%s'", argv[i]);
		have_scenario = true;
	}
	if (!have_scenario)
		return fail(err, errlen, "no scenario (pub, sub, conn, fanin, fanout, p2p or shared)");
	if (have_url && (host || have_port)) return fail(err, errlen, "-L and -h/-p both given");
	if (host && !copy(o->host, sizeof o->host, host, strlen(host))) return fail(err, errlen, "host name too long");
	if ((o->cafile || o->insecure) && o->transport != BT_TLS && o->transport != BT_WSS)
		return fail(err, errlen, "--cafile and --insecure are for mqtts:// and wss:// URLs");
	if (have_sys_wait && o->no_sys) return fail(err, errlen, "--sys-wait and --no-sys both given");
	if (have_rate && o->interval_ms) return fail(err, errlen, "-r and -I both given");
	if (o->count && have_d) return fail(err, errlen, "-n and -d both given");
	if (!o->count && !have_d) o->duration = 10;
	if (o->count && o->scenario == SC_CONN) return fail(err, errlen, "conn runs for a duration (-d), not a count");
	if (have_topic && !pattern_ok(o->topic) && o->scenario != SC_SUB)
		return fail(err, errlen, "bad topic pattern '%s' (no wildcards; %%i and %%%% only)", o->topic);

	enum bench_scenario s = o->scenario;
	bool pubs = s != SC_SUB && s != SC_CONN, subs = s != SC_PUB && s != SC_CONN;
	if (have_s && !subs) return fail(err, errlen, "-S is not for the %s scenario", names[s]);
	if (have_c && s == SC_SUB) return fail(err, errlen, "-c is not for the sub scenario (use -S)");
	if (s == SC_FANOUT && have_c && o->publishers != 1) return fail(err, errlen, "fanout has one publisher");
	if (s == SC_FANIN && have_s && o->subscribers != 1) return fail(err, errlen, "fanin has one subscriber");
	if (s == SC_P2P && have_s && o->subscribers != o->publishers)
		return fail(err, errlen, "p2p has as many subscribers as publishers (-c)");
	if (!o->publishers) o->publishers = s == SC_CONN ? 100 : 1;
	if (!o->subscribers) o->subscribers = 1;
	if (!pubs) o->publishers = s == SC_CONN ? o->publishers : 0;
	if (!subs) o->subscribers = 0;
	if (s == SC_P2P) o->subscribers = o->publishers;
	if (!have_topic) snprintf(o->topic, sizeof o->topic, s == SC_SUB ? "bench/#" : "bench/%%i");
	if (s == SC_P2P && !strstr(o->topic, "%i")) return fail(err, errlen, "p2p needs %%i in the topic pattern");
	if (!have_filter) {
		if (s == SC_SUB) snprintf(o->filter, sizeof o->filter, "%s", o->topic);
		else default_filter(o);
	}
	(void)pubs;
	return 0;
}
