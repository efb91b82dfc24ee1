/* Unit tests of the codec's framing, varints, acks, empty packets, DISCONNECT, AUTH and type names. */
#include "proto_test.h"

static void test_varint(void)
{
	/* Boundaries from MQTT 3.1.1 table 2.4. */
	static const struct {
		uint32_t v;
		uint8_t bytes[4];
		size_t n;
	} cases[] = {
		{0, {0x00}, 1},
		{127, {0x7F}, 1},
		{128, {0x80, 0x01}, 2},
		{16383, {0xFF, 0x7F}, 2},
		{16384, {0x80, 0x80, 0x01}, 3},
		{2097151, {0xFF, 0xFF, 0x7F}, 3},
		{2097152, {0x80, 0x80, 0x80, 0x01}, 4},
		{268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t out[4];
		CHECK_EQ(proto__varint_encode(out, cases[i].v), cases[i].n);
		CHECK_MEM(out, cases[i].bytes, cases[i].n);
		CHECK_EQ(proto__varint_size(cases[i].v), cases[i].n);
		uint32_t v = 1;
		size_t used = 0;
		CHECK_EQ(proto__varint_decode(cases[i].bytes, cases[i].n, &v, &used), PROTO_OK);
		CHECK_EQ(v, cases[i].v);
		CHECK_EQ(used, cases[i].n);
		if (cases[i].n > 1) CHECK_EQ(proto__varint_decode(cases[i].bytes, cases[i].n - 1, &v, &used), PROTO_NEED_MORE);
	}
	uint8_t out[4];
	CHECK_EQ(proto__varint_encode(out, 268435456u), 0);
	PKT(five, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
	uint32_t v;
	size_t used;
	CHECK_EQ(proto__varint_decode(five, sizeof five, &v, &used), PROTO_MALFORMED);
	CHECK_EQ(proto__varint_decode(five, 4, &v, &used), PROTO_MALFORMED);
	CHECK_EQ(proto__varint_decode(five, 0, &v, &used), PROTO_NEED_MORE);
}

static void test_frame(void)
{
	struct mqtt_frame f;
	PKT(ping, 0xC0, 0x00);
	CHECK_EQ(proto__frame(ping, 0, 0, &f), PROTO_NEED_MORE);
	CHECK_EQ(proto__frame(ping, 1, 0, &f), PROTO_NEED_MORE);
	CHECK_EQ(proto__frame(ping, 2, 0, &f), PROTO_OK);
	CHECK_EQ(f.type, MQTT_PINGREQ);
	CHECK_EQ(f.flags, 0);
	CHECK_EQ(f.remaining, 0);
	CHECK_EQ(f.total_len, 2);

	/* Two packets back to back: only the first is framed. */
	PKT(two, 0x32, 0x03, 0x00, 0x01, 'a', 0xC0, 0x00);
	CHECK_EQ(proto__frame(two, sizeof two, 0, &f), PROTO_OK);
	CHECK_EQ(f.type, MQTT_PUBLISH);
	CHECK_EQ(f.flags, 0x2);
	CHECK_EQ(f.remaining, 3);
	CHECK(f.body == two + 2);
	CHECK_EQ(f.total_len, 5);
	CHECK_EQ(proto__frame(two, 4, 0, &f), PROTO_NEED_MORE);

	PKT(type0, 0x00, 0x00);
	CHECK_EQ(proto__frame(type0, sizeof type0, 0, &f), PROTO_MALFORMED);
	CHECK_EQ(proto__frame(type0, 1, 0, &f), PROTO_MALFORMED);
	PKT(long_varint, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
	CHECK_EQ(proto__frame(long_varint, sizeof long_varint, 0, &f), PROTO_MALFORMED);
	PKT(partial_varint, 0x30, 0xFF, 0xFF);
	CHECK_EQ(proto__frame(partial_varint, sizeof partial_varint, 0, &f), PROTO_NEED_MORE);

	/* 16383 bytes announced, 3 present: too large as soon as the length is known. */
	PKT(big, 0x30, 0xFF, 0x7F);
	CHECK_EQ(proto__frame(big, sizeof big, 1000, &f), PROTO_TOO_LARGE);
	CHECK_EQ(proto__frame(big, sizeof big, 0, &f), PROTO_NEED_MORE);
	CHECK_EQ(proto__frame(big, sizeof big, 16386, &f), PROTO_NEED_MORE); /* exactly the limit */
	CHECK_EQ(proto__frame(big, sizeof big, 16385, &f), PROTO_TOO_LARGE);
	CHECK_EQ(proto__frame(ping, 2, 2, &f), PROTO_OK);
	CHECK_EQ(proto__frame(ping, 2, 1, &f), PROTO_TOO_LARGE);
	PKT(max, 0x30, 0xFF, 0xFF, 0xFF, 0x7F);
	CHECK_EQ(proto__frame(max, sizeof max, 0, &f), PROTO_NEED_MORE);
}

static void test_valid_flags(void)
{
	for (uint8_t t = 1; t <= 15; t++) {
		for (uint8_t fl = 0; fl < 16; fl++) {
			bool want;
			if (t == MQTT_PUBLISH) want = ((fl >> 1) & 3) != 3;
			else if (t == MQTT_PUBREL || t == MQTT_SUBSCRIBE || t == MQTT_UNSUBSCRIBE) want = fl == 2;
			else want = fl == 0;
			CHECK_EQ(proto__valid_flags(t, fl), want);
		}
	}
}

static int ack_rc(uint8_t version, const uint8_t *p, size_t n, struct mqtt_ack *a)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_ack(&f, version, a);
}

static void test_acks(void)
{
	static const uint8_t types[4] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP};
	static const uint8_t first[4] = {0x40, 0x50, 0x62, 0x70};
	struct buf b = {0};
	for (int i = 0; i < 4; i++) {
		uint8_t pkt[4] = {first[i], 0x02, 0x12, 0x34};
		struct mqtt_ack a;
		for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
			CHECK_EQ(ack_rc(v, pkt, 4, &a), PROTO_OK);
			CHECK_EQ(a.packet_id, 0x1234);
			CHECK_EQ(a.reason, 0);
			CHECK_EQ(a.props.len, 0);
			CHECK_EQ(proto__encode_ack_buf(&b, types[i], v, &a), 0);
			check_buf(&b, pkt, 4);
		}
		uint8_t out[4];
		CHECK_EQ(proto__encode_ack(out, types[i], 0x1234), 4);
		CHECK_MEM(out, pkt, 4);

		/* Wrong flags: PUBREL needs 0x2, the others 0. */
		uint8_t badflags[4] = {(uint8_t)(first[i] ^ 0x2), 0x02, 0x12, 0x34};
		CHECK_EQ(ack_rc(MQTT_V311, badflags, 4, &a), PROTO_MALFORMED);
		CHECK_EQ(ack_rc(MQTT_V5, badflags, 4, &a), PROTO_MALFORMED);
		uint8_t id0[4] = {first[i], 0x02, 0x00, 0x00};
		CHECK_EQ(ack_rc(MQTT_V311, id0, 4, &a), PROTO_MALFORMED);
		CHECK_EQ(ack_rc(MQTT_V5, id0, 4, &a), PROTO_MALFORMED);
		uint8_t longer[5] = {first[i], 0x03, 0x12, 0x34, 0x00};
		CHECK_EQ(ack_rc(MQTT_V311, longer, 5, &a), PROTO_MALFORMED);
		CHECK_EQ(ack_rc(MQTT_V31, longer, 5, &a), PROTO_MALFORMED);
		uint8_t shorter[3] = {first[i], 0x01, 0x12};
		CHECK_EQ(ack_rc(MQTT_V311, shorter, 3, &a), PROTO_MALFORMED);
		CHECK_EQ(ack_rc(MQTT_V5, shorter, 3, &a), PROTO_MALFORMED);
		uint8_t empty[2] = {first[i], 0x00};
		CHECK_EQ(ack_rc(MQTT_V5, empty, 2, &a), PROTO_MALFORMED);
	}
	CHECK_EQ(proto__encode_ack((uint8_t[4]){0}, MQTT_PUBLISH, 1), 0);
	CHECK_EQ(proto__encode_ack_buf(&b, MQTT_SUBACK, MQTT_V311, &(struct mqtt_ack){.packet_id = 1}), MIDGE_ERR_INVAL);

	/* v5 forms: reason only; reason and properties (a reason string of "no"). */
	struct mqtt_ack a;
	PKT(reason, 0x50, 0x03, 0x00, 0x0A, 0x10);
	CHECK_EQ(ack_rc(MQTT_V5, reason, sizeof reason, &a), PROTO_OK);
	CHECK_EQ(a.packet_id, 10);
	CHECK_EQ(a.reason, MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	CHECK_EQ(a.props.len, 0);
	CHECK_EQ(proto__encode_ack_buf(&b, MQTT_PUBREC, MQTT_V5, &a), 0);
	check_buf(&b, reason, sizeof reason);
	PKT(props, 0x62, 0x09, 0x00, 0x0A, 0x92, 0x05, 0x1F, 0x00, 0x02, 'n', 'o');
	CHECK_EQ(ack_rc(MQTT_V5, props, sizeof props, &a), PROTO_OK);
	CHECK_EQ(a.reason, MQTT_RC_PACKET_ID_NOT_FOUND);
	CHECK_EQ(a.props.len, 5);
	CHECK(a.props.p == props + 6);
	CHECK_EQ(proto__encode_ack_buf(&b, MQTT_PUBREL, MQTT_V5, &a), 0);
	check_buf(&b, props, sizeof props);
	/* Reason 0 with an empty property block decodes; it re-encodes in the short form. */
	PKT(explicit0, 0x40, 0x04, 0x00, 0x0A, 0x00, 0x00);
	CHECK_EQ(ack_rc(MQTT_V5, explicit0, sizeof explicit0, &a), PROTO_OK);
	CHECK_EQ(proto__encode_ack_buf(&b, MQTT_PUBACK, MQTT_V5, &a), 0);
	PKT(short_form, 0x40, 0x02, 0x00, 0x0A);
	check_buf(&b, short_form, sizeof short_form);
	/* The property length runs past the packet, or bytes trail the properties. */
	PKT(overrun, 0x40, 0x05, 0x00, 0x0A, 0x00, 0x05, 0x1F);
	CHECK_EQ(ack_rc(MQTT_V5, overrun, sizeof overrun, &a), PROTO_MALFORMED);
	PKT(trailing, 0x40, 0x06, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00);
	CHECK_EQ(ack_rc(MQTT_V5, trailing, sizeof trailing, &a), PROTO_MALFORMED);
	PKT(badvarint, 0x40, 0x07, 0x00, 0x0A, 0x00, 0x80, 0x80, 0x80, 0x80);
	CHECK_EQ(ack_rc(MQTT_V5, badvarint, sizeof badvarint, &a), PROTO_MALFORMED);
	/* A 3.x encoder drops what 3.x cannot carry. */
	a = (struct mqtt_ack){.packet_id = 10, .reason = 0x80};
	CHECK_EQ(proto__encode_ack_buf(&b, MQTT_PUBACK, MQTT_V311, &a), 0);
	check_buf(&b, short_form, sizeof short_form);
	buf__fini(&b);
}

static void test_empty_and_disconnect(void)
{
	static const uint8_t types[3] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};
	for (int i = 0; i < 3; i++) {
		uint8_t pkt[2], out[2];
		CHECK_EQ(proto__encode_empty(out, types[i]), 2);
		pkt[0] = (uint8_t)(types[i] << 4), pkt[1] = 0;
		CHECK_MEM(out, pkt, 2);
		struct mqtt_frame f = frame_of(pkt, 2);
		CHECK_EQ(proto__decode_empty(&f), PROTO_OK);
		uint8_t badflags[2] = {(uint8_t)(types[i] << 4 | 1), 0};
		f = frame_of(badflags, 2);
		CHECK_EQ(proto__decode_empty(&f), PROTO_MALFORMED);
		uint8_t body[3] = {(uint8_t)(types[i] << 4), 1, 0};
		f = frame_of(body, 3);
		CHECK_EQ(proto__decode_empty(&f), PROTO_MALFORMED);
	}
	PKT(pingreq, 0xC0, 0x00);
	PKT(pingresp, 0xD0, 0x00);
	PKT(disc, 0xE0, 0x00);
	PKT(ack, 0x40, 0x02, 0x00, 0x01);
	struct mqtt_frame f = frame_of(ack, sizeof ack);
	CHECK_EQ(proto__decode_empty(&f), PROTO_MALFORMED);

	struct mqtt_disconnect d;
	struct buf b = {0};
	f = frame_of(disc, sizeof disc);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V311, &d), PROTO_OK);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_OK);
	CHECK_EQ(d.reason, 0);
	CHECK_EQ(proto__encode_disconnect(&b, MQTT_V311, &d), 0);
	check_buf(&b, disc, sizeof disc);
	CHECK_EQ(proto__encode_disconnect(&b, MQTT_V5, &d), 0);
	check_buf(&b, disc, sizeof disc);
	f = frame_of(pingreq, sizeof pingreq);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_MALFORMED);
	(void)pingresp;

	PKT(with_will, 0xE0, 0x01, 0x04);
	f = frame_of(with_will, sizeof with_will);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V311, &d), PROTO_MALFORMED);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_OK);
	CHECK_EQ(d.reason, MQTT_RC_DISCONNECT_WITH_WILL);
	CHECK_EQ(proto__encode_disconnect(&b, MQTT_V5, &d), 0);
	check_buf(&b, with_will, sizeof with_will);
	PKT(props, 0xE0, 0x07, 0x8E, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A);
	f = frame_of(props, sizeof props);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_OK);
	CHECK_EQ(d.reason, MQTT_RC_SESSION_TAKEN_OVER);
	CHECK_EQ(d.props.len, 5);
	CHECK_EQ(proto__encode_disconnect(&b, MQTT_V5, &d), 0);
	check_buf(&b, props, sizeof props);
	PKT(overrun, 0xE0, 0x03, 0x00, 0x05, 0x11);
	f = frame_of(overrun, sizeof overrun);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_MALFORMED);
	PKT(trailing, 0xE0, 0x03, 0x00, 0x00, 0x00);
	f = frame_of(trailing, sizeof trailing);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_MALFORMED);
	PKT(badflags, 0xE2, 0x00);
	f = frame_of(badflags, sizeof badflags);
	CHECK_EQ(proto__decode_disconnect(&f, MQTT_V5, &d), PROTO_MALFORMED);
	buf__fini(&b);
}

