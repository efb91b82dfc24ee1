/* Unit tests of CONNECT and CONNACK: byte-exact round trips and one check per decoding rule. */
#include "proto_test.h"

static int connect_rc(const uint8_t *p, size_t n, struct mqtt_connect *c)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_connect(&f, c);
}

/* 3.1.1 with every field: clean, will QoS 1 retained, username and password, keepalive 60. */
PKT(full311, 0x10, 0x20, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xEE, 0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c', 0x00,
    0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e', 0x00, 0x01, 'u', 0x00, 0x02, 'p', 'w');

static void test_connect_311(void)
{
	struct mqtt_connect c;
	CHECK_EQ(connect_rc(full311, sizeof full311, &c), PROTO_OK);
	CHECK(str_eq(c.protocol_name, "MQTT"));
	CHECK_EQ(c.version, MQTT_V311);
	CHECK(c.clean);
	CHECK_EQ(c.keepalive, 60);
	CHECK(str_eq(c.client_id, "abc"));
	CHECK(c.will);
	CHECK_EQ(c.will_qos, 1);
	CHECK(c.will_retain);
	CHECK(str_eq(c.will_topic, "w/t"));
	CHECK(str_eq(c.will_payload, "bye"));
	CHECK(c.has_username && c.has_password);
	CHECK(str_eq(c.username, "u"));
	CHECK(str_eq(c.password, "pw"));
	CHECK_EQ(c.props.len, 0);
	struct buf b = {0};
	CHECK_EQ(proto__encode_connect(&b, &c), 0);
	check_buf(&b, full311, sizeof full311);

	/* The minimal CONNECT: empty client id, no flags. */
	PKT(minimal, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x00, 0x00, 0x00);
	CHECK_EQ(connect_rc(minimal, sizeof minimal, &c), PROTO_OK);
	CHECK_EQ(c.client_id.len, 0);
	CHECK(!c.clean && !c.will && !c.has_username && !c.has_password);
	CHECK_EQ(proto__encode_connect(&b, &c), 0);
	check_buf(&b, minimal, sizeof minimal);
	buf__fini(&b);
}

static void test_connect_31_and_5(void)
{
	struct mqtt_connect c;
	struct buf b = {0};
	PKT(v31, 0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x0A, 0x00, 0x02, 'c', '1');
	CHECK_EQ(connect_rc(v31, sizeof v31, &c), PROTO_OK);
	CHECK(str_eq(c.protocol_name, "MQIsdp"));
	CHECK_EQ(c.version, MQTT_V31);
	CHECK(c.clean);
	CHECK_EQ(c.keepalive, 10);
	CHECK(str_eq(c.client_id, "c1"));
	CHECK_EQ(proto__encode_connect(&b, &c), 0);
	check_buf(&b, v31, sizeof v31);

	/* v5: session expiry 10 as CONNECT property, a will with a payload-format property. */
	PKT(v5, 0x10, 0x1B, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3C, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A,
	    0x00, 0x01, 'x', 0x02, 0x01, 0x01, 0x00, 0x01, 't', 0x00, 0x00);
	CHECK_EQ(connect_rc(v5, sizeof v5, &c), PROTO_OK);
	CHECK_EQ(c.version, MQTT_V5);
	CHECK(c.clean && c.will && c.will_qos == 0 && !c.will_retain);
	CHECK_EQ(c.props.len, 5);
	CHECK(c.props.p == v5 + 13);
	CHECK(str_eq(c.client_id, "x"));
	CHECK_EQ(c.will_props.len, 2);
	CHECK(str_eq(c.will_topic, "t"));
	CHECK_EQ(c.will_payload.len, 0);
	CHECK_EQ(proto__encode_connect(&b, &c), 0);
	check_buf(&b, v5, sizeof v5);

	/* v5 lets a password come without a username. */
	PKT(v5pw, 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 't',
	    'k');
	CHECK_EQ(connect_rc(v5pw, sizeof v5pw, &c), PROTO_OK);
	CHECK(c.has_password && !c.has_username);
	CHECK(str_eq(c.password, "tk"));
	CHECK_EQ(proto__encode_connect(&b, &c), 0);
	check_buf(&b, v5pw, sizeof v5pw);

	/* Properties that run past the packet. */
	PKT(v5over, 0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00);
	CHECK_EQ(connect_rc(v5over, sizeof v5over, &c), PROTO_MALFORMED);
	PKT(v5willover, 0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
	    0x00, 0x01, 't', 0x00, 0x00);
	CHECK_EQ(connect_rc(v5willover, sizeof v5willover, &c), PROTO_MALFORMED);

	/* The encoder refuses what no decoder would accept. */
	struct mqtt_connect bad = {.version = 6};
	CHECK_EQ(proto__encode_connect(&b, &bad), MIDGE_ERR_INVAL);
	bad = (struct mqtt_connect){.version = MQTT_V311, .will = true, .will_qos = 3};
	CHECK_EQ(proto__encode_connect(&b, &bad), MIDGE_ERR_INVAL);
	bad = (struct mqtt_connect){.version = MQTT_V311, .will_retain = true};
	CHECK_EQ(proto__encode_connect(&b, &bad), MIDGE_ERR_INVAL);
	bad = (struct mqtt_connect){.version = MQTT_V311, .has_password = true};
	CHECK_EQ(proto__encode_connect(&b, &bad), MIDGE_ERR_INVAL);
	bad = (struct mqtt_connect){.version = MQTT_V311, .client_id = {(const uint8_t *)"", 70000}};
	CHECK_EQ(proto__encode_connect(&b, &bad), MIDGE_ERR_INVAL);
	CHECK_EQ(buf__len(&b), 0);
	buf__fini(&b);
}

/* Builds "10 len 00 <n> name level flags 00 00 00 00" plus tail into out; returns its length. */
static size_t build_connect(uint8_t *out, const char *name, uint8_t level, uint8_t flags, const uint8_t *tail,
			    size_t tail_len)
{
	size_t nl = strlen(name), n = 0;
	out[n++] = 0x10;
	out[n++] = (uint8_t)(2 + nl + 1 + 1 + 2 + 2 + tail_len);
	out[n++] = 0;
	out[n++] = (uint8_t)nl;
	memcpy(out + n, name, nl), n += nl;
	out[n++] = level;
	out[n++] = flags;
	out[n++] = 0, out[n++] = 0; /* keepalive */
	out[n++] = 0, out[n++] = 0; /* empty client id */
	memcpy(out + n, tail, tail_len);
	return n + tail_len;
}

static int try_connect(const char *name, uint8_t level, uint8_t flags, const uint8_t *tail, size_t tail_len,
		       struct mqtt_connect *c)
{
	uint8_t pkt[128];
	size_t n = build_connect(pkt, name, level, flags, tail, tail_len);
	return connect_rc(pkt, n, c);
}

static void test_connect_errors(void)
{
	struct mqtt_connect c;
	static const uint8_t none[1];
	CHECK_EQ(try_connect("MQTT", 4, 0, none, 0, &c), PROTO_OK);
	/* Known name, wrong level: the caller answers "unacceptable protocol version". */
	CHECK_EQ(try_connect("MQTT", 3, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(c.version, 3);
	CHECK_EQ(try_connect("MQTT", 6, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(c.version, 6);
	CHECK_EQ(try_connect("MQIsdp", 4, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(c.version, 4);
	CHECK_EQ(try_connect("MQIsdp", 5, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(try_connect("MQTX", 4, 0, none, 0, &c), PROTO_BAD_PROTOCOL_NAME);
	CHECK_EQ(try_connect("mqtt", 4, 0, none, 0, &c), PROTO_BAD_PROTOCOL_NAME);
	CHECK_EQ(try_connect("", 4, 0, none, 0, &c), PROTO_BAD_PROTOCOL_NAME);
	/* Connect-flag rules. */
	CHECK_EQ(try_connect("MQTT", 4, 0x01, none, 0, &c), PROTO_MALFORMED); /* reserved bit */
	CHECK_EQ(try_connect("MQTT", 5, 0x01, none, 0, &c), PROTO_MALFORMED);
	CHECK_EQ(try_connect("MQTT", 4, 0x08, none, 0, &c), PROTO_MALFORMED); /* will QoS 1 without will */
	CHECK_EQ(try_connect("MQTT", 4, 0x10, none, 0, &c), PROTO_MALFORMED); /* will QoS 2 without will */
	CHECK_EQ(try_connect("MQTT", 4, 0x20, none, 0, &c), PROTO_MALFORMED); /* will retain without will */
	static const uint8_t will[] = {0x00, 0x01, 't', 0x00, 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, will, sizeof will, &c), PROTO_OK);
	CHECK_EQ(try_connect("MQTT", 4, 0x14, will, sizeof will, &c), PROTO_OK);  /* will QoS 2 */
	CHECK_EQ(try_connect("MQTT", 4, 0x1C, will, sizeof will, &c), PROTO_MALFORMED); /* will QoS 3 */
	static const uint8_t pw[] = {0x00, 0x01, 'p'};
	CHECK_EQ(try_connect("MQTT", 4, 0x40, pw, sizeof pw, &c), PROTO_MALFORMED); /* password, no username */
	CHECK_EQ(try_connect("MQIsdp", 3, 0x40, pw, sizeof pw, &c), PROTO_MALFORMED);
	CHECK_EQ(try_connect("MQTT", 4, 0x80, pw, sizeof pw, &c), PROTO_OK); /* username "p" */
	CHECK_EQ(try_connect("MQTT", 4, 0xC0, pw, sizeof pw, &c), PROTO_MALFORMED); /* password missing */
	/* UTF-8 of the strings and the will topic's rules. */
	static const uint8_t bad_user[] = {0x00, 0x02, 0xC3, 0x28};
	CHECK_EQ(try_connect("MQTT", 4, 0x80, bad_user, sizeof bad_user, &c), PROTO_MALFORMED);
	static const uint8_t nul_user[] = {0x00, 0x01, 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x80, nul_user, sizeof nul_user, &c), PROTO_MALFORMED);
	static const uint8_t bin_pw[] = {0x00, 0x01, 'u', 0x00, 0x02, 0x00, 0xFF};
	CHECK_EQ(try_connect("MQTT", 4, 0xC0, bin_pw, sizeof bin_pw, &c), PROTO_OK); /* password is binary */
	static const uint8_t bad_wtopic[] = {0x00, 0x01, 0xFF, 0x00, 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, bad_wtopic, sizeof bad_wtopic, &c), PROTO_MALFORMED);
	static const uint8_t wild_wtopic[] = {0x00, 0x03, 'a', '/', '#', 0x00, 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, wild_wtopic, sizeof wild_wtopic, &c), PROTO_MALFORMED);
	static const uint8_t plus_wtopic[] = {0x00, 0x01, '+', 0x00, 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, plus_wtopic, sizeof plus_wtopic, &c), PROTO_MALFORMED);
	static const uint8_t empty_wtopic[] = {0x00, 0x00, 0x00, 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, empty_wtopic, sizeof empty_wtopic, &c), PROTO_MALFORMED);
	static const uint8_t bin_wpayload[] = {0x00, 0x01, 't', 0x00, 0x02, 0x00, 0xFF};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, bin_wpayload, sizeof bin_wpayload, &c), PROTO_OK);
	static const uint8_t trailing[] = {0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x00, trailing, sizeof trailing, &c), PROTO_MALFORMED);
	static const uint8_t short_will[] = {0x00, 0x01, 't', 0x00};
	CHECK_EQ(try_connect("MQTT", 4, 0x04, short_will, sizeof short_will, &c), PROTO_MALFORMED);

	/* A client id that is not UTF-8. */
	PKT(bad_id, 0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0xED, 0xA0);
	CHECK_EQ(connect_rc(bad_id, sizeof bad_id, &c), PROTO_MALFORMED);
	/* Truncated fields: cut inside the name, before the level, flags, keepalive and client id. */
	PKT(cut, 0x10, 0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x00);
	for (uint8_t len = 0; len <= 10; len++) {
		uint8_t p[12];
		memcpy(p, cut, sizeof cut);
		p[1] = len;
		CHECK_EQ(connect_rc(p, 2u + len, &c), PROTO_MALFORMED);
	}
	PKT(badflags, 0x12, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x00, 0x00, 0x00);
	CHECK_EQ(connect_rc(badflags, sizeof badflags, &c), PROTO_MALFORMED);
}

