/* property: the -D option of the tools: Mosquitto's command and property names, which property may go in
 * which packet, value ranges, and the checks libmosquitto makes on a property list, with its messages. */
#include "property.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules.h"
#include "midge/mqtt.h"


struct prop_info {
	const char *name;
	uint8_t id;
	int type;
};

static const struct prop_info props_table[] = {
    {"payload-format-indicator", MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, OPT_PROP_BYTE},
    {"message-expiry-interval", MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, OPT_PROP_INT32},
    {"content-type", MQTT_PROP_CONTENT_TYPE, OPT_PROP_STRING},
    {"response-topic", MQTT_PROP_RESPONSE_TOPIC, OPT_PROP_STRING},
    {"correlation-data", MQTT_PROP_CORRELATION_DATA, OPT_PROP_BINARY},
    {"subscription-identifier", MQTT_PROP_SUBSCRIPTION_IDENTIFIER, OPT_PROP_VARINT},
    {"session-expiry-interval", MQTT_PROP_SESSION_EXPIRY_INTERVAL, OPT_PROP_INT32},
    {"assigned-client-identifier", MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER, OPT_PROP_STRING},
    {"server-keep-alive", MQTT_PROP_SERVER_KEEP_ALIVE, OPT_PROP_INT16},
    {"authentication-method", MQTT_PROP_AUTHENTICATION_METHOD, OPT_PROP_STRING},
    {"authentication-data", MQTT_PROP_AUTHENTICATION_DATA, OPT_PROP_BINARY},
    {"request-problem-information", MQTT_PROP_REQUEST_PROBLEM_INFORMATION, OPT_PROP_BYTE},
    {"will-delay-interval", MQTT_PROP_WILL_DELAY_INTERVAL, OPT_PROP_INT32},
    {"request-response-information", MQTT_PROP_REQUEST_RESPONSE_INFORMATION, OPT_PROP_BYTE},
    {"response-information", MQTT_PROP_RESPONSE_INFORMATION, OPT_PROP_STRING},
    {"server-reference", MQTT_PROP_SERVER_REFERENCE, OPT_PROP_STRING},
    {"reason-string", MQTT_PROP_REASON_STRING, OPT_PROP_STRING},
    {"receive-maximum", MQTT_PROP_RECEIVE_MAXIMUM, OPT_PROP_INT16},
    {"topic-alias-maximum", MQTT_PROP_TOPIC_ALIAS_MAXIMUM, OPT_PROP_INT16},
    {"topic-alias", MQTT_PROP_TOPIC_ALIAS, OPT_PROP_INT16},
    {"maximum-qos", MQTT_PROP_MAXIMUM_QOS, OPT_PROP_BYTE},
    {"retain-available", MQTT_PROP_RETAIN_AVAILABLE, OPT_PROP_BYTE},
    {"user-property", MQTT_PROP_USER_PROPERTY, OPT_PROP_PAIR},
    {"maximum-packet-size", MQTT_PROP_MAXIMUM_PACKET_SIZE, OPT_PROP_INT32},
    {"wildcard-subscription-available", MQTT_PROP_WILDCARD_SUB_AVAILABLE, OPT_PROP_BYTE},
    {"subscription-identifier-available", MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE, OPT_PROP_BYTE},
    {"shared-subscription-available", MQTT_PROP_SHARED_SUB_AVAILABLE, OPT_PROP_BYTE},
};

static const struct {
	const char *name;
	int cmd;
} cmds_table[] = {
    {"connect", OPT_CMD_CONNECT},       {"connack", OPT_CMD_CONNACK},     {"publish", OPT_CMD_PUBLISH},
    {"puback", OPT_CMD_PUBACK},         {"pubrec", OPT_CMD_PUBREC},       {"pubrel", OPT_CMD_PUBREL},
    {"pubcomp", OPT_CMD_PUBCOMP},       {"subscribe", OPT_CMD_SUBSCRIBE}, {"unsubscribe", OPT_CMD_UNSUBSCRIBE},
    {"disconnect", OPT_CMD_DISCONNECT}, {"auth", OPT_CMD_AUTH},           {"will", OPT_CMD_WILL},
};

