/* Unit tests of the MQTT 5.0 property codec: table, encoders, iterator and every rejection of props__validate. */
#include <stdlib.h>

#include "proto_test.h"
#include "props.h"

/* Validates p[0..n) as the properties of type (or of a will). */
static int val(const uint8_t *p, size_t n, uint8_t type, bool will)
{
	struct mqtt_str s = {p, (uint32_t)n};
	return props__validate(&s, type, will);
}
#define V(arr, type, will) val(arr, sizeof arr, type, will)

static struct mqtt_str span_of(const struct buf *b)
{
	return (struct mqtt_str){buf__head(b), (uint32_t)buf__len(b)};
}

static void test_table(void)
{
	int defined = 0;
	for (int id = 0; id < 256; id++) {
		const struct mqtt_prop_info *in = props__info((uint8_t)id);
		if (!in) continue;
		defined++;
		CHECK_EQ(in->id, id);
		CHECK(in->name != NULL);
	}
	CHECK_EQ(defined, 27); /* table 2-4 */
	CHECK(props__info(0x00) == NULL);
	CHECK(props__info(0x04) == NULL);
	CHECK(props__info(0x2B) == NULL);
	CHECK(props__info(0x80) == NULL);
	CHECK_EQ(props__info(MQTT_PROP_USER_PROPERTY)->type, MQTT_PROP_T_PAIR);
	CHECK_EQ(props__info(MQTT_PROP_SUBSCRIPTION_IDENTIFIER)->type, MQTT_PROP_T_VARINT);
	CHECK_EQ(props__info(MQTT_PROP_SERVER_KEEP_ALIVE)->type, MQTT_PROP_T_U16);
	CHECK_EQ(props__info(MQTT_PROP_WILL_DELAY_INTERVAL)->type, MQTT_PROP_T_U32);
	CHECK_EQ(props__info(MQTT_PROP_CORRELATION_DATA)->type, MQTT_PROP_T_BINARY);
	CHECK(props__allowed(MQTT_PROP_WILL_DELAY_INTERVAL, 0, true));
	CHECK(!props__allowed(MQTT_PROP_WILL_DELAY_INTERVAL, MQTT_CONNECT, false));
	CHECK(!props__allowed(MQTT_PROP_WILL_DELAY_INTERVAL, MQTT_PUBLISH, false));
	CHECK(props__allowed(MQTT_PROP_CONTENT_TYPE, MQTT_PUBLISH, false));
	CHECK(props__allowed(MQTT_PROP_CONTENT_TYPE, MQTT_CONNECT, true));
	CHECK(!props__allowed(MQTT_PROP_CONTENT_TYPE, MQTT_CONNECT, false));
	CHECK(props__allowed(MQTT_PROP_REASON_STRING, MQTT_PUBREL, false));
	CHECK(props__allowed(MQTT_PROP_REASON_STRING, MQTT_AUTH, false));
	CHECK(!props__allowed(MQTT_PROP_REASON_STRING, MQTT_SUBSCRIBE, false));
	CHECK(props__allowed(MQTT_PROP_USER_PROPERTY, MQTT_UNSUBSCRIBE, false));
	CHECK(!props__allowed(MQTT_PROP_USER_PROPERTY, MQTT_PINGREQ, false));
	CHECK(!props__allowed(MQTT_PROP_USER_PROPERTY, 0, false));
	CHECK(!props__allowed(MQTT_PROP_USER_PROPERTY, 16, false));
	CHECK(props__allowed(MQTT_PROP_SESSION_EXPIRY_INTERVAL, MQTT_DISCONNECT, false));
	CHECK(props__allowed(MQTT_PROP_SERVER_REFERENCE, MQTT_DISCONNECT, false));
	CHECK(props__allowed(MQTT_PROP_AUTHENTICATION_DATA, MQTT_AUTH, false));
	CHECK(!props__allowed(MQTT_PROP_SHARED_SUB_AVAILABLE, MQTT_CONNECT, false));
}