static int connack_rc(uint8_t version, const uint8_t *p, size_t n, struct mqtt_connack *a)
{
	struct mqtt_frame f = frame_of(p, n);
	return proto__decode_connack(&f, version, a);
}

static void test_connack(void)
{
	struct mqtt_connack a;
	struct buf b = {0};
	PKT(ok, 0x20, 0x02, 0x01, 0x00);
	CHECK_EQ(connack_rc(MQTT_V311, ok, sizeof ok, &a), PROTO_OK);
	CHECK(a.session_present);
	CHECK_EQ(a.rc, MQTT_CONNACK_ACCEPTED);
	CHECK_EQ(proto__encode_connack(&b, MQTT_V311, &a), 0);
	check_buf(&b, ok, sizeof ok);
	PKT(refused, 0x20, 0x02, 0x00, 0x05);
	CHECK_EQ(connack_rc(MQTT_V31, refused, sizeof refused, &a), PROTO_OK);
	CHECK(!a.session_present);
	CHECK_EQ(a.rc, MQTT_CONNACK_NOT_AUTHORIZED);
	CHECK_EQ(proto__encode_connack(&b, MQTT_V31, &a), 0);
	check_buf(&b, refused, sizeof refused);

	PKT(v5, 0x20, 0x03, 0x00, 0x00, 0x00);
	CHECK_EQ(connack_rc(MQTT_V5, v5, sizeof v5, &a), PROTO_OK);
	CHECK_EQ(proto__encode_connack(&b, MQTT_V5, &a), 0);
	check_buf(&b, v5, sizeof v5);
	PKT(v5props, 0x20, 0x08, 0x01, 0x87, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A);
	CHECK_EQ(connack_rc(MQTT_V5, v5props, sizeof v5props, &a), PROTO_OK);
	CHECK(a.session_present);
	CHECK_EQ(a.rc, MQTT_RC_NOT_AUTHORIZED);
	CHECK_EQ(a.props.len, 5);
	CHECK_EQ(proto__encode_connack(&b, MQTT_V5, &a), 0);
	check_buf(&b, v5props, sizeof v5props);

	PKT(long3, 0x20, 0x03, 0x00, 0x00, 0x00);
	CHECK_EQ(connack_rc(MQTT_V311, long3, sizeof long3, &a), PROTO_MALFORMED);
	PKT(short3, 0x20, 0x01, 0x00);
	CHECK_EQ(connack_rc(MQTT_V311, short3, sizeof short3, &a), PROTO_MALFORMED);
	PKT(reserved, 0x20, 0x02, 0x02, 0x00);
	CHECK_EQ(connack_rc(MQTT_V311, reserved, sizeof reserved, &a), PROTO_MALFORMED);
	CHECK_EQ(connack_rc(MQTT_V5, (const uint8_t[]){0x20, 0x03, 0x80, 0x00, 0x00}, 5, &a), PROTO_MALFORMED);
	CHECK_EQ(connack_rc(MQTT_V5, ok, sizeof ok, &a), PROTO_MALFORMED); /* v5 needs the property length */
	PKT(v5over, 0x20, 0x04, 0x00, 0x00, 0x05, 0x11);
	CHECK_EQ(connack_rc(MQTT_V5, v5over, sizeof v5over, &a), PROTO_MALFORMED);
	PKT(badflags, 0x21, 0x02, 0x00, 0x00);
	CHECK_EQ(connack_rc(MQTT_V311, badflags, sizeof badflags, &a), PROTO_MALFORMED);
	buf__fini(&b);
}

