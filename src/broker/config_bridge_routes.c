/* Where a bridge connects and what it carries: the `address` and `topic` lines of a bridge section, by
 * Mosquitto's rules (mosquitto.conf(5)), plus Midge's ws:// and wss:// addresses. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/topic.h"
#include "config.h"
#include "config_options.h"
#include "midge/midge.h"

#define DEFAULT_WS_PATH "/mqtt" /* what Paho, MQTT.js users, AWS IoT, HiveMQ and EMQX expect */

/* The number of values before a word starting with '#' (a comment; Mosquitto stops there too), from index
 * from on: a `topic` pattern may itself be "#". */
static int values(const struct cfg_line *ln, int from)
{
	for (int i = from; i < ln->argc; i++) {
		if (ln->argv[i][0] == '#') return i;
	}
	return ln->argc;
}

/* ---- addresses ---- */

/* A port of 1..65535 in decimal, [p, end). */
static bool parse_port(const char *p, const char *end, uint16_t *out)
{
	unsigned v = 0;
	if (p == end || end - p > 5) return false;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9') return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < 1 || v > 65535) return false;
	*out = (uint16_t)v;
	return true;
}

/* Splits the authority [p, end) into host and port: "[v6]:port", "[v6]", or "host[:port]" split at the last
 * ':' as Mosquitto does (so a bare IPv6 address needs its port). Returns false when malformed. */
static bool split_host(const char *p, const char *end, const char **host, size_t *hlen, uint16_t *port)
{
	const char *colon = NULL;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close || close == p + 1) return false;
		*host = p + 1;
		*hlen = (size_t)(close - p - 1);
		if (close + 1 == end) return true;
		if (close[1] != ':') return false;
		colon = close + 1;
	} else {
		for (const char *q = p; q < end; q++) {
			if (*q == ':') colon = q;
		}
		*host = p;
		*hlen = (size_t)((colon ? colon : end) - p);
	}
	if (*hlen == 0 || memchr(*host, '@', *hlen) || memchr(*host, '/', *hlen)) return false;
	return !colon || parse_port(colon + 1, end, port);
}

/* Parses one address word into a (zeroed; filled and owned on success). */
static int parse_address(struct cfg_state *st, const struct cfg_line *ln, const char *s, struct bridge_address *a)
{
	const char *p = s, *end;
	a->transport = BRIDGE_TCP;
	a->port = 1883;
	if (!strncmp(s, "ws://", 5)) {
		a->transport = BRIDGE_WS, a->port = 80, p += 5;
	} else if (!strncmp(s, "wss://", 6)) {
		a->transport = BRIDGE_WSS, a->port = 443, p += 6;
	} else if (strstr(s, "://")) {
		return config__error(st, ln, "invalid address '%s' for '%s' (expected host[:port], ws://host[:port]/path "
		                             "or wss://host[:port]/path)",
		                     s, ln->name);
	}
	const char *path = a->transport == BRIDGE_TCP ? NULL : strchr(p, '/');
	end = path ? path : p + strlen(p);
	const char *host;
	size_t hlen;
	if (p == end || !split_host(p, end, &host, &hlen, &a->port)) {
		return config__error(st, ln, "invalid address '%s' for '%s' (expected host[:port] with a port 1..65535; "
		                             "an IPv6 address as [addr]:port)",
		                     s, ln->name);
	}
	if (!(a->host = strndup(host, hlen))) return MIDGE_ERR_NOMEM;
	if (a->transport != BRIDGE_TCP && !(a->path = strdup(path ? path : DEFAULT_WS_PATH))) return MIDGE_ERR_NOMEM;
	return 0;
}

int config__bridge_address(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b)
{
	int n = values(ln, 0);
	if (n == 0) return config__error(st, ln, "missing value for '%s'", ln->name);
	struct bridge_address *v = calloc((size_t)n, sizeof(*v));
	if (!v) return MIDGE_ERR_NOMEM;
	/* Owned by b at once, so config__fini frees what was parsed before an error. */
	b->addresses = v;
	for (int i = 0; i < n; i++) {
		int rc = parse_address(st, ln, ln->argv[i], &v[i]);
		b->naddresses = (size_t)i + (rc ? 0 : 1);
		if (rc) {
			free(v[i].host); /* a half-filled one */
			return rc;
		}
	}
	return 0;
}

/* ---- topics ---- */

/* `""` marks an empty pattern or prefix; a missing prefix is empty too. */
static const char *unquote(const struct cfg_line *ln, int n, int i)
{
	if (i >= n || !strcmp(ln->argv[i], "\"\"")) return NULL;
	return ln->argv[i];
}