/* v5 ack reason codes (3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1) and properties, checked for each of the four types. */
static void test_acks_v5(void)
{
	static const uint8_t types[4] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP};
	static const uint8_t first[4] = {0x40, 0x50, 0x62, 0x70};
	static const uint8_t pub_codes[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
	static const uint8_t rel_codes[] = {0x00, 0x92};
	struct mqtt_ack a;
	for (int i = 0; i < 4; i++) {
		bool rel = types[i] == MQTT_PUBREL || types[i] == MQTT_PUBCOMP;
		const uint8_t *codes = rel ? rel_codes : pub_codes;
		size_t ncodes = rel ? sizeof rel_codes : sizeof pub_codes;
		for (unsigned c = 0; c < 256; c++) {
			bool known = memchr(codes, (int)c, ncodes) != NULL;
			int want = known ? PROTO_OK : PROTO_PROTOCOL_ERROR;
			uint8_t reason_only[5] = {first[i], 0x03, 0x00, 0x01, (uint8_t)c};
			CHECK_EQ(ack_rc(MQTT_V5, reason_only, 5, &a), want);
			uint8_t with_props[6] = {first[i], 0x04, 0x00, 0x01, (uint8_t)c, 0x00};
			CHECK_EQ(ack_rc(MQTT_V5, with_props, 6, &a), want);
			if (known) CHECK_EQ(a.reason, c);
			/* Malformed wins: the same reason with bytes trailing the properties. */
			uint8_t trailing[7] = {first[i], 0x05, 0x00, 0x01, (uint8_t)c, 0x00, 0x00};
			CHECK_EQ(ack_rc(MQTT_V5, trailing, 7, &a), PROTO_MALFORMED);
		}

		static const uint8_t head[] = {0x00, 0x01, 0x00};
		const struct props_case cases[] = {
		    PCASE(PROTO_OK, 0x1F, 0x00, 0x02, 'n', 'o', 0x26, 0x00, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00,
		          0x00),
		    PCASE(PROTO_MALFORMED, 0x23, 0x00, 0x01),
		    PCASE(PROTO_MALFORMED, 0x0B, 0x01),
		    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00, 0x00, 0x01),
		    PCASE(PROTO_MALFORMED, 0x1F, 0x00),
		    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x01, 0x80),
		    PCASE(PROTO_PROTOCOL_ERROR, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00),
		    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x26),
		};
		for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
			uint8_t pkt[64];
			size_t n = build_v5(pkt, first[i], head, sizeof head, cases[k].p, cases[k].n, NULL, 0);
			check_case(ack_rc(MQTT_V5, pkt, n, &a), &cases[k]);
			/* Behind an unknown reason code, a malformation still wins. */
			pkt[n - cases[k].n - 2] = 0x42;
			int want = cases[k].want == PROTO_MALFORMED ? PROTO_MALFORMED : PROTO_PROTOCOL_ERROR;
			CHECK_EQ(ack_rc(MQTT_V5, pkt, n, &a), want);
		}
	}
	/* 3.x has no reason code to check. */
	PKT(v311, 0x40, 0x02, 0x00, 0x01);
	CHECK_EQ(ack_rc(MQTT_V311, v311, sizeof v311, &a), PROTO_OK);
}