/* A v5 CONNECT with client id "c" and the given CONNECT properties; when will is not NULL, a will of topic "t"
 * with those will properties; one byte more at the end when trailing. */
static int v5_connect_rc(const uint8_t *props, size_t pn, const uint8_t *will, size_t wn, bool trailing,
                         struct mqtt_connect *c)
{
	const uint8_t head[] = {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, will ? 0x06 : 0x02, 0x00, 0x3C};
	uint8_t tail[128];
	static uint8_t pkt[256]; /* c's views point into it after the return */
	size_t tn = 0;
	tail[tn++] = 0x00, tail[tn++] = 0x01, tail[tn++] = 'c';
	if (will) {
		tn += proto__varint_encode(tail + tn, (uint32_t)wn);
		memcpy(tail + tn, will, wn), tn += wn;
		tail[tn++] = 0x00, tail[tn++] = 0x01, tail[tn++] = 't', tail[tn++] = 0x00, tail[tn++] = 0x00;
	}
	if (trailing) tail[tn++] = 0x00;
	return connect_rc(pkt, build_v5(pkt, 0x10, head, sizeof head, props, pn, tail, tn), c);
}

/* v5 CONNECT properties and will properties, checked as props__validate does for each (3.1.2.11, 3.1.3.2). */
static void test_connect_v5_props(void)
{
	struct mqtt_connect c;
	const struct props_case props[] = {
	    PCASE(PROTO_OK, 0x11, 0x00, 0x00, 0x00, 0x0A, 0x21, 0x00, 0x0A, 0x27, 0x00, 0x00, 0x10, 0x00, 0x22, 0x00,
	          0x05, 0x19, 0x01, 0x17, 0x00, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x00, 0x00, 0x00,
	          0x15, 0x00, 0x04, 'S', 'C', 'R', 'M', 0x16, 0x00, 0x01, 0xFF),
	    /* Properties of other packets or of the will (2.2.2.2: malformed). */
	    PCASE(PROTO_MALFORMED, 0x18, 0x00, 0x00, 0x00, 0x05),
	    PCASE(PROTO_MALFORMED, 0x01, 0x01),
	    PCASE(PROTO_MALFORMED, 0x1F, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x24, 0x01),
	    PCASE(PROTO_MALFORMED, 0x23, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x04, 0x00),
	    /* Truncated inside the span, and a string that is not UTF-8. */
	    PCASE(PROTO_MALFORMED, 0x21, 0x00),
	    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x15, 0x00, 0x05, 'a'),
	    PCASE(PROTO_MALFORMED, 0x26, 0x00, 0x01, 'k'),
	    PCASE(PROTO_MALFORMED, 0x15, 0x00, 0x01, 0xFF),
	    /* Values 3.1.2.11 forbids, and once-only properties twice. */
	    PCASE(PROTO_PROTOCOL_ERROR, 0x21, 0x00, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x27, 0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x17, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x19, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x11, 0x00, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0x00, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x15, 0x00, 0x01, 'a', 0x15, 0x00, 0x01, 'b'),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x22, 0x00, 0x01, 0x22, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x21, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x01),
	};
	for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
		const struct props_case *k = &props[i];
		check_case(v5_connect_rc(k->p, k->n, NULL, 0, false, &c), k);
		if (k->want == PROTO_OK) CHECK(c.props.len == k->n && str_eq(c.client_id, "c") && !c.will);
	}

	static const uint8_t none[1];
	const struct props_case will[] = {
	    PCASE(PROTO_OK, 0x18, 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x3C, 0x03, 0x00, 0x01,
	          'x', 0x08, 0x00, 0x01, 'r', 0x09, 0x00, 0x01, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x11, 0x00, 0x00, 0x00, 0x05),
	    PCASE(PROTO_MALFORMED, 0x23, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x01),
	    PCASE(PROTO_MALFORMED, 0x21, 0x00, 0x05),
	    PCASE(PROTO_MALFORMED, 0x01, 0x02),
	    PCASE(PROTO_MALFORMED, 0x18, 0x00, 0x00),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x18, 0x00, 0x00, 0x00, 0x01, 0x18, 0x00, 0x00, 0x00, 0x01),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00),
	};
	for (size_t i = 0; i < sizeof will / sizeof will[0]; i++) {
		const struct props_case *k = &will[i];
		check_case(v5_connect_rc(none, 0, k->p, k->n, false, &c), k);
		if (k->want == PROTO_OK) CHECK(c.will && c.will_props.len == k->n && str_eq(c.will_topic, "t"));
	}

	/* A protocol error in one place and a malformation later: malformed, whichever comes first. */
	static const uint8_t recv0[] = {0x21, 0x00, 0x00}, recv1[] = {0x21, 0x00, 0x01};
	static const uint8_t will_ok[] = {0x18, 0x00, 0x00, 0x00, 0x05}, will_bad[] = {0x11, 0x00, 0x00, 0x00, 0x05};
	static const uint8_t will_dup[] = {0x01, 0x00, 0x01, 0x01};
	CHECK_EQ(v5_connect_rc(recv0, sizeof recv0, will_ok, sizeof will_ok, false, &c), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(v5_connect_rc(recv0, sizeof recv0, will_bad, sizeof will_bad, false, &c), PROTO_MALFORMED);
	CHECK_EQ(v5_connect_rc(recv0, sizeof recv0, NULL, 0, true, &c), PROTO_MALFORMED);
	CHECK_EQ(v5_connect_rc(recv1, sizeof recv1, will_dup, sizeof will_dup, false, &c), PROTO_PROTOCOL_ERROR);
	CHECK_EQ(v5_connect_rc(recv1, sizeof recv1, will_dup, sizeof will_dup, true, &c), PROTO_MALFORMED);
	CHECK_EQ(v5_connect_rc(recv1, sizeof recv1, will_ok, sizeof will_ok, false, &c), PROTO_OK);
}

