/* Unit tests for the cluster's wire forms: subjects of topics and filters (escapes, wildcards, '#' with its
 * parent) and the message envelope both ways, with every refusal of the decoder. */
#include <stdio.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "cluster_codec.h"
#include "midge/midge.h"

static struct buf b;

static bool subj(const char *topic, const char *want)
{
	CHECK_EQ(cluster__topic_subject((const uint8_t *)topic, strlen(topic), false, &b), 0);
	bool ok = strcmp((const char *)buf__head(&b), want) == 0;
	if (!ok) fprintf(stderr, "  %s -> %s, want %s\n", topic, (const char *)buf__head(&b), want);
	return ok;
}

static bool filt(const char *f, const char *w1, const char *w2)
{
	int n = 0;
	CHECK_EQ(cluster__filter_subjects((const uint8_t *)f, strlen(f), &b, &n), 0);
	const char *s1 = (const char *)buf__head(&b);
	const char *s2 = n == 2 ? s1 + strlen(s1) + 1 : NULL;
	bool ok = strcmp(s1, w1) == 0 && ((!w2 && n == 1) || (w2 && s2 && strcmp(s2, w2) == 0));
	if (!ok) fprintf(stderr, "  %s -> %s %s, want %s %s\n", f, s1, s2 ? s2 : "-", w1, w2 ? w2 : "-");
	return ok;
}

struct psubs {
	struct cluster_psub s[4];
	int n;
};

static int collect(void *arg, const struct cluster_psub *s)
{
	struct psubs *p = arg;
	if (p->n < 4) p->s[p->n++] = *s;
	return 0;
}

