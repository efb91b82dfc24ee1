/* The MQTT-SN gateway's listener options (`protocol mqttsn`, sn_gw.h). Midge's own: Mosquitto has no MQTT-SN.
 * Whether they sit on an MQTT-SN listener is checked in config__validate, since `protocol` may come after them. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_options.h"
#include "midge/midge.h"

/* A decimal integer in [min, max], or an error naming the option. */
static int number(struct cfg_state *st, const struct cfg_line *ln, long min, long max, long *out)
{
	int rc = config__want(st, ln, 1, 1);
	if (rc) return rc;
	char *end;
	long v = strtol(ln->argv[0], &end, 10);
	if (!*ln->argv[0] || *end || v < min || v > max)
		return config__error(st, ln, "invalid value '%s' for '%s' (expected an integer %ld..%ld)", ln->argv[0],
		                     ln->name, min, max);
	*out = v;
	return 0;
}

int config__opt_mqttsn(struct cfg_state *st, const struct cfg_line *ln, const struct option *o)
{
	(void)o;
	struct listener_conf *l;
	int rc = config__cur_listener(st, ln, true, &l);
	if (rc) return rc;
	if (!l->mqttsn_opts) {
		l->mqttsn_opts = true;
		l->mqttsn_opts_line = ln->line;
	}
	const char *n = ln->name + strlen("mqttsn_");
	long v = 0;
	if (!strcmp(n, "gateway_id")) {
		if (!(rc = number(st, ln, 0, 255, &v))) l->mqttsn_gateway_id = (uint8_t)v;
	} else if (!strcmp(n, "advertise_interval")) {
		/* ADVERTISE carries the interval in two octets. */
		if (!(rc = number(st, ln, 0, 65535, &v))) l->mqttsn_advertise_interval = (uint16_t)v;
	} else if (!strcmp(n, "retry_interval")) {
		if (!(rc = number(st, ln, 1, 3600, &v))) l->mqttsn_retry_interval = (uint16_t)v;
	} else if (!strcmp(n, "retries")) {
		if (!(rc = number(st, ln, 0, 100, &v))) l->mqttsn_retries = (uint8_t)v;
	} else if (!strcmp(n, "advertise_address")) {
		if (!(rc = config__want(st, ln, 1, 1))) rc = config__set_string(&l->mqttsn_advertise_address, ln->argv[0]);
	} else if (!strcmp(n, "predefined_file")) {
		rc = config__get_rest(st, ln, &l->mqttsn_predefined_file);
	} else if (!strcmp(n, "username")) {
		rc = config__get_rest(st, ln, &l->mqttsn_username);
	} else {
		rc = config__error(st, ln, "unknown option '%s'", ln->name);
	}
	return rc;
}
