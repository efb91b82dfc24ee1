/* MQTT 5.0 properties: the identifier table, validation, iteration and encoding; see props.h. */
#include "props.h"

#include <string.h>

#include "midge/midge.h"
#include "reader.h"

#define IN(t) MQTT_PROP_IN(MQTT_##t)
#define WILL MQTT_PROP_IN_WILL
#define ACKS (IN(PUBACK) | IN(PUBREC) | IN(PUBREL) | IN(PUBCOMP))
#define MSG (IN(PUBLISH) | WILL)

/* MQTT 5.0 table 2-4, indexed by identifier; rows with type 0 are undefined identifiers. */
static const struct mqtt_prop_info table[MQTT_PROP_MAX_ID + 1] = {
#define ROW(id, t, in, nm) [MQTT_PROP_##id] = {MQTT_PROP_##id, MQTT_PROP_T_##t, (uint16_t)(in), nm}
    ROW(PAYLOAD_FORMAT_INDICATOR, BYTE, MSG, "Payload Format Indicator"),
    ROW(MESSAGE_EXPIRY_INTERVAL, U32, MSG, "Message Expiry Interval"),
    ROW(CONTENT_TYPE, UTF8, MSG, "Content Type"),
    ROW(RESPONSE_TOPIC, UTF8, MSG, "Response Topic"),
    ROW(CORRELATION_DATA, BINARY, MSG, "Correlation Data"),
    ROW(SUBSCRIPTION_IDENTIFIER, VARINT, IN(PUBLISH) | IN(SUBSCRIBE), "Subscription Identifier"),
    ROW(SESSION_EXPIRY_INTERVAL, U32, IN(CONNECT) | IN(CONNACK) | IN(DISCONNECT), "Session Expiry Interval"),
    ROW(ASSIGNED_CLIENT_IDENTIFIER, UTF8, IN(CONNACK), "Assigned Client Identifier"),
    ROW(SERVER_KEEP_ALIVE, U16, IN(CONNACK), "Server Keep Alive"),
    ROW(AUTHENTICATION_METHOD, UTF8, IN(CONNECT) | IN(CONNACK) | IN(AUTH), "Authentication Method"),
    ROW(AUTHENTICATION_DATA, BINARY, IN(CONNECT) | IN(CONNACK) | IN(AUTH), "Authentication Data"),
    ROW(REQUEST_PROBLEM_INFORMATION, BYTE, IN(CONNECT), "Request Problem Information"),
    ROW(WILL_DELAY_INTERVAL, U32, WILL, "Will Delay Interval"),
    ROW(REQUEST_RESPONSE_INFORMATION, BYTE, IN(CONNECT), "Request Response Information"),
    ROW(RESPONSE_INFORMATION, UTF8, IN(CONNACK), "Response Information"),
    ROW(SERVER_REFERENCE, UTF8, IN(CONNACK) | IN(DISCONNECT), "Server Reference"),
    ROW(REASON_STRING, UTF8, IN(CONNACK) | ACKS | IN(SUBACK) | IN(UNSUBACK) | IN(DISCONNECT) | IN(AUTH),
        "Reason String"),
    ROW(RECEIVE_MAXIMUM, U16, IN(CONNECT) | IN(CONNACK), "Receive Maximum"),
    ROW(TOPIC_ALIAS_MAXIMUM, U16, IN(CONNECT) | IN(CONNACK), "Topic Alias Maximum"),
    ROW(TOPIC_ALIAS, U16, IN(PUBLISH), "Topic Alias"),
    ROW(MAXIMUM_QOS, BYTE, IN(CONNACK), "Maximum QoS"),
    ROW(RETAIN_AVAILABLE, BYTE, IN(CONNACK), "Retain Available"),
    ROW(USER_PROPERTY, PAIR,
        IN(CONNECT) | IN(CONNACK) | MSG | ACKS | IN(SUBSCRIBE) | IN(SUBACK) | IN(UNSUBSCRIBE) | IN(UNSUBACK) |
            IN(DISCONNECT) | IN(AUTH),
        "User Property"),
    ROW(MAXIMUM_PACKET_SIZE, U32, IN(CONNECT) | IN(CONNACK), "Maximum Packet Size"),
    ROW(WILDCARD_SUB_AVAILABLE, BYTE, IN(CONNACK), "Wildcard Subscription Available"),
    ROW(SUBSCRIPTION_ID_AVAILABLE, BYTE, IN(CONNACK), "Subscription Identifier Available"),
    ROW(SHARED_SUB_AVAILABLE, BYTE, IN(CONNACK), "Shared Subscription Available"),
#undef ROW
};

