/* The configuration options: one table naming every Mosquitto 2 option (supported, accepted
 * because Midge already behaves that way, or refused as not supported yet) plus Midge's own. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/topic.h"
#include "common/utf8.h"
#include "config.h"
#include "config_options.h"
#include "midge/midge.h"

struct option;
typedef int (*option_fn)(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);

/* One option. The generic setters use off/min/max; refused options use why and accept. */
struct option {
	const char *name;
	option_fn fn;
	size_t off;         /* field in struct config */
	long long min, max; /* inclusive range of integer values */
	const char *why;    /* refused: what is missing, shown in parentheses */
	const char *accept; /* refused: the one value still accepted, because Midge already does it */
};

#define WHY_DH "OpenSSL's built-in groups are used"
#define WHY_ENGINE "OpenSSL engines are not used"
#define WHY_KEYFORM "keys are read as PEM"
#define WHY_DATES "client certificates are always checked for dates"
#define WHY_AUTH "Midge has no plugin interface yet; password_file and acl_file are supported"
#define WHY_BRIDGE "a Mosquitto 2.1 bridge option; those of Mosquitto 2.0 are supported"
#define WHY_LATER "it arrives in a later release"

/* ---- value helpers ---- */

/* Checks the number of values: at least min, at most max. */
static int want(struct cfg_state *st, const struct cfg_line *ln, int min, int max)
{
	if (ln->argc < min) return config__error(st, ln, "missing value for '%s'", ln->name);
	/* Mosquitto ignores what follows the values, so a file it accepts loads here too: a trailing
	 * comment silently, anything else with a warning. */
	if (ln->argc > max && ln->argv[max][0] != '#')
		return config__warn(st, ln, "ignored extra argument '%s' for '%s'", ln->argv[max], ln->name);
	return 0;
}

/* Parses a decimal integer (optional leading '-') in [min, max]. Returns false when it is not. */
static bool parse_ll(const char *s, long long min, long long max, long long *out)
{
	bool neg = *s == '-';
	if (neg) s++;
	if (!*s) return false;
	unsigned long long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9') return false;
		if (v > (ULLONG_MAX - 9) / 10) return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > (unsigned long long)LLONG_MAX) return false;
	long long r = neg ? -(long long)v : (long long)v;
	if (r < min || r > max) return false;
	*out = r;
	return true;
}

/* The single integer value of ln in [min, max]; expect says what was wanted, for the message. */
static int get_int(struct cfg_state *st, const struct cfg_line *ln, long long min, long long max, const char *expect,
                   long long *out)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	if (parse_ll(ln->argv[0], min, max, out)) return 0;
	if (expect) return config__error(st, ln, "invalid value '%s' for '%s' (%s)", ln->argv[0], ln->name, expect);
	return config__error(st, ln, "invalid value '%s' for '%s' (expected an integer %lld..%lld)", ln->argv[0],
	                     ln->name, min, max);
}

/* Mosquitto takes 0 and 1 as well as the words. Returns false when s is neither. */
static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1")) return *out = true, true;
	if (!strcmp(s, "false") || !strcmp(s, "0")) return *out = false, true;
	return false;
}

static int get_bool(struct cfg_state *st, const struct cfg_line *ln, bool *out)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	if (parse_bool(ln->argv[0], out)) return 0;
	return config__error(st, ln, "invalid value '%s' for '%s' (expected true or false)", ln->argv[0], ln->name);
}

/* Replaces *dst with a copy of s. */
static int set_string(char **dst, const char *s)
{
	char *p = strdup(s);
	if (!p) return MIDGE_ERR_NOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

/* The whole rest of the line (may contain blanks), which must not be empty. */
static int get_rest(struct cfg_state *st, const struct cfg_line *ln, char **dst)
{
	if (!*ln->rest) return config__error(st, ln, "missing value for '%s'", ln->name);
	return set_string(dst, ln->rest);
}

int config__want(struct cfg_state *st, const struct cfg_line *ln, int min, int max) { return want(st, ln, min, max); }
int config__get_bool(struct cfg_state *st, const struct cfg_line *ln, bool *out) { return get_bool(st, ln, out); }
int config__set_string(char **dst, const char *s) { return set_string(dst, s); }
int config__get_rest(struct cfg_state *st, const struct cfg_line *ln, char **dst) { return get_rest(st, ln, dst); }

#define FIELD(st, o, type) ((type *)((char *)(st)->c + (o)->off))

/* ---- generic setters ---- */

static int set_bool(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	return get_bool(st, ln, FIELD(st, o, bool));
}

static int set_int(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, o->min, o->max, NULL, &v);
	if (!rc) *FIELD(st, o, int) = (int)v;
	return rc;
}

