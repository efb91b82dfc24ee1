/* MQTT-SN 1.2 codec: every message type decoded from its bytes and encoded back to them, and the malformed
 * datagrams a gateway must drop. */
#include <string.h>

#include "proto/proto_test.h"
#include "proto/sn.h"

/* Decodes p[0..n) (must succeed), re-encodes, and checks the bytes come back the same. */
#define round_trip(p, n, m) round_trip_at(p, n, m, __LINE__)
static void round_trip_at(const uint8_t *p, size_t n, struct sn_msg *m, int line)
{
	int rc = sn__decode(p, n, m);
	CHECK_EQ(rc, SN_OK);
	if (rc != SN_OK) {
		fprintf(stderr, "  (datagram at line %d)\n", line);
		return;
	}
	struct buf b = {0};
	CHECK_EQ(sn__encode(m, &b), 0);
	check_buf_at(&b, p, n, line);
	buf__fini(&b);
}

static bool text_is(struct mqtt_str s, const char *t) { return s.len == strlen(t) && memcmp(s.p, t, s.len) == 0; }

static void test_each_type(void)
{
	struct sn_msg m;
	PKT(adv, 5, 0x00, 7, 0x03, 0x84);
	round_trip(adv, sizeof(adv), &m);
	CHECK(m.type == SN_ADVERTISE && m.gw_id == 7 && m.duration == 900);
	PKT(search, 3, 0x01, 2);
	round_trip(search, sizeof(search), &m);
	CHECK_EQ(m.radius, 2);
	PKT(gwinfo, 7, 0x02, 1, 10, 0, 0, 1);
	round_trip(gwinfo, sizeof(gwinfo), &m);
	CHECK(m.gw_id == 1 && m.text.len == 4);
	PKT(gwinfo_short, 3, 0x02, 1);
	round_trip(gwinfo_short, sizeof(gwinfo_short), &m);
	CHECK_EQ(m.text.len, 0);
	/* CONNECT: will and clean session, protocol 1, keepalive 60, "sensor1" */
	PKT(connect, 13, 0x04, 0x0C, 0x01, 0, 60, 's', 'e', 'n', 's', 'o', 'r', '1');
	round_trip(connect, sizeof(connect), &m);
	CHECK(m.will && m.clean && m.protocol_id == 1 && m.duration == 60 && text_is(m.text, "sensor1"));
	PKT(connack, 3, 0x05, SN_RC_CONGESTION);
	round_trip(connack, sizeof(connack), &m);
	CHECK_EQ(m.rc, SN_RC_CONGESTION);
	PKT(wtreq, 2, 0x06);
	round_trip(wtreq, sizeof(wtreq), &m);
	/* WILLTOPIC QoS 1, retain, "w/t"; and the empty one that deletes the will */
	PKT(wt, 6, 0x07, 0x30, 'w', '/', 't');
	round_trip(wt, sizeof(wt), &m);
	CHECK(m.has_flags && m.qos == 1 && m.retain && text_is(m.text, "w/t"));
	PKT(wt_empty, 2, 0x07);
	round_trip(wt_empty, sizeof(wt_empty), &m);
	CHECK(!m.has_flags && m.text.len == 0);
	PKT(wmreq, 2, 0x08);
	round_trip(wmreq, sizeof(wmreq), &m);
	PKT(wm, 5, 0x09, 'b', 'y', 'e');
	round_trip(wm, sizeof(wm), &m);
	CHECK(text_is(m.data, "bye"));
	PKT(reg, 9, 0x0A, 0, 5, 0, 9, 'a', '/', 'b');
	round_trip(reg, sizeof(reg), &m);
	CHECK(m.topic_id == 5 && m.msg_id == 9 && text_is(m.text, "a/b"));
	PKT(regack, 7, 0x0B, 0, 5, 0, 9, SN_RC_INVALID_TOPIC_ID);
	round_trip(regack, sizeof(regack), &m);
	CHECK(m.topic_id == 5 && m.msg_id == 9 && m.rc == SN_RC_INVALID_TOPIC_ID);
	/* PUBLISH QoS -1 to a predefined topic id, and QoS 2 DUP retained to a short name "ab" */
	PKT(pub_m1, 9, 0x0C, 0x61, 0, 42, 0, 0, 'h', 'i');
	round_trip(pub_m1, sizeof(pub_m1), &m);
	CHECK(m.qos == -1 && m.topic_type == SN_TOPIC_PREDEFINED && m.topic_id == 42 && text_is(m.data, "hi"));
	PKT(pub2, 8, 0x0C, 0xD2, 'a', 'b', 0x12, 0x34, 'x');
	round_trip(pub2, sizeof(pub2), &m);
	CHECK(m.dup && m.qos == 2 && m.retain && m.topic_type == SN_TOPIC_SHORT && m.topic_id == 0x6162 && m.msg_id == 0x1234);
	PKT(puback, 7, 0x0D, 0, 42, 0, 1, 0);
	round_trip(puback, sizeof(puback), &m);
	static const uint8_t acks[] = {SN_PUBCOMP, SN_PUBREC, SN_PUBREL, SN_UNSUBACK};
	for (size_t i = 0; i < sizeof(acks); i++) {
		uint8_t a[] = {4, acks[i], 0xAB, 0xCD};
		round_trip(a, sizeof(a), &m);
		CHECK_EQ(m.msg_id, 0xABCD);
	}
	/* SUBSCRIBE by name with a wildcard, by predefined id, by short name; UNSUBSCRIBE by name */
	PKT(sub_name, 10, 0x12, 0x20, 0, 1, 's', '/', '+', '/', '#');
	round_trip(sub_name, sizeof(sub_name), &m);
	CHECK(m.qos == 1 && m.topic_type == SN_TOPIC_NORMAL && text_is(m.text, "s/+/#"));
	PKT(sub_pre, 7, 0x12, 0x41, 0, 2, 0, 7);
	round_trip(sub_pre, sizeof(sub_pre), &m);
	CHECK(m.qos == 2 && m.topic_type == SN_TOPIC_PREDEFINED && m.topic_id == 7 && m.text.len == 0);
	PKT(sub_short, 7, 0x12, 0x02, 0, 3, 't', 'x');
	round_trip(sub_short, sizeof(sub_short), &m);
	CHECK(m.topic_type == SN_TOPIC_SHORT && text_is(m.text, "tx"));
	PKT(unsub, 8, 0x14, 0x00, 0, 4, 'a', '/', 'b');
	round_trip(unsub, sizeof(unsub), &m);
	PKT(suback, 8, 0x13, 0x20, 0, 9, 0, 1, 0);
	round_trip(suback, sizeof(suback), &m);
	CHECK(m.qos == 1 && m.topic_id == 9 && m.msg_id == 1 && m.rc == 0);
	PKT(ping, 2, 0x16);
	round_trip(ping, sizeof(ping), &m);
	PKT(ping_wake, 4, 0x16, 'c', '1');
	round_trip(ping_wake, sizeof(ping_wake), &m);
	CHECK(text_is(m.text, "c1"));
	PKT(pingresp, 2, 0x17);
	round_trip(pingresp, sizeof(pingresp), &m);
	PKT(disc, 2, 0x18);
	round_trip(disc, sizeof(disc), &m);
	CHECK(!m.has_duration);
	PKT(disc_sleep, 4, 0x18, 0x0E, 0x10);
	round_trip(disc_sleep, sizeof(disc_sleep), &m);
	CHECK(m.has_duration && m.duration == 3600);
	PKT(wtupd, 4, 0x1A, 0x40, 'x');
	round_trip(wtupd, sizeof(wtupd), &m);
	CHECK(m.qos == 2 && text_is(m.text, "x"));
	PKT(wtresp, 3, 0x1B, 0);
	round_trip(wtresp, sizeof(wtresp), &m);
	PKT(wmupd, 4, 0x1C, 'z', 'z');
	round_trip(wmupd, sizeof(wmupd), &m);
	PKT(wmresp, 3, 0x1D, 3);
	round_trip(wmresp, sizeof(wmresp), &m);
	CHECK_EQ(m.rc, SN_RC_NOT_SUPPORTED);
}

