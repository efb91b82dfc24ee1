/* The packets with little or no body: PINGREQ, PINGRESP, DISCONNECT, AUTH; and packet type names. */
#include "proto.h"

#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

int proto__decode_empty(const struct mqtt_frame *f)
{
	if (f->type != MQTT_PINGREQ && f->type != MQTT_PINGRESP && f->type != MQTT_DISCONNECT)
		return PROTO_MALFORMED;
	if (f->flags != 0 || f->remaining != 0) return PROTO_MALFORMED;
	return PROTO_OK;
}

/* The v5 body of DISCONNECT and AUTH (of type): no body means reason 0, a lone reason code means no properties
 * (3.14.2; AUTH as its contract in proto.h says). PROTO_OK, PROTO_MALFORMED or PROTO_PROTOCOL_ERROR. */
static int decode_reason_props(const struct mqtt_frame *f, uint8_t type, uint8_t *reason, struct mqtt_str *props)
{
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	int verdict = PROTO_OK;
	if (f->remaining >= 1) reader__u8(&r, reason);
	if (f->remaining >= 2 && reader__props_valid(&r, props, type, false, &verdict)) return PROTO_MALFORMED;
	return reader__left(&r) ? PROTO_MALFORMED : verdict;
}

/* Reason codes of a DISCONNECT, either direction (v5 table 3.14.2.1). */
static bool valid_disconnect_reason(uint8_t rc)
{
	switch (rc) {
	case MQTT_RC_SUCCESS:
	case MQTT_RC_DISCONNECT_WITH_WILL:
	case MQTT_RC_UNSPECIFIED:
	case MQTT_RC_MALFORMED_PACKET:
	case MQTT_RC_PROTOCOL_ERROR:
	case MQTT_RC_IMPLEMENTATION_SPECIFIC:
	case MQTT_RC_NOT_AUTHORIZED:
	case MQTT_RC_SERVER_BUSY:
	case MQTT_RC_SERVER_SHUTTING_DOWN:
	case MQTT_RC_KEEP_ALIVE_TIMEOUT:
	case MQTT_RC_SESSION_TAKEN_OVER:
	case MQTT_RC_TOPIC_FILTER_INVALID:
	case MQTT_RC_TOPIC_NAME_INVALID:
	case MQTT_RC_RECEIVE_MAX_EXCEEDED:
	case MQTT_RC_TOPIC_ALIAS_INVALID:
	case MQTT_RC_PACKET_TOO_LARGE:
	case MQTT_RC_MESSAGE_RATE_TOO_HIGH:
	case MQTT_RC_QUOTA_EXCEEDED:
	case MQTT_RC_ADMINISTRATIVE_ACTION:
	case MQTT_RC_PAYLOAD_FORMAT_INVALID:
	case MQTT_RC_RETAIN_NOT_SUPPORTED:
	case MQTT_RC_QOS_NOT_SUPPORTED:
	case MQTT_RC_USE_ANOTHER_SERVER:
	case MQTT_RC_SERVER_MOVED:
	case MQTT_RC_SHARED_SUBS_NOT_SUPPORTED:
	case MQTT_RC_CONNECTION_RATE_EXCEEDED:
	case MQTT_RC_MAXIMUM_CONNECT_TIME:
	case MQTT_RC_SUBSCRIPTION_IDS_NOT_SUPPORTED:
	case MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED: return true;
	}
	return false;
}

int proto__decode_disconnect(const struct mqtt_frame *f, uint8_t version, struct mqtt_disconnect *d)
{
	d->reason = MQTT_RC_SUCCESS;
	d->props = (struct mqtt_str){0};
	if (f->type != MQTT_DISCONNECT) return PROTO_MALFORMED;
	if (version != MQTT_V5) return proto__decode_empty(f);
	if (f->flags != 0) return PROTO_MALFORMED;
	int rc = decode_reason_props(f, MQTT_DISCONNECT, &d->reason, &d->props);
	if (rc) return rc;
	/* The spec names no answer to an unknown reason code; the packet is well formed, so: protocol error. */
	return valid_disconnect_reason(d->reason) ? PROTO_OK : PROTO_PROTOCOL_ERROR;
}