static int set_u8(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, o->min, o->max, NULL, &v);
	if (!rc) *FIELD(st, o, uint8_t) = (uint8_t)v;
	return rc;
}

static int set_u16(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, o->min, o->max, NULL, &v);
	if (!rc) *FIELD(st, o, uint16_t) = (uint16_t)v;
	return rc;
}

static int set_u32(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, o->min, o->max, NULL, &v);
	if (!rc) *FIELD(st, o, uint32_t) = (uint32_t)v;
	return rc;
}

static int set_u64(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, o->min, o->max, NULL, &v);
	if (!rc) *FIELD(st, o, uint64_t) = (uint64_t)v;
	return rc;
}

/* A string that is one word (an address, an interface, a user name). */
static int set_word(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	return rc ? rc : set_string(FIELD(st, o, char *), ln->argv[0]);
}

/* A string that is the rest of the line (a path or format that may contain blanks). */
static int set_rest(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	return get_rest(st, ln, FIELD(st, o, char *));
}

/* `cluster_nats_url URL [URL...]`: NATS servers, nats:// or tls://, kept comma-separated (cnats's form). Given
 * again, the URLs add up. */
static int set_nats_urls(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 64);
	if (rc) return rc;
	char **field = FIELD(st, o, char *);
	for (int i = 0; i < ln->argc; i++) {
		const char *u = ln->argv[i];
		if (u[0] == '#') break; /* a trailing comment */
		if ((strncmp(u, "nats://", 7) != 0 || !u[7]) && (strncmp(u, "tls://", 6) != 0 || !u[6])) {
			/* What comes before an '@' may be a password: not in the message. */
			const char *at = strrchr(u, '@'), *sep = strstr(u, "://");
			int keep = at ? (sep && sep < at ? (int)(sep + 3 - u) : 0) : (int)strlen(u);
			return config__error(st, ln, "invalid NATS URL '%.*s%s%s' for '%s' (expected nats://HOST:PORT or "
					     "tls://HOST:PORT)", keep, u, at ? "***" : "", at ? at : "", ln->name);
		}
		size_t have = *field ? strlen(*field) : 0, n = strlen(u);
		char *v = realloc(*field, have + n + 2);
		if (!v) return MIDGE_ERR_NOMEM;
		if (have) v[have++] = ',';
		memcpy(v + have, u, n + 1);
		*field = v;
	}
	return 0;
}

/* Recognised, not supported yet, unless it is given the one value Midge already behaves as. */
static int refuse(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	if (o->accept && ln->argc == 1) {
		bool a, b;
		if (!strcmp(ln->argv[0], o->accept)) return 0;
		if (parse_bool(ln->argv[0], &a) && parse_bool(o->accept, &b) && a == b) return 0;
	}
	if (o->accept) {
		return config__error(st, ln, "option '%s' is only supported as '%s %s' for now (%s)", ln->name,
		                     ln->name, o->accept, o->why);
	}
	return config__error(st, ln, "option '%s' is not supported yet (%s)", ln->name, o->why);
}

/* Mosquitto accepts it and no longer acts on it; so does Midge, with a note. */
static int obsolete(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	return rc ? rc : config__warn(st, ln, "option '%s' is obsolete and ignored", ln->name);
}

/* ---- listeners ---- */

