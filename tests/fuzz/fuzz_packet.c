/* libFuzzer driver of the MQTT codec: frames, decodes, re-encodes and re-decodes every packet it can.
 * Input: one byte choosing the protocol version (3, 4 or 5), then a stream of packets.
 * Invariants checked (abort() on failure): a decoder answers only the results its contract names; a packet
 * that decodes re-encodes without error; the encoding decodes to equal fields; encoding those fields again
 * gives the same bytes. In MQTT 5 every property span a decoder accepted validates for that packet type and
 * iterates into properties allowed there which, encoded again, are the span's bytes exactly; reason codes
 * and subscription options are ones the spec allows. Before v5 there are no properties and AUTH is refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "proto/proto.h"
#include "proto/props.h"

#define MAX_PACKET 8192
/* Each (un)subscribe entry takes at least three bytes. */
#define MAX_ENTRIES (MAX_PACKET / 3)

#define REQUIRE(cond)                 \
	do {                          \
		if (!(cond)) abort(); \
	} while (0)

/* The results a decoder may give (CONNECT has two more of its own). */
static bool is_decode_rc(int rc)
{
	return rc == PROTO_OK || rc == PROTO_MALFORMED || rc == PROTO_PROTOCOL_ERROR;
}

static bool str_eq(struct mqtt_str a, struct mqtt_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool same_bytes(const struct buf *a, const struct buf *b)
{
	return buf__len(a) == buf__len(b) && memcmp(buf__head(a), buf__head(b), buf__len(a)) == 0;
}

/* Frames the single packet held in b; it must be whole and alone. */
static struct mqtt_frame frame_buf(const struct buf *b)
{
	struct mqtt_frame f;
	REQUIRE(proto__frame(buf__head(b), buf__len(b), 0, &f) == PROTO_OK);
	REQUIRE(f.total_len == buf__len(b));
	return f;
}

/* Encodes pr again with the props__put_* of its type. */
static int put_prop(struct buf *b, const struct mqtt_prop *pr)
{
	switch (pr->type) {
	case MQTT_PROP_T_BYTE: return props__put_u8(b, pr->id, (uint8_t)pr->u32);
	case MQTT_PROP_T_U16: return props__put_u16(b, pr->id, (uint16_t)pr->u32);
	case MQTT_PROP_T_U32: return props__put_u32(b, pr->id, pr->u32);
	case MQTT_PROP_T_VARINT: return props__put_varint(b, pr->id, pr->u32);
	case MQTT_PROP_T_UTF8: return props__put_str(b, pr->id, &pr->str);
	case MQTT_PROP_T_BINARY: return props__put_bin(b, pr->id, &pr->str);
	case MQTT_PROP_T_PAIR: return props__put_pair(b, pr->id, &pr->str, &pr->str2);
	}
	return -1;
}

/* A span that validated for type (will: CONNECT's will properties): props__next walks it to its exact end, each
 * property being one the table allows there, no once-only one twice, and its bytes in the span being exactly
 * what props__put_* writes for it. A varint value may be written in more bytes than it needs (the decoder
 * accepts that); it must then still decode to the value read. */
static void props_exact(const struct mqtt_str *s, uint8_t type, bool will)
{
	REQUIRE(props__validate(s, type, will) == PROTO_OK);
	struct buf one = {0};
	uint64_t seen = 0;
	size_t pos = 0, n = 0;
	struct mqtt_prop pr;
	while (props__next(s, &pos, &pr)) {
		REQUIRE(pos > n && pos <= s->len);
		const struct mqtt_prop_info *in = props__info(pr.id);
		REQUIRE(in && in->type == pr.type && props__allowed(pr.id, type, will));
		bool repeatable = pr.id == MQTT_PROP_USER_PROPERTY ||
		                  (pr.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER && !will && type == MQTT_PUBLISH);
		REQUIRE(repeatable || !(seen & ((uint64_t)1 << pr.id)));
		seen |= (uint64_t)1 << pr.id;
		buf__clear(&one);
		REQUIRE(put_prop(&one, &pr) == 0);
		const uint8_t *at = s->p + n;
		size_t len = pos - n;
		if (pr.type == MQTT_PROP_T_VARINT && len != buf__len(&one)) {
			uint32_t v;
			size_t used;
			REQUIRE(at[0] == pr.id && len > buf__len(&one));
			REQUIRE(proto__varint_decode(at + 1, len - 1, &v, &used) == PROTO_OK && used == len - 1);
			REQUIRE(v == pr.u32);
		} else {
			REQUIRE(len == buf__len(&one) && memcmp(at, buf__head(&one), len) == 0);
		}
		n = pos;
	}
	REQUIRE(pos == s->len);
	buf__fini(&one);
}

/* The properties a decoder accepted for type: none before v5, an exact span in v5. */
static void props_ok(uint8_t v, const struct mqtt_str *s, uint8_t type, bool will)
{
	if (v != MQTT_V5) REQUIRE(s->len == 0);
	else props_exact(s, type, will);
}

/* Reason codes of v5 acks and DISCONNECT (3.4.2.1 to 3.7.2.1, table 3.14.2.1), written out again here so the
 * decoders' tables are checked against a second copy. */
static bool reason_allowed(uint8_t type, uint8_t rc)
{
	static const uint8_t pub[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}, rel[] = {0x00, 0x92};
	static const uint8_t disc[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
				       0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
				       0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
	if (type == MQTT_DISCONNECT) return memchr(disc, rc, sizeof disc) != NULL;
	if (type == MQTT_PUBREL || type == MQTT_PUBCOMP) return memchr(rel, rc, sizeof rel) != NULL;
	return memchr(pub, rc, sizeof pub) != NULL;
}

static bool connect_eq(const struct mqtt_connect *a, const struct mqtt_connect *b)
{
	return str_eq(a->protocol_name, b->protocol_name) && a->version == b->version && a->clean == b->clean &&
	       a->keepalive == b->keepalive && str_eq(a->props, b->props) && str_eq(a->client_id, b->client_id) &&
	       a->will == b->will && a->will_qos == b->will_qos && a->will_retain == b->will_retain &&
	       str_eq(a->will_props, b->will_props) && str_eq(a->will_topic, b->will_topic) &&
	       str_eq(a->will_payload, b->will_payload) && a->has_username == b->has_username &&
	       a->has_password == b->has_password && str_eq(a->username, b->username) &&
	       str_eq(a->password, b->password);
}

static void connect_trip(const struct mqtt_frame *f, struct buf *b1, struct buf *b2)
{
	struct mqtt_connect c, d;
	int rc = proto__decode_connect(f, &c);
	REQUIRE(is_decode_rc(rc) || rc == PROTO_BAD_VERSION || rc == PROTO_BAD_PROTOCOL_NAME);
	if (rc == PROTO_BAD_VERSION) REQUIRE(c.version == f->body[2 + c.protocol_name.len]);
	if (rc != PROTO_OK) return;
	REQUIRE(utf8__valid(c.client_id.p, c.client_id.len));
	if (c.will) REQUIRE(topic__valid_name(c.will_topic.p, c.will_topic.len));
	props_ok(c.version, &c.props, MQTT_CONNECT, false);
	props_ok(c.version, &c.will_props, MQTT_CONNECT, true);
	if (!c.will) REQUIRE(c.will_props.len == 0);
	REQUIRE(proto__encode_connect(b1, &c) == 0);
	struct mqtt_frame g = frame_buf(b1);
	REQUIRE(proto__decode_connect(&g, &d) == PROTO_OK);
	REQUIRE(connect_eq(&c, &d));
	REQUIRE(proto__encode_connect(b2, &d) == 0);
	REQUIRE(same_bytes(b1, b2));
}

static void connack_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	struct mqtt_connack a, d;
	int rc = proto__decode_connack(f, v, &a);
	REQUIRE(is_decode_rc(rc));
	if (rc != PROTO_OK) return;
	props_ok(v, &a.props, MQTT_CONNACK, false);
	REQUIRE(proto__encode_connack(b1, v, &a) == 0);
	struct mqtt_frame g = frame_buf(b1);
	REQUIRE(proto__decode_connack(&g, v, &d) == PROTO_OK);
	REQUIRE(a.session_present == d.session_present && a.rc == d.rc && str_eq(a.props, d.props));
	REQUIRE(proto__encode_connack(b2, v, &d) == 0);
	REQUIRE(same_bytes(b1, b2));
}

static void publish_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	struct mqtt_publish p, d;
	int rc = proto__decode_publish(f, v, &p);
	REQUIRE(is_decode_rc(rc));
	if (rc != PROTO_OK) return;
	props_ok(v, &p.props, MQTT_PUBLISH, false);
	REQUIRE(p.qos <= 2 && (p.qos == 0) == (p.packet_id == 0));
	REQUIRE(p.topic.len == 0 ? v == MQTT_V5 : topic__valid_name(p.topic.p, p.topic.len));
	REQUIRE(proto__encode_publish(b1, v, &p) == 0);
	/* The header the broker writes in front of a shared payload must be the encoder's. */
	uint8_t hdr[5];
	struct mqtt_frame g = frame_buf(b1);
	size_t n = proto__publish_fixed_header(hdr, p.qos, p.dup, p.retain, g.remaining);
	REQUIRE(n == g.total_len - g.remaining && memcmp(hdr, buf__head(b1), n) == 0);
	REQUIRE(proto__decode_publish(&g, v, &d) == PROTO_OK);
	REQUIRE(p.qos == d.qos && p.dup == d.dup && p.retain == d.retain && p.packet_id == d.packet_id);
	REQUIRE(str_eq(p.topic, d.topic) && str_eq(p.props, d.props) && str_eq(p.payload, d.payload));
	REQUIRE(proto__encode_publish(b2, v, &d) == 0);
	REQUIRE(same_bytes(b1, b2));
}

