/* The cluster's NATS credentials and TLS options (docs/cluster.md): cluster_nats_user, _password, _token, _creds,
 * _cafile, _certfile, _keyfile. Checks across them are in config__validate_cluster. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "config.h"
#include "config_options.h"
#include "midge/midge.h"

enum kind { WORD, SECRET, PATH };

static const struct nats_opt {
	const char *name;
	enum kind kind;
	size_t off; /* field in struct config */
} opts[] = {
    {"cluster_nats_user", WORD, offsetof(struct config, cluster_nats_user)},
    {"cluster_nats_password", SECRET, offsetof(struct config, cluster_nats_password)},
    {"cluster_nats_token", SECRET, offsetof(struct config, cluster_nats_token)},
    {"cluster_nats_creds", PATH, offsetof(struct config, cluster_nats_creds)},
    {"cluster_nats_cafile", PATH, offsetof(struct config, cluster_nats_cafile)},
    {"cluster_nats_certfile", PATH, offsetof(struct config, cluster_nats_certfile)},
    {"cluster_nats_keyfile", PATH, offsetof(struct config, cluster_nats_keyfile)},
};

/* A file cnats reads only when the node connects, maybe long after start-up and in the background: read it now,
 * so that a wrong path is an error naming the line rather than a node that never joins. */
static int readable(struct cfg_state *st, const struct cfg_line *ln, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int e = file__read_all(path, &text, &len);
	free(text);
	if (!e) return 0;
	if (e == ENOMEM) return MIDGE_ERR_NOMEM;
	return config__error(st, ln, "cannot read '%s' for '%s': %s", path, ln->name, strerror(e));
}

int config__opt_cluster(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	(void)o;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(ln->name, opts[i].name)) continue;
		char **field = (char **)((char *)st->c + opts[i].off);
		int rc;
		if (opts[i].kind == WORD) {
			rc = config__want(st, ln, 1, 1);
			if (!rc) rc = config__set_string(field, ln->argv[0]);
		} else {
			/* A password, a token or a path may hold blanks: the rest of the line. */
			rc = config__get_rest(st, ln, field);
			if (!rc && opts[i].kind == PATH) rc = readable(st, ln, *field);
		}
		if (rc) return rc;
		bool tls = opts[i].off >= offsetof(struct config, cluster_nats_cafile);
		*(tls ? &st->c->cluster_nats_tls_file : &st->c->cluster_nats_auth_file) = ln->file;
		*(tls ? &st->c->cluster_nats_tls_line : &st->c->cluster_nats_auth_line) = ln->line;
		return 0;
	}
	return config__error(st, ln, "unknown option '%s'", ln->name);
}

int config__validate_cluster(const struct config *c, char *err, size_t errlen)
{
	const char *file = c->cluster_nats_tls_file, *why = NULL;
	int line = c->cluster_nats_tls_line;
	if (c->cluster_nats_certfile && !c->cluster_nats_keyfile)
		why = "cluster_nats_certfile is set but cluster_nats_keyfile is not";
	else if (c->cluster_nats_keyfile && !c->cluster_nats_certfile)
		why = "cluster_nats_keyfile is set but cluster_nats_certfile is not";
	if (!why) {
		file = c->cluster_nats_auth_file;
		line = c->cluster_nats_auth_line;
		if (c->cluster_nats_password && !c->cluster_nats_user)
			why = "cluster_nats_password is set but cluster_nats_user is not";
		else if (!!c->cluster_nats_user + !!c->cluster_nats_token + !!c->cluster_nats_creds > 1)
			/* A server authenticates a client one way; which of several cnats would send is not obvious. */
			why = "give only one of cluster_nats_user, cluster_nats_token and cluster_nats_creds";
	}
	if (!why) return 0;
	return err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: %s", file ? file : "?", line, why);
}