const struct mqtt_prop_info *props__info(uint8_t id)
{
	if (id > MQTT_PROP_MAX_ID || table[id].type == 0) return NULL;
	return &table[id];
}

bool props__allowed(uint8_t id, uint8_t packet_type, bool will)
{
	const struct mqtt_prop_info *in = props__info(id);
	if (!in) return false;
	if (will) return (in->packets & MQTT_PROP_IN_WILL) != 0;
	if (packet_type == 0 || packet_type > MQTT_AUTH) return false;
	return (in->packets & MQTT_PROP_IN(packet_type)) != 0;
}

/* Reads one property at r. PROTO_OK with *out filled, or PROTO_MALFORMED (r->pos then unspecified).
 * The identifier is a varint on the wire (2.2.2.2); every defined one fits in a single byte, so a byte
 * with the continuation bit is either undefined or non-minimal and both are malformed. */
static int read_prop(struct reader *r, struct mqtt_prop *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t id;
	if (reader__u8(r, &id)) return PROTO_MALFORMED;
	const struct mqtt_prop_info *in = props__info(id);
	if (!in) return PROTO_MALFORMED;
	out->id = id;
	out->type = in->type;
	uint8_t u8;
	uint16_t u16;
	switch (in->type) {
	case MQTT_PROP_T_BYTE:
		if (reader__u8(r, &u8)) return PROTO_MALFORMED;
		out->u32 = u8;
		return PROTO_OK;
	case MQTT_PROP_T_U16:
		if (reader__u16(r, &u16)) return PROTO_MALFORMED;
		out->u32 = u16;
		return PROTO_OK;
	case MQTT_PROP_T_U32: {
		struct mqtt_str s;
		if (reader__bytes(r, 4, &s)) return PROTO_MALFORMED;
		out->u32 = (uint32_t)s.p[0] << 24 | (uint32_t)s.p[1] << 16 | (uint32_t)s.p[2] << 8 | s.p[3];
		return PROTO_OK;
	}
	case MQTT_PROP_T_VARINT:
		return reader__varint(r, &out->u32);
	case MQTT_PROP_T_UTF8:
		return reader__utf8(r, &out->str);
	case MQTT_PROP_T_BINARY:
		return reader__binary(r, &out->str);
	case MQTT_PROP_T_PAIR:
		if (reader__utf8(r, &out->str)) return PROTO_MALFORMED;
		return reader__utf8(r, &out->str2);
	}
	return PROTO_MALFORMED;
}

int props__check_value(uint8_t id, uint32_t v)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR:
		return v <= 1 ? PROTO_OK : PROTO_MALFORMED;
	case MQTT_PROP_REQUEST_PROBLEM_INFORMATION:
	case MQTT_PROP_REQUEST_RESPONSE_INFORMATION:
	case MQTT_PROP_MAXIMUM_QOS:
	case MQTT_PROP_RETAIN_AVAILABLE:
	case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
	case MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE:
	case MQTT_PROP_SHARED_SUB_AVAILABLE:
		return v <= 1 ? PROTO_OK : PROTO_PROTOCOL_ERROR;
	case MQTT_PROP_RECEIVE_MAXIMUM:
	case MQTT_PROP_MAXIMUM_PACKET_SIZE:
	case MQTT_PROP_SUBSCRIPTION_IDENTIFIER:
		return v != 0 ? PROTO_OK : PROTO_PROTOCOL_ERROR;
	default:
		return PROTO_OK;
	}
}

