/* MQTT-SN 1.2 codec: see sn.h. Each message is its header (a length of 1 or 3 octets, then the type) and the
 * fields its type defines, in the order decode() and encode() both walk. */
#include "proto/sn.h"

#include <string.h>

#include "midge/midge.h"
#include "proto/reader.h"

#define FLAG_DUP 0x80
#define FLAG_RETAIN 0x10
#define FLAG_WILL 0x08
#define FLAG_CLEAN 0x04

static void read_flags(uint8_t f, struct sn_msg *m)
{
	m->has_flags = true;
	m->dup = (f & FLAG_DUP) != 0;
	m->qos = (int8_t)((f >> 5) & 3);
	if (m->qos == 3) m->qos = -1;
	m->retain = (f & FLAG_RETAIN) != 0;
	m->will = (f & FLAG_WILL) != 0;
	m->clean = (f & FLAG_CLEAN) != 0;
	m->topic_type = f & 3;
}

static uint8_t flags_of(const struct sn_msg *m)
{
	uint8_t q = m->qos < 0 ? 3 : (uint8_t)(m->qos & 3);
	return (uint8_t)((m->dup ? FLAG_DUP : 0) | q << 5 | (m->retain ? FLAG_RETAIN : 0) | (m->will ? FLAG_WILL : 0) |
			 (m->clean ? FLAG_CLEAN : 0) | (m->topic_type & 3));
}

/* The body of one message (after its type octet), as its type defines it. */
static int decode_body(struct reader *r, struct sn_msg *m)
{
	uint8_t f = 0;
	int rc = PROTO_OK;
#define U8(v) (rc |= reader__u8(r, &(v)))
#define U16(v) (rc |= reader__u16(r, &(v)))
	switch (m->type) {
	case SN_ADVERTISE: U8(m->gw_id), U16(m->duration); break;
	case SN_SEARCHGW: U8(m->radius); break;
	case SN_GWINFO: U8(m->gw_id), reader__rest(r, &m->text); break;
	case SN_CONNECT:
		U8(f), U8(m->protocol_id), U16(m->duration), reader__rest(r, &m->text);
		read_flags(f, m);
		break;
	case SN_CONNACK:
	case SN_WILLTOPICRESP:
	case SN_WILLMSGRESP: U8(m->rc); break;
	case SN_WILLTOPICREQ:
	case SN_WILLMSGREQ:
	case SN_PINGRESP: break;
	case SN_WILLTOPIC:
	case SN_WILLTOPICUPD:
		if (reader__left(r)) { /* empty: no will any more */
			U8(f), reader__rest(r, &m->text);
			read_flags(f, m);
		}
		break;
	case SN_WILLMSG:
	case SN_WILLMSGUPD: reader__rest(r, &m->data); break;
	case SN_REGISTER: U16(m->topic_id), U16(m->msg_id), reader__rest(r, &m->text); break;
	case SN_REGACK:
	case SN_PUBACK: U16(m->topic_id), U16(m->msg_id), U8(m->rc); break;
	case SN_PUBLISH:
		U8(f), U16(m->topic_id), U16(m->msg_id), reader__rest(r, &m->data);
		read_flags(f, m);
		break;
	case SN_PUBREC:
	case SN_PUBREL:
	case SN_PUBCOMP:
	case SN_UNSUBACK: U16(m->msg_id); break;
	case SN_SUBSCRIBE:
	case SN_UNSUBSCRIBE:
		U8(f), U16(m->msg_id);
		read_flags(f, m);
		if (m->topic_type == SN_TOPIC_PREDEFINED) U16(m->topic_id);
		else reader__rest(r, &m->text);
		/* A short topic name is exactly two characters. */
		if (rc == PROTO_OK && m->topic_type == SN_TOPIC_SHORT && m->text.len != 2) return PROTO_MALFORMED;
		break;
	case SN_SUBACK:
		U8(f), U16(m->topic_id), U16(m->msg_id), U8(m->rc);
		read_flags(f, m);
		break;
	case SN_PINGREQ: reader__rest(r, &m->text); break;
	case SN_DISCONNECT:
		if (reader__left(r)) {
			U16(m->duration);
			m->has_duration = true;
		}
		break;
	default: return SN_UNKNOWN;
	}
#undef U8
#undef U16
	/* Every field read, nothing left over. */
	return rc != PROTO_OK || reader__left(r) ? PROTO_MALFORMED : PROTO_OK;
}

