/* CONNECT and CONNACK: decoding with the MQTT 3.1 / 3.1.1 / 5 rules, and encoding. */
#include "proto.h"

#include <string.h>

#include "common/topic.h"
#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

/* Connect flags byte, 3.1.1 section 3.1.2.3. */
#define CF_RESERVED 0x01
#define CF_CLEAN 0x02
#define CF_WILL 0x04
#define CF_WILL_QOS_SHIFT 3
#define CF_WILL_RETAIN 0x20
#define CF_PASSWORD 0x40
#define CF_USERNAME 0x80

static bool str_is(const struct mqtt_str *s, const char *lit)
{
	size_t n = strlen(lit);
	return s->len == n && memcmp(s->p, lit, n) == 0;
}

/* Set in the protocol level of 3.x by a bridge that says it is one (Mosquitto's try_private): the broker
 * then treats it as a bridge (no echo of its own messages, retain flags as published). */
#define LEVEL_BRIDGE 0x80

/* Checks the protocol name / level pair. Sets c->version to the level seen in every case (without the
 * bridge bit, which sets c->bridge). */
static int check_protocol(struct mqtt_connect *c, uint8_t level)
{
	c->version = level;
	bool mqtt = str_is(&c->protocol_name, "MQTT"), mqisdp = str_is(&c->protocol_name, "MQIsdp");
	/* The bridge bit only on its own level: "MQTT" 0x84, "MQIsdp" 0x83; any other level is refused as sent. */
	if ((mqtt && level == (MQTT_V311 | LEVEL_BRIDGE)) || (mqisdp && level == (MQTT_V31 | LEVEL_BRIDGE))) {
		c->bridge = true;
		c->version = level & (uint8_t)~LEVEL_BRIDGE;
		return PROTO_OK;
	}
	if (mqtt) return (level == MQTT_V311 || level == MQTT_V5) ? PROTO_OK : PROTO_BAD_VERSION;
	if (mqisdp) return level == MQTT_V31 ? PROTO_OK : PROTO_BAD_VERSION;
	return PROTO_BAD_PROTOCOL_NAME;
}

/* Checks the connect flags against each other; the fields they announce are read afterwards. */
static int apply_flags(struct mqtt_connect *c, uint8_t flags)
{
	if (flags & CF_RESERVED) return PROTO_MALFORMED; /* [MQTT-3.1.2-3] */
	c->clean = flags & CF_CLEAN;
	c->will = flags & CF_WILL;
	c->will_qos = (flags >> CF_WILL_QOS_SHIFT) & 3;
	c->will_retain = flags & CF_WILL_RETAIN;
	c->has_username = flags & CF_USERNAME;
	c->has_password = flags & CF_PASSWORD;
	if (!c->will && (c->will_qos || c->will_retain)) return PROTO_MALFORMED; /* [MQTT-3.1.2-11, -13, -15] */
	if (c->will_qos == 3) return PROTO_MALFORMED;                             /* [MQTT-3.1.2-14] */
	/* [MQTT-3.1.2-22]; MQTT 5 dropped the rule so a password can carry e.g. a token. */
	if (c->version != MQTT_V5 && c->has_password && !c->has_username) return PROTO_MALFORMED;
	return PROTO_OK;
}

int proto__decode_connect(const struct mqtt_frame *f, struct mqtt_connect *c)
{
	memset(c, 0, sizeof(*c));
	if (f->type != MQTT_CONNECT || f->flags != 0) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	uint8_t level, flags;
	if (reader__binary(&r, &c->protocol_name) || reader__u8(&r, &level)) return PROTO_MALFORMED;
	int rc = check_protocol(c, level);
	if (rc) return rc;
	if (reader__u8(&r, &flags)) return PROTO_MALFORMED;
	rc = apply_flags(c, flags);
	if (rc) return rc;
	if (reader__u16(&r, &c->keepalive)) return PROTO_MALFORMED;
	bool v5 = c->version == MQTT_V5;
	int verdict = PROTO_OK;
	if (v5 && reader__props_valid(&r, &c->props, MQTT_CONNECT, false, &verdict)) return PROTO_MALFORMED;
	if (reader__utf8(&r, &c->client_id)) return PROTO_MALFORMED;
	if (c->will) {
		if (v5 && reader__props_valid(&r, &c->will_props, MQTT_CONNECT, true, &verdict)) return PROTO_MALFORMED;
		if (reader__utf8(&r, &c->will_topic)) return PROTO_MALFORMED;
		if (!topic__valid_name(c->will_topic.p, c->will_topic.len)) return PROTO_MALFORMED;
		if (reader__binary(&r, &c->will_payload)) return PROTO_MALFORMED;
	}
	if (c->has_username && reader__utf8(&r, &c->username)) return PROTO_MALFORMED;
	if (c->has_password && reader__binary(&r, &c->password)) return PROTO_MALFORMED;
	return reader__left(&r) ? PROTO_MALFORMED : verdict;
}

