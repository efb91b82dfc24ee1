/* Unit tests of SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK: round trips, entry walking, each decoding rule. */
#include "proto_test.h"

static int sub_rc(uint8_t version, const uint8_t *p, size_t n, struct mqtt_subscribe *s)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_subscribe(&f, version, s);
}

static int unsub_rc(uint8_t version, const uint8_t *p, size_t n, struct mqtt_unsubscribe *u)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_unsubscribe(&f, version, u);
}

static void test_subscribe(void)
{
	struct mqtt_subscribe s;
	struct buf b = {0};
	PKT(two, 0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 'c', '/', '#', 0x02);
	CHECK_EQ(sub_rc(MQTT_V311, two, sizeof two, &s), PROTO_OK);
	CHECK_EQ(s.packet_id, 10);
	size_t pos = 0;
	struct mqtt_str filters[3];
	uint8_t opts[3];
	size_t n = 0;
	while (n < 3 && proto__subscribe_next(&s, &pos, &filters[n], &opts[n])) n++;
	CHECK_EQ(n, 2);
	CHECK(str_eq(filters[0], "a/b") && opts[0] == 1);
	CHECK(str_eq(filters[1], "c/#") && opts[1] == 2);
	CHECK_EQ(proto__encode_subscribe(&b, MQTT_V311, 10, filters, opts, n, NULL), 0);
	check_buf(&b, two, sizeof two);

	/* v5: subscription identifier 5; no-local, retain-as-published, retain handling 2, QoS 1. */
	PKT(v5, 0x82, 0x0B, 0x00, 0x0A, 0x02, 0x0B, 0x05, 0x00, 0x03, 'a', '/', 'b', 0x2D);
	CHECK_EQ(sub_rc(MQTT_V5, v5, sizeof v5, &s), PROTO_OK);
	CHECK_EQ(s.props.len, 2);
	pos = 0;
	CHECK(proto__subscribe_next(&s, &pos, &filters[0], &opts[0]));
	CHECK(str_eq(filters[0], "a/b") && opts[0] == 0x2D);
	CHECK(!proto__subscribe_next(&s, &pos, &filters[1], &opts[1]));
	CHECK_EQ(proto__encode_subscribe(&b, MQTT_V5, 10, filters, opts, 1, &s.props), 0);
	check_buf(&b, v5, sizeof v5);
	CHECK_EQ(sub_rc(MQTT_V311, v5, sizeof v5, &s), PROTO_MALFORMED); /* 3.x reads 0x02 0x0B as a filter */

	/* Wildcard placement is the broker's call (SUBACK 0x80), not a decoding error. */
	PKT(badwild, 0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '#', 'b', 0x00);
	CHECK_EQ(sub_rc(MQTT_V311, badwild, sizeof badwild, &s), PROTO_OK);

	PKT(id0, 0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00);
	CHECK_EQ(sub_rc(MQTT_V311, id0, sizeof id0, &s), PROTO_MALFORMED);
	PKT(none, 0x82, 0x02, 0x00, 0x01);
	CHECK_EQ(sub_rc(MQTT_V311, none, sizeof none, &s), PROTO_PROTOCOL_ERROR);
	PKT(none5, 0x82, 0x03, 0x00, 0x01, 0x00);
	CHECK_EQ(sub_rc(MQTT_V5, none5, sizeof none5, &s), PROTO_PROTOCOL_ERROR);
	PKT(empty_filter, 0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00);
	CHECK_EQ(sub_rc(MQTT_V311, empty_filter, sizeof empty_filter, &s), PROTO_MALFORMED);
	PKT(bad_utf8, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xFE, 0x00);
	CHECK_EQ(sub_rc(MQTT_V311, bad_utf8, sizeof bad_utf8, &s), PROTO_MALFORMED);
	PKT(no_opts, 0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a');
	CHECK_EQ(sub_rc(MQTT_V311, no_opts, sizeof no_opts, &s), PROTO_MALFORMED);
	PKT(cut, 0x82, 0x06, 0x00, 0x01, 0x00, 0x03, 'a', 0x00);
	CHECK_EQ(sub_rc(MQTT_V311, cut, sizeof cut, &s), PROTO_MALFORMED);
	PKT(badflags, 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00);
	CHECK_EQ(sub_rc(MQTT_V311, badflags, sizeof badflags, &s), PROTO_MALFORMED);
	PKT(v5over, 0x82, 0x07, 0x00, 0x01, 0x09, 0x00, 0x01, 'a', 0x00);
	CHECK_EQ(sub_rc(MQTT_V5, v5over, sizeof v5over, &s), PROTO_MALFORMED);

	/* The options byte, one bad bit at a time. */
	uint8_t pkt[8] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00};
	for (unsigned o = 0; o < 256; o++) {
		pkt[7] = (uint8_t)o;
		bool ok3 = o <= 2;
		CHECK_EQ(sub_rc(MQTT_V311, pkt, sizeof pkt, &s), ok3 ? PROTO_OK : PROTO_MALFORMED);
		CHECK_EQ(sub_rc(MQTT_V31, pkt, sizeof pkt, &s), ok3 ? PROTO_OK : PROTO_MALFORMED);
	}
	uint8_t pkt5[9] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00};
	for (unsigned o = 0; o < 256; o++) {
		pkt5[8] = (uint8_t)o;
		int want5 = (o & 0xC0) ? PROTO_MALFORMED
			    : ((o & 3) == 3 || ((o >> 4) & 3) == 3) ? PROTO_PROTOCOL_ERROR : PROTO_OK;
		CHECK_EQ(sub_rc(MQTT_V5, pkt5, sizeof pkt5, &s), want5);
	}
	CHECK_EQ(proto__encode_subscribe(&b, MQTT_V311, 1, filters, opts, 0, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(proto__encode_subscribe(&b, MQTT_V311, 0, filters, opts, 1, NULL), MIDGE_ERR_INVAL);
	buf__fini(&b);
}

static void test_unsubscribe(void)
{
	struct mqtt_unsubscribe u;
	struct buf b = {0};
	PKT(two, 0xA2, 0x0A, 0x00, 0x0B, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x01, '#');
	CHECK_EQ(unsub_rc(MQTT_V311, two, sizeof two, &u), PROTO_OK);
	CHECK_EQ(u.packet_id, 11);
	struct mqtt_str filters[3];
	size_t pos = 0, n = 0;
	while (n < 3 && proto__unsubscribe_next(&u, &pos, &filters[n])) n++;
	CHECK_EQ(n, 2);
	CHECK(str_eq(filters[0], "a/b") && str_eq(filters[1], "#"));
	CHECK_EQ(proto__encode_unsubscribe(&b, MQTT_V311, 11, filters, n, NULL), 0);
	check_buf(&b, two, sizeof two);
	PKT(v5, 0xA2, 0x0B, 0x00, 0x0B, 0x00, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x01, '#');
	CHECK_EQ(unsub_rc(MQTT_V5, v5, sizeof v5, &u), PROTO_OK);
	CHECK_EQ(u.props.len, 0);
	CHECK_EQ(proto__encode_unsubscribe(&b, MQTT_V5, 11, filters, n, NULL), 0);
	check_buf(&b, v5, sizeof v5);

	PKT(id0, 0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a');
	CHECK_EQ(unsub_rc(MQTT_V311, id0, sizeof id0, &u), PROTO_MALFORMED);
	PKT(none, 0xA2, 0x02, 0x00, 0x01);
	CHECK_EQ(unsub_rc(MQTT_V311, none, sizeof none, &u), PROTO_PROTOCOL_ERROR);
	PKT(empty_filter, 0xA2, 0x04, 0x00, 0x01, 0x00, 0x00);
	CHECK_EQ(unsub_rc(MQTT_V311, empty_filter, sizeof empty_filter, &u), PROTO_MALFORMED);
	PKT(bad_utf8, 0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x80);
	CHECK_EQ(unsub_rc(MQTT_V311, bad_utf8, sizeof bad_utf8, &u), PROTO_MALFORMED);
	PKT(cut, 0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, 'a');
	CHECK_EQ(unsub_rc(MQTT_V311, cut, sizeof cut, &u), PROTO_MALFORMED);
	PKT(badflags, 0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a');
	CHECK_EQ(unsub_rc(MQTT_V311, badflags, sizeof badflags, &u), PROTO_MALFORMED);
	CHECK_EQ(proto__encode_unsubscribe(&b, MQTT_V311, 1, filters, 0, NULL), MIDGE_ERR_INVAL);
	buf__fini(&b);
}

static int suback_rc(uint8_t type, uint8_t version, const uint8_t *p, size_t n, struct mqtt_suback *a)
{
	struct mqtt_frame f = frame_of(p, n);
	return type == MQTT_SUBACK ? proto__decode_suback(&f, version, a) : proto__decode_unsuback(&f, version, a);
}

static void test_acks(void)
{
	struct mqtt_suback a;
	struct buf b = {0};
	PKT(suback, 0x90, 0x05, 0x00, 0x0A, 0x00, 0x01, 0x80);
	CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V311, suback, sizeof suback, &a), PROTO_OK);
	CHECK_EQ(a.packet_id, 10);
	CHECK_EQ(a.codes.len, 3);
	CHECK_EQ(proto__encode_suback(&b, MQTT_SUBACK, MQTT_V311, 10, a.codes.p, a.codes.len, NULL), 0);
	check_buf(&b, suback, sizeof suback);
	PKT(suback5, 0x90, 0x06, 0x00, 0x0A, 0x00, 0x02, 0x8F, 0xA2);
	CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V5, suback5, sizeof suback5, &a), PROTO_OK);
	CHECK_EQ(a.codes.len, 3);
	CHECK_EQ(proto__encode_suback(&b, MQTT_SUBACK, MQTT_V5, 10, a.codes.p, a.codes.len, &a.props), 0);
	check_buf(&b, suback5, sizeof suback5);
	for (unsigned c = 0; c < 256; c++) {
		uint8_t p[5] = {0x90, 0x03, 0x00, 0x01, (uint8_t)c};
		bool ok = c <= 2 || c == 0x80;
		CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V311, p, sizeof p, &a), ok ? PROTO_OK : PROTO_MALFORMED);
	}
	PKT(bad5, 0x90, 0x04, 0x00, 0x01, 0x00, 0x03);
	CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V5, bad5, sizeof bad5, &a), PROTO_MALFORMED);
	PKT(id0, 0x90, 0x03, 0x00, 0x00, 0x00);
	CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V311, id0, sizeof id0, &a), PROTO_MALFORMED);
	PKT(nocodes, 0x90, 0x02, 0x00, 0x01);
	CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V311, nocodes, sizeof nocodes, &a), PROTO_PROTOCOL_ERROR);
	PKT(badflags, 0x92, 0x03, 0x00, 0x01, 0x00);
	CHECK_EQ(suback_rc(MQTT_SUBACK, MQTT_V311, badflags, sizeof badflags, &a), PROTO_MALFORMED);

	PKT(unsuback, 0xB0, 0x02, 0x00, 0x0B);
	CHECK_EQ(suback_rc(MQTT_UNSUBACK, MQTT_V311, unsuback, sizeof unsuback, &a), PROTO_OK);
	CHECK_EQ(a.packet_id, 11);
	CHECK_EQ(a.codes.len, 0);
	static const uint8_t ignored[2] = {0, 0};
	CHECK_EQ(proto__encode_suback(&b, MQTT_UNSUBACK, MQTT_V311, 11, ignored, 2, NULL), 0);
	check_buf(&b, unsuback, sizeof unsuback);
	PKT(unsuback5, 0xB0, 0x05, 0x00, 0x0B, 0x00, 0x00, 0x11);
	CHECK_EQ(suback_rc(MQTT_UNSUBACK, MQTT_V5, unsuback5, sizeof unsuback5, &a), PROTO_OK);
	CHECK_EQ(a.codes.len, 2);
	CHECK_EQ(proto__encode_suback(&b, MQTT_UNSUBACK, MQTT_V5, 11, a.codes.p, a.codes.len, NULL), 0);
	check_buf(&b, unsuback5, sizeof unsuback5);
	CHECK_EQ(suback_rc(MQTT_UNSUBACK, MQTT_V311, unsuback5, sizeof unsuback5, &a), PROTO_MALFORMED);
	CHECK_EQ(suback_rc(MQTT_UNSUBACK, MQTT_V5, unsuback, sizeof unsuback, &a), PROTO_MALFORMED);
	PKT(unsuback_id0, 0xB0, 0x02, 0x00, 0x00);
	CHECK_EQ(suback_rc(MQTT_UNSUBACK, MQTT_V311, unsuback_id0, sizeof unsuback_id0, &a), PROTO_MALFORMED);
	PKT(unsuback_flags, 0xB2, 0x02, 0x00, 0x01);
	CHECK_EQ(suback_rc(MQTT_UNSUBACK, MQTT_V311, unsuback_flags, sizeof unsuback_flags, &a), PROTO_MALFORMED);
	CHECK_EQ(proto__encode_suback(&b, MQTT_PUBACK, MQTT_V311, 1, ignored, 1, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(proto__encode_suback(&b, MQTT_SUBACK, MQTT_V311, 1, ignored, 0, NULL), MIDGE_ERR_INVAL);
	buf__fini(&b);
}

/* Builds a v5 packet of first byte first with packet id 10, the given properties and tail, and decodes it as its
 * type says. */
static int v5_rc(uint8_t first, const uint8_t *props, size_t pn, const uint8_t *tail, size_t tn)
{
	static const uint8_t id[] = {0x00, 0x0A};
	uint8_t pkt[128];
	size_t n = build_v5(pkt, first, id, sizeof id, props, pn, tail, tn);
	struct mqtt_frame f = frame_of(pkt, n);
	struct mqtt_subscribe s;
	struct mqtt_unsubscribe u;
	struct mqtt_suback a;
	switch (first >> 4) {
	case MQTT_SUBSCRIBE:
		return proto__decode_subscribe(&f, MQTT_V5, &s);
	case MQTT_UNSUBSCRIBE:
		return proto__decode_unsubscribe(&f, MQTT_V5, &u);
	case MQTT_SUBACK:
		return proto__decode_suback(&f, MQTT_V5, &a);
	default:
		return proto__decode_unsuback(&f, MQTT_V5, &a);
	}
}

/* v5 properties of the four packets (3.8.2.1, 3.9.2.1, 3.10.2.1, 3.11.2.1), each checked for its own type. */
static void test_v5_props(void)
{
	static const uint8_t entry[] = {0x00, 0x03, 'a', '/', 'b', 0x01}, codes[] = {0x00, 0x80};
	const struct props_case sub[] = {
	    PCASE(PROTO_OK, 0x0B, 0x05, 0x26, 0x00, 0x01, 'k', 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_OK, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F),
	    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x23, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x80),
	    PCASE(PROTO_MALFORMED, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF),
	    PCASE(PROTO_MALFORMED, 0x26, 0x00, 0x01),
	    /* Subscription Identifier 0 (3.8.2.1.2) and a second one. */
	    PCASE(PROTO_PROTOCOL_ERROR, 0x0B, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x0B, 0x01, 0x0B, 0x02),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x00, 0x1F, 0x00, 0x00),
	};
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
		check_case(v5_rc(0x82, sub[i].p, sub[i].n, entry, sizeof entry), &sub[i]);

	const struct props_case unsub[] = {
	    PCASE(PROTO_OK, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x01),
	    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x26, 0x00, 0x01, 'k', 0x00),
	};
	for (size_t i = 0; i < sizeof unsub / sizeof unsub[0]; i++)
		check_case(v5_rc(0xA2, unsub[i].p, unsub[i].n, entry, 5), &unsub[i]);

	/* SUBACK and UNSUBACK take the same properties. */
	const struct props_case acks[] = {
	    PCASE(PROTO_OK, 0x1F, 0x00, 0x02, 'n', 'o', 0x26, 0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x01),
	    PCASE(PROTO_MALFORMED, 0x23, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x02, 'n'),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00),
	};
	for (size_t i = 0; i < sizeof acks / sizeof acks[0]; i++) {
		check_case(v5_rc(0x90, acks[i].p, acks[i].n, codes, sizeof codes), &acks[i]);
		check_case(v5_rc(0xB0, acks[i].p, acks[i].n, codes, sizeof codes), &acks[i]);
	}

	/* A protocol error in the properties, then a malformation in the payload: malformed. */
	static const uint8_t subid0[] = {0x0B, 0x00}, dup_reason[] = {0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00};
	static const uint8_t bad_entry[] = {0x00, 0x01, 'a', 0xC1};
	static const uint8_t bad_code[] = {0x00, 0x03};
	CHECK_EQ(v5_rc(0x82, subid0, sizeof subid0, bad_entry, sizeof bad_entry), PROTO_MALFORMED);
	CHECK_EQ(v5_rc(0x82, subid0, sizeof subid0, NULL, 0), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(v5_rc(0x90, dup_reason, sizeof dup_reason, bad_code, sizeof bad_code), PROTO_MALFORMED);
	CHECK_EQ(v5_rc(0x90, dup_reason, sizeof dup_reason, NULL, 0), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(v5_rc(0xB0, dup_reason, sizeof dup_reason, NULL, 0), PROTO_PROTOCOL_ERROR);

	/* In 3.x there are no properties: a span's bytes are read as the payload. */
	struct mqtt_subscribe s;
	PKT(v311, 0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01);
	struct mqtt_frame f = frame_of(v311, sizeof v311);
	CHECK_EQ(proto__decode_subscribe(&f, MQTT_V311, &s), PROTO_OK);
	CHECK_EQ(s.props.len, 0);
}

/* The v5 options byte by name (3.8.3.1); test_subscribe sweeps all 256 values. */
static void test_v5_options(void)
{
	static const struct {
		uint8_t o;
		int want;
	} cases[] = {
	    {0x00, PROTO_OK},        {0x2E, PROTO_OK}, /* retain handling 2, retain as published, no local, QoS 2 */
	    {0x10, PROTO_OK},                          /* retain handling 1 */
	    {0x30, PROTO_PROTOCOL_ERROR},                   /* retain handling 3 (3.8.3.1) */
	    {0x31, PROTO_PROTOCOL_ERROR}, {0x40, PROTO_MALFORMED}, /* reserved bit 6 [MQTT-3.8.3-5] */
	    {0x80, PROTO_MALFORMED},                               /* reserved bit 7 */
	    {0xC1, PROTO_MALFORMED}, {0x03, PROTO_PROTOCOL_ERROR}, /* QoS 3 (3.8.3.1) */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* The bad byte as the second entry, after a good one. */
		uint8_t tail[] = {0x00, 0x01, 'a', 0x00, 0x00, 0x01, 'b', cases[i].o};
		CHECK_EQ(v5_rc(0x82, NULL, 0, tail, sizeof tail), cases[i].want);
		/* 3.x knows only QoS: any higher bit is malformed there. */
		uint8_t pkt[] = {0x82, 0x0A, 0x00, 0x0A, 0x00, 0x01, 'a', 0x00, 0x00, 0x01, 'b', cases[i].o};
		struct mqtt_subscribe s;
		struct mqtt_frame f = frame_of(pkt, sizeof pkt);
		CHECK_EQ(proto__decode_subscribe(&f, MQTT_V311, &s), cases[i].o <= 2 ? PROTO_OK : PROTO_MALFORMED);
	}
	/* A malformed options byte wins over a protocol error in the properties. */
	static const uint8_t subid0[] = {0x0B, 0x00}, rsv[] = {0x00, 0x01, 'a', 0x40};
	CHECK_EQ(v5_rc(0x82, subid0, sizeof subid0, rsv, sizeof rsv), PROTO_MALFORMED);
}

int main(void)
{
	test_subscribe();
	test_unsubscribe();
	test_acks();
	test_v5_props();
	test_v5_options();
	CHECK_DONE();
}