/* Appends a listener with Mosquitto's defaults; returns its index or -1 when out of memory. */
static int add_listener(struct cfg_state *st, const struct cfg_line *ln, uint16_t port, bool is_default)
{
	struct config *c = st->c;
	struct listener_conf *l = realloc(c->listeners, (c->nlisteners + 1) * sizeof(*l));
	if (!l) return -1;
	c->listeners = l;
	l += c->nlisteners;
	memset(l, 0, sizeof(*l));
	l->port = port;
	l->socket_domain = AF_UNSPEC;
	l->max_connections = -1;
	l->file = ln->file;
	l->line = ln->line;
	l->is_default = is_default;
	l->allow_zero_length_clientid = true;
	l->allow_anonymous = -1;
	l->mqttsn_gateway_id = 1;
	l->mqttsn_retry_interval = 10;
	l->mqttsn_retries = 5;
	return (int)c->nlisteners++;
}

/* The default listener (port 1883 unless `port` says otherwise); made when create is set. */
static int default_listener(struct cfg_state *st, const struct cfg_line *ln, bool create, struct listener_conf **out)
{
	struct config *c = st->c;
	*out = NULL;
	for (size_t i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].is_default) return *out = &c->listeners[i], 0;
	}
	if (!create) return 0;
	int i = add_listener(st, ln, 1883, true);
	if (i < 0) return MIDGE_ERR_NOMEM;
	*out = &c->listeners[i];
	return 0;
}

/* The listener that listener options on this line apply to: the latest `listener` of this file,
 * or else the default listener, made only when create is set (a value other than its default). */
static int cur_listener(struct cfg_state *st, const struct cfg_line *ln, bool create, struct listener_conf **out)
{
	if (st->cur_listener >= 0) return *out = &st->c->listeners[st->cur_listener], 0;
	return default_listener(st, ln, create, out);
}

int config__cur_listener(struct cfg_state *st, const struct cfg_line *ln, bool create, struct listener_conf **out)
{
	return cur_listener(st, ln, create, out);
}

static int opt_listener(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 2);
	if (rc) return rc;
	long long port = 0;
	if (!parse_ll(ln->argv[0], 0, 65535, &port)) {
		return config__error(st, ln, "invalid value '%s' for 'listener' (expected a port 1..65535)",
		                     ln->argv[0]);
	}
	if (port == 0) {
		if (ln->argc == 2) {
			return config__error(
			    st, ln, "option 'listener' with a Unix socket path is not supported yet (%s)", WHY_LATER);
		}
		return config__error(st, ln, "invalid value '0' for 'listener' (expected a port 1..65535)");
	}
	int i = add_listener(st, ln, (uint16_t)port, false);
	if (i < 0) return MIDGE_ERR_NOMEM;
	if (ln->argc == 2 && set_string(&st->c->listeners[i].bind_address, ln->argv[1])) return MIDGE_ERR_NOMEM;
	st->cur_listener = i;
	return 0;
}

static int opt_port(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long port = 0;
	int rc = get_int(st, ln, 1, 65535, "expected a port 1..65535", &port);
	struct listener_conf *l;
	if (rc || (rc = default_listener(st, ln, true, &l))) return rc;
	l->port = (uint16_t)port;
	return config__warn(st, ln, "option 'port' is deprecated, use 'listener %lld' instead", port);
}

static int opt_bind_address(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	struct listener_conf *l;
	int rc = want(st, ln, 1, 1);
	if (rc || (rc = default_listener(st, ln, true, &l))) return rc;
	if (set_string(&l->bind_address, ln->argv[0])) return MIDGE_ERR_NOMEM;
	return config__warn(st, ln, "option 'bind_address' is deprecated, use 'listener PORT %s' instead", ln->argv[0]);
}

static int opt_bind_interface(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	struct listener_conf *l;
	int rc = want(st, ln, 1, 1);
	if (rc || (rc = cur_listener(st, ln, true, &l))) return rc;
	return set_string(&l->bind_interface, ln->argv[0]);
}

static int opt_socket_domain(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	int dom;
	if (!strcmp(ln->argv[0], "ipv4")) {
		dom = AF_INET;
	} else if (!strcmp(ln->argv[0], "ipv6")) {
		dom = AF_INET6;
	} else {
		return config__error(st, ln, "invalid value '%s' for 'socket_domain' (expected ipv4 or ipv6)",
		                     ln->argv[0]);
	}
	struct listener_conf *l;
	if ((rc = cur_listener(st, ln, true, &l))) return rc;
	l->socket_domain = dom;
	return 0;
}