/* The length field: one octet, or 0x01 and two more. Returns the header size, or 0 when it does not fit. */
static size_t read_length(const uint8_t *p, size_t len, size_t *total)
{
	if (len < 1) return 0;
	if (p[0] != 0x01) {
		*total = p[0];
		return 1;
	}
	if (len < 3) return 0;
	*total = (size_t)p[1] << 8 | p[2];
	return 3;
}

int sn__decode(const uint8_t *p, size_t len, struct sn_msg *m)
{
	size_t total, hdr = read_length(p, len, &total);
	if (!hdr || len < hdr + 1 || total < hdr + 1) return SN_MALFORMED;
	struct sn_msg out = {.type = p[hdr]};
	if (out.type == SN_ENCAPSULATED) {
		/* Its length covers the envelope (length, type, ctrl, node id); the message it carries follows. */
		if (hdr != 1 || total < 3 || total >= len) return SN_MALFORMED;
		out.radius = p[2];
		out.text = (struct mqtt_str){p + 3, (uint32_t)(total - 3)};
		out.data = (struct mqtt_str){p + total, (uint32_t)(len - total)};
		*m = out;
		return SN_OK;
	}
	if (total != len) return SN_MALFORMED;
	struct reader r;
	reader__init(&r, p + hdr + 1, len - hdr - 1);
	int rc = decode_body(&r, &out);
	if (rc == SN_UNKNOWN) return SN_UNKNOWN;
	if (rc != PROTO_OK) return SN_MALFORMED;
	*m = out;
	return SN_OK;
}

/* The body's length: what put_body() writes. */
static size_t body_len(const struct sn_msg *m)
{
	switch (m->type) {
	case SN_ADVERTISE: return 3;
	case SN_SEARCHGW:
	case SN_CONNACK:
	case SN_WILLTOPICRESP:
	case SN_WILLMSGRESP: return 1;
	case SN_GWINFO: return 1 + m->text.len;
	case SN_CONNECT: return 4 + m->text.len;
	case SN_WILLTOPICREQ:
	case SN_WILLMSGREQ:
	case SN_PINGRESP: return 0;
	case SN_WILLTOPIC:
	case SN_WILLTOPICUPD: return m->has_flags ? 1 + m->text.len : 0;
	case SN_WILLMSG:
	case SN_WILLMSGUPD: return m->data.len;
	case SN_REGISTER: return 4 + m->text.len;
	case SN_REGACK:
	case SN_PUBACK: return 5;
	case SN_PUBLISH: return 5 + m->data.len;
	case SN_PUBREC:
	case SN_PUBREL:
	case SN_PUBCOMP:
	case SN_UNSUBACK: return 2;
	case SN_SUBSCRIBE:
	case SN_UNSUBSCRIBE: return 3 + (m->topic_type == SN_TOPIC_PREDEFINED ? 2 : m->text.len);
	case SN_SUBACK: return 6;
	case SN_PINGREQ: return m->text.len;
	case SN_DISCONNECT: return m->has_duration ? 2 : 0;
	default: return 0;
	}
}

static int put_body(struct buf *b, const struct sn_msg *m)
{
	int rc = 0;
#define U8(v) (rc |= buf__put_u8(b, (v)))
#define U16(v) (rc |= buf__put_u16(b, (v)))
#define TEXT(s) (rc |= buf__append(b, (s).p, (s).len))
	switch (m->type) {
	case SN_ADVERTISE: U8(m->gw_id), U16(m->duration); break;
	case SN_SEARCHGW: U8(m->radius); break;
	case SN_GWINFO: U8(m->gw_id), TEXT(m->text); break;
	case SN_CONNECT: U8(flags_of(m)), U8(m->protocol_id), U16(m->duration), TEXT(m->text); break;
	case SN_CONNACK:
	case SN_WILLTOPICRESP:
	case SN_WILLMSGRESP: U8(m->rc); break;
	case SN_WILLTOPIC:
	case SN_WILLTOPICUPD:
		if (m->has_flags) U8(flags_of(m)), TEXT(m->text);
		break;
	case SN_WILLMSG:
	case SN_WILLMSGUPD: TEXT(m->data); break;
	case SN_REGISTER: U16(m->topic_id), U16(m->msg_id), TEXT(m->text); break;
	case SN_REGACK:
	case SN_PUBACK: U16(m->topic_id), U16(m->msg_id), U8(m->rc); break;
	case SN_PUBLISH: U8(flags_of(m)), U16(m->topic_id), U16(m->msg_id), TEXT(m->data); break;
	case SN_PUBREC:
	case SN_PUBREL:
	case SN_PUBCOMP:
	case SN_UNSUBACK: U16(m->msg_id); break;
	case SN_SUBSCRIBE:
	case SN_UNSUBSCRIBE:
		U8(flags_of(m)), U16(m->msg_id);
		if (m->topic_type == SN_TOPIC_PREDEFINED) U16(m->topic_id);
		else TEXT(m->text);
		break;
	case SN_SUBACK: U8(flags_of(m)), U16(m->topic_id), U16(m->msg_id), U8(m->rc); break;
	case SN_PINGREQ: TEXT(m->text); break;
	case SN_DISCONNECT:
		if (m->has_duration) U16(m->duration);
		break;
	default: break;
	}
#undef U8
#undef U16
#undef TEXT
	return rc ? MIDGE_ERR_NOMEM : 0;
}

