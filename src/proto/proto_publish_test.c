/* Unit tests of PUBLISH: byte-exact round trips, the fixed header alone, and one check per decoding rule. */
#include "proto_test.h"

static int publish_rc(uint8_t version, const uint8_t *p, size_t n, struct mqtt_publish *m)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_publish(&f, version, m);
}

static void test_round_trips(void)
{
	struct mqtt_publish m;
	struct buf b = {0};
	PKT(qos0, 0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i');
	CHECK_EQ(publish_rc(MQTT_V311, qos0, sizeof qos0, &m), PROTO_OK);
	CHECK(m.qos == 0 && !m.dup && !m.retain);
	CHECK(str_eq(m.topic, "a/b"));
	CHECK_EQ(m.packet_id, 0);
	CHECK(str_eq(m.payload, "hi"));
	CHECK(m.payload.p == qos0 + 7);
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), 0);
	check_buf(&b, qos0, sizeof qos0);

	PKT(qos1, 0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i');
	CHECK_EQ(publish_rc(MQTT_V31, qos1, sizeof qos1, &m), PROTO_OK);
	CHECK_EQ(m.qos, 1);
	CHECK_EQ(m.packet_id, 10);
	CHECK(str_eq(m.payload, "hi"));
	CHECK_EQ(proto__encode_publish(&b, MQTT_V31, &m), 0);
	check_buf(&b, qos1, sizeof qos1);

	PKT(qos2, 0x3D, 0x07, 0x00, 0x03, 'a', '/', 'b', 0xFF, 0xFF); /* dup, QoS 2, retain, empty payload */
	CHECK_EQ(publish_rc(MQTT_V311, qos2, sizeof qos2, &m), PROTO_OK);
	CHECK(m.qos == 2 && m.dup && m.retain);
	CHECK_EQ(m.packet_id, 0xFFFF);
	CHECK_EQ(m.payload.len, 0);
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), 0);
	check_buf(&b, qos2, sizeof qos2);

	PKT(retain0, 0x31, 0x05, 0x00, 0x03, 'a', '/', 'b'); /* an empty retained message clears the topic */
	CHECK_EQ(publish_rc(MQTT_V311, retain0, sizeof retain0, &m), PROTO_OK);
	CHECK(m.retain && m.payload.len == 0);
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), 0);
	check_buf(&b, retain0, sizeof retain0);

	/* v5: payload-format property. */
	PKT(v5, 0x32, 0x0C, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 0x02, 0x01, 0x01, 'h', 'i');
	CHECK_EQ(publish_rc(MQTT_V5, v5, sizeof v5, &m), PROTO_OK);
	CHECK_EQ(m.packet_id, 10);
	CHECK_EQ(m.props.len, 2);
	CHECK(m.props.p == v5 + 10);
	CHECK(str_eq(m.payload, "hi"));
	CHECK_EQ(proto__encode_publish(&b, MQTT_V5, &m), 0);
	check_buf(&b, v5, sizeof v5);
	/* v5: empty topic with a topic alias. */
	PKT(alias, 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'x');
	CHECK_EQ(publish_rc(MQTT_V5, alias, sizeof alias, &m), PROTO_OK);
	CHECK_EQ(m.topic.len, 0);
	CHECK_EQ(m.props.len, 3);
	CHECK(str_eq(m.payload, "x"));
	CHECK_EQ(proto__encode_publish(&b, MQTT_V5, &m), 0);
	check_buf(&b, alias, sizeof alias);

	/* A payload large enough for a two-byte remaining length. */
	static uint8_t big[3 + 200 + 5];
	big[0] = 0x30, big[1] = 0xCD, big[2] = 0x01; /* 205 */
	big[3] = 0, big[4] = 3, big[5] = 'b', big[6] = 'i', big[7] = 'g';
	memset(big + 8, 'z', 200);
	CHECK_EQ(publish_rc(MQTT_V311, big, sizeof big, &m), PROTO_OK);
	CHECK_EQ(m.payload.len, 200);
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), 0);
	check_buf(&b, big, sizeof big);

	/* Encoder refusals. */
	m = (struct mqtt_publish){.qos = 3, .topic = S("a")};
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), MIDGE_ERR_INVAL);
	m = (struct mqtt_publish){.qos = 1, .topic = S("a")};
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), MIDGE_ERR_INVAL);
	m = (struct mqtt_publish){.topic = {(const uint8_t *)"a", 65536}};
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), MIDGE_ERR_INVAL);
	m = (struct mqtt_publish){.topic = S("a"), .payload = {(const uint8_t *)"a", MQTT_MAX_REMAINING}};
	CHECK_EQ(proto__encode_publish(&b, MQTT_V311, &m), MIDGE_ERR_INVAL);
	CHECK_EQ(buf__len(&b), 0);
	buf__fini(&b);
}

