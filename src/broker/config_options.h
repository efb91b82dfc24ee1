/* Internal to the config module: the line and parse-state types shared by config.c (reading
 * files) and config_options.c (the option table). Not for use outside src/broker/config*.c. */
#ifndef MIDGE_CONFIG_OPTIONS_H
#define MIDGE_CONFIG_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct option;

/* One non-blank, non-comment line, split. All strings point into a buffer owned by the reader
 * and live only while the line is applied. */
struct cfg_line {
	const char *file; /* file name as given (points into config.files) */
	int line;         /* 1-based */
	const char *name; /* the option name */
	char **argv;      /* the values after the name, split on blanks */
	int argc;
	const char *rest; /* everything after the name, trimmed: for values that may hold blanks */
};

/* State of one config__load / config__parse call, shared by the files it includes. */
struct cfg_state {
	struct config *c;
	int cur_listener;  /* index of the listener the file's listener options apply to; -1 = default */
	int cur_bridge;    /* index of the bridge the file's bridge options apply to; -1 = none yet */
	bool log_dest_set; /* the first log_dest / log_type replaces the default, later ones add */
	bool log_type_set;
	bool log_file_set;
	bool security_set; /* a security option was seen, so per_listener_settings is too late */
	int level;         /* 0 for the main file, 1 inside include_dir */
	char *err;
	size_t errlen;
};

/* Applies one line to st->c. Returns 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_INVAL with the message
 * in st->err. */
int config__apply_line(struct cfg_state *st, const struct cfg_line *ln);
/* Reads every *.conf in dir (sorted by strcmp) into st->c; defined in config.c. Same returns. */
int config__include_dir(struct cfg_state *st, const struct cfg_line *ln, const char *dir);
/* Writes "FILE:LINE: message" into st->err; returns MIDGE_ERR_INVAL. */
int config__error(struct cfg_state *st, const struct cfg_line *ln, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends "FILE:LINE: message" to st->c->warnings. Returns 0 or MIDGE_ERR_NOMEM. */
int config__warn(struct cfg_state *st, const struct cfg_line *ln, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Helpers of config_options.c for the option files beside it (config_tls.c). */
/* Checks the number of values (at least min, at most max; extra ones draw a warning). */
int config__want(struct cfg_state *st, const struct cfg_line *ln, int min, int max);
/* The single boolean value (true/false/1/0) of ln. */
int config__get_bool(struct cfg_state *st, const struct cfg_line *ln, bool *out);
/* Replaces *dst (owned, freed) with a copy of s. 0 or MIDGE_ERR_NOMEM. */
int config__set_string(char **dst, const char *s);
/* Sets *dst to a copy of the whole rest of the line, which must not be empty. */
int config__get_rest(struct cfg_state *st, const struct cfg_line *ln, char **dst);
/* The listener that listener options on ln apply to (the latest `listener` of the file, else the
 * default listener, made only when create is set). *out may be NULL when create is false. */
int config__cur_listener(struct cfg_state *st, const struct cfg_line *ln, bool create, struct listener_conf **out);

/* The TLS options (config_tls.c): cafile, capath, certfile, keyfile, crlfile, ciphers,
 * ciphers_tls1.3, tls_version, require_certificate, use_identity_as_username,
 * use_subject_as_username, psk_hint, psk_file. Same returns as config__apply_line. */
int config__opt_tls(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);
/* http_dir, websockets_origin and websockets_log_level (config_ws.c). Same returns as config__apply_line. */
int config__opt_websockets(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);
/* log_dest and log_type (config_log.c). Same returns as config__apply_line. */
int config__opt_log(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);
/* The MQTT-SN gateway's listener options (config_mqttsn.c): mqttsn_gateway_id, mqttsn_advertise_interval,
 * mqttsn_advertise_address, mqttsn_predefined_file, mqttsn_username, mqttsn_retry_interval, mqttsn_retries.
 * Same returns as config__apply_line. */
int config__opt_mqttsn(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);

/* The cluster's NATS credentials and TLS files (config_cluster.c): cluster_nats_user, cluster_nats_password,
 * cluster_nats_token, cluster_nats_creds, cluster_nats_cafile, cluster_nats_certfile, cluster_nats_keyfile (files
 * are read once here, to refuse an unreadable one). Same returns as config__apply_line. */
int config__opt_cluster(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);

/* The bridge options (config_bridge.c): `connection` and every option of a bridge section. Same returns as
 * config__apply_line. */
int config__opt_bridge(struct cfg_state *st, const struct cfg_line *ln, const struct option *o);
/* A bridge's `address`/`addresses` and `topic` lines into b (config_bridge_routes.c). Same returns. */
int config__bridge_address(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b);
int config__bridge_topic(struct cfg_state *st, const struct cfg_line *ln, struct bridge_conf *b);
/* The cross-option checks of every bridge (see config__validate). 0 or MIDGE_ERR_INVAL with err. */
int config__validate_bridges(const struct config *c, char *err, size_t errlen);
/* The cluster's NATS options (config_cluster.c): a certificate with its key, a password with a user, one way of
 * authenticating. 0, or MIDGE_ERR_INVAL with "FILE:LINE: message" in err. */
int config__validate_cluster(const struct config *c, char *err, size_t errlen);
/* Frees c's bridges and everything they own; c->bridges is NULL afterwards. */
void config__free_bridges(struct config *c);

#endif