static int opt_max_connections(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, -1, INT_MAX, "expected -1 for no limit or an integer 0..2147483647", &v);
	struct listener_conf *l;
	if (rc || (rc = cur_listener(st, ln, v != -1, &l))) return rc;
	if (l) l->max_connections = (int)v;
	return 0;
}

/* A value Midge sends to clients as an MQTT UTF-8 string must be one [MQTT-1.5.4-1, -2]. */
static int check_utf8(struct cfg_state *st, const struct cfg_line *ln, const char *v)
{
	if (utf8__valid((const uint8_t *)v, strlen(v))) return 0;
	return config__error(st, ln, "invalid value for '%s' (not valid UTF-8 for MQTT)", ln->name);
}

static int opt_server_reference(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	struct listener_conf *l;
	if (rc || (rc = check_utf8(st, ln, ln->argv[0])) || (rc = cur_listener(st, ln, true, &l))) return rc;
	return set_string(&l->server_reference, ln->argv[0]);
}

/* Mosquitto saves its in-memory state every autosave_interval seconds (or changes); Midge writes every change
 * as it happens (persistence_sync), so both are accepted and have nothing to do. */
static int opt_autosave(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v;
	bool b;
	if (!strcmp(ln->name, "autosave_on_changes")) return get_bool(st, ln, &b);
	return get_int(st, ln, 0, INT32_MAX, NULL, &v);
}

/* One word out of two: sets *out to true for `yes`, false for `no`. */
static int get_choice(struct cfg_state *st, const struct cfg_line *ln, const char *no, const char *yes, bool *out)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	if (!strcmp(ln->argv[0], no) || !strcmp(ln->argv[0], yes)) {
		*out = !strcmp(ln->argv[0], yes);
		return 0;
	}
	return config__error(st, ln, "invalid value '%s' for '%s' (expected %s or %s)", ln->argv[0], ln->name, no, yes);
}

static int opt_persistence_sync(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	return get_choice(st, ln, "durable", "group", &st->c->persistence_group);
}

static int opt_persistence_corrupt(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	return get_choice(st, ln, "refuse", "move_aside", &st->c->persistence_move_corrupt);
}

static int opt_response_information(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = check_utf8(st, ln, ln->rest);
	return rc ? rc : get_rest(st, ln, &st->c->response_information);
}

/* ---- protocol ---- */

static int opt_protocol(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	if (!strcmp(ln->argv[0], "mqtt")) return 0; /* every listener speaks MQTT */
	if (!strcmp(ln->argv[0], "websockets")) {
		struct listener_conf *l;
		if ((rc = cur_listener(st, ln, true, &l))) return rc;
		l->websockets = true;
		return 0;
	}
	if (!strcmp(ln->argv[0], "mqttsn")) {
		struct listener_conf *l;
		if ((rc = cur_listener(st, ln, true, &l))) return rc;
		l->mqttsn = true;
		return 0;
	}
	if (!strcmp(ln->argv[0], "quic")) {
		return config__error(st, ln, "option 'protocol quic' is not supported yet (%s)", WHY_LATER);
	}
	return config__error(st, ln, "invalid value '%s' for 'protocol' (expected mqtt, websockets or mqttsn)", ln->argv[0]);
}

/* ---- security (global, or per listener with per_listener_settings) ---- */

static int opt_allow_zero_length_clientid(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	bool v = false;
	int rc = get_bool(st, ln, &v);
	if (rc) return rc;
	st->security_set = true;
	if (!st->c->per_listener_settings) {
		st->c->allow_zero_length_clientid = v;
		return 0;
	}
	struct listener_conf *l;
	if ((rc = cur_listener(st, ln, !v, &l))) return rc;
	if (l) l->allow_zero_length_clientid = v;
	return 0;
}