/* Encodes one property of every type, checks the bytes, then reads them back with props__next. */
static void test_roundtrip(void)
{
	struct buf b = {0};
	CHECK_EQ(props__put_u8(&b, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1), 0);
	CHECK_EQ(props__put_u32(&b, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 0xA1B2C3D4u), 0);
	CHECK_EQ(props__put_str(&b, MQTT_PROP_CONTENT_TYPE, &S("text/plain")), 0);
	CHECK_EQ(props__put_bin(&b, MQTT_PROP_CORRELATION_DATA, &S("\x00\xFF")), 0);
	CHECK_EQ(props__put_u16(&b, MQTT_PROP_TOPIC_ALIAS, 0x1234), 0);
	CHECK_EQ(props__put_varint(&b, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 268435455u), 0);
	CHECK_EQ(props__put_varint(&b, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 1), 0);
	CHECK_EQ(props__put_pair(&b, MQTT_PROP_USER_PROPERTY, &S("k"), &S("v\xC3\xA9")), 0);
	CHECK_EQ(props__put_pair(&b, MQTT_PROP_USER_PROPERTY, &S("k"), &S("")), 0);
	CHECK_EQ(props__put_str(&b, MQTT_PROP_RESPONSE_TOPIC, &(struct mqtt_str){NULL, 0}), 0);
	PKT(exp, 0x01, 0x01, 0x02, 0xA1, 0xB2, 0xC3, 0xD4, 0x03, 0x00, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a',
	    'i', 'n', 0x09, 0x00, 0x02, 0x00, 0xFF, 0x23, 0x12, 0x34, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F, 0x0B, 0x01, 0x26,
	    0x00, 0x01, 'k', 0x00, 0x03, 'v', 0xC3, 0xA9, 0x26, 0x00, 0x01, 'k', 0x00, 0x00, 0x08, 0x00, 0x00);
	CHECK(buf__len(&b) == sizeof exp && memcmp(buf__head(&b), exp, sizeof exp) == 0);

	struct mqtt_str span = span_of(&b);
	CHECK_EQ(props__validate(&span, MQTT_PUBLISH, false), PROTO_OK);
	size_t pos = 0;
	struct mqtt_prop p;
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_PAYLOAD_FORMAT_INDICATOR &&
	      p.type == MQTT_PROP_T_BYTE && p.u32 == 1);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_MESSAGE_EXPIRY_INTERVAL && p.u32 == 0xA1B2C3D4u);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_CONTENT_TYPE && p.type == MQTT_PROP_T_UTF8 &&
	      str_eq(p.str, "text/plain"));
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_CORRELATION_DATA && p.type == MQTT_PROP_T_BINARY &&
	      p.str.len == 2 && p.str.p[0] == 0x00 && p.str.p[1] == 0xFF);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_TOPIC_ALIAS && p.type == MQTT_PROP_T_U16 &&
	      p.u32 == 0x1234);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER &&
	      p.type == MQTT_PROP_T_VARINT && p.u32 == 268435455u);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER && p.u32 == 1);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_USER_PROPERTY && p.type == MQTT_PROP_T_PAIR &&
	      str_eq(p.str, "k") && str_eq(p.str2, "v\xC3\xA9"));
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_USER_PROPERTY && str_eq(p.str, "k") && p.str2.len == 0);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_RESPONSE_TOPIC && p.str.len == 0);
	CHECK(!props__next(&span, &pos, &p));
	CHECK_EQ(pos, sizeof exp);
	buf__clear(&b);

	/* CONNACK carries most of the integer and flag properties. */
	CHECK_EQ(props__put_u32(&b, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0xFFFFFFFFu), 0);
	CHECK_EQ(props__put_u16(&b, MQTT_PROP_RECEIVE_MAXIMUM, 65535), 0);
	CHECK_EQ(props__put_u8(&b, MQTT_PROP_MAXIMUM_QOS, 1), 0);
	CHECK_EQ(props__put_u32(&b, MQTT_PROP_MAXIMUM_PACKET_SIZE, 1), 0);
	CHECK_EQ(props__put_str(&b, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER, &S("auto-1")), 0);
	CHECK_EQ(props__put_u8(&b, MQTT_PROP_SHARED_SUB_AVAILABLE, 0), 0);
	span = span_of(&b);
	CHECK_EQ(props__validate(&span, MQTT_CONNACK, false), PROTO_OK);
	CHECK_EQ(props__validate(&span, MQTT_CONNECT, false), PROTO_MALFORMED);
	pos = 0;
	CHECK(props__next(&span, &pos, &p) && p.u32 == 0xFFFFFFFFu);
	CHECK(props__next(&span, &pos, &p) && p.u32 == 65535);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_MAXIMUM_QOS && p.u32 == 1);
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_MAXIMUM_PACKET_SIZE && p.u32 == 1);
	CHECK(props__next(&span, &pos, &p) && str_eq(p.str, "auto-1"));
	CHECK(props__next(&span, &pos, &p) && p.id == MQTT_PROP_SHARED_SUB_AVAILABLE && p.u32 == 0);
	CHECK(!props__next(&span, &pos, &p));
	buf__clear(&b);

	/* Varint boundaries of the subscription identifier. */
	static const uint32_t ids[] = {1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455u};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		CHECK_EQ(props__put_varint(&b, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, ids[i]), 0);
		span = span_of(&b);
		CHECK_EQ(props__validate(&span, MQTT_SUBSCRIBE, false), PROTO_OK);
		pos = 0;
		CHECK(props__next(&span, &pos, &p) && p.u32 == ids[i] && pos == buf__len(&b));
		buf__clear(&b);
	}

	/* An empty span is valid everywhere and yields nothing. */
	span = (struct mqtt_str){NULL, 0};
	CHECK_EQ(props__validate(&span, MQTT_PINGREQ, false), PROTO_OK);
	pos = 0;
	CHECK(!props__next(&span, &pos, &p));
	buf__fini(&b);
}