int proto__encode_connect(struct buf *b, const struct mqtt_connect *c)
{
	static const struct mqtt_str mqtt = {(const uint8_t *)"MQTT", 4};
	static const struct mqtt_str mqisdp = {(const uint8_t *)"MQIsdp", 6};
	bool v5 = c->version == MQTT_V5;
	if (c->version != MQTT_V31 && c->version != MQTT_V311 && !v5) return MIDGE_ERR_INVAL;
	if (c->bridge && v5) return MIDGE_ERR_INVAL; /* MQTT 5 bridges use No Local and Retain As Published */
	if (c->will_qos > 2 || (!c->will && (c->will_qos || c->will_retain))) return MIDGE_ERR_INVAL;
	if (!v5 && c->has_password && !c->has_username) return MIDGE_ERR_INVAL;
	const struct mqtt_str *name = c->version == MQTT_V31 ? &mqisdp : &mqtt;

	/* Every u16-prefixed field must fit its length; sum the wire size as we check. */
	const struct mqtt_str *strs[5] = {&c->client_id};
	size_t nstr = 1;
	if (c->will) {
		strs[nstr++] = &c->will_topic;
		strs[nstr++] = &c->will_payload;
	}
	if (c->has_username) strs[nstr++] = &c->username;
	if (c->has_password) strs[nstr++] = &c->password;
	size_t rem = 2 + name->len + 1 + 1 + 2;
	for (size_t i = 0; i < nstr; i++) {
		if (strs[i]->len > 65535) return MIDGE_ERR_INVAL;
		rem += 2 + strs[i]->len;
	}
	if (v5) rem += writer__props_size(&c->props) + (c->will ? writer__props_size(&c->will_props) : 0);

	uint8_t flags = (uint8_t)((c->clean ? CF_CLEAN : 0) | (c->will ? CF_WILL : 0) |
				  (c->will_qos << CF_WILL_QOS_SHIFT) | (c->will_retain ? CF_WILL_RETAIN : 0) |
				  (c->has_password ? CF_PASSWORD : 0) | (c->has_username ? CF_USERNAME : 0));
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_CONNECT << 4, rem);
	if (rc) return rc;
	writer__str(&w, name);
	writer__u8(&w, (uint8_t)(c->version | (c->bridge ? LEVEL_BRIDGE : 0)));
	writer__u8(&w, flags);
	writer__u16(&w, c->keepalive);
	if (v5) writer__props(&w, &c->props);
	writer__str(&w, &c->client_id);
	if (c->will) {
		if (v5) writer__props(&w, &c->will_props);
		writer__str(&w, &c->will_topic);
		writer__str(&w, &c->will_payload);
	}
	if (c->has_username) writer__str(&w, &c->username);
	if (c->has_password) writer__str(&w, &c->password);
	writer__end(&w);
	return 0;
}

int proto__decode_connack(const struct mqtt_frame *f, uint8_t version, struct mqtt_connack *a)
{
	memset(a, 0, sizeof(*a));
	if (f->type != MQTT_CONNACK || f->flags != 0) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	uint8_t ack_flags;
	if (reader__u8(&r, &ack_flags) || reader__u8(&r, &a->rc)) return PROTO_MALFORMED;
	if (ack_flags & 0xFE) return PROTO_MALFORMED; /* [MQTT-3.2.2-1]: bits 7-1 reserved */
	a->session_present = ack_flags & 1;
	/* v5 3.2.2.3: the property length is always present in a CONNACK. */
	int verdict = PROTO_OK;
	if (version == MQTT_V5 && reader__props_valid(&r, &a->props, MQTT_CONNACK, false, &verdict))
		return PROTO_MALFORMED;
	return reader__left(&r) ? PROTO_MALFORMED : verdict;
}

int proto__encode_connack(struct buf *b, uint8_t version, const struct mqtt_connack *a)
{
	bool v5 = version == MQTT_V5;
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_CONNACK << 4, 2 + (v5 ? writer__props_size(&a->props) : 0));
	if (rc) return rc;
	writer__u8(&w, a->session_present ? 1 : 0);
	writer__u8(&w, a->rc);
	if (v5) writer__props(&w, &a->props);
	writer__end(&w);
	return 0;
}
