/* Mosquitto's bridge sections: `connection NAME` and the options after it, with Mosquitto 2.0's defaults,
 * ranges and rules, into struct bridge_conf (config.h). As in Mosquitto, a bridge option applies to the latest
 * `connection` of the same file, and a `listener` line does not end the section: other options keep their own
 * scope. Checks that need the whole section run in config__validate_bridges. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/topic.h"
#include "common/utf8.h"
#include "config.h"
#include "config_options.h"
#include "midge/midge.h"
#include "net/psk_file.h"
#include "net/tls.h"

/* The largest MQTT packet: a 268435455-byte remaining length and its 5-byte header. */
#define MAX_PACKET 268435460LL

enum kind { K_BOOL, K_STR, K_UINT, K_FN };

/* Flags of an option. */
#define F_TLS 1u    /* a TLS setting: meaningless on a ws:// address */
#define F_CERT 2u   /* certificate based TLS: not with PSK */
#define F_PSK 4u    /* PSK based TLS: not with certificates */
#define F_CLAMP 8u  /* integers below min are raised to it with a note, as Mosquitto does */

struct bopt;
typedef int (*bopt_fn)(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o);

struct bopt {
	const char *name;
	enum kind kind;
	size_t off;         /* K_BOOL, K_STR, K_UINT: the field in struct bridge_conf */
	long long min, max; /* K_UINT: inclusive range (see F_CLAMP) */
	unsigned flags;
	const char *alias;  /* a deprecated name: the option to use instead */
	bopt_fn fn;         /* K_FN */
};

#define FIELD(b, o, type) ((type *)((char *)(b) + (o)->off))

/* ---- helpers ---- */

/* A decimal integer with an optional sign, nothing else. */
static bool parse_int(const char *s, long long *out)
{
	char *end;
	if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end) return false;
	*out = v;
	return true;
}

/* The values of ln up to a word starting with '#', which begins a comment (Mosquitto stops there too).
 * from is the first index where a comment may start (a `topic` pattern may be "#"). */
static int value_count(const struct cfg_line *ln, int from)
{
	for (int i = from; i < ln->argc; i++) {
		if (ln->argv[i][0] == '#') return i;
	}
	return ln->argc;
}

static struct bridge_conf *current(struct cfg_state *st) { return &st->c->bridges[st->cur_bridge]; }

/* True when b has a plain ws:// address (TLS settings would not apply to it). */
static bool has_plain_ws(const struct bridge_conf *b)
{
	for (size_t i = 0; i < b->naddresses; i++) {
		if (b->addresses[i].transport == BRIDGE_WS) return true;
	}
	return false;
}

/* The name of the first TLS option set on b, or NULL. */
static const char *tls_option_set(const struct bridge_conf *b)
{
	const struct {
		const char *name;
		bool set;
	} v[] = {{"bridge_cafile", b->cafile},
	         {"bridge_capath", b->capath},
	         {"bridge_certfile", b->certfile},
	         {"bridge_keyfile", b->keyfile},
	         {"bridge_identity", b->identity},
	         {"bridge_psk", b->psk},
	         {"bridge_insecure", b->insecure},
	         {"bridge_tls_version", b->tls_version != 0},
	         {"bridge_alpn", b->alpn},
	         {"bridge_ciphers", b->ciphers},
	         {"bridge_ciphers_tls1.3", b->ciphers_tls13}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i].set) return v[i].name;
	}
	return NULL;
}

/* Mosquitto's rules between TLS options, checked as each one is set: certificates or a PSK, not both, and
 * no TLS at all towards a plain ws:// address. */
