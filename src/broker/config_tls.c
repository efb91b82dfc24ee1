/* The TLS options of the configuration: Mosquitto's names and rules, per listener (psk_file is
 * global unless per_listener_settings). Cross-option checks are in config__validate. */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "config_options.h"
#include "midge/midge.h"
#include "net/tls.h"

enum kind { PATH, TEXT, BOOL };

static const struct tls_opt {
	const char *name;
	enum kind kind;
	size_t off; /* field in struct listener_conf */
} opts[] = {
    {"cafile", PATH, offsetof(struct listener_conf, cafile)},
    {"capath", PATH, offsetof(struct listener_conf, capath)},
    {"certfile", PATH, offsetof(struct listener_conf, certfile)},
    {"keyfile", PATH, offsetof(struct listener_conf, keyfile)},
    {"crlfile", PATH, offsetof(struct listener_conf, crlfile)},
    {"ciphers", TEXT, offsetof(struct listener_conf, ciphers)},
    {"ciphers_tls1.3", TEXT, offsetof(struct listener_conf, ciphers_tls13)},
    {"psk_hint", TEXT, offsetof(struct listener_conf, psk_hint)},
    {"require_certificate", BOOL, offsetof(struct listener_conf, require_certificate)},
    {"use_identity_as_username", BOOL, offsetof(struct listener_conf, use_identity_as_username)},
    {"use_subject_as_username", BOOL, offsetof(struct listener_conf, use_subject_as_username)},
};

static int tls_version(struct cfg_state *st, const struct cfg_line *ln)
{
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	int v = tls__parse_version(ln->argv[0]);
	if (!v) {
		return config__error(st, ln, "invalid value '%s' for 'tls_version' (expected tlsv1.3, tlsv1.2 or tlsv1.1)",
		                     ln->argv[0]);
	}
	struct listener_conf *l;
	if ((rc = config__cur_listener(st, ln, true, &l))) return rc;
	l->tls_version = v;
	return 0;
}

/* A security option: per listener only with per_listener_settings, as in Mosquitto. */
static int psk_file(struct cfg_state *st, const struct cfg_line *ln)
{
	st->security_set = true;
	if (!st->c->per_listener_settings) return config__get_rest(st, ln, &st->c->psk_file);
	struct listener_conf *l;
	int rc = config__cur_listener(st, ln, true, &l);
	return rc ? rc : config__get_rest(st, ln, &l->psk_file);
}

int config__opt_tls(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	if (!strcmp(ln->name, "tls_version")) return tls_version(st, ln);
	if (!strcmp(ln->name, "psk_file")) return psk_file(st, ln);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const struct tls_opt *t = &opts[i];
		if (strcmp(ln->name, t->name)) continue;
		struct listener_conf *l;
		int rc;
		if (t->kind == BOOL) {
			bool v;
			/* false is every listener's default: it makes no default listener of its own. */
			if ((rc = config__get_bool(st, ln, &v)) || (rc = config__cur_listener(st, ln, v, &l))) return rc;
			if (l) *(bool *)((char *)l + t->off) = v;
			return 0;
		}
		/* Paths and cipher lists are the rest of the line, as Mosquitto reads them. */
		if (!*ln->rest) return config__error(st, ln, "missing value for '%s'", ln->name);
		if ((rc = config__cur_listener(st, ln, true, &l))) return rc;
		return config__get_rest(st, ln, (char **)((char *)l + t->off));
	}
	return config__error(st, ln, "unknown option '%s'", ln->name);
}
