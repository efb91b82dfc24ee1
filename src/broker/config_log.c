/* The logging options, log_dest and log_type, in Mosquitto's syntax: the first of each replaces the default,
 * later ones add to it. */
#include <limits.h>
#include <string.h>

#include "common/log.h"
#include "config_options.h"
#include "midge/midge.h"

static int log_dest(struct cfg_state *st, const struct cfg_line *ln)
{
	struct config *c = st->c;
	int rc = config__want(st, ln, 1, INT_MAX);
	if (rc) return rc;
	const char *v = ln->argv[0];
	if (strcmp(v, "file") != 0 && (rc = config__want(st, ln, 1, 1))) return rc;
	static const struct {
		const char *name;
		unsigned bit;
	} dests[] = {{"stdout", LOG_DEST_STDOUT}, {"stderr", LOG_DEST_STDERR}, {"syslog", LOG_DEST_SYSLOG},
	             {"topic", LOG_DEST_TOPIC},   {"dlt", LOG_DEST_DLT},       {"none", LOG_DEST_NONE},
	             {"file", LOG_DEST_FILE}};
	size_t i;
	for (i = 0; i < sizeof(dests) / sizeof(dests[0]); i++) {
		if (!strcmp(v, dests[i].name)) break;
	}
	if (i == sizeof(dests) / sizeof(dests[0])) {
		return config__error(st, ln,
		                     "invalid value '%s' for 'log_dest' (expected stdout, stderr, syslog, file PATH, "
		                     "topic, dlt or none)",
		                     v);
	}
	if (!st->log_dest_set) {
		/* The first log_dest replaces the default; later ones add to it. */
		st->log_dest_set = true;
		c->log_dest = 0;
	}
	if (dests[i].bit == LOG_DEST_DLT)
		return config__error(st, ln, "'log_dest dlt' is not supported: Midge has no DLT support (use syslog or file)");
	if (dests[i].bit == LOG_DEST_NONE) {
		c->log_dest = 0;
		return 0;
	}
	if (dests[i].bit == LOG_DEST_FILE) {
		const char *path = ln->rest + 4;
		while (*path == ' ' || *path == '\t')
			path++;
		if (!*path) return config__error(st, ln, "missing file name for 'log_dest file'");
		if (st->log_file_set) return config__error(st, ln, "option 'log_dest file' given twice");
		if (config__set_string(&c->log_file, path)) return MIDGE_ERR_NOMEM;
		st->log_file_set = true;
	}
	c->log_dest |= dests[i].bit;
	return 0;
}

static int log_type(struct cfg_state *st, const struct cfg_line *ln)
{
	static const struct {
		const char *name;
		unsigned bits;
	} types[] = {{"error", LOG_T_ERR},
	             {"warning", LOG_T_WARNING},
	             {"notice", LOG_T_NOTICE},
	             {"information", LOG_T_INFO},
	             {"subscribe", LOG_T_SUBSCRIBE},
	             {"unsubscribe", LOG_T_UNSUBSCRIBE},
	             {"websockets", LOG_T_WEBSOCKETS},
	             {"debug", LOG_T_DEBUG},
	             {"all", LOG_T_ALL},
	             {"none", 0}};
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	size_t i;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(ln->argv[0], types[i].name)) break;
	}
	if (i == sizeof(types) / sizeof(types[0])) {
		return config__error(st, ln,
		                     "invalid value '%s' for 'log_type' (expected error, warning, notice, information, "
		                     "subscribe, unsubscribe, websockets, debug, all or none)",
		                     ln->argv[0]);
	}
	if (!st->log_type_set) {
		st->log_type_set = true;
		st->c->log_type = 0;
	}
	if (types[i].bits == 0) st->c->log_type = 0;
	st->c->log_type |= types[i].bits;
	return 0;
}

int config__opt_log(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	(void)o;
	return strcmp(ln->name, "log_dest") ? log_type(st, ln) : log_dest(st, ln);
}