static int tls_conflict(struct cfg_state *st, const struct cfg_line *ln, const struct bridge_conf *b, unsigned flags)
{
	if ((flags & F_CERT) && (b->identity || b->psk)) {
		return config__error(st, ln, "option '%s' cannot be used with bridge_identity/bridge_psk: a bridge uses "
		                             "certificates or a pre-shared key, not both",
		                     ln->name);
	}
	if ((flags & F_PSK) && (b->cafile || b->capath || b->certfile || b->keyfile)) {
		return config__error(st, ln, "option '%s' cannot be used with bridge_cafile/bridge_capath/bridge_certfile/"
		                             "bridge_keyfile: a bridge uses certificates or a pre-shared key, not both",
		                     ln->name);
	}
	if ((flags & F_TLS) && has_plain_ws(b)) {
		return config__error(st, ln, "option '%s' does not apply to a ws:// address (use wss:// for TLS)", ln->name);
	}
	return 0;
}

/* Stores the rest of the line into *dst, which must be unset: Mosquitto refuses a string option given twice
 * in one bridge. Values go on the wire or to OpenSSL, so they must be UTF-8. */
static int set_once(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, char **dst)
{
	if (!*ln->rest) return config__error(st, ln, "missing value for '%s'", ln->name);
	if (*dst) return config__error(st, ln, "option '%s' given twice in connection '%s'", ln->name, b->name);
	if (!utf8__valid((const uint8_t *)ln->rest, strlen(ln->rest)))
		return config__error(st, ln, "invalid value for '%s' (not valid UTF-8)", ln->name);
	return config__set_string(dst, ln->rest);
}

/* ---- generic kinds ---- */

static int set_bool(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	return config__get_bool(st, ln, FIELD(b, o, bool));
}

static int set_str(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	return set_once(st, ln, b, FIELD(b, o, char *));
}

/* An integer into a uint16_t or uint32_t field (by its maximum). */
static int set_uint(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	long long v = 0;
	bool ok = parse_int(ln->argv[0], &v) && v <= o->max && (v >= o->min || (o->flags & F_CLAMP));
	if (!ok) {
		return config__error(st, ln, "invalid value '%s' for '%s' (expected an integer %lld..%lld)", ln->argv[0],
		                     ln->name, o->min, o->max);
	}
	if (v < o->min) {
		rc = config__warn(st, ln, "value %lld for '%s' is too low, %lld is used (as Mosquitto does)", v, ln->name,
		                  o->min);
		v = o->min;
	}
	if (o->max <= UINT16_MAX) *FIELD(b, o, uint16_t) = (uint16_t)v;
	else *FIELD(b, o, uint32_t) = (uint32_t)v;
	return rc;
}

/* ---- the options with rules of their own ---- */

static int opt_local_cleansession(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                                  const struct bopt *o)
{
	bool v = false;
	int rc = config__get_bool(st, ln, &v);
	if (!rc) b->local_cleansession = v;
	return rc;
}

static int opt_insecure(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	int rc = config__get_bool(st, ln, &b->insecure);
	if (rc || !b->insecure) return rc;
	return config__warn(st, ln, "bridge '%s' does not check the remote certificate's host name (bridge_insecure)",
	                    b->name);
}

/* Midge's TLS client does not ask for OCSP stapling yet: `false` is what it does, `true` is refused rather than
 * silently unchecked. */
static int opt_require_ocsp(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                            const struct bopt *o)
{
	bool v = false;
	int rc = config__get_bool(st, ln, &v);
	if (rc || !v) return rc;
	return config__error(st, ln, "option 'bridge_require_ocsp' is only supported as 'bridge_require_ocsp false' "
	                             "for now (Midge's TLS client does not check OCSP responses yet)");
}

static int opt_tls_version(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                           const struct bopt *o)
{
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	int v = tls__parse_version(ln->argv[0]);
	if (!v) {
		return config__error(st, ln,
		                     "invalid value '%s' for 'bridge_tls_version' (expected tlsv1.3, tlsv1.2 or tlsv1.1)",
		                     ln->argv[0]);
	}
	if (b->tls_version) return config__error(st, ln, "option '%s' given twice in connection '%s'", ln->name, b->name);
	b->tls_version = v;
	return 0;
}