int proto__encode_disconnect(struct buf *b, uint8_t version, const struct mqtt_disconnect *d)
{
	/* The shortest form that carries the fields: 3.x and a plain v5 DISCONNECT have no body. */
	size_t rem = 0;
	if (version == MQTT_V5 && d->props.len) rem = 1 + writer__props_size(&d->props);
	else if (version == MQTT_V5 && d->reason != 0) rem = 1;
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_DISCONNECT << 4, rem);
	if (rc) return rc;
	if (rem) writer__u8(&w, d->reason);
	if (rem > 1) writer__props(&w, &d->props);
	writer__end(&w);
	return 0;
}

static bool valid_auth_reason(uint8_t rc)
{
	return rc == MQTT_RC_SUCCESS || rc == MQTT_RC_CONTINUE_AUTHENTICATION || rc == MQTT_RC_REAUTHENTICATE;
}

int proto__decode_auth(const struct mqtt_frame *f, uint8_t version, struct mqtt_auth *a)
{
	a->reason = MQTT_RC_SUCCESS;
	a->props = (struct mqtt_str){0};
	if (f->type != MQTT_AUTH) return PROTO_MALFORMED;
	/* Type 15 is reserved before v5: a packet 3.x does not allow, not one it cannot parse. */
	if (version != MQTT_V5) return PROTO_PROTOCOL_ERROR;
	if (f->flags != 0) return PROTO_MALFORMED; /* 3.15.1 */
	int rc = decode_reason_props(f, MQTT_AUTH, &a->reason, &a->props);
	if (rc) return rc;
	return valid_auth_reason(a->reason) ? PROTO_OK : PROTO_PROTOCOL_ERROR; /* 3.15.2.1 */
}

int proto__encode_auth(struct buf *b, const struct mqtt_auth *a)
{
	if (!valid_auth_reason(a->reason)) return MIDGE_ERR_INVAL;
	/* 3.15.2.1 lets only reason 0 without properties leave the reason and property length off, together; a
	 * reason alone is accepted on input but not sent, as peers such as Mosquitto then read a missing length. */
	size_t rem = 0;
	if (a->reason != MQTT_RC_SUCCESS || a->props.len) rem = 1 + writer__props_size(&a->props);
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_AUTH << 4, rem);
	if (rc) return rc;
	if (rem) {
		writer__u8(&w, a->reason);
		writer__props(&w, &a->props);
	}
	writer__end(&w);
	return 0;
}

size_t proto__encode_empty(uint8_t out[2], uint8_t type)
{
	out[0] = (uint8_t)(type << 4);
	out[1] = 0;
	return 2;
}

const char *proto__type_name(uint8_t type)
{
	switch (type) {
	case MQTT_CONNECT: return "CONNECT";
	case MQTT_CONNACK: return "CONNACK";
	case MQTT_PUBLISH: return "PUBLISH";
	case MQTT_PUBACK: return "PUBACK";
	case MQTT_PUBREC: return "PUBREC";
	case MQTT_PUBREL: return "PUBREL";
	case MQTT_PUBCOMP: return "PUBCOMP";
	case MQTT_SUBSCRIBE: return "SUBSCRIBE";
	case MQTT_SUBACK: return "SUBACK";
	case MQTT_UNSUBSCRIBE: return "UNSUBSCRIBE";
	case MQTT_UNSUBACK: return "UNSUBACK";
	case MQTT_PINGREQ: return "PINGREQ";
	case MQTT_PINGRESP: return "PINGRESP";
	case MQTT_DISCONNECT: return "DISCONNECT";
	case MQTT_AUTH: return "AUTH";
	}
	return "UNKNOWN";
}