static void test_connack_v5_props(void)
{
	struct mqtt_connack a;
	static const uint8_t head[] = {0x01, 0x00};
	const struct props_case cases[] = {
	    PCASE(PROTO_OK, 0x11, 0x00, 0x00, 0x00, 0x0A, 0x21, 0x00, 0x0A, 0x24, 0x01, 0x25, 0x00, 0x27, 0x00, 0x00,
	          0x10, 0x00, 0x12, 0x00, 0x02, 'i', 'd', 0x22, 0x00, 0x0A, 0x1F, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00,
	          0x00, 0x28, 0x01, 0x29, 0x01, 0x2A, 0x00, 0x13, 0x00, 0x3C, 0x1A, 0x00, 0x01, 'r', 0x1C, 0x00, 0x01,
	          's', 0x15, 0x00, 0x01, 'm', 0x16, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x18, 0x00, 0x00, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x17, 0x01),
	    PCASE(PROTO_MALFORMED, 0x19, 0x01),
	    PCASE(PROTO_MALFORMED, 0x0B, 0x01),
	    PCASE(PROTO_MALFORMED, 0x02, 0x00, 0x00, 0x00, 0x01),
	    PCASE(PROTO_MALFORMED, 0x13, 0x00),
	    PCASE(PROTO_MALFORMED, 0x12, 0x00, 0x02, 'i'),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x13, 0x00, 0x01, 0x13, 0x00, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x12, 0x00, 0x01, 'a', 0x12, 0x00, 0x01, 'b'),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x24, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x25, 0x02),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x2A, 0x05),
	    PCASE(PROTO_PROTOCOL_ERROR, 0x21, 0x00, 0x00),
	    PCASE(PROTO_MALFORMED, 0x24, 0x02, 0x17, 0x01),
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct props_case *k = &cases[i];
		uint8_t pkt[128];
		size_t n = build_v5(pkt, 0x20, head, sizeof head, k->p, k->n, NULL, 0);
		check_case(connack_rc(MQTT_V5, pkt, n, &a), k);
		if (k->want == PROTO_OK) CHECK(a.session_present && a.props.len == k->n);
		/* One byte after the properties: malformed, even behind a protocol error. */
		pkt[1]++, pkt[n] = 0x00;
		CHECK_EQ(connack_rc(MQTT_V5, pkt, n + 1, &a), PROTO_MALFORMED);
	}
}