int main(void)
{
	CHECK(subj("a/b", "mqtt.0.a.b"));
	CHECK_EQ(cluster__topic_subject((const uint8_t *)"a/b", 3, true, &b), 0); /* the stream's class */
	CHECK(strcmp((const char *)buf__head(&b), "mqtt.1.a.b") == 0);
	CHECK(subj("sensors/room-1/temp_c", "mqtt.0.sensors.room-1.temp_c"));
	CHECK(subj("a.b/c d/*/>", "mqtt.0.a=2Eb.c=20d.=2A.=3E"));
	CHECK(subj("/x/", "mqtt.0.=.x.="));
	CHECK(subj("$SYS/x", "mqtt.0.=24SYS.x"));
	CHECK(subj("caf\xc3\xa9", "mqtt.0.caf=C3=A9"));
	CHECK(subj("a=b", "mqtt.0.a=3Db")); /* the escape character itself is escaped */
	CHECK(filt("a/+/c", "mqtt.*.a.*.c", NULL));
	CHECK(filt("a/#", "mqtt.*.a.>", "mqtt.*.a"));
	CHECK(filt("#", "mqtt.*.>", NULL));
	CHECK(filt("+", "mqtt.*.*", NULL));
	CHECK(filt("+/#", "mqtt.*.*.>", "mqtt.*.*"));
	CHECK(filt("a b/#", "mqtt.*.a=20b.>", "mqtt.*.a=20b"));

	CHECK_EQ(cluster__key((const uint8_t *)"dev 7.a", 7, &b), 0);
	CHECK(strcmp((const char *)buf__head(&b), "dev=207=2Ea") == 0);

	uint8_t props[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
	struct cluster_msg m = {.origin = 0x0102030405060708ull, .seq = 42, .qos = 2, .retain = true, .topic = (const uint8_t *)"t/1", .topic_len = 3, .props = props,
				.props_len = sizeof(props), .expiry_s = 30, .payload = (const uint8_t *)"hello", .payload_len = 5};
	CHECK_EQ(cluster__encode(&m, &b), 0);
	struct cluster_msg d;
	CHECK_EQ(cluster__decode(buf__head(&b), buf__len(&b), &d), 0);
	CHECK(d.origin == 0x0102030405060708ull && d.seq == 42);
	cluster__set_seq(b.data + b.start, 43);
	CHECK_EQ(cluster__decode(buf__head(&b), buf__len(&b), &d), 0);
	CHECK(d.seq == 43 && d.payload_len == 5);
	CHECK(d.qos == 2 && d.retain && d.topic_len == 3 && memcmp(d.topic, "t/1", 3) == 0);
	CHECK(d.props_len == sizeof(props) && memcmp(d.props, props, sizeof(props)) == 0);
	CHECK(d.expiry_s == 30 && d.payload_len == 5 && memcmp(d.payload, "hello", 5) == 0);
	/* No properties, no expiry, empty payload. */
	struct cluster_msg e = {.qos = 0, .topic = (const uint8_t *)"x", .topic_len = 1};
	CHECK_EQ(cluster__encode(&e, &b), 0);
	CHECK_EQ(cluster__decode(buf__head(&b), buf__len(&b), &d), 0);
	CHECK(d.qos == 0 && !d.retain && d.props_len == 0 && d.expiry_s == 0 && d.payload_len == 0);
	/* Refusals. */
	const uint8_t *p = buf__head(&b);
	uint8_t bad[64];
	memcpy(bad, p, buf__len(&b));
	size_t n = buf__len(&b);
	CHECK_EQ(cluster__decode(bad, 3, &d), MIDGE_ERR_MALFORMED);
	bad[0] = 'X';
	CHECK_EQ(cluster__decode(bad, n, &d), MIDGE_ERR_MALFORMED);
	bad[0] = 'M', bad[2] = 2;
	CHECK_EQ(cluster__decode(bad, n, &d), MIDGE_ERR_MALFORMED);
	bad[2] = 1, bad[3] = 3; /* QoS 3 */
	CHECK_EQ(cluster__decode(bad, n, &d), MIDGE_ERR_MALFORMED);
	bad[3] = 0x40; /* reserved bit */
	CHECK_EQ(cluster__decode(bad, n, &d), MIDGE_ERR_MALFORMED);
	bad[3] = 0, bad[20] = 9; /* topic longer than the rest */
	CHECK_EQ(cluster__decode(bad, n, &d), MIDGE_ERR_MALFORMED);
	uint8_t wild[] = {'M', 'Q', 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, '#', 0};
	CHECK_EQ(cluster__decode(wild, sizeof(wild), &d), MIDGE_ERR_MALFORMED); /* not a topic name */
	uint8_t noexp[] = {'M', 'Q', 1, 0x08, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a', 0, 0, 0};
	CHECK_EQ(cluster__decode(noexp, sizeof(noexp), &d), MIDGE_ERR_MALFORMED); /* expiry cut short */
	/* A persistent session's entry both ways, and what the decoder refuses. */
	CHECK_EQ(cluster__psess_begin(&b, 0x1122334455667788ull, 3600), 0);
	CHECK_EQ(cluster__psess_add(&b, &(struct cluster_psub){1, 7, (const uint8_t *)"a/+/c", 5}), 0);
	CHECK_EQ(cluster__psess_add(&b, &(struct cluster_psub){0x26, 0, (const uint8_t *)"#", 1}), 0);
	uint64_t owner = 0;
	uint32_t expiry = 0;
	struct psubs got = {0};
	CHECK_EQ(cluster__psess_decode(buf__head(&b), buf__len(&b), &owner, &expiry, collect, &got), 0);
	CHECK(owner == 0x1122334455667788ull && expiry == 3600 && got.n == 2);
	CHECK(got.s[0].options == 1 && got.s[0].sub_id == 7 && got.s[0].len == 5 && !memcmp(got.s[0].filter, "a/+/c", 5));
	CHECK(got.s[1].options == 0x26 && got.s[1].len == 1);
	uint8_t ent[64];
	size_t el = buf__len(&b);
	memcpy(ent, buf__head(&b), el);
	CHECK_EQ(cluster__psess_decode(ent, el - 1, &owner, &expiry, NULL, NULL), MIDGE_ERR_MALFORMED); /* cut */
	ent[15] = 3; /* QoS 3 */
	CHECK_EQ(cluster__psess_decode(ent, el, &owner, &expiry, NULL, NULL), MIDGE_ERR_MALFORMED);
	ent[15] = 1, ent[22] = '#'; /* "#/+/c": '#' not last */
	CHECK_EQ(cluster__psess_decode(ent, el, &owner, &expiry, NULL, NULL), MIDGE_ERR_MALFORMED);
	ent[22] = 'a', ent[2] = 9; /* another version */
	CHECK_EQ(cluster__psess_decode(ent, el, &owner, &expiry, NULL, NULL), MIDGE_ERR_MALFORMED);
	CHECK_EQ(cluster__psess_begin(&b, 1, 0), 0); /* no subscription at all */
	CHECK_EQ(cluster__psess_decode(buf__head(&b), buf__len(&b), &owner, &expiry, NULL, NULL), 0);
	buf__fini(&b);
	CHECK_DONE();
}