/* The key is never echoed in a message: it is a secret. */
static int opt_psk(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	unsigned char key[PSK_KEY_MAX];
	if (*ln->rest && psk__hex_key(ln->rest, strlen(ln->rest), key, sizeof(key)) < 0) {
		return config__error(st, ln, "invalid value for 'bridge_psk' (expected 1 to %d bytes in hexadecimal, "
		                             "without 0x, not zero)",
		                     PSK_KEY_MAX);
	}
	return set_once(st, ln, b, &b->psk);
}

static int opt_identity(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	if (strlen(ln->rest) > PSK_IDENTITY_MAX) {
		return config__error(st, ln, "invalid value for 'bridge_identity' (at most %d bytes)", PSK_IDENTITY_MAX);
	}
	return set_once(st, ln, b, &b->identity);
}

/* Published locally and as the will on the remote: a topic name, no wildcards. */
static int opt_notification_topic(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                                  const struct bopt *o)
{
	if (*ln->rest && !topic__valid_name((const uint8_t *)ln->rest, strlen(ln->rest))) {
		return config__error(st, ln, "invalid topic '%s' for 'notification_topic' (a topic name, no wildcards)",
		                     ln->rest);
	}
	return set_once(st, ln, b, &b->notification_topic);
}

static int opt_protocol_version(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                                const struct bopt *o)
{
	static const struct {
		const char *name;
		uint8_t v;
	} versions[] = {{"mqttv31", 3}, {"mqttv311", 4}, {"mqttv50", 5}};
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		if (!strcmp(ln->argv[0], versions[i].name)) return b->protocol_version = versions[i].v, 0;
	}
	return config__error(st, ln,
	                     "invalid value '%s' for 'bridge_protocol_version' (expected mqttv50, mqttv311 or mqttv31)",
	                     ln->argv[0]);
}

static int opt_start_type(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                          const struct bopt *o)
{
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	const char *v = ln->argv[0];
	if (!strcmp(v, "automatic")) b->start_type = BRIDGE_START_AUTOMATIC;
	else if (!strcmp(v, "lazy")) b->start_type = BRIDGE_START_LAZY;
	else if (!strcmp(v, "once")) b->start_type = BRIDGE_START_ONCE;
	else if (!strcmp(v, "manual"))
		return config__error(st, ln, "'start_type manual' is not supported (nor by Mosquitto)");
	else
		return config__error(st, ln, "invalid value '%s' for 'start_type' (expected automatic, lazy or once)", v);
	return 0;
}

/* `restart_timeout N` waits N seconds between attempts; `restart_timeout BASE CAP` backs off with
 * "decorrelated jitter" from BASE up to CAP seconds (Mosquitto's default: 5 30). */
static int opt_restart_timeout(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b,
                               const struct bopt *o)
{
	int n = value_count(ln, 0), rc = 0;
	if (n == 0) return config__error(st, ln, "missing value for 'restart_timeout'");
	if (n > 2) rc = config__warn(st, ln, "ignored extra argument '%s' for 'restart_timeout'", ln->argv[2]);
	long long v[2] = {0, 0};
	for (int i = 0; i < n && i < 2; i++) {
		if (!parse_int(ln->argv[i], &v[i]) || v[i] > INT32_MAX) {
			return config__error(st, ln, "invalid value '%s' for 'restart_timeout' (expected seconds, or a "
			                             "backoff base and cap in seconds)",
			                     ln->argv[i]);
		}
	}
	if (v[0] < 1) {
		if ((rc = config__warn(st, ln, "value %lld for 'restart_timeout' is too low, 1 is used (as Mosquitto does)",
		                       v[0])))
			return rc;
		v[0] = 1;
	}
	if (n == 1) return b->restart_timeout = (uint32_t)v[0], rc;
	if (v[1] < v[0]) {
		return config__error(st, ln, "invalid value for 'restart_timeout' (the backoff cap %lld is lower than the "
		                             "base %lld)",
		                     v[1], v[0]);
	}
	b->restart_timeout = 0;
	b->backoff_base = (uint32_t)v[0];
	b->backoff_cap = (uint32_t)v[1];
	return rc;
}

