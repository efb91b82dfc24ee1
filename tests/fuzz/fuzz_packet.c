/* libFuzzer driver of the MQTT codec: frames, decodes, re-encodes and re-decodes every packet it can.
 * Input: one byte choosing the protocol version (3, 4 or 5), then a stream of packets.
 * Invariants checked (abort() on failure): a packet that decodes re-encodes without error; the encoding
 * decodes to equal fields; encoding those fields again gives the same bytes. */
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
	if (rc == PROTO_BAD_VERSION) REQUIRE(c.version == f->body[2 + c.protocol_name.len]);
	if (rc != PROTO_OK) return;
	REQUIRE(utf8__valid(c.client_id.p, c.client_id.len));
	if (c.will) REQUIRE(topic__valid_name(c.will_topic.p, c.will_topic.len));
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
	if (proto__decode_connack(f, v, &a) != PROTO_OK) return;
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
	if (proto__decode_publish(f, v, &p) != PROTO_OK) return;
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
	if (proto__decode_ack(f, v, &a) != PROTO_OK) return;
	REQUIRE(a.packet_id != 0);
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
	if (proto__decode_subscribe(f, v, &s) != PROTO_OK) return;
	size_t pos = 0, n = 0;
	while (proto__subscribe_next(&s, &pos, &filters[n], &opts[n])) {
		REQUIRE(filters[n].len > 0 && utf8__valid(filters[n].p, filters[n].len) && (opts[n] & 3) != 3);
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
	if (proto__decode_unsubscribe(f, v, &u) != PROTO_OK) return;
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
	if (decode(f, v, &a) != PROTO_OK) return;
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
		if (proto__decode_disconnect(f, v, &a) != PROTO_OK) return;
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
	default: break; /* AUTH has no decoder yet */
	}
	REQUIRE(proto__type_name(f->type) != NULL);
}

/* A packet body taken as an MQTT 5 property span: validation must stay inside it, and a span that
 * validates must iterate to its exact end. */
static void props_walk(const struct mqtt_frame *f)
{
	struct mqtt_str s = {f->body, f->remaining};
	if (props__validate(&s, f->type, f->flags & 1) != PROTO_OK) return;
	size_t pos = 0;
	struct mqtt_prop pr;
	while (props__next(&s, &pos, &pr)) {
	}
	REQUIRE(pos == s.len);
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