static int disconnect_rc(const uint8_t *p, size_t n, struct mqtt_disconnect *d)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_disconnect(&f, MQTT_V5, d);
}

/* v5 DISCONNECT reason codes (table 3.14.2.1) and properties (3.14.2.2). */
static void test_disconnect_v5(void)
{
	static const uint8_t table[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
	                                0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
	                                0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
	struct mqtt_disconnect d;
	int known = 0;
	for (unsigned c = 0; c < 256; c++) {
		bool ok = memchr(table, (int)c, sizeof table) != NULL;
		known += ok;
		int want = ok ? PROTO_OK : PROTO_PROTOCOL_ERROR;
		uint8_t reason_only[3] = {0xE0, 0x01, (uint8_t)c};
		CHECK_EQ(disconnect_rc(reason_only, 3, &d), want);
		uint8_t with_props[4] = {0xE0, 0x02, (uint8_t)c, 0x00};
		CHECK_EQ(disconnect_rc(with_props, 4, &d), want);
		uint8_t trailing[5] = {0xE0, 0x03, (uint8_t)c, 0x00, 0x00};
		CHECK_EQ(disconnect_rc(trailing, 5, &d), PROTO_MALFORMED);
		/* 3.x: any body is malformed, reason or not. */
		struct mqtt_frame f = frame_of(reason_only, 3);
		CHECK_EQ(proto__decode_disconnect(&f, MQTT_V311, &d), PROTO_MALFORMED);
	}
	CHECK_EQ(known, 29);

	static const uint8_t head[] = {0x00};
	const struct props_case cases[] = {
	    PCASE(PROTO_OK, 0x11, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00, 0x03, 'b', 'y', 'e', 0x1C, 0x00, 0x01, 's', 0x26,
	          0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x18, 0x00, 0x00, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x15, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x21, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x1C, 0x00, 0x02, 's'),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x11, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x1C, 0x00, 0x00, 0x1C, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x1C, 0x00, 0x00, 0x1C, 0x00, 0x00, 0x01, 0x00),
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t pkt[64];
		size_t n = build_v5(pkt, 0xE0, head, sizeof head, cases[k].p, cases[k].n, NULL, 0);
		check_case(disconnect_rc(pkt, n, &d), &cases[k]);
		if (cases[k].want == PROTO_OK) CHECK_EQ(d.props.len, cases[k].n);
		pkt[2] = 0x05; /* a reason code no table has */
		CHECK_EQ(disconnect_rc(pkt, n, &d),
		         cases[k].want == PROTO_MALFORMED ? PROTO_MALFORMED : PROTO_PROTOCOL_ERROR);
	}
}