bool property__allowed(int cmd, uint8_t id)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR:
	case MQTT_PROP_MESSAGE_EXPIRY_INTERVAL:
	case MQTT_PROP_CONTENT_TYPE:
	case MQTT_PROP_RESPONSE_TOPIC:
	case MQTT_PROP_CORRELATION_DATA:
		return cmd == OPT_CMD_PUBLISH || cmd == OPT_CMD_WILL;
	case MQTT_PROP_SUBSCRIPTION_IDENTIFIER:
		return cmd == OPT_CMD_PUBLISH || cmd == OPT_CMD_SUBSCRIBE;
	case MQTT_PROP_SESSION_EXPIRY_INTERVAL:
		return cmd == OPT_CMD_CONNECT || cmd == OPT_CMD_CONNACK || cmd == OPT_CMD_DISCONNECT;
	case MQTT_PROP_AUTHENTICATION_METHOD:
	case MQTT_PROP_AUTHENTICATION_DATA:
		return cmd == OPT_CMD_CONNECT || cmd == OPT_CMD_CONNACK || cmd == OPT_CMD_AUTH;
	case MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER:
	case MQTT_PROP_SERVER_KEEP_ALIVE:
	case MQTT_PROP_RESPONSE_INFORMATION:
	case MQTT_PROP_MAXIMUM_QOS:
	case MQTT_PROP_RETAIN_AVAILABLE:
	case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
	case MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE:
	case MQTT_PROP_SHARED_SUB_AVAILABLE:
		return cmd == OPT_CMD_CONNACK;
	case MQTT_PROP_WILL_DELAY_INTERVAL:
		return cmd == OPT_CMD_WILL;
	case MQTT_PROP_REQUEST_PROBLEM_INFORMATION:
	case MQTT_PROP_REQUEST_RESPONSE_INFORMATION:
		return cmd == OPT_CMD_CONNECT;
	case MQTT_PROP_SERVER_REFERENCE:
		return cmd == OPT_CMD_CONNACK || cmd == OPT_CMD_DISCONNECT;
	case MQTT_PROP_REASON_STRING:
		return cmd != OPT_CMD_CONNECT && cmd != OPT_CMD_PUBLISH && cmd != OPT_CMD_SUBSCRIBE &&
		       cmd != OPT_CMD_UNSUBSCRIBE;
	case MQTT_PROP_RECEIVE_MAXIMUM:
	case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
	case MQTT_PROP_MAXIMUM_PACKET_SIZE:
		return cmd == OPT_CMD_CONNECT || cmd == OPT_CMD_CONNACK;
	case MQTT_PROP_TOPIC_ALIAS:
		return cmd == OPT_CMD_PUBLISH;
	case MQTT_PROP_USER_PROPERTY:
		return true;
	default:
		return false;
	}
}