static void test_fixed_header(void)
{
	uint8_t out[5];
	CHECK_EQ(proto__publish_fixed_header(out, 0, false, false, 7), 2);
	CHECK(out[0] == 0x30 && out[1] == 0x07);
	CHECK_EQ(proto__publish_fixed_header(out, 2, true, true, 205), 3);
	CHECK(out[0] == 0x3D && out[1] == 0xCD && out[2] == 0x01);
	CHECK_EQ(proto__publish_fixed_header(out, 1, false, false, MQTT_MAX_REMAINING), 5);
	CHECK(out[0] == 0x32 && out[1] == 0xFF && out[4] == 0x7F);
	CHECK_EQ(proto__publish_fixed_header(out, 1, false, false, MQTT_MAX_REMAINING + 1), 0);
	CHECK_EQ(proto__publish_fixed_header(out, 3, false, false, 1), 0);
}

static void test_errors(void)
{
	struct mqtt_publish m;
	PKT(qos3, 0x36, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A);
	CHECK_EQ(publish_rc(MQTT_V311, qos3, sizeof qos3, &m), PROTO_MALFORMED);
	CHECK_EQ(publish_rc(MQTT_V5, qos3, sizeof qos3, &m), PROTO_MALFORMED);
	PKT(dup0, 0x38, 0x05, 0x00, 0x03, 'a', '/', 'b');
	CHECK_EQ(publish_rc(MQTT_V311, dup0, sizeof dup0, &m), PROTO_MALFORMED);
	PKT(id0, 0x32, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x00);
	CHECK_EQ(publish_rc(MQTT_V311, id0, sizeof id0, &m), PROTO_MALFORMED);
	PKT(id0q2, 0x34, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x00);
	CHECK_EQ(publish_rc(MQTT_V5, id0q2, sizeof id0q2, &m), PROTO_MALFORMED);
	PKT(no_id, 0x32, 0x06, 0x00, 0x03, 'a', '/', 'b', 0x00);
	CHECK_EQ(publish_rc(MQTT_V311, no_id, sizeof no_id, &m), PROTO_MALFORMED);
	PKT(bad_utf8, 0x30, 0x04, 0x00, 0x02, 0xC0, 0x80);
	CHECK_EQ(publish_rc(MQTT_V311, bad_utf8, sizeof bad_utf8, &m), PROTO_MALFORMED);
	PKT(nul, 0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b');
	CHECK_EQ(publish_rc(MQTT_V311, nul, sizeof nul, &m), PROTO_MALFORMED);
	PKT(plus, 0x30, 0x05, 0x00, 0x03, 'a', '/', '+');
	CHECK_EQ(publish_rc(MQTT_V311, plus, sizeof plus, &m), PROTO_MALFORMED);
	CHECK_EQ(publish_rc(MQTT_V5, plus, sizeof plus, &m), PROTO_MALFORMED);
	PKT(hash, 0x30, 0x03, 0x00, 0x01, '#');
	CHECK_EQ(publish_rc(MQTT_V311, hash, sizeof hash, &m), PROTO_MALFORMED);
	PKT(empty, 0x30, 0x04, 0x00, 0x00, 'h', 'i');
	CHECK_EQ(publish_rc(MQTT_V311, empty, sizeof empty, &m), PROTO_MALFORMED);
	CHECK_EQ(publish_rc(MQTT_V31, empty, sizeof empty, &m), PROTO_MALFORMED);
	PKT(cut_topic, 0x30, 0x03, 0x00, 0x03, 'a');
	CHECK_EQ(publish_rc(MQTT_V311, cut_topic, sizeof cut_topic, &m), PROTO_MALFORMED);
	PKT(cut_len, 0x30, 0x01, 0x00);
	CHECK_EQ(publish_rc(MQTT_V311, cut_len, sizeof cut_len, &m), PROTO_MALFORMED);
	PKT(v5over, 0x30, 0x05, 0x00, 0x01, 'a', 0x05, 0x01);
	CHECK_EQ(publish_rc(MQTT_V5, v5over, sizeof v5over, &m), PROTO_MALFORMED);
	PKT(v5noprops, 0x30, 0x03, 0x00, 0x01, 'a'); /* the property length is mandatory in v5 */
	CHECK_EQ(publish_rc(MQTT_V5, v5noprops, sizeof v5noprops, &m), PROTO_MALFORMED);
	CHECK_EQ(publish_rc(MQTT_V311, v5noprops, sizeof v5noprops, &m), PROTO_OK);
	PKT(not_publish, 0x40, 0x02, 0x00, 0x01);
	CHECK_EQ(publish_rc(MQTT_V311, not_publish, sizeof not_publish, &m), PROTO_MALFORMED);
}

/* v5 PUBLISH properties (3.3.2.3), checked for PUBLISH; the payload after them is never read as properties. */
static void test_v5_props(void)
{
	struct mqtt_publish m;
	static const uint8_t head[] = {0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A}, payload[] = {'h', 'i'};
	const struct props_case cases[] = {
	    PCASE(PROTO_OK, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x3C, 0x03, 0x00, 0x01, 'x', 0x08, 0x00, 0x01, 'r',
	          0x09, 0x00, 0x02, 0x00, 0xFF, 0x23, 0x00, 0x01, 0x26, 0x00, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00,
	          0x00),
	    /* Several Subscription Identifiers: a PUBLISH to a client may carry one per matching subscription. */
	    PCASE(PROTO_OK, 0x0B, 0x01, 0x0B, 0xFF, 0x7F, 0x0B, 0x80, 0x01),
	    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00, 0x00, 0x05),
	    PCASE(PROTO_MALFORMED, 0x18, 0x00, 0x00, 0x00, 0x05),
	    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x21, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x01, 0x02),
	    PCASE(PROTO_MALFORMED, 0x02, 0x00, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x80),
	    PCASE(PROTO_MALFORMED, 0x03, 0x00, 0x02, 0xC3, 0x28),
	    PCASE(PROTO_MALFORMED, 0x09, 0x00, 0x03, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x01, 0x00, 0x01, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x0B, 0x00),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x00, 0x11, 0x00, 0x00, 0x00, 0x01),
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct props_case *k = &cases[i];
		uint8_t pkt[128];
		size_t n = build_v5(pkt, 0x32, head, sizeof head, k->p, k->n, payload, sizeof payload);
		check_case(publish_rc(MQTT_V5, pkt, n, &m), k);
		if (k->want == PROTO_OK) CHECK(m.props.len == k->n && str_eq(m.payload, "hi") && m.packet_id == 10);
		/* In 3.x the same bytes are payload, whatever they hold. */
		CHECK_EQ(publish_rc(MQTT_V311, pkt, n, &m), PROTO_OK);
	}
	/* Payload bytes that would be malformed properties do not matter. */
	static const uint8_t bad_payload[] = {0x00, 0x04, 0x00};
	uint8_t pkt[32];
	size_t n = build_v5(pkt, 0x30, head, 5, NULL, 0, bad_payload, sizeof bad_payload);
	CHECK_EQ(publish_rc(MQTT_V5, pkt, n, &m), PROTO_OK);
	CHECK_EQ(m.payload.len, 3);
}

int main(void)
{
	test_round_trips();
	test_fixed_header();
	test_errors();
	test_v5_props();
	CHECK_DONE();
}