static bool same(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

/* prefix + pattern (either may be NULL), malloc'd, or NULL when out of memory. */
static char *join(const char *prefix, const char *pattern)
{
	size_t a = prefix ? strlen(prefix) : 0, b = pattern ? strlen(pattern) : 0;
	char *s = malloc(a + b + 1);
	if (!s) return NULL;
	if (a) memcpy(s, prefix, a);
	if (b) memcpy(s + a, pattern, b);
	s[a + b] = '\0';
	return s;
}

/* Checks the words of a topic line; on success *t holds its direction and QoS. */
static int check_topic(struct cfg_state *st, const struct cfg_line *ln, int n, struct bridge_topic *t)
{
	const char *pattern = unquote(ln, n, 0), *lp = unquote(ln, n, 3), *rp = unquote(ln, n, 4);
	if (n >= 2) {
		const char *d = ln->argv[1];
		if (!strcasecmp(d, "out")) t->direction = BRIDGE_OUT;
		else if (!strcasecmp(d, "in")) t->direction = BRIDGE_IN;
		else if (!strcasecmp(d, "both")) t->direction = BRIDGE_BOTH;
		else return config__error(st, ln, "invalid direction '%s' for 'topic' (expected in, out or both)", d);
	}
	if (n >= 3) {
		const char *q = ln->argv[2];
		if (q[0] < '0' || q[0] > '2' || q[1])
			return config__error(st, ln, "invalid QoS '%s' for 'topic' (expected 0, 1 or 2)", q);
		t->qos = (uint8_t)(q[0] - '0');
	}
	if (pattern && !topic__valid_filter((const uint8_t *)pattern, strlen(pattern)))
		return config__error(st, ln, "invalid topic filter '%s' for 'topic'", pattern);
	if (lp && !topic__valid_name((const uint8_t *)lp, strlen(lp)))
		return config__error(st, ln, "invalid local prefix '%s' for 'topic' (a topic name, no wildcards)", lp);
	if (rp && !topic__valid_name((const uint8_t *)rp, strlen(rp)))
		return config__error(st, ln, "invalid remote prefix '%s' for 'topic' (a topic name, no wildcards)", rp);
	/* An empty pattern maps one local topic to one remote topic: both must be named (Mosquitto's table). */
	if (!pattern && (!lp || !rp)) {
		return config__error(st, ln, "invalid 'topic': an empty pattern (\"\") needs both a local and a remote "
		                             "prefix");
	}
	return 0;
}

/* Fills t's strings from the line; the joined filters must be valid (prefix "a" and pattern "#" make "a#").
 * t owns whatever was set, also on error. */
static int fill_topic(struct cfg_state *st, const struct cfg_line *ln, int n, struct bridge_topic *t)
{
	const char *pattern = unquote(ln, n, 0), *lp = unquote(ln, n, 3), *rp = unquote(ln, n, 4);
	if ((pattern && !(t->pattern = strdup(pattern))) || (lp && !(t->local_prefix = strdup(lp))) ||
	    (rp && !(t->remote_prefix = strdup(rp))) || !(t->local_topic = join(lp, pattern)) ||
	    !(t->remote_topic = join(rp, pattern)))
		return MIDGE_ERR_NOMEM;
	const char *sides[2] = {t->local_topic, t->remote_topic};
	for (int i = 0; i < 2; i++) {
		if (topic__valid_filter((const uint8_t *)sides[i], strlen(sides[i]))) continue;
		return config__error(st, ln, "invalid 'topic': the %s prefix and the pattern make '%s', not a valid "
		                             "topic filter",
		                     i ? "remote" : "local", sides[i]);
	}
	return 0;
}

static void free_topic(struct bridge_topic *t)
{
	free(t->pattern);
	free(t->local_prefix);
	free(t->remote_prefix);
	free(t->local_topic);
	free(t->remote_topic);
}

/* True when b already has a topic line with the same meaning as t (Mosquitto skips it too). */
static bool duplicate(const struct bridge_conf *b, const struct bridge_topic *t)
{
	for (size_t i = 0; i < b->ntopics; i++) {
		const struct bridge_topic *o = &b->topics[i];
		if (o->direction == t->direction && o->qos == t->qos && same(o->pattern, t->pattern) &&
		    same(o->local_prefix, t->local_prefix) && same(o->remote_prefix, t->remote_prefix))
			return true;
	}
	return false;
}

int config__bridge_topic(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b)
{
	int n = values(ln, 1), rc = 0;
	if (ln->argc == 0) return config__error(st, ln, "missing value for 'topic'");
	if (n > 5) rc = config__warn(st, ln, "ignored extra argument '%s' for 'topic'", ln->argv[5]);
	struct bridge_topic t = {.direction = BRIDGE_OUT, .line = ln->line};
	if (rc || (rc = check_topic(st, ln, n, &t)) || (rc = fill_topic(st, ln, n, &t))) {
		free_topic(&t);
		return rc;
	}
	if (duplicate(b, &t)) {
		free_topic(&t);
		return config__warn(st, ln, "duplicate bridge topic '%s' ignored", ln->argv[0]);
	}
	struct bridge_topic *v = realloc(b->topics, (b->ntopics + 1) * sizeof(*v));
	if (!v) {
		free_topic(&t);
		return MIDGE_ERR_NOMEM;
	}
	b->topics = v;
	v[b->ntopics++] = t;
	return 0;
}