static void ack_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	struct mqtt_ack a, d;
	int rc = proto__decode_ack(f, v, &a);
	REQUIRE(is_decode_rc(rc));
	if (rc != PROTO_OK) return;
	REQUIRE(a.packet_id != 0);
	REQUIRE(v == MQTT_V5 ? reason_allowed(f->type, a.reason) : a.reason == 0);
	props_ok(v, &a.props, f->type, false);
	REQUIRE(proto__encode_ack_buf(b1, f->type, v, &a) == 0);
	struct mqtt_frame g = frame_buf(b1);
	REQUIRE(proto__decode_ack(&g, v, &d) == PROTO_OK);
	REQUIRE(a.packet_id == d.packet_id && a.reason == d.reason && str_eq(a.props, d.props));
	REQUIRE(proto__encode_ack_buf(b2, f->type, v, &d) == 0);
	REQUIRE(same_bytes(b1, b2));
	if (v != MQTT_V5) {
		uint8_t out[4];
		REQUIRE(proto__encode_ack(out, f->type, a.packet_id) == 4 && buf__len(b1) == 4);
		REQUIRE(memcmp(out, buf__head(b1), 4) == 0);
	}
}

static void subscribe_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	struct mqtt_str filters[MAX_ENTRIES], filters2[MAX_ENTRIES];
	uint8_t opts[MAX_ENTRIES], opts2[MAX_ENTRIES];
	struct mqtt_subscribe s, d;
	int rc = proto__decode_subscribe(f, v, &s);
	REQUIRE(is_decode_rc(rc));
	if (rc != PROTO_OK) return;
	props_ok(v, &s.props, MQTT_SUBSCRIBE, false);
	size_t pos = 0, n = 0;
	while (proto__subscribe_next(&s, &pos, &filters[n], &opts[n])) {
		REQUIRE(filters[n].len > 0 && utf8__valid(filters[n].p, filters[n].len) && (opts[n] & 3) != 3);
		/* 3.x: QoS only; v5: reserved bits 6-7 clear and Retain Handling not 3 (3.8.3.1). */
		if (v == MQTT_V5) REQUIRE((opts[n] & 0xC0) == 0 && ((opts[n] >> 4) & 3) != 3);
		else REQUIRE(opts[n] <= 2);
		n++;
		REQUIRE(n < MAX_ENTRIES);
	}
	REQUIRE(n > 0 && pos == s.entries.len);
	REQUIRE(proto__encode_subscribe(b1, v, s.packet_id, filters, opts, n, &s.props) == 0);
	struct mqtt_frame g = frame_buf(b1);
	REQUIRE(proto__decode_subscribe(&g, v, &d) == PROTO_OK);
	REQUIRE(s.packet_id == d.packet_id && str_eq(s.props, d.props) && str_eq(s.entries, d.entries));
	size_t pos2 = 0, n2 = 0;
	while (n2 < MAX_ENTRIES && proto__subscribe_next(&d, &pos2, &filters2[n2], &opts2[n2])) {
		REQUIRE(n2 < n && str_eq(filters[n2], filters2[n2]) && opts[n2] == opts2[n2]);
		n2++;
	}
	REQUIRE(n2 == n);
	REQUIRE(proto__encode_subscribe(b2, v, d.packet_id, filters2, opts2, n2, &d.props) == 0);
	REQUIRE(same_bytes(b1, b2));
}