int props__validate(const struct mqtt_str *props, uint8_t packet_type, bool will)
{
	struct reader r;
	reader__init(&r, props->p, props->len);
	uint64_t seen = 0; /* bit per identifier; every identifier is below 64 */
	/* Malformations anywhere win over protocol errors, so the whole span is walked before answering one. */
	int verdict = PROTO_OK;
	while (reader__left(&r)) {
		struct mqtt_prop p;
		if (read_prop(&r, &p)) return PROTO_MALFORMED;
		if (!props__allowed(p.id, packet_type, will)) return PROTO_MALFORMED;
		int rc = props__check_value(p.id, p.u32);
		if (rc == PROTO_MALFORMED) return rc;
		if (rc && !verdict) verdict = rc;
		bool repeatable = p.id == MQTT_PROP_USER_PROPERTY ||
		                  (p.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER && !will && packet_type == MQTT_PUBLISH);
		uint64_t bit = (uint64_t)1 << p.id;
		if ((seen & bit) && !repeatable && !verdict) verdict = PROTO_PROTOCOL_ERROR;
		seen |= bit;
	}
	return verdict;
}

bool props__next(const struct mqtt_str *props, size_t *pos, struct mqtt_prop *out)
{
	if (*pos >= props->len) return false;
	struct reader r;
	reader__init(&r, props->p, props->len);
	r.pos = *pos;
	if (read_prop(&r, out)) return false;
	*pos = r.pos;
	return true;
}

/* ---- encoders: each sizes its property, reserves it whole, then writes, so b is unchanged on error ---- */

static int check_id(uint8_t id, uint8_t type)
{
	const struct mqtt_prop_info *in = props__info(id);
	return in && in->type == type ? 0 : MIDGE_ERR_INVAL;
}

/* Reserves n bytes in b after checking id is of type; returns where to write, or NULL with *rc set. */
static uint8_t *begin(struct buf *b, uint8_t id, uint8_t type, size_t n, int *rc)
{
	*rc = check_id(id, type);
	if (*rc) return NULL;
	*rc = buf__reserve(b, n);
	if (*rc) return NULL;
	uint8_t *p = buf__tail(b);
	*p = id;
	buf__produce(b, n);
	return p + 1;
}

static uint8_t *put_be(uint8_t *p, uint32_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_s(uint8_t *p, const struct mqtt_str *s)
{
	p = put_be(p, s->len, 2);
	if (s->len) memcpy(p, s->p, s->len); /* p of an empty span may be NULL */
	return p + s->len;
}

static int put_int(struct buf *b, uint8_t id, uint8_t type, uint32_t v, int n)
{
	int rc;
	uint8_t *p = begin(b, id, type, 1 + (size_t)n, &rc);
	if (p) put_be(p, v, n);
	return rc;
}

int props__put_u8(struct buf *b, uint8_t id, uint8_t v)
{
	return put_int(b, id, MQTT_PROP_T_BYTE, v, 1);
}
int props__put_u16(struct buf *b, uint8_t id, uint16_t v)
{
	return put_int(b, id, MQTT_PROP_T_U16, v, 2);
}
int props__put_u32(struct buf *b, uint8_t id, uint32_t v)
{
	return put_int(b, id, MQTT_PROP_T_U32, v, 4);
}

int props__put_varint(struct buf *b, uint8_t id, uint32_t v)
{
	uint8_t enc[4];
	size_t n = proto__varint_encode(enc, v);
	if (n == 0) return MIDGE_ERR_INVAL;
	int rc;
	uint8_t *p = begin(b, id, MQTT_PROP_T_VARINT, 1 + n, &rc);
	if (p) memcpy(p, enc, n);
	return rc;
}

static int put_string(struct buf *b, uint8_t id, uint8_t type, const struct mqtt_str *s)
{
	if (s->len > 0xFFFF) return MIDGE_ERR_INVAL;
	int rc;
	uint8_t *p = begin(b, id, type, 3 + (size_t)s->len, &rc);
	if (p) put_s(p, s);
	return rc;
}

int props__put_str(struct buf *b, uint8_t id, const struct mqtt_str *s)
{
	return put_string(b, id, MQTT_PROP_T_UTF8, s);
}
int props__put_bin(struct buf *b, uint8_t id, const struct mqtt_str *s)
{
	return put_string(b, id, MQTT_PROP_T_BINARY, s);
}

int props__put_pair(struct buf *b, uint8_t id, const struct mqtt_str *name, const struct mqtt_str *value)
{
	if (name->len > 0xFFFF || value->len > 0xFFFF) return MIDGE_ERR_INVAL;
	int rc;
	uint8_t *p = begin(b, id, MQTT_PROP_T_PAIR, 5 + (size_t)name->len + value->len, &rc);
	if (p) put_s(put_s(p, name), value);
	return rc;
}