/* The listener a per-listener security option applies to, or NULL for the global settings. */
static int security_target(struct cfg_state *st, const struct cfg_line *ln, struct listener_conf **out)
{
	st->security_set = true;
	*out = NULL;
	if (!st->c->per_listener_settings) return 0;
	return cur_listener(st, ln, true, out);
}

static int opt_allow_anonymous(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	bool v = false;
	struct listener_conf *l;
	int rc = get_bool(st, ln, &v);
	if (rc || (rc = security_target(st, ln, &l))) return rc;
	*(l ? &l->allow_anonymous : &st->c->allow_anonymous) = v;
	return 0;
}

/* password_file / acl_file: a path, the rest of the line. */
static int opt_security_file(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	struct listener_conf *l;
	int rc = security_target(st, ln, &l);
	if (rc) return rc;
	bool pw = !strcmp(o->name, "password_file");
	char **dst = l ? (pw ? &l->password_file : &l->acl_file) : (pw ? &st->c->password_file : &st->c->acl_file);
	return get_rest(st, ln, dst);
}

static int opt_per_listener_settings(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	bool v = false;
	int rc = get_bool(st, ln, &v);
	if (rc || st->c->per_listener_settings) return rc; /* once set it stays set, as in Mosquitto */
	if (v && st->security_set) {
		return config__error(st, ln, "option 'per_listener_settings' must come before any security option");
	}
	st->c->per_listener_settings = v;
	return 0;
}

/* ---- the encryption guard (Midge's own) ---- */

static int opt_encrypted_topic(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	const char *f = ln->argv[0];
	if (!topic__valid_filter((const uint8_t *)f, strlen(f)) || !strncmp(f, "$share/", 7))
		return config__error(st, ln, "invalid topic filter '%s' for 'encrypted_topic'", f);
	struct config *c = st->c;
	char **v = realloc(c->encrypted_topics, (c->nencrypted_topics + 1) * sizeof(*v));
	if (!v) return MIDGE_ERR_NOMEM;
	c->encrypted_topics = v;
	if (!(v[c->nencrypted_topics] = strdup(f))) return MIDGE_ERR_NOMEM;
	c->nencrypted_topics++;
	return 0;
}

static int opt_encrypted_only(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	bool v = false;
	struct listener_conf *l;
	int rc = get_bool(st, ln, &v);
	if (rc || (rc = cur_listener(st, ln, v, &l))) return rc;
	if (l) l->encrypted_only = v;
	return 0;
}

/* ---- the rest ---- */

static int opt_max_inflight_messages(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, 0, 65535, NULL, &v);
	/* 65535 is the MQTT maximum, which Mosquitto stores as 0: no limit. */
	if (!rc) st->c->max_inflight_messages = v == 65535 ? 0 : (uint32_t)v;
	return rc;
}

static int opt_max_packet_size(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	long long v = 0;
	int rc = get_int(st, ln, 0, 268435460, "expected 0 for no limit or an integer 20..268435460", &v);
	if (rc) return rc;
	if (v > 0 && v < 20) {
		return config__error(st, ln,
		                     "invalid value '%s' for 'max_packet_size' (expected 0 for no limit or an "
		                     "integer 20..268435460)",
		                     ln->argv[0]);
	}
	st->c->max_packet_size = (uint32_t)v;
	return 0;
}

static int opt_persistent_client_expiration(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	int rc = want(st, ln, 1, 1);
	if (rc) return rc;
	const char *s = ln->argv[0];
	size_t n = strlen(s);
	int64_t mult = 0;
	switch (s[n - 1]) {
	case 's': /* Midge's own: seconds, for short expiries (and tests) */
		mult = 1;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 86400 * 7;
		break;
	case 'm':
		mult = 86400 * 30;
		break;
	case 'y':
		mult = 86400 * 365;
		break;
	}
	char num[24];
	long long v = 0;
	bool ok = mult && n > 1 && n - 1 < sizeof(num);
	if (ok) {
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		ok = parse_ll(num, 1, INT64_MAX / mult, &v);
	}
	if (!ok) {
		return config__error(
		    st, ln,
		    "invalid value '%s' for 'persistent_client_expiration' (expected a positive number "
		    "followed by s, h, d, w, m or y, e.g. 2d)",
		    s);
	}
	st->c->persistent_client_expiration = v * mult;
	return 0;
}