static void unsubscribe_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	struct mqtt_str filters[MAX_ENTRIES], filters2[MAX_ENTRIES];
	struct mqtt_unsubscribe u, d;
	int rc = proto__decode_unsubscribe(f, v, &u);
	REQUIRE(is_decode_rc(rc));
	if (rc != PROTO_OK) return;
	props_ok(v, &u.props, MQTT_UNSUBSCRIBE, false);
	size_t pos = 0, n = 0;
	while (proto__unsubscribe_next(&u, &pos, &filters[n])) {
		REQUIRE(filters[n].len > 0 && utf8__valid(filters[n].p, filters[n].len));
		n++;
		REQUIRE(n < MAX_ENTRIES);
	}
	REQUIRE(n > 0 && pos == u.entries.len);
	REQUIRE(proto__encode_unsubscribe(b1, v, u.packet_id, filters, n, &u.props) == 0);
	struct mqtt_frame g = frame_buf(b1);
	REQUIRE(proto__decode_unsubscribe(&g, v, &d) == PROTO_OK);
	REQUIRE(u.packet_id == d.packet_id && str_eq(u.props, d.props) && str_eq(u.entries, d.entries));
	size_t pos2 = 0, n2 = 0;
	while (n2 < MAX_ENTRIES && proto__unsubscribe_next(&d, &pos2, &filters2[n2])) {
		REQUIRE(n2 < n && str_eq(filters[n2], filters2[n2]));
		n2++;
	}
	REQUIRE(n2 == n);
	REQUIRE(proto__encode_unsubscribe(b2, v, d.packet_id, filters2, n2, &d.props) == 0);
	REQUIRE(same_bytes(b1, b2));
}