static int auth_rc(uint8_t version, const uint8_t *p, size_t n, struct mqtt_auth *a)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_auth(&f, version, a);
}

/* AUTH (3.15): its three forms, reason codes, properties, and the encoder's form. */
static void test_auth(void)
{
	struct mqtt_auth a;
	struct buf b = {0};
	/* The empty form is reason 0 without properties, and the encoder's choice for it. */
	PKT(empty, 0xF0, 0x00);
	CHECK_EQ(auth_rc(MQTT_V5, empty, sizeof empty, &a), PROTO_OK);
	CHECK(a.reason == MQTT_RC_SUCCESS && a.props.len == 0);
	CHECK_EQ(proto__encode_auth(&b, &a), 0);
	check_buf(&b, empty, sizeof empty);
	PKT(explicit0, 0xF0, 0x02, 0x00, 0x00);
	CHECK_EQ(auth_rc(MQTT_V5, explicit0, sizeof explicit0, &a), PROTO_OK);
	CHECK_EQ(proto__encode_auth(&b, &a), 0);
	check_buf(&b, empty, sizeof empty);

	/* Continue authentication with method and data; encoded back byte for byte. */
	PKT(cont, 0xF0, 0x10, 0x18, 0x0E, 0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', 0x16, 0x00, 0x03, 0x01, 0x00,
	    0xFF);
	CHECK_EQ(auth_rc(MQTT_V5, cont, sizeof cont, &a), PROTO_OK);
	CHECK_EQ(a.reason, MQTT_RC_CONTINUE_AUTHENTICATION);
	CHECK_EQ(a.props.len, 14);
	CHECK(a.props.p == cont + 4);
	CHECK_EQ(proto__encode_auth(&b, &a), 0);
	check_buf(&b, cont, sizeof cont);

	/* A lone reason code is read (proto.h), but sent with its property length. */
	PKT(lone, 0xF0, 0x01, 0x19);
	CHECK_EQ(auth_rc(MQTT_V5, lone, sizeof lone, &a), PROTO_OK);
	CHECK(a.reason == MQTT_RC_REAUTHENTICATE && a.props.len == 0);
	CHECK_EQ(proto__encode_auth(&b, &a), 0);
	PKT(lone_sent, 0xF0, 0x02, 0x19, 0x00);
	check_buf(&b, lone_sent, sizeof lone_sent);

	/* Reason codes: only 0x00, 0x18 and 0x19 (3.15.2.1). */
	for (unsigned c = 0; c < 256; c++) {
		bool ok = c == 0x00 || c == 0x18 || c == 0x19;
		uint8_t p[4] = {0xF0, 0x02, (uint8_t)c, 0x00};
		CHECK_EQ(auth_rc(MQTT_V5, p, 4, &a), ok ? PROTO_OK : PROTO_PROTOCOL_ERROR);
		uint8_t reason_only[3] = {0xF0, 0x01, (uint8_t)c};
		CHECK_EQ(auth_rc(MQTT_V5, reason_only, 3, &a), ok ? PROTO_OK : PROTO_PROTOCOL_ERROR);
		uint8_t trailing[5] = {0xF0, 0x03, (uint8_t)c, 0x00, 0x00};
		CHECK_EQ(auth_rc(MQTT_V5, trailing, 5, &a), PROTO_MALFORMED);
		CHECK_EQ(proto__encode_auth(&b, &(struct mqtt_auth){.reason = (uint8_t)c}), ok ? 0 : MIDGE_ERR_INVAL);
		buf__clear(&b);
	}

	/* Properties, checked for AUTH (3.15.2.2). */
	static const uint8_t head[] = {0x18};
	const struct props_case cases[] = {
	    PCASE(PROTO_OK, 0x15, 0x00, 0x01, 'm', 0x16, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x12, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x15, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x15, 0x00, 0x01, 0xFF),
	    PCASE(PROTO_MALFORMED, 0x16, 0x00, 0x02, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x15, 0x00, 0x01, 'm', 0x15, 0x00, 0x01, 'm'),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x16, 0x00, 0x00, 0x16, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x16, 0x00, 0x00, 0x16, 0x00, 0x00, 0x24, 0x01),
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t pkt[64];
		size_t n = build_v5(pkt, 0xF0, head, sizeof head, cases[k].p, cases[k].n, NULL, 0);
		check_case(auth_rc(MQTT_V5, pkt, n, &a), &cases[k]);
	}
	PKT(overrun, 0xF0, 0x03, 0x18, 0x05, 0x15);
	CHECK_EQ(auth_rc(MQTT_V5, overrun, sizeof overrun, &a), PROTO_MALFORMED);
	PKT(badvarint, 0xF0, 0x05, 0x18, 0x80, 0x80, 0x80, 0x80);
	CHECK_EQ(auth_rc(MQTT_V5, badvarint, sizeof badvarint, &a), PROTO_MALFORMED);

	/* Fixed header flags 0 (3.15.1); no AUTH before v5; not another type. */
	PKT(badflags, 0xF1, 0x00);
	CHECK_EQ(auth_rc(MQTT_V5, badflags, sizeof badflags, &a), PROTO_MALFORMED);
	CHECK_EQ(auth_rc(MQTT_V311, empty, sizeof empty, &a), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(auth_rc(MQTT_V31, cont, sizeof cont, &a), PROTO_PROTOCOL_ERROR);
	PKT(disc, 0xE0, 0x00);
	CHECK_EQ(auth_rc(MQTT_V5, disc, sizeof disc, &a), PROTO_MALFORMED);

	/* Encoder refusals leave b as it was. */
	a = (struct mqtt_auth){.reason = MQTT_RC_CONTINUE_AUTHENTICATION,
	                       .props = {(const uint8_t *)"", MQTT_MAX_REMAINING}};
	CHECK_EQ(proto__encode_auth(&b, &a), MIDGE_ERR_INVAL);
	CHECK_EQ(buf__len(&b), 0);
	buf__fini(&b);
}