/* A bridge's CONNECT (Mosquitto's try_private): the 3.x level with 0x80 set, both ways; not for MQTT 5. */
static void test_connect_bridge(void)
{
	struct mqtt_connect c;
	static const uint8_t none[1];
	CHECK_EQ(try_connect("MQTT", 0x84, 0x02, none, 0, &c), PROTO_OK);
	CHECK(c.bridge && c.version == MQTT_V311 && c.clean);
	CHECK_EQ(try_connect("MQIsdp", 0x83, 0x02, none, 0, &c), PROTO_OK);
	CHECK(c.bridge && c.version == MQTT_V31);
	CHECK_EQ(try_connect("MQTT", 4, 0x02, none, 0, &c), PROTO_OK);
	CHECK(!c.bridge);
	CHECK_EQ(try_connect("MQTT", 0x85, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(try_connect("MQIsdp", 0x84, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(c.version, 0x84); /* a refused level is reported as sent */
	CHECK_EQ(try_connect("MQTT", 0x83, 0, none, 0, &c), PROTO_BAD_VERSION);
	CHECK_EQ(c.version, 0x83);
	/* Encoded again, the level keeps its bit. */
	uint8_t pkt[128];
	size_t n = build_connect(pkt, "MQTT", 0x84, 0x02, none, 0);
	CHECK_EQ(connect_rc(pkt, n, &c), PROTO_OK);
	struct buf b = {0};
	CHECK_EQ(proto__encode_connect(&b, &c), 0);
	check_buf(&b, pkt, n);
	c.version = MQTT_V5;
	CHECK_EQ(proto__encode_connect(&b, &c), MIDGE_ERR_INVAL);
	buf__fini(&b);
}

int main(void)
{
	test_connect_311();
	test_connect_bridge();
	test_connect_31_and_5();
	test_connect_errors();
	test_connack();
	test_connect_v5_props();
	test_connack_v5_props();
	CHECK_DONE();
}