struct opt_prop *property__append(struct tool_opts *o, FILE *err)
{
	struct opt_prop *grown = realloc(o->props, (o->nprops + 1) * sizeof(*grown));
	if (!grown) {
		fprintf(err, "Error: Out of memory.\n");
		return NULL;
	}
	o->props = grown;
	struct opt_prop *p = &o->props[o->nprops++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* mosquitto_property_add_*'s own checks, reported as Mosquitto's client reports them. */
static int prop_store(struct tool_opts *o, int cmd, const struct prop_info *info, const char *key, const char *value,
                      FILE *err)
{
	long v = 0;
	switch (info->type) {
	case OPT_PROP_BYTE:
	case OPT_PROP_INT16:
	case OPT_PROP_INT32:
	case OPT_PROP_VARINT: {
		long max = info->type == OPT_PROP_BYTE ? 255 : info->type == OPT_PROP_INT16 ? 65535 : 4294967295L;
		v = strtol(value, NULL, 10);
		if (v < 0 || v > max) {
			fprintf(err, "Error: Property value (%ld) out of range for property %s.\n\n", v, info->name);
			return -1;
		}
		if (info->type == OPT_PROP_VARINT && v > 268435455) {
			fprintf(err, "Error adding property %s %d\n", info->name, info->type);
			return -1;
		}
		break;
	}
	case OPT_PROP_BINARY:
		if (strlen(value) > 65535) {
			fprintf(err, "Error: Property value too long for property %s.\n\n", info->name);
			return -1;
		}
		break;
	case OPT_PROP_STRING:
		if (strlen(value) > 65535 || !rules__utf8(value)) {
			fprintf(err, "Error adding property %s %d\n", info->name, info->type);
			return -1;
		}
		break;
	case OPT_PROP_PAIR:
		if (strlen(key) > 65535 || strlen(value) > 65535 || !rules__utf8(key) || !rules__utf8(value)) {
			fprintf(err, "Error adding property %s %d\n", info->name, info->type);
			return -1;
		}
		break;
	}
	struct opt_prop *p = property__append(o, err);
	if (!p) return -1;
	p->cmd = cmd;
	p->id = info->id;
	p->type = info->type;
	p->value = (uint32_t)v;
	if (info->type >= OPT_PROP_BINARY && opts__set_str(&p->str, value, err)) return -1;
	if (key && opts__set_str(&p->name, key, err)) return -1;
	return 0;
}

/* -D command identifier value | -D command user-property name value; *i is at the command word. */
int property__parse(struct tool_opts *o, int argc, char *const argv[], int *i, FILE *err)
{
	if (*i + 2 > argc - 1) {
		fprintf(err, "Error: --property argument given but not enough arguments specified.\n\n");
		return -1;
	}
	const char *cmdname = argv[*i], *propname = argv[*i + 1];
	int cmd = -1;
	for (size_t k = 0; k < sizeof(cmds_table) / sizeof(cmds_table[0]); k++)
		if (!strcasecmp(cmdname, cmds_table[k].name)) cmd = cmds_table[k].cmd;
	if (cmd < 0) {
		fprintf(err, "Error: Invalid command given in --property argument.\n\n");
		return -1;
	}
	const struct prop_info *info = NULL;
	for (size_t k = 0; k < sizeof(props_table) / sizeof(props_table[0]); k++)
		if (!strcasecmp(propname, props_table[k].name)) info = &props_table[k];
	if (!info) {
		fprintf(err, "Error: Invalid property name given in --property argument.\n\n");
		return -1;
	}
	if (!property__allowed(cmd, info->id)) {
		fprintf(err, "Error: %s property not allowed for %s in --property argument.\n\n", propname, cmdname);
		return -1;
	}
	const char *key = NULL, *value;
	if (info->id == MQTT_PROP_USER_PROPERTY) {
		if (*i + 3 > argc - 1) {
			fprintf(err, "Error: --property argument given but not enough arguments specified.\n\n");
			return -1;
		}
		key = argv[*i + 2];
		value = argv[*i + 3];
		*i += 3;
	} else {
		value = argv[*i + 2];
		*i += 2;
	}
	switch (cmd) {
	case OPT_CMD_CONNECT:
	case OPT_CMD_SUBSCRIBE:
	case OPT_CMD_UNSUBSCRIBE:
	case OPT_CMD_DISCONNECT:
	case OPT_CMD_WILL:
		break;
	case OPT_CMD_PUBLISH:
		if (info->id == MQTT_PROP_TOPIC_ALIAS) o->have_topic_alias = true;
		if (info->id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER) {
			fprintf(err, "Error: %s property not supported for %s in --property argument.\n\n", propname,
			        cmdname);
			return -1;
		}
		break;
	case OPT_CMD_AUTH:
	case OPT_CMD_PUBACK:
	case OPT_CMD_PUBREC:
	case OPT_CMD_PUBREL:
	case OPT_CMD_PUBCOMP:
		fprintf(err, "Error: %s property not supported for %s in --property argument.\n\n", propname, cmdname);
		return -1;
	default:
		return -1; /* connack: Mosquitto fails without a word */
	}
	return prop_store(o, cmd, info, key, value, err);
}

const char *property__command_label(int cmd)
{
	switch (cmd) {
	case OPT_CMD_CONNECT:
		return "CONNECT";
	case OPT_CMD_PUBLISH:
		return "PUBLISH";
	case OPT_CMD_SUBSCRIBE:
		return "SUBSCRIBE";
	case OPT_CMD_UNSUBSCRIBE:
		return "UNSUBSCRIBE";
	case OPT_CMD_DISCONNECT:
		return "DISCONNECT";
	default:
		return "Will";
	}
}

const char *property__check(const struct tool_opts *o, int cmd)
{
	static const char protocol[] = "A network protocol error occurred when communicating with the broker.";
	for (size_t i = 0; i < o->nprops; i++) {
		const struct opt_prop *p = &o->props[i];
		if (p->cmd != cmd) continue;
		switch (p->id) {
		case MQTT_PROP_REQUEST_PROBLEM_INFORMATION:
		case MQTT_PROP_REQUEST_RESPONSE_INFORMATION:
		case MQTT_PROP_MAXIMUM_QOS:
		case MQTT_PROP_RETAIN_AVAILABLE:
		case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
		case MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE:
		case MQTT_PROP_SHARED_SUB_AVAILABLE:
			if (p->value > 1) return protocol;
			break;
		case MQTT_PROP_MAXIMUM_PACKET_SIZE:
		case MQTT_PROP_RECEIVE_MAXIMUM:
		case MQTT_PROP_TOPIC_ALIAS:
			if (p->value == 0) return protocol;
			break;
		}
		if (!property__allowed(cmd, p->id)) return protocol;
		if (p->id == MQTT_PROP_USER_PROPERTY) continue;
		for (size_t k = i + 1; k < o->nprops; k++)
			if (o->props[k].cmd == cmd && o->props[k].id == p->id)
				return "Duplicate property in property list";
	}
	return NULL;
}