static void test_long_form_and_encapsulation(void)
{
	/* A PUBLISH of 300 octets takes the 3-octet length form. */
	uint8_t big[300] = {0x01, 300 >> 8, 300 & 0xFF, 0x0C, 0x20, 0, 1, 0, 2};
	memset(big + 9, 'p', sizeof(big) - 9);
	struct sn_msg m;
	round_trip(big, sizeof(big), &m);
	CHECK(m.qos == 1 && m.data.len == 291);
	/* The 3-octet form for a short message is taken (a sender may use it), and written back short. */
	PKT(long_small, 0x01, 0, 7, 0x0D, 0, 1, 0);
	CHECK_EQ(sn__decode(long_small, sizeof(long_small), &m), SN_MALFORMED); /* too short for a PUBACK */
	PKT(long_ack, 0x01, 0, 9, 0x0D, 0, 1, 0, 2, 0);
	CHECK_EQ(sn__decode(long_ack, sizeof(long_ack), &m), SN_OK);
	CHECK(m.type == SN_PUBACK && m.msg_id == 2);
	/* A forwarder's envelope: ctrl 1, node id of 2 octets, then a PINGREQ. */
	PKT(enc, 5, 0xFE, 0x01, 0xAA, 0xBB, 2, 0x16);
	round_trip(enc, sizeof(enc), &m);
	CHECK(m.type == SN_ENCAPSULATED && m.radius == 1 && m.text.len == 2 && m.data.len == 2);
	struct sn_msg inner;
	CHECK_EQ(sn__decode(m.data.p, m.data.len, &inner), SN_OK);
	CHECK_EQ(inner.type, SN_PINGREQ);
}