/* One `address` line per bridge, as Mosquitto: the failover list is written on it. */
static int opt_address(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	if (b->naddresses) return config__error(st, ln, "option '%s' given twice in connection '%s'", ln->name, b->name);
	int rc = config__bridge_address(st, ln, b);
	const char *tls = rc ? NULL : tls_option_set(b);
	if (tls && has_plain_ws(b))
		return config__error(st, ln, "a ws:// address cannot be used with %s (use wss:// for TLS)", tls);
	return rc;
}

static int opt_topic(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b, const struct bopt *o)
{
	return config__bridge_topic(st, ln, b);
}

/* clang-format off */
#define OFF(f) offsetof(struct bridge_conf, f)
#define BOOL(n, f) {.name = n, .kind = K_BOOL, .off = OFF(f)}
#define STR(n, f, fl) {.name = n, .kind = K_STR, .off = OFF(f), .flags = fl}
#define OLD(n, f, a) {.name = n, .kind = K_STR, .off = OFF(f), .alias = a}
#define UINT(n, f, lo, hi, fl) {.name = n, .kind = K_UINT, .off = OFF(f), .min = lo, .max = hi, .flags = fl}
#define FN(n, f, fl) {.name = n, .kind = K_FN, .fn = f, .flags = fl}
/* clang-format on */

static const struct bopt bopts[] = {
    FN("address", opt_address, 0),
    FN("addresses", opt_address, 0),
    BOOL("round_robin", round_robin),
    FN("topic", opt_topic, 0),
    FN("bridge_protocol_version", opt_protocol_version, 0),
    BOOL("cleansession", cleansession),
    FN("local_cleansession", opt_local_cleansession, 0),
    UINT("keepalive_interval", keepalive, 5, 65535, F_CLAMP),
    STR("remote_clientid", remote_clientid, 0),
    OLD("clientid", remote_clientid, "remote_clientid"),
    STR("remote_username", remote_username, 0),
    OLD("username", remote_username, "remote_username"),
    STR("remote_password", remote_password, 0),
    OLD("password", remote_password, "remote_password"),
    STR("local_clientid", local_clientid, 0),
    STR("local_username", local_username, 0),
    STR("local_password", local_password, 0),
    BOOL("try_private", try_private),
    BOOL("notifications", notifications),
    BOOL("notifications_local_only", notifications_local_only),
    FN("notification_topic", opt_notification_topic, 0),
    FN("restart_timeout", opt_restart_timeout, 0),
    FN("start_type", opt_start_type, 0),
    UINT("idle_timeout", idle_timeout, 1, INT32_MAX, F_CLAMP),
    UINT("threshold", threshold, 1, INT32_MAX, F_CLAMP),
    UINT("bridge_max_packet_size", max_packet_size, 0, MAX_PACKET, 0),
    BOOL("bridge_outgoing_retain", outgoing_retain),
    BOOL("bridge_attempt_unsubscribe", attempt_unsubscribe),
    STR("bridge_bind_address", bind_address, 0),
    STR("bridge_cafile", cafile, F_TLS | F_CERT),
    STR("bridge_capath", capath, F_TLS | F_CERT),
    STR("bridge_certfile", certfile, F_TLS | F_CERT),
    STR("bridge_keyfile", keyfile, F_TLS | F_CERT),
    FN("bridge_insecure", opt_insecure, 0),      /* `false` is harmless anywhere; `true` is in tls_option_set */
    FN("bridge_require_ocsp", opt_require_ocsp, 0),
    FN("bridge_tls_version", opt_tls_version, F_TLS),
    STR("bridge_alpn", alpn, F_TLS),
    STR("bridge_ciphers", ciphers, F_TLS),
    STR("bridge_ciphers_tls1.3", ciphers_tls13, F_TLS),
    FN("bridge_identity", opt_identity, F_TLS | F_PSK),
    FN("bridge_psk", opt_psk, F_TLS | F_PSK),
};