/* SUBACK and UNSUBACK share a struct and an encoder. */
static void suback_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	int (*decode)(const struct mqtt_frame *, uint8_t, struct mqtt_suback *) =
		f->type == MQTT_SUBACK ? proto__decode_suback : proto__decode_unsuback;
	struct mqtt_suback a, d;
	int rc = decode(f, v, &a);
	REQUIRE(is_decode_rc(rc));
	if (rc != PROTO_OK) return;
	props_ok(v, &a.props, f->type, false);
	REQUIRE(proto__encode_suback(b1, f->type, v, a.packet_id, a.codes.p, a.codes.len, &a.props) == 0);
	struct mqtt_frame g = frame_buf(b1);
	REQUIRE(decode(&g, v, &d) == PROTO_OK);
	REQUIRE(a.packet_id == d.packet_id && str_eq(a.props, d.props) && str_eq(a.codes, d.codes));
	REQUIRE(proto__encode_suback(b2, f->type, v, d.packet_id, d.codes.p, d.codes.len, &d.props) == 0);
	REQUIRE(same_bytes(b1, b2));
}

static void empty_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	if (f->type == MQTT_DISCONNECT) {
		struct mqtt_disconnect a, d;
		int rc = proto__decode_disconnect(f, v, &a);
		REQUIRE(is_decode_rc(rc));
		/* 3.x: exactly the empty-packet rules. */
		if (v != MQTT_V5) REQUIRE(rc == proto__decode_empty(f));
		if (rc != PROTO_OK) return;
		REQUIRE(v == MQTT_V5 ? reason_allowed(MQTT_DISCONNECT, a.reason) : a.reason == 0);
		props_ok(v, &a.props, MQTT_DISCONNECT, false);
		REQUIRE(proto__encode_disconnect(b1, v, &a) == 0);
		struct mqtt_frame g = frame_buf(b1);
		REQUIRE(proto__decode_disconnect(&g, v, &d) == PROTO_OK);
		REQUIRE(a.reason == d.reason && str_eq(a.props, d.props));
		REQUIRE(proto__encode_disconnect(b2, v, &d) == 0);
		REQUIRE(same_bytes(b1, b2));
		if (v == MQTT_V5) return;
	}
	if (proto__decode_empty(f) != PROTO_OK) return;
	uint8_t out[2];
	REQUIRE(proto__encode_empty(out, f->type) == 2);
	struct mqtt_frame g;
	REQUIRE(proto__frame(out, 2, 0, &g) == PROTO_OK && proto__decode_empty(&g) == PROTO_OK);
	REQUIRE(g.type == f->type);
}