static void test_encoder_errors(void)
{
	struct buf b = {0};
	CHECK_EQ(props__put_u8(&b, 0x00, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_u8(&b, MQTT_PROP_TOPIC_ALIAS, 1), MIDGE_ERR_INVAL); /* a U16 */
	CHECK_EQ(props__put_u16(&b, MQTT_PROP_MAXIMUM_QOS, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_u32(&b, MQTT_PROP_CONTENT_TYPE, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_str(&b, MQTT_PROP_CORRELATION_DATA, &S("x")), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_bin(&b, MQTT_PROP_CONTENT_TYPE, &S("x")), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_pair(&b, MQTT_PROP_CONTENT_TYPE, &S("x"), &S("y")), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_varint(&b, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 268435456u), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_varint(&b, 0x2B, 1), MIDGE_ERR_INVAL);
	static uint8_t big[65536];
	CHECK_EQ(props__put_str(&b, MQTT_PROP_CONTENT_TYPE, &(struct mqtt_str){big, 65536}), MIDGE_ERR_INVAL);
	CHECK_EQ(props__put_pair(&b, MQTT_PROP_USER_PROPERTY, &S("k"), &(struct mqtt_str){big, 65536}),
	         MIDGE_ERR_INVAL);
	CHECK_EQ(buf__len(&b), 0); /* nothing written by a refused call */
	CHECK_EQ(props__put_bin(&b, MQTT_PROP_AUTHENTICATION_DATA, &(struct mqtt_str){big, 65535}), 0);
	CHECK_EQ(buf__len(&b), 3 + 65535);
	struct mqtt_str span = span_of(&b);
	CHECK_EQ(props__validate(&span, MQTT_AUTH, false), PROTO_OK);
	buf__fini(&b);
}

static void test_malformed(void)
{
	/* Truncated values of every type. */
	PKT(t_byte, 0x01);
	CHECK_EQ(V(t_byte, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_u16, 0x23, 0x00);
	CHECK_EQ(V(t_u16, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_u32, 0x02, 0x00, 0x00, 0x00);
	CHECK_EQ(V(t_u32, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_varint, 0x0B, 0x80, 0x80);
	CHECK_EQ(V(t_varint, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_varint5, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
	CHECK_EQ(V(t_varint5, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_strlen, 0x03, 0x00);
	CHECK_EQ(V(t_strlen, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_str, 0x03, 0x00, 0x03, 'a', 'b');
	CHECK_EQ(V(t_str, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_bin, 0x09, 0x00, 0x02, 0x00);
	CHECK_EQ(V(t_bin, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_pair, 0x26, 0x00, 0x01, 'k', 0x00);
	CHECK_EQ(V(t_pair, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(t_pair2, 0x26, 0x00, 0x01, 'k');
	CHECK_EQ(V(t_pair2, MQTT_PUBLISH, false), PROTO_MALFORMED);
	/* A good property followed by a dangling identifier. */
	PKT(t_tail, 0x01, 0x00, 0x02);
	CHECK_EQ(V(t_tail, MQTT_PUBLISH, false), PROTO_MALFORMED);

	/* Unknown identifiers, and a multi-byte (non-minimal) identifier. */
	PKT(u0, 0x00, 0x00);
	CHECK_EQ(V(u0, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(u4, 0x04, 0x00);
	CHECK_EQ(V(u4, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(u2b, 0x2B, 0x00);
	CHECK_EQ(V(u2b, MQTT_CONNACK, false), PROTO_MALFORMED);
	PKT(u_long, 0x81, 0x00, 0x00);
	CHECK_EQ(V(u_long, MQTT_PUBLISH, false), PROTO_MALFORMED);

	/* Invalid UTF-8 in a string and in each half of a pair; binary data may hold anything. */
	PKT(bad_str, 0x03, 0x00, 0x01, 0xFF);
	CHECK_EQ(V(bad_str, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(nul_str, 0x08, 0x00, 0x01, 0x00);
	CHECK_EQ(V(nul_str, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(surrogate, 0x1F, 0x00, 0x03, 0xED, 0xA0, 0x80);
	CHECK_EQ(V(surrogate, MQTT_PUBACK, false), PROTO_MALFORMED);
	PKT(bad_name, 0x26, 0x00, 0x01, 0xC0, 0x00, 0x00);
	CHECK_EQ(V(bad_name, MQTT_CONNECT, false), PROTO_MALFORMED);
	PKT(bad_value, 0x26, 0x00, 0x00, 0x00, 0x02, 0xC0, 0x80);
	CHECK_EQ(V(bad_value, MQTT_CONNECT, false), PROTO_MALFORMED);
	PKT(bin_ok, 0x09, 0x00, 0x01, 0xFF);
	CHECK_EQ(V(bin_ok, MQTT_PUBLISH, false), PROTO_OK);

	/* Properties in packets that may not carry them (2.2.2.2: malformed). */
	PKT(will_delay, 0x18, 0x00, 0x00, 0x00, 0x05);
	CHECK_EQ(V(will_delay, MQTT_CONNECT, true), PROTO_OK);
	CHECK_EQ(V(will_delay, MQTT_CONNECT, false), PROTO_MALFORMED);
	CHECK_EQ(V(will_delay, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(sess, 0x11, 0x00, 0x00, 0x00, 0x05);
	CHECK_EQ(V(sess, MQTT_CONNECT, false), PROTO_OK);
	CHECK_EQ(V(sess, MQTT_CONNECT, true), PROTO_MALFORMED);
	CHECK_EQ(V(sess, MQTT_PUBLISH, false), PROTO_MALFORMED);
	PKT(alias, 0x23, 0x00, 0x01);
	CHECK_EQ(V(alias, MQTT_PUBLISH, false), PROTO_OK);
	CHECK_EQ(V(alias, MQTT_CONNECT, true), PROTO_MALFORMED);
	PKT(reason, 0x1F, 0x00, 0x01, 'x');
	CHECK_EQ(V(reason, MQTT_SUBACK, false), PROTO_OK);
	CHECK_EQ(V(reason, MQTT_SUBSCRIBE, false), PROTO_MALFORMED);
	CHECK_EQ(V(reason, MQTT_CONNECT, false), PROTO_MALFORMED);
	PKT(subid, 0x0B, 0x05);
	CHECK_EQ(V(subid, MQTT_UNSUBSCRIBE, false), PROTO_MALFORMED);
	PKT(user, 0x26, 0x00, 0x00, 0x00, 0x00);
	CHECK_EQ(V(user, MQTT_PINGREQ, false), PROTO_MALFORMED);
	CHECK_EQ(V(user, MQTT_UNSUBACK, false), PROTO_OK);
	PKT(maxqos, 0x24, 0x00);
	CHECK_EQ(V(maxqos, MQTT_CONNECT, false), PROTO_MALFORMED);
	/* A disallowed property is malformed even when a protocol error comes first. */
	PKT(mixed, 0x21, 0x00, 0x00, 0x24, 0x00);
	CHECK_EQ(V(mixed, MQTT_CONNECT, false), PROTO_MALFORMED);

	/* Payload Format Indicator past 1. */
	PKT(pfi2, 0x01, 0x02);
	CHECK_EQ(V(pfi2, MQTT_PUBLISH, false), PROTO_MALFORMED);
	CHECK_EQ(V(pfi2, MQTT_CONNECT, true), PROTO_MALFORMED);
}

static void test_protocol_errors(void)
{
	/* Duplicates: each once-only property twice. */
	PKT(dup_pfi, 0x01, 0x00, 0x01, 0x01);
	CHECK_EQ(V(dup_pfi, MQTT_PUBLISH, false), PROTO_PROTOCOL_ERROR);
	PKT(dup_sess, 0x11, 0, 0, 0, 1, 0x21, 0x00, 0x05, 0x11, 0, 0, 0, 2);
	CHECK_EQ(V(dup_sess, MQTT_CONNECT, false), PROTO_PROTOCOL_ERROR);
	PKT(dup_reason, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00);
	CHECK_EQ(V(dup_reason, MQTT_DISCONNECT, false), PROTO_PROTOCOL_ERROR);
	PKT(dup_alias, 0x23, 0x00, 0x01, 0x23, 0x00, 0x01);
	CHECK_EQ(V(dup_alias, MQTT_PUBLISH, false), PROTO_PROTOCOL_ERROR);
	PKT(dup_will_delay, 0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1);
	CHECK_EQ(V(dup_will_delay, MQTT_CONNECT, true), PROTO_PROTOCOL_ERROR);
	PKT(dup_auth, 0x16, 0x00, 0x00, 0x16, 0x00, 0x00);
	CHECK_EQ(V(dup_auth, MQTT_AUTH, false), PROTO_PROTOCOL_ERROR);
	/* User Property repeats anywhere; Subscription Identifier repeats only in PUBLISH. */
	PKT(users, 0x26, 0, 0, 0, 0, 0x26, 0, 0, 0, 0, 0x26, 0, 1, 'a', 0, 1, 'b');
	CHECK_EQ(V(users, MQTT_CONNECT, false), PROTO_OK);
	CHECK_EQ(V(users, MQTT_CONNECT, true), PROTO_OK);
	CHECK_EQ(V(users, MQTT_PUBREC, false), PROTO_OK);
	PKT(subids, 0x0B, 0x01, 0x0B, 0x02);
	CHECK_EQ(V(subids, MQTT_PUBLISH, false), PROTO_OK);
	CHECK_EQ(V(subids, MQTT_SUBSCRIBE, false), PROTO_PROTOCOL_ERROR);

	/* Zero values the spec forbids. */
	PKT(recv0, 0x21, 0x00, 0x00);
	CHECK_EQ(V(recv0, MQTT_CONNECT, false), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(V(recv0, MQTT_CONNACK, false), PROTO_PROTOCOL_ERROR);
	PKT(recv1, 0x21, 0x00, 0x01);
	CHECK_EQ(V(recv1, MQTT_CONNECT, false), PROTO_OK);
	PKT(mps0, 0x27, 0x00, 0x00, 0x00, 0x00);
	CHECK_EQ(V(mps0, MQTT_CONNECT, false), PROTO_PROTOCOL_ERROR);
	PKT(subid0, 0x0B, 0x00);
	CHECK_EQ(V(subid0, MQTT_SUBSCRIBE, false), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(V(subid0, MQTT_PUBLISH, false), PROTO_PROTOCOL_ERROR);

	/* Flags that must be 0 or 1. */
	PKT(rpi2, 0x17, 0x02);
	CHECK_EQ(V(rpi2, MQTT_CONNECT, false), PROTO_PROTOCOL_ERROR);
	PKT(rri2, 0x19, 0x02);
	CHECK_EQ(V(rri2, MQTT_CONNECT, false), PROTO_PROTOCOL_ERROR);
	PKT(rri1, 0x19, 0x01, 0x17, 0x00);
	CHECK_EQ(V(rri1, MQTT_CONNECT, false), PROTO_OK);
	PKT(maxqos2, 0x24, 0x02);
	CHECK_EQ(V(maxqos2, MQTT_CONNACK, false), PROTO_PROTOCOL_ERROR);
	PKT(retain2, 0x25, 0x02);
	CHECK_EQ(V(retain2, MQTT_CONNACK, false), PROTO_PROTOCOL_ERROR);
	PKT(wild2, 0x28, 0xFF);
	CHECK_EQ(V(wild2, MQTT_CONNACK, false), PROTO_PROTOCOL_ERROR);
	PKT(subav2, 0x29, 0x02);
	CHECK_EQ(V(subav2, MQTT_CONNACK, false), PROTO_PROTOCOL_ERROR);
	PKT(shared2, 0x2A, 0x02);
	CHECK_EQ(V(shared2, MQTT_CONNACK, false), PROTO_PROTOCOL_ERROR);
	PKT(flags_ok, 0x24, 0x01, 0x25, 0x00, 0x28, 0x01, 0x29, 0x00, 0x2A, 0x01);
	CHECK_EQ(V(flags_ok, MQTT_CONNACK, false), PROTO_OK);

	/* A later malformation wins over an earlier protocol error. */
	PKT(later_bad, 0x21, 0x00, 0x00, 0x22, 0x00);
	CHECK_EQ(V(later_bad, MQTT_CONNECT, false), PROTO_MALFORMED);
}

/* Random spans, from a fixed seed: validate never reads outside them (ASan holds it to that), answers
 * one of its three results, and a span it accepts iterates to its exact end. Each span is copied into a
 * heap block of exactly its size so any overread hits a redzone. */
static void test_random(void)
{
	uint32_t seed = 0x6d696467u;
	int ok = 0, bad = 0;
	for (int i = 0; i < 200000; i++) {
		seed = seed * 1664525u + 1013904223u;
		size_t n = (seed >> 8) % 24;
		uint8_t *p = malloc(n ? n : 1);
		if (!p) break;
		for (size_t j = 0; j < n; j++) {
			seed = seed * 1664525u + 1013904223u;
			uint8_t x = (uint8_t)(seed >> 24);
			/* Bias towards defined identifiers and small lengths so walks get deep. */
			if ((seed & 0x300) == 0)
				x = (uint8_t)(x % 0x2B);
			else if ((seed & 0x300) == 0x100)
				x = (uint8_t)(x % 4);
			p[j] = x;
		}
		seed = seed * 1664525u + 1013904223u;
		uint8_t type = (uint8_t)(1 + (seed >> 20) % 15);
		bool will = ((seed >> 10) & 7) == 0;
		struct mqtt_str s = {n ? p : NULL, (uint32_t)n};
		int rc = props__validate(&s, type, will);
		if (rc != PROTO_OK && rc != PROTO_MALFORMED && rc != PROTO_PROTOCOL_ERROR) bad++;
		if (rc == PROTO_OK) {
			ok++;
			size_t pos = 0, count = 0;
			struct mqtt_prop pr;
			while (props__next(&s, &pos, &pr))
				count++;
			if (pos != n || (n && !count)) bad++;
		}
		free(p);
	}
	CHECK_EQ(bad, 0);
	CHECK(ok > 100); /* the generator reaches valid spans, not only garbage */
}

int main(void)
{
	test_table();
	test_roundtrip();
	test_encoder_errors();
	test_malformed();
	test_protocol_errors();
	test_random();
	CHECK_DONE();
}