/* ---- sections ---- */

/* A new bridge with Mosquitto's defaults. */
static void bridge_defaults(struct bridge_conf *b)
{
	memset(b, 0, sizeof(*b));
	b->protocol_version = 4;
	b->local_cleansession = -1;
	b->keepalive = 60;
	b->try_private = true;
	b->notifications = true;
	b->backoff_base = 5;
	b->backoff_cap = 30;
	b->start_type = BRIDGE_START_AUTOMATIC;
	b->idle_timeout = 60;
	b->threshold = 10;
	b->outgoing_retain = true;
	b->attempt_unsubscribe = true;
}

/* `connection NAME`: starts a bridge; its options follow. */
static int opt_connection(struct cfg_state *st, const struct cfg_line *ln)
{
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	const char *name = ln->argv[0];
	if (!utf8__valid((const uint8_t *)name, strlen(name)))
		return config__error(st, ln, "invalid value for 'connection' (not valid UTF-8)");
	struct config *c = st->c;
	for (size_t i = 0; i < c->nbridges; i++) {
		if (!strcmp(c->bridges[i].name, name)) {
			return config__error(st, ln, "duplicate connection name '%s' (first at %s:%d)", name,
			                     c->bridges[i].file, c->bridges[i].line);
		}
	}
	struct bridge_conf *v = realloc(c->bridges, (c->nbridges + 1) * sizeof(*v));
	if (!v) return MIDGE_ERR_NOMEM;
	c->bridges = v;
	struct bridge_conf *b = &v[c->nbridges];
	bridge_defaults(b);
	if (!(b->name = strdup(name))) return MIDGE_ERR_NOMEM;
	b->file = ln->file;
	b->line = ln->line;
	st->cur_bridge = (int)c->nbridges++;
	return rc;
}

int config__opt_bridge(struct cfg_state *st, const struct cfg_line *ln, const struct option *unused)
{
	(void)unused;
	if (!strcmp(ln->name, "connection")) return opt_connection(st, ln);
	const struct bopt *o = NULL;
	for (size_t i = 0; i < sizeof(bopts) / sizeof(bopts[0]) && !o; i++) {
		if (!strcmp(ln->name, bopts[i].name)) o = &bopts[i];
	}
	if (!o) return config__error(st, ln, "unknown option '%s'", ln->name);
	if (st->cur_bridge < 0) {
		return config__error(st, ln, "option '%s' is a bridge option: it must follow a 'connection' line in the "
		                             "same file",
		                     ln->name);
	}
	struct bridge_conf *b = current(st);
	int rc = tls_conflict(st, ln, b, o->flags);
	if (rc) return rc;
	switch (o->kind) {
	case K_BOOL: rc = set_bool(st, ln, b, o); break;
	case K_STR: rc = set_str(st, ln, b, o); break;
	case K_UINT: rc = set_uint(st, ln, b, o); break;
	case K_FN: rc = o->fn(st, ln, b, o); break;
	}
	if (!rc && o->alias) rc = config__warn(st, ln, "option '%s' is deprecated, use '%s'", ln->name, o->alias);
	return rc;
}

/* ---- client ids ---- */

const char *config__bridge_remote_clientid(const struct bridge_conf *b, char *buf, size_t len)
{
	if (b->remote_clientid) return b->remote_clientid;
	char host[256];
	if (gethostname(host, sizeof(host))) strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "%s.%s", host, b->name);
	return buf;
}

const char *config__bridge_local_clientid(const struct bridge_conf *b, char *buf, size_t len)
{
	if (b->local_clientid) return b->local_clientid;
	char remote[512];
	snprintf(buf, len, "local.%s", config__bridge_remote_clientid(b, remote, sizeof(remote)));
	return buf;
}

