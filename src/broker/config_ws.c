/* The WebSocket listeners' options besides `protocol websockets`: http_dir, websockets_origin, and
 * websockets_log_level (accepted, ignored). */
#include <stdlib.h>
#include <string.h>

#include "config_options.h"
#include "midge/midge.h"

static int http_dir(struct cfg_state *st, const struct cfg_line *ln)
{
	struct listener_conf *l;
	int rc = config__cur_listener(st, ln, true, &l);
	return rc ? rc : config__get_rest(st, ln, &l->http_dir);
}

static int origin(struct cfg_state *st, const struct cfg_line *ln)
{
	struct listener_conf *l;
	int rc = config__want(st, ln, 1, 1);
	if (rc || (rc = config__cur_listener(st, ln, true, &l))) return rc;
	char **v = realloc(l->origins, (l->norigins + 1) * sizeof(*v));
	if (!v) return MIDGE_ERR_NOMEM;
	l->origins = v;
	if (!(v[l->norigins] = strdup(ln->argv[0]))) return MIDGE_ERR_NOMEM;
	l->norigins++;
	return 0;
}

/* libwebsockets' log level in Mosquitto; Midge logs WebSocket events with `log_type websockets`. */
static int log_level(struct cfg_state *st, const struct cfg_line *ln)
{
	int rc = config__want(st, ln, 1, 1);
	return rc ? rc : config__warn(st, ln, "option 'websockets_log_level' is ignored (use log_type websockets)");
}

int config__opt_websockets(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	(void)o;
	if (!strcmp(ln->name, "http_dir")) return http_dir(st, ln);
	return strcmp(ln->name, "websockets_origin") ? log_level(st, ln) : origin(st, ln);
}