static void test_type_names(void)
{
	CHECK(!strcmp(proto__type_name(MQTT_CONNECT), "CONNECT"));
	CHECK(!strcmp(proto__type_name(MQTT_PUBLISH), "PUBLISH"));
	CHECK(!strcmp(proto__type_name(MQTT_PUBREL), "PUBREL"));
	CHECK(!strcmp(proto__type_name(MQTT_UNSUBACK), "UNSUBACK"));
	CHECK(!strcmp(proto__type_name(MQTT_DISCONNECT), "DISCONNECT"));
	CHECK(!strcmp(proto__type_name(MQTT_AUTH), "AUTH"));
	CHECK(!strcmp(proto__type_name(0), "UNKNOWN"));
	CHECK(!strcmp(proto__type_name(16), "UNKNOWN"));
	for (uint8_t t = 1; t <= 15; t++) CHECK(strcmp(proto__type_name(t), "UNKNOWN") != 0);
	CHECK(!strcmp(midge_strerror(MIDGE_OK), "success"));
	CHECK(!strcmp(midge_strerror(MIDGE_ERR_MALFORMED), "malformed packet"));
	CHECK(!strcmp(midge_strerror(12345), "unknown error"));
}

int main(void)
{
	test_varint();
	test_frame();
	test_valid_flags();
	test_acks();
	test_empty_and_disconnect();
	test_acks_v5();
	test_disconnect_v5();
	test_auth();
	test_type_names();
	CHECK_DONE();
}