bool config__bridge_tls(const struct bridge_conf *b, const struct bridge_address *a)
{
	if (a->transport == BRIDGE_WSS) return true;
	return a->transport == BRIDGE_TCP && (b->cafile || b->capath || b->psk);
}

/* ---- whole-section checks ---- */

/* What is wrong with b on its own, or NULL. */
static const char *bridge_problem(const struct bridge_conf *b)
{
	if (!b->naddresses) return "no address given (address host[:port])";
	if (!b->ntopics) return "no topic given (topic PATTERN [in|out|both] [QOS] [LOCAL-PREFIX] [REMOTE-PREFIX])";
	if (b->psk && !b->identity) return "bridge_psk needs bridge_identity";
	if (b->identity && !b->psk) return "bridge_identity needs bridge_psk";
	if (b->certfile && !b->keyfile) return "bridge_certfile needs bridge_keyfile";
	if (b->keyfile && !b->certfile) return "bridge_keyfile needs bridge_certfile";
	if (b->remote_password && !b->remote_username && b->protocol_version < 5)
		return "remote_password needs remote_username before MQTT 5 (bridge_protocol_version mqttv50)";
	bool tls = false;
	for (size_t i = 0; i < b->naddresses; i++) tls = tls || config__bridge_tls(b, &b->addresses[i]);
	if (!tls && tls_option_set(b)) {
		/* Mosquitto would connect without TLS and ignore them: say so rather than send credentials in clear. */
		return "TLS options are set but TLS is not used: give bridge_cafile or bridge_capath (e.g. "
		       "bridge_capath /etc/ssl/certs), as Mosquitto uses TLS only with one of them";
	}
	return NULL;
}

int config__validate_bridges(const struct config *c, char *err, size_t errlen)
{
	char id[768], other[768];
	for (size_t i = 0; i < c->nbridges; i++) {
		const struct bridge_conf *b = &c->bridges[i];
		const char *p = bridge_problem(b);
		if (p) {
			snprintf(err, errlen, "%s:%d: connection '%s': %s", b->file, b->line, b->name, p);
			return MIDGE_ERR_INVAL;
		}
		/* Each bridge is a client of this broker: two with one id would take over each other's session. */
		const char *mine = config__bridge_local_clientid(b, id, sizeof(id));
		for (size_t k = 0; k < i; k++) {
			if (strcmp(mine, config__bridge_local_clientid(&c->bridges[k], other, sizeof(other)))) continue;
			snprintf(err, errlen,
			         "%s:%d: connection '%s': local client id '%s' is also that of connection '%s' (set "
			         "local_clientid on one of them)",
			         b->file, b->line, b->name, mine, c->bridges[k].name);
			return MIDGE_ERR_INVAL;
		}
	}
	return 0;
}

/* ---- freeing ---- */

void config__free_bridges(struct config *c)
{
	for (size_t i = 0; i < c->nbridges; i++) {
		struct bridge_conf *b = &c->bridges[i];
		for (size_t k = 0; k < b->naddresses; k++) {
			free(b->addresses[k].host);
			free(b->addresses[k].path);
		}
		free(b->addresses);
		for (size_t k = 0; k < b->ntopics; k++) {
			struct bridge_topic *t = &b->topics[k];
			free(t->pattern);
			free(t->local_prefix);
			free(t->remote_prefix);
			free(t->local_topic);
			free(t->remote_topic);
		}
		free(b->topics);
		char *s[] = {b->name,         b->remote_clientid, b->remote_username,    b->remote_password,
		             b->local_clientid, b->local_username, b->local_password,   b->notification_topic,
		             b->bind_address, b->cafile,           b->capath,             b->certfile,
		             b->keyfile,      b->alpn,             b->ciphers,            b->ciphers_tls13,
		             b->identity,     b->psk};
		for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++) free(s[k]);
	}
	free(c->bridges);
	c->bridges = NULL;
	c->nbridges = 0;
}