int sn__encode(const struct sn_msg *m, struct buf *out)
{
	if (m->type == SN_ENCAPSULATED) {
		if (m->text.len > 252) return MIDGE_ERR_INVAL;
		if (buf__put_u8(out, (uint8_t)(3 + m->text.len)) || buf__put_u8(out, SN_ENCAPSULATED) ||
		    buf__put_u8(out, m->radius) || buf__append(out, m->text.p, m->text.len) ||
		    buf__append(out, m->data.p, m->data.len))
			return MIDGE_ERR_NOMEM;
		return 0;
	}
	if (!strcmp(sn__type_name(m->type), "UNKNOWN")) return MIDGE_ERR_INVAL;
	if ((m->type == SN_SUBSCRIBE || m->type == SN_UNSUBSCRIBE) && m->topic_type == SN_TOPIC_SHORT &&
	    m->text.len != 2)
		return MIDGE_ERR_INVAL;
	size_t body = body_len(m), total = 2 + body;
	if (total > 255) total += 2;
	if (total > 65535) return MIDGE_ERR_INVAL;
	int rc = total > 255 ? buf__put_u8(out, 0x01) || buf__put_u16(out, (uint16_t)total)
			     : buf__put_u8(out, (uint8_t)total);
	if (rc || buf__put_u8(out, m->type)) return MIDGE_ERR_NOMEM;
	return put_body(out, m);
}

const char *sn__type_name(uint8_t type)
{
	switch (type) {
	case SN_ADVERTISE: return "ADVERTISE";
	case SN_SEARCHGW: return "SEARCHGW";
	case SN_GWINFO: return "GWINFO";
	case SN_CONNECT: return "CONNECT";
	case SN_CONNACK: return "CONNACK";
	case SN_WILLTOPICREQ: return "WILLTOPICREQ";
	case SN_WILLTOPIC: return "WILLTOPIC";
	case SN_WILLMSGREQ: return "WILLMSGREQ";
	case SN_WILLMSG: return "WILLMSG";
	case SN_REGISTER: return "REGISTER";
	case SN_REGACK: return "REGACK";
	case SN_PUBLISH: return "PUBLISH";
	case SN_PUBACK: return "PUBACK";
	case SN_PUBCOMP: return "PUBCOMP";
	case SN_PUBREC: return "PUBREC";
	case SN_PUBREL: return "PUBREL";
	case SN_SUBSCRIBE: return "SUBSCRIBE";
	case SN_SUBACK: return "SUBACK";
	case SN_UNSUBSCRIBE: return "UNSUBSCRIBE";
	case SN_UNSUBACK: return "UNSUBACK";
	case SN_PINGREQ: return "PINGREQ";
	case SN_PINGRESP: return "PINGRESP";
	case SN_DISCONNECT: return "DISCONNECT";
	case SN_WILLTOPICUPD: return "WILLTOPICUPD";
	case SN_WILLTOPICRESP: return "WILLTOPICRESP";
	case SN_WILLMSGUPD: return "WILLMSGUPD";
	case SN_WILLMSGRESP: return "WILLMSGRESP";
	case SN_ENCAPSULATED: return "ENCAPSULATED";
	default: return "UNKNOWN";
	}
}