static void auth_trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	struct mqtt_auth a, d;
	int rc = proto__decode_auth(f, v, &a);
	REQUIRE(is_decode_rc(rc));
	if (v != MQTT_V5) {
		REQUIRE(rc == PROTO_PROTOCOL_ERROR);
		return;
	}
	if (rc != PROTO_OK) return;
	REQUIRE(a.reason == MQTT_RC_SUCCESS || a.reason == MQTT_RC_CONTINUE_AUTHENTICATION ||
		a.reason == MQTT_RC_REAUTHENTICATE);
	props_exact(&a.props, MQTT_AUTH, false);
	REQUIRE(proto__encode_auth(b1, &a) == 0);
	struct mqtt_frame g = frame_buf(b1);
	/* Only reason 0 without properties is sent with no body (3.15.2.1). */
	REQUIRE((g.remaining == 0) == (a.reason == MQTT_RC_SUCCESS && a.props.len == 0));
	REQUIRE(proto__decode_auth(&g, v, &d) == PROTO_OK);
	REQUIRE(a.reason == d.reason && str_eq(a.props, d.props));
	REQUIRE(proto__encode_auth(b2, &d) == 0);
	REQUIRE(same_bytes(b1, b2));
}

static void trip(const struct mqtt_frame *f, uint8_t v, struct buf *b1, struct buf *b2)
{
	buf__clear(b1);
	buf__clear(b2);
	switch (f->type) {
	case MQTT_CONNECT: connect_trip(f, b1, b2); break;
	case MQTT_CONNACK: connack_trip(f, v, b1, b2); break;
	case MQTT_PUBLISH: publish_trip(f, v, b1, b2); break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP: ack_trip(f, v, b1, b2); break;
	case MQTT_SUBSCRIBE: subscribe_trip(f, v, b1, b2); break;
	case MQTT_UNSUBSCRIBE: unsubscribe_trip(f, v, b1, b2); break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK: suback_trip(f, v, b1, b2); break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT: empty_trip(f, v, b1, b2); break;
	case MQTT_AUTH: auth_trip(f, v, b1, b2); break;
	}
	REQUIRE(proto__type_name(f->type) != NULL);
}

/* A packet body taken as an MQTT 5 property span: validation must stay inside it, answer one of its results,
 * and a span that validates must iterate to exactly its bytes. */
static void props_walk(const struct mqtt_frame *f)
{
	struct mqtt_str s = {f->body, f->remaining};
	bool will = f->flags & 1;
	int rc = props__validate(&s, f->type, will);
	REQUIRE(is_decode_rc(rc));
	if (rc == PROTO_OK) props_exact(&s, f->type, will);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	uint8_t version = (uint8_t)(MQTT_V31 + data[0] % 3);
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	struct buf b1 = {0}, b2 = {0};
	struct mqtt_frame f;
	while (len > 0 && proto__frame(p, len, MAX_PACKET, &f) == PROTO_OK) {
		REQUIRE(f.total_len <= len && f.type != 0 && f.body + f.remaining == p + f.total_len);
		trip(&f, version, &b1, &b2);
		props_walk(&f);
		p += f.total_len;
		len -= f.total_len;
	}
	buf__fini(&b1);
	buf__fini(&b2);
	return 0;
}
