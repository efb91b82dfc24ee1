/* Reads Mosquitto-style configuration files: lines, comments, include_dir, defaults, validation. */
#include "common/err.h"
#include "common/file.h"
#include "config.h"
#include "common/lines.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config_options.h"
#include "midge/midge.h"

/* More warnings than this from one configuration are dropped: the first ones tell the story. */
#define MAX_WARNINGS 256

void config__defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = 0;
	c->allow_zero_length_clientid = true;
	c->allow_anonymous = -1;
	c->websockets_ping_interval = 30;
	c->max_keepalive = 65535;
	c->max_inflight_messages = 20;
	c->max_queued_messages = 1000;
	c->retain_available = true;
	c->sys_interval = 10;
	c->log_dest = LOG_DEST_STDERR;
	c->log_type = LOG_T_ERR | LOG_T_WARNING | LOG_T_NOTICE | LOG_T_INFO;
	c->log_timestamp = true;
	c->connection_messages = true;
	c->listen_backlog = 1024;
	c->connect_timeout = 10;
	c->cluster_node_timeout = 5;
	c->max_output_bytes = 16777216;
	c->max_qos = 2;
	c->max_topic_alias = 10;
	c->max_topic_alias_broker = 10;
	c->retained_persistence = true;
	c->persistence_group_ms = 50;
}

void config__fini(struct config *c)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].bind_address);
		free(c->listeners[i].bind_interface);
		free(c->listeners[i].server_reference);
		free(c->listeners[i].password_file);
		free(c->listeners[i].acl_file);
		free(c->listeners[i].http_dir);
		for (size_t k = 0; k < c->listeners[i].norigins; k++) free(c->listeners[i].origins[k]);
		free(c->listeners[i].origins);
		struct listener_conf *l = &c->listeners[i];
		char **tls[] = {&l->cafile,  &l->capath,        &l->certfile, &l->keyfile, &l->crlfile,
				&l->ciphers, &l->ciphers_tls13, &l->psk_hint, &l->psk_file,
				&l->mqttsn_advertise_address, &l->mqttsn_predefined_file, &l->mqttsn_username};
		for (size_t k = 0; k < sizeof(tls) / sizeof(tls[0]); k++)
			free(*tls[k]);
	}
	free(c->listeners);
	config__free_bridges(c);
	free(c->log_file);
	free(c->log_timestamp_format);
	free(c->pid_file);
	free(c->http_api_key);
	free(c->cluster_nats_url);
	free(c->cluster_node_name);
	char **nats[] = {&c->cluster_nats_user,   &c->cluster_nats_password, &c->cluster_nats_token,
			 &c->cluster_nats_creds,  &c->cluster_nats_cafile,   &c->cluster_nats_certfile,
			 &c->cluster_nats_keyfile};
	for (size_t i = 0; i < sizeof(nats) / sizeof(nats[0]); i++)
		free(*nats[i]);
	free(c->user);
	free(c->response_information);
	free(c->persistence_location);
	free(c->persistence_file);
	free(c->password_file);
	free(c->acl_file);
	for (size_t i = 0; i < c->nencrypted_topics; i++) free(c->encrypted_topics[i]);
	free(c->encrypted_topics);
	free(c->psk_file);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	for (size_t i = 0; i < c->nwarnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	config__defaults(c);
}

const char *config__user(const struct config *c)
{
	return c->user ? c->user : "mosquitto";
}

bool config__allow_zero_length_clientid(const struct config *c, const struct listener_conf *l)
{
	if (c->per_listener_settings && l) return l->allow_zero_length_clientid;
	return c->allow_zero_length_clientid;
}

bool config__allow_anonymous(const struct config *c, const struct listener_conf *l)
{
	int v = c->per_listener_settings && l ? l->allow_anonymous : c->allow_anonymous;
	return v == 1;
}

const char *config__password_file(const struct config *c, const struct listener_conf *l)
{
	return c->per_listener_settings && l ? l->password_file : c->password_file;
}

const char *config__acl_file(const struct config *c, const struct listener_conf *l)
{
	return c->per_listener_settings && l ? l->acl_file : c->acl_file;
}

int config__error(struct cfg_state *st, const struct cfg_line *ln, const char *fmt, ...)
{
	if (!st->err || st->errlen == 0) return MIDGE_ERR_INVAL;
	int n = snprintf(st->err, st->errlen, "%s:%d: ", ln->file, ln->line);
	if (n < 0 || (size_t)n >= st->errlen) return MIDGE_ERR_INVAL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return MIDGE_ERR_INVAL;
}