static void test_malformed(void)
{
	struct sn_msg m;
	static const struct {
		uint8_t b[12];
		size_t n;
		int rc;
	} bad[] = {
	    {{0}, 0, SN_MALFORMED},                             /* empty datagram */
	    {{5, 0x0D, 0, 1}, 4, SN_MALFORMED},                 /* length says more than the datagram */
	    {{3, 0x17, 0, 0}, 4, SN_MALFORMED},                 /* length says less */
	    {{1}, 1, SN_MALFORMED},                             /* 3-octet form cut short */
	    {{0x01, 0, 2}, 3, SN_MALFORMED},                    /* 3-octet form shorter than its own header */
	    {{0x01, 0, 5, 0x17}, 4, SN_MALFORMED},              /* 3-octet form disagreeing */
	    {{1, 0x17}, 2, SN_MALFORMED},                       /* length 1 = the 3-octet form, cut short */
	    {{2, 0x03}, 2, SN_UNKNOWN},                         /* type 0x03 is not defined */
	    {{2, 0xF0}, 2, SN_UNKNOWN},                         /* nor 0xF0 */
	    {{2, 0x17, 0}, 3, SN_MALFORMED},                    /* length disagrees: datagram longer */
	    {{3, 0x17, 0}, 3, SN_MALFORMED},                    /* PINGRESP with a stray octet */
	    {{6, 0x0C, 0x20, 0, 1, 0}, 6, SN_MALFORMED},        /* PUBLISH without a whole msg id */
	    {{3, 0x18, 1}, 3, SN_MALFORMED},                    /* DISCONNECT with one octet of duration */
	    {{5, 0x18, 0, 1, 2}, 5, SN_MALFORMED},              /* DISCONNECT with three */
	    {{6, 0x12, 0x02, 0, 1, 'a'}, 6, SN_MALFORMED},      /* a short topic name of one character */
	    {{8, 0x12, 0x02, 0, 1, 'a', 'b', 'c'}, 8, SN_MALFORMED}, /* or of three */
	    {{6, 0x12, 0x01, 0, 1, 7}, 6, SN_MALFORMED},        /* a predefined id cut short */
	    {{2, 0x04}, 2, SN_MALFORMED},                       /* CONNECT without its fields */
	    {{4, 0x00, 1, 0}, 4, SN_MALFORMED},                 /* ADVERTISE cut short */
	    {{3, 0xFE, 0}, 3, SN_MALFORMED},                    /* envelope with nothing inside */
	    {{5, 0xFE, 0, 1}, 4, SN_MALFORMED},                 /* envelope longer than the datagram */
	    {{2, 0xFE}, 3, SN_MALFORMED},                       /* envelope without its ctrl octet */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sn__decode(bad[i].b, bad[i].n, &m);
		if (rc != bad[i].rc) fprintf(stderr, "  bad datagram %zu: %d\n", i, rc);
		CHECK_EQ(rc, bad[i].rc);
	}
}

static void test_encode_refusals(void)
{
	struct buf b = {0};
	struct sn_msg m = {.type = 0x03};
	CHECK_EQ(sn__encode(&m, &b), MIDGE_ERR_INVAL);
	m = (struct sn_msg){.type = SN_SUBSCRIBE, .topic_type = SN_TOPIC_SHORT, .text = S("abc")};
	CHECK_EQ(sn__encode(&m, &b), MIDGE_ERR_INVAL);
	static uint8_t huge[70000];
	m = (struct sn_msg){.type = SN_PUBLISH, .data = {huge, sizeof(huge)}};
	CHECK_EQ(sn__encode(&m, &b), MIDGE_ERR_INVAL);
	CHECK_EQ(buf__len(&b), 0);
	CHECK(strcmp(sn__type_name(SN_WILLMSGRESP), "WILLMSGRESP") == 0);
	CHECK(strcmp(sn__type_name(0x03), "UNKNOWN") == 0);
	buf__fini(&b);
}

int main(void)
{
	test_each_type();
	test_long_form_and_encapsulation();
	test_malformed();
	test_encode_refusals();
	CHECK_DONE();
}