static int opt_include_dir(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	if (!*ln->rest) return config__error(st, ln, "missing value for 'include_dir'");
	return config__include_dir(st, ln, ln->rest);
}

/* Accepted in either sense; Midge always sets TCP_NODELAY. */
static int opt_set_tcp_nodelay(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	bool v = false;
	int rc = get_bool(st, ln, &v);
	if (rc || v) return rc;
	return config__warn(st, ln, "'set_tcp_nodelay false' is ignored: Midge always sets TCP_NODELAY");
}

/* Deprecated in Mosquitto 2, which behaves as true; so does Midge. */
static int opt_allow_duplicate_messages(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	bool v = false;
	int rc = get_bool(st, ln, &v);
	if (rc) return rc;
	return config__warn(st, ln, "option 'allow_duplicate_messages' is deprecated%s",
	                    v ? "" : "; 'false' is ignored, duplicates are allowed");
}

/* clang-format off */
#define OFF(f) offsetof(struct config, f)
#define INT(n, set, f, lo, hi) {.name = n, .fn = set, .off = OFF(f), .min = lo, .max = hi}
#define BOOL(n, f) {.name = n, .fn = set_bool, .off = OFF(f)}
#define STR(n, set, f) {.name = n, .fn = set, .off = OFF(f)}
#define FN(n, f) {.name = n, .fn = f}
#define NO(n, w) {.name = n, .fn = refuse, .why = w}
#define NO_BUT(n, w, a) {.name = n, .fn = refuse, .why = w, .accept = a}
/* clang-format on */