int config__warn(struct cfg_state *st, const struct cfg_line *ln, const char *fmt, ...)
{
	struct config *c = st->c;
	if (c->nwarnings >= MAX_WARNINGS) return 0;
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s:%d: ", ln->file, ln->line);
	if (n < 0 || (size_t)n >= sizeof(msg)) n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	char **w = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*w));
	if (!w) return MIDGE_ERR_NOMEM;
	c->warnings = w;
	if (!(w[c->nwarnings] = strdup(msg))) return MIDGE_ERR_NOMEM;
	c->nwarnings++;
	return 0;
}

/* Records name in c->files; returns the stored copy (owned by c) or NULL when out of memory. */
static const char *add_file(struct config *c, const char *name)
{
	char **f = realloc(c->files, (c->nfiles + 1) * sizeof(*f));
	if (!f) return NULL;
	c->files = f;
	if (!(f[c->nfiles] = strdup(name))) return NULL;
	return f[c->nfiles++];
}

#define is_blank lines__blank

/* Parses one file's text. Listener options at the top of each file apply to the default listener,
 * and bridge options need a `connection` line in the same file, as in Mosquitto, so the current
 * listener and bridge are saved and restored around it. */
static int parse_text(struct cfg_state *st, const char *file, const char *text, size_t len)
{
	int saved_listener = st->cur_listener, saved_bridge = st->cur_bridge;
	char *buf = NULL;
	char **argv = NULL;
	size_t pos = 0, n;
	int rc = 0;
	struct cfg_line ln = {.file = file};
	struct lines ls;
	const char *s;

	st->cur_listener = -1;
	st->cur_bridge = -1;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* a UTF-8 byte order mark */
	lines__init(&ls, text + pos, len - pos);
	while (lines__next(&ls, &s, &n)) {
		ln.line = ls.line;
		if (memchr(s, '\0', n)) {
			rc = config__error(st, &ln, "line contains a NUL byte");
			goto out;
		}
		/* Two copies: one kept whole for values that may contain blanks, one split into words. */
		free(buf);
		free(argv);
		argv = NULL;
		if (!(buf = malloc(2 * n + 2)) || !(argv = malloc((n / 2 + 2) * sizeof(*argv)))) {
			rc = MIDGE_ERR_NOMEM;
			goto out;
		}
		char *whole = buf, *words = buf + n + 1;
		memcpy(whole, s, n);
		whole[n] = '\0';
		memcpy(words, s, n);
		words[n] = '\0';
		int argc = 0;
		for (char *p = words; *p;) {
			while (*p && is_blank(*p))
				*p++ = '\0';
			if (!*p) break;
			argv[argc++] = p;
			while (*p && !is_blank(*p))
				p++;
		}
		const char *rest = whole + strlen(argv[0]);
		while (*rest && is_blank(*rest))
			rest++;
		ln.name = argv[0];
		ln.argv = argv + 1;
		ln.argc = argc - 1;
		ln.rest = rest;
		if ((rc = config__apply_line(st, &ln))) goto out;
	}
out:
	free(buf);
	free(argv);
	st->cur_listener = saved_listener;
	st->cur_bridge = saved_bridge;
	return rc;
}


/* Reads the file at path into st. from is the include_dir line, NULL for the main file. */
static int load_file(struct cfg_state *st, const char *path, const struct cfg_line *from)
{
	const char *name = add_file(st->c, path);
	if (!name) return MIDGE_ERR_NOMEM;
	char *text = NULL;
	size_t len = 0;
	int e = file__read_all(path, &text, &len);
	if (e == ENOMEM) return MIDGE_ERR_NOMEM;
	if (e) {
		if (from) return config__error(st, from, "cannot read '%s': %s", path, strerror(e));
		return err__set(st->err, st->errlen, MIDGE_ERR_INVAL, "%s: cannot read: %s", path, strerror(e));
	}
	int rc = parse_text(st, name, text, len);
	free(text);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when d names a regular file (or a link to one) whose name ends in ".conf". */
static bool wanted(const char *dir, const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	if (n <= 5 || strcmp(d->d_name + n - 5, ".conf") != 0) return false;
	if (d->d_type == DT_REG) return true;
	if (d->d_type != DT_LNK && d->d_type != DT_UNKNOWN) return false;
	char path[4096];
	struct stat sb;
	if (snprintf(path, sizeof(path), "%s/%s", dir, d->d_name) >= (int)sizeof(path)) return false;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int config__include_dir(struct cfg_state *st, const struct cfg_line *ln, const char *dir)
{
	if (st->level > 0) {
		/* Mosquitto only honours include_dir in the main file; it ignores it elsewhere. */
		return config__warn(st, ln, "include_dir is ignored in an included file");
	}
	DIR *d = opendir(dir);
	if (!d) return config__error(st, ln, "cannot open include_dir '%s': %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!wanted(dir, de)) continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = realloc(names, ncap * sizeof(*p));
			if (!p) {
				rc = MIDGE_ERR_NOMEM;
				goto out;
			}
			names = p;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = MIDGE_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n) qsort(names, n, sizeof(*names), cmp_names);
	size_t dlen = strlen(dir);
	bool slash = dlen > 0 && dir[dlen - 1] == '/';
	st->level++;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t plen = dlen + 1 + strlen(names[i]) + 1;
		char *path = malloc(plen);
		if (!path) {
			rc = MIDGE_ERR_NOMEM;
			break;
		}
		snprintf(path, plen, "%s%s%s", dir, slash ? "" : "/", names[i]);
		rc = load_file(st, path, ln);
		free(path);
	}
	st->level--;
out:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void state_init(struct cfg_state *st, struct config *c, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->c = c;
	st->cur_listener = -1;
	st->cur_bridge = -1;
	st->err = err;
	st->errlen = errlen;
	if (err && errlen) err[0] = '\0';
}

int config__load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct cfg_state st;
	state_init(&st, c, err, errlen);
	int rc = load_file(&st, path, NULL);
	if (rc == MIDGE_ERR_NOMEM) err__set(err, errlen, rc, "%s: out of memory", path);
	return rc;
}

int config__parse(struct config *c, const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	struct cfg_state st;
	state_init(&st, c, err, errlen);
	const char *stored = add_file(c, name);
	int rc = stored ? parse_text(&st, stored, text, len) : MIDGE_ERR_NOMEM;
	if (rc == MIDGE_ERR_NOMEM) err__set(err, errlen, rc, "%s: out of memory", name);
	return rc;
}

static bool same_address(const char *a, const char *b)
{
	if (!a || !b) return a == b;
	return strcmp(a, b) == 0;
}

static bool domains_overlap(int a, int b)
{
	return a == AF_UNSPEC || b == AF_UNSPEC || a == b;
}

bool config__listener_tls(const struct listener_conf *l) { return l->certfile || l->psk_hint; }

const char *config__psk_file(const struct config *c, const struct listener_conf *l)
{
	return c->per_listener_settings ? l->psk_file : c->psk_file;
}

/* Rules across one listener's options (Mosquitto's for TLS, Midge's for MQTT-SN), checked before any file is opened. */
static int validate_listener(const struct config *c, const struct listener_conf *l, char *err, size_t errlen)
{
	const char *f = l->file ? l->file : "?";
	const char *missing = NULL;
	if (l->certfile && !l->keyfile) missing = "certfile is set but keyfile is not";
	else if (l->keyfile && !l->certfile) missing = "keyfile is set but certfile is not";
	else if (config__listener_tls(l) && l->require_certificate && !l->cafile && !l->capath)
		missing = "require_certificate needs cafile or capath";
	else if (l->psk_hint && !config__psk_file(c, l))
		missing = "psk_hint is set but psk_file is not";
	else if (l->encrypted_only && !config__listener_tls(l))
		missing = "encrypted_only is for TLS listeners (set certfile and keyfile, or psk_hint)";
	else if (l->mqttsn && config__listener_tls(l))
		missing = "protocol mqttsn is plain UDP: TLS options do not apply (MQTT-SN 1.2 has no DTLS)";
	else if (l->mqttsn && l->websockets)
		missing = "a listener has one protocol: websockets or mqttsn";
	else if (l->mqttsn_opts && !l->mqttsn)
		missing = "mqttsn_* options need `protocol mqttsn`";
	if (!missing) return 0;
	return err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: listener on port %u: %s", f, l->line,
	                   (unsigned)l->port, missing);
}

int config__validate(const struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *a = &c->listeners[i];
		int rc = validate_listener(c, a, err, errlen);
		if (rc) return rc;
		for (size_t j = 0; j < i; j++) {
			const struct listener_conf *b = &c->listeners[j];
			if (a->port != b->port || !same_address(a->bind_address, b->bind_address)) continue;
			if (a->mqttsn != b->mqttsn) continue; /* UDP and TCP ports are apart */
			if (!domains_overlap(a->socket_domain, b->socket_domain)) continue;
			return err__set(err, errlen, MIDGE_ERR_INVAL,
			                   "%s:%d: duplicate listener on port %u%s%s (first declared at %s:%d)",
			                   a->file ? a->file : "?", a->line, (unsigned)a->port,
			                   a->bind_address ? " address " : "", a->bind_address ? a->bind_address : "",
			                   b->file ? b->file : "?", b->line);
		}
	}
	int rc = config__validate_cluster(c, err, errlen);
	return rc ? rc : config__validate_bridges(c, err, errlen);
}