static const struct option options[] = {
    /* listeners */
    FN("listener", opt_listener),
    FN("port", opt_port),
    FN("bind_address", opt_bind_address),
    FN("bind_interface", opt_bind_interface),
    FN("socket_domain", opt_socket_domain),
    FN("max_connections", opt_max_connections),
    FN("protocol", opt_protocol),
    FN("server_reference", opt_server_reference),
    /* general */
    FN("allow_zero_length_clientid", opt_allow_zero_length_clientid),
    INT("max_keepalive", set_u16, max_keepalive, 0, 65535),
    INT("max_qos", set_u8, max_qos, 0, 2),
    INT("max_topic_alias", set_u16, max_topic_alias, 0, 65535),
    INT("max_topic_alias_broker", set_u16, max_topic_alias_broker, 0, 65535),
    FN("max_packet_size", opt_max_packet_size),
    INT("message_size_limit", set_u32, message_size_limit, 0, 268435455),
    FN("max_inflight_messages", opt_max_inflight_messages),
    INT("max_queued_messages", set_u32, max_queued_messages, 0, INT32_MAX),
    INT("max_queued_bytes", set_u64, max_queued_bytes, 0, INT64_MAX),
    BOOL("queue_qos0_messages", queue_qos0_messages),
    BOOL("retain_available", retain_available),
    INT("sys_interval", set_u32, sys_interval, 0, 65535),
    FN("persistent_client_expiration", opt_persistent_client_expiration),
    BOOL("upgrade_outgoing_qos", upgrade_outgoing_qos),
    FN("log_dest", config__opt_log),
    FN("log_type", config__opt_log),
    BOOL("log_timestamp", log_timestamp),
    STR("log_timestamp_format", set_rest, log_timestamp_format),
    BOOL("connection_messages", connection_messages),
    FN("include_dir", opt_include_dir),
    STR("pid_file", set_rest, pid_file),
    STR("user", set_word, user),
    FN("per_listener_settings", opt_per_listener_settings),
    FN("set_tcp_nodelay", opt_set_tcp_nodelay),
    FN("allow_duplicate_messages", opt_allow_duplicate_messages),
    FN("retry_interval", obsolete),
    /* Midge's own */
    INT("threads", set_int, threads, 0, 1024),
    INT("listen_backlog", set_int, listen_backlog, 1, 65535),
    INT("connect_timeout", set_u32, connect_timeout, 1, 65535),
    INT("max_output_bytes", set_u64, max_output_bytes, 1024, INT64_MAX),
    FN("response_information", opt_response_information),
    FN("encrypted_topic", opt_encrypted_topic),
    FN("encrypted_only", opt_encrypted_only),
    /* TLS */
    FN("cafile", config__opt_tls),
    FN("capath", config__opt_tls),
    FN("certfile", config__opt_tls),
    FN("keyfile", config__opt_tls),
    FN("tls_version", config__opt_tls),
    FN("require_certificate", config__opt_tls),
    FN("use_identity_as_username", config__opt_tls),
    FN("use_subject_as_username", config__opt_tls),
    FN("crlfile", config__opt_tls),
    FN("ciphers", config__opt_tls),
    FN("ciphers_tls1.3", config__opt_tls),
    FN("psk_hint", config__opt_tls),
    FN("psk_file", config__opt_tls),
    /* the MQTT-SN gateway (protocol mqttsn) */
    FN("mqttsn_gateway_id", config__opt_mqttsn),
    FN("mqttsn_advertise_interval", config__opt_mqttsn),
    FN("mqttsn_advertise_address", config__opt_mqttsn),
    FN("mqttsn_predefined_file", config__opt_mqttsn),
    FN("mqttsn_username", config__opt_mqttsn),
    FN("mqttsn_retry_interval", config__opt_mqttsn),
    FN("mqttsn_retries", config__opt_mqttsn),
    NO("dhparamfile", WHY_DH),
    NO("tls_engine", WHY_ENGINE),
    NO("tls_engine_kpass_sha1", WHY_ENGINE),
    NO_BUT("tls_keyform", WHY_KEYFORM, "pem"),
    NO_BUT("disable_client_cert_date_checks", WHY_DATES, "false"),
    /* authentication and access control */
    FN("allow_anonymous", opt_allow_anonymous),
    FN("password_file", opt_security_file),
    FN("acl_file", opt_security_file),
    NO("plugin", WHY_AUTH),
    NO("auth_plugin", WHY_AUTH),
    NO("global_plugin", WHY_AUTH),
    NO("auth_plugin_deny_special_chars", WHY_AUTH),
    /* WebSockets */
    FN("http_dir", config__opt_websockets),
    FN("websockets_log_level", config__opt_websockets),
    INT("websockets_headers_size", set_u64, websockets_headers_size, 0, 65536),
    FN("websockets_origin", config__opt_websockets),
    INT("websockets_ping_interval", set_u32, websockets_ping_interval, 0, 65535),
    /* the HTTP API (docs/http-api.md) */
    STR("http_api_key", set_rest, http_api_key),
    STR("cluster_nats_url", set_nats_urls, cluster_nats_url),
    STR("cluster_node_name", set_word, cluster_node_name),
    FN("cluster_nats_user", config__opt_cluster),
    FN("cluster_nats_password", config__opt_cluster),
    FN("cluster_nats_token", config__opt_cluster),
    FN("cluster_nats_creds", config__opt_cluster),
    FN("cluster_nats_cafile", config__opt_cluster),
    FN("cluster_nats_certfile", config__opt_cluster),
    FN("cluster_nats_keyfile", config__opt_cluster),
    INT("cluster_node_timeout", set_u32, cluster_node_timeout, 1, 3600),
    /* persistence */
    BOOL("persistence", persistence),
    BOOL("retained_persistence", retained_persistence),
    STR("persistence_file", set_rest, persistence_file),
    STR("persistence_location", set_rest, persistence_location),
    FN("autosave_interval", opt_autosave),
    FN("autosave_on_changes", opt_autosave),
    FN("persistence_sync", opt_persistence_sync),
    INT("persistence_group_interval", set_u32, persistence_group_ms, 1, 10000),
    INT("persistence_max_size", set_u64, persistence_max_size, 0, INT64_MAX),
    FN("persistence_corrupt", opt_persistence_corrupt),
    /* bridges (config_bridge.c) */
    FN("connection", config__opt_bridge),
    FN("address", config__opt_bridge),
    FN("addresses", config__opt_bridge),
    FN("topic", config__opt_bridge),
    FN("bridge_attempt_unsubscribe", config__opt_bridge),
    FN("bridge_alpn", config__opt_bridge),
    FN("bridge_bind_address", config__opt_bridge),
    FN("bridge_cafile", config__opt_bridge),
    FN("bridge_capath", config__opt_bridge),
    FN("bridge_certfile", config__opt_bridge),
    FN("bridge_ciphers", config__opt_bridge),
    FN("bridge_ciphers_tls1.3", config__opt_bridge),
    FN("bridge_identity", config__opt_bridge),
    FN("bridge_insecure", config__opt_bridge),
    FN("bridge_keyfile", config__opt_bridge),
    FN("bridge_max_packet_size", config__opt_bridge),
    FN("bridge_outgoing_retain", config__opt_bridge),
    FN("bridge_protocol_version", config__opt_bridge),
    FN("bridge_psk", config__opt_bridge),
    FN("bridge_require_ocsp", config__opt_bridge),
    FN("bridge_tls_version", config__opt_bridge),
    FN("cleansession", config__opt_bridge),
    FN("local_cleansession", config__opt_bridge),
    FN("clientid", config__opt_bridge),
    FN("remote_clientid", config__opt_bridge),
    FN("local_clientid", config__opt_bridge),
    FN("username", config__opt_bridge),
    FN("remote_username", config__opt_bridge),
    FN("local_username", config__opt_bridge),
    FN("password", config__opt_bridge),
    FN("remote_password", config__opt_bridge),
    FN("local_password", config__opt_bridge),
    FN("idle_timeout", config__opt_bridge),
    FN("keepalive_interval", config__opt_bridge),
    FN("notifications", config__opt_bridge),
    FN("notifications_local_only", config__opt_bridge),
    FN("notification_topic", config__opt_bridge),
    FN("restart_timeout", config__opt_bridge),
    FN("round_robin", config__opt_bridge),
    FN("start_type", config__opt_bridge),
    FN("threshold", config__opt_bridge),
    FN("try_private", config__opt_bridge),
    /* Mosquitto 2.1's bridge additions, not parsed yet */
    NO("bridge_max_topic_alias", WHY_BRIDGE),
    NO("bridge_receive_maximum", WHY_BRIDGE),
    NO("bridge_reload_type", WHY_BRIDGE),
    NO("bridge_session_expiry_interval", WHY_BRIDGE),
    NO("bridge_tcp_keepalive", WHY_BRIDGE),
    NO("bridge_tcp_user_timeout", WHY_BRIDGE),
    /* other Mosquitto options Midge does not act on yet */
    NO("mount_point", WHY_LATER),
    NO_BUT("maximum_qos", WHY_LATER, "2"),
    NO_BUT("check_retain_source", WHY_LATER, "true"),
    NO_BUT("memory_limit", WHY_LATER, "0"),
    NO("clientid_prefixes", WHY_LATER),
    NO("auto_id_prefix", WHY_LATER),
    NO_BUT("use_username_as_clientid", WHY_LATER, "false"),
    NO_BUT("global_max_clients", WHY_LATER, "-1"),
    NO_BUT("global_max_connections", WHY_LATER, "-1"),
    NO_BUT("max_inflight_bytes", WHY_LATER, "0"),
    NO("log_facility", WHY_LATER),
    NO("accept_protocol_versions", WHY_LATER),
    NO_BUT("enable_control_api", WHY_LATER, "false"),
    NO("quic_log_level", WHY_LATER),
};

static const struct option plugin_opt = NO("plugin_opt_*", WHY_AUTH);

int config__apply_line(struct cfg_state *st, const struct cfg_line *ln)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		if (!strcmp(ln->name, options[i].name)) return options[i].fn(st, ln, &options[i]);
	}
	if (!strncmp(ln->name, "plugin_opt_", 11) || !strncmp(ln->name, "auth_opt_", 9)) {
		return refuse(st, ln, &plugin_opt);
	}
	return config__error(st, ln, "unknown option '%s'", ln->name);
}
