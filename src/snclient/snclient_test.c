/* Unit tests of snclient without a gateway: the topic registry, short topics, message ids, predefined topic
 * files, and the argument checks every call makes before it sends anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "midge/midge.h"
#include "snclient/snclient.h"

static void test_registry(void)
{
	struct snc_registry r = {0};
	CHECK(snc_reg__by_id(&r, 1) == NULL);
	CHECK_EQ(snc_reg__add(&r, "a/b", 3, 1), 0);
	CHECK_EQ(snc_reg__add(&r, "c/d", 3, 2), 0);
	CHECK_EQ(snc_reg__add(&r, "a/b", 3, 1), 0); /* the same pair again: nothing changes */
	CHECK_EQ(r.n, 2u);
	const struct snc_topic_entry *e = snc_reg__by_id(&r, 2);
	CHECK(e && !strcmp(e->name, "c/d") && e->len == 3);
	e = snc_reg__by_name(&r, "a/b", 3);
	CHECK(e && e->id == 1);
	CHECK(snc_reg__by_name(&r, "a/bc", 4) == NULL);
	CHECK(snc_reg__by_name(&r, "a/", 2) == NULL);
	/* Ids 0 and 0xFFFF are reserved, a name is never empty. */
	CHECK_EQ(snc_reg__add(&r, "x", 1, 0), MIDGE_ERR_INVAL);
	CHECK_EQ(snc_reg__add(&r, "x", 1, 0xFFFF), MIDGE_ERR_INVAL);
	CHECK_EQ(snc_reg__add(&r, "", 0, 5), MIDGE_ERR_INVAL);
	/* Re-registering an id under another name, or a name under another id, replaces the old pairing. */
	CHECK_EQ(snc_reg__add(&r, "e/f", 3, 1), 0);
	CHECK(snc_reg__by_name(&r, "a/b", 3) == NULL);
	CHECK(!strcmp(snc_reg__by_id(&r, 1)->name, "e/f"));
	CHECK_EQ(snc_reg__add(&r, "c/d", 3, 7), 0);
	CHECK(snc_reg__by_id(&r, 2) == NULL);
	CHECK_EQ(snc_reg__by_name(&r, "c/d", 3)->id, 7);
	CHECK_EQ(r.n, 2u);
	snc_reg__remove(&r, 7);
	CHECK(snc_reg__by_name(&r, "c/d", 3) == NULL);
	CHECK_EQ(r.n, 1u);
	/* Growth past the first allocation keeps every entry. */
	char name[16];
	for (unsigned i = 100; i < 200; i++) {
		snprintf(name, sizeof(name), "t/%u", i);
		CHECK_EQ(snc_reg__add(&r, name, strlen(name), (uint16_t)i), 0);
	}
	CHECK_EQ(r.n, 101u);
	CHECK(!strcmp(snc_reg__by_id(&r, 150)->name, "t/150"));
	CHECK_EQ(snc_reg__by_name(&r, "t/199", 5)->id, 199);
	snc_reg__fini(&r);
	CHECK(r.n == 0 && r.v == NULL);
	snc_reg__fini(&r); /* twice is fine */
}

static void test_short_topics(void)
{
	CHECK(snc__is_short_topic("ab", 2));
	CHECK(snc__is_short_topic("a/", 2));
	CHECK(!snc__is_short_topic("abc", 3));
	CHECK(!snc__is_short_topic("a", 1));
	CHECK(!snc__is_short_topic("/#", 2)); /* a filter with a wildcard is a normal one */
	CHECK(!snc__is_short_topic("+/", 2));
}

static void test_msg_ids(void)
{
	struct snc c;
	snc__init(&c);
	CHECK_EQ(snc__next_msg_id(&c), 1);
	CHECK_EQ(snc__next_msg_id(&c), 2);
	c.last_msg_id = 65534;
	CHECK_EQ(snc__next_msg_id(&c), 65535);
	CHECK_EQ(snc__next_msg_id(&c), 1); /* 0 is not a message id */
	snc__close(&c);
}

static void test_settings(void)
{
	struct snc c;
	snc__init(&c);
	CHECK(c.keepalive == 60 && c.clean && c.retry_ms == 10000 && c.retries == 5 && c.fd == -1);
	CHECK_EQ(snc__set_client_id(&c, ""), MIDGE_ERR_INVAL);
	CHECK(strstr(snc__error(&c), "1 to 23") != NULL);
	CHECK_EQ(snc__set_client_id(&c, "012345678901234567890123"), MIDGE_ERR_INVAL); /* 24 */
	CHECK_EQ(snc__set_client_id(&c, "01234567890123456789012"), 0);                /* 23 */
	CHECK_EQ(snc__set_keepalive(&c, -1), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_keepalive(&c, 65536), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_keepalive(&c, 0), 0);
	CHECK_EQ(snc__set_retry(&c, 0, 5), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_retry(&c, 1, -1), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_retry(&c, 0.25, 2), 0);
	CHECK(c.retry_ms == 250 && c.retries == 2);
	CHECK_EQ(snc__set_will(&c, "a/+", "x", 1, 0, false), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_will(&c, "", "x", 1, 0, false), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_will(&c, "w", "x", 1, 3, false), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_will(&c, "w/t", "bye", 3, 1, true), 0);
	CHECK(!strcmp(c.will_topic, "w/t") && c.will_len == 3 && !memcmp(c.will_payload, "bye", 3) && c.will_retain);
	CHECK_EQ(snc__set_will(&c, "w/u", NULL, 0, 2, false), 0); /* replaces, an empty payload is fine */
	CHECK(!strcmp(c.will_topic, "w/u") && c.will_len == 0 && c.will_qos == 2);
	CHECK_EQ(snc__set_forwarder(&c, "", 0), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__set_forwarder(&c, "\x01\x02", 2), 0);
	CHECK(c.fe && c.wlnid_len == 2);
	snc__close(&c); /* frees the will; settings back to the defaults */
	CHECK(c.will_topic == NULL && !c.fe && c.keepalive == 60 && c.client_id[0] == 0);
}

/* Every call checks its arguments and the state before it sends: no socket is needed to see them refused. */
static void test_refusals(void)
{
	struct snc c;
	snc__init(&c);
	CHECK_EQ(snc__open(&c, "localhost", 0), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__open(&c, "localhost", 65536), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__open(&c, "no-such-host.invalid", 1884), MIDGE_ERR_IO);
	CHECK(strstr(snc__error(&c), "no-such-host.invalid") != NULL);
	CHECK_EQ(snc__connect(&c), MIDGE_ERR_INVAL); /* not open */
	/* QoS -1 needs a short or predefined topic, checked before anything is sent. */
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("a/long/topic"), "x", 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK(!strcmp(snc__error(&c), "QoS -1 needs a predefined topic id or a two-character topic name"));
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("a/+"), "x", 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_PREDEFINED(0), "x", 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_PREDEFINED(0xFFFF), "x", 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("ab"), "x", 1, 3, false, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("ab"), "x", 1, -2, false, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("ab"), NULL, 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("ab"), "x", 70000, -1, false, NULL), MIDGE_ERR_INVAL);
	/* A short topic at QoS -1 gets past the checks, to the missing socket. */
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("ab"), "x", 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK(!strcmp(snc__error(&c), "not open"));
	/* QoS 0..2, REGISTER, SUBSCRIBE and the rest need a session. */
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("a/b"), "x", 1, 1, false, NULL), MIDGE_ERR_CLOSED);
	CHECK_EQ(snc__register(&c, "a/b", NULL), MIDGE_ERR_CLOSED);
	CHECK_EQ(snc__register(&c, "a/#", NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__subscribe(&c, SNC_TOPIC_NAME("a/#"), 1, NULL), MIDGE_ERR_CLOSED);
	CHECK_EQ(snc__subscribe(&c, SNC_TOPIC_NAME("a/#"), -1, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__unsubscribe(&c, SNC_TOPIC_NAME("a/#")), MIDGE_ERR_CLOSED);
	CHECK_EQ(snc__ping(&c), MIDGE_ERR_CLOSED);
	CHECK_EQ(snc__sleep(&c, 10), MIDGE_ERR_CLOSED);
	CHECK_EQ(snc__wake(&c), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__disconnect(&c), 0); /* nothing to end */
	/* Open (UDP sends nothing until asked) but without a client id, CONNECT is refused here. */
	CHECK_EQ(snc__open(&c, "127.0.0.1", 1884), 0);
	CHECK_EQ(snc__open(&c, "127.0.0.1", 1884), MIDGE_ERR_INVAL);
	CHECK_EQ(snc__connect(&c), MIDGE_ERR_INVAL);
	CHECK(!strcmp(snc__error(&c), "no client id"));
	snc__close(&c);
	CHECK_EQ(c.fd, -1);
	/* IPv6 too, where the machine has it. */
	int rc = snc__open(&c, "::1", 1884);
	CHECK(rc == 0 || rc == MIDGE_ERR_IO);
	snc__close(&c);
}

static void test_predefined(void)
{
	char path[] = "/tmp/snclient_test_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	const char text[] = "# ids\n1 sensors/temp\n  2\tsensors/hum  \n";
	CHECK_EQ(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	struct snc c;
	snc__init(&c);
	CHECK_EQ(snc__load_predefined(&c, path), 0);
	CHECK_EQ(c.predefs.n, 2u);
	CHECK(!strcmp(sn_predef__by_id(&c.predefs, 2)->topic, "sensors/hum"));
	/* A topic the table names goes as its predefined id, so QoS -1 takes it (and fails only for the socket). */
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("sensors/temp"), "x", 1, -1, false, NULL), MIDGE_ERR_INVAL);
	CHECK(!strcmp(snc__error(&c), "not open"));
	FILE *f = fopen(path, "w");
	fputs("1 a\nx b\n", f);
	fclose(f);
	CHECK_EQ(snc__load_predefined(&c, path), MIDGE_ERR_INVAL);
	CHECK(strstr(snc__error(&c), "line 2:") != NULL);
	CHECK_EQ(c.predefs.n, 2u); /* a bad file leaves the table as it was */
	unlink(path);
	CHECK_EQ(snc__load_predefined(&c, path), MIDGE_ERR_IO);
	snc__close(&c);
	CHECK_EQ(c.predefs.n, 0u);
}

static void test_rc_strings(void)
{
	CHECK(!strcmp(snc__rc_string(0), "accepted"));
	CHECK(!strcmp(snc__rc_string(1), "congestion"));
	CHECK(!strcmp(snc__rc_string(2), "invalid topic id"));
	CHECK(!strcmp(snc__rc_string(3), "not supported"));
	CHECK(!strcmp(snc__rc_string(9), "unknown"));
}

int main(void)
{
	test_registry();
	test_short_topics();
	test_msg_ids();
	test_settings();
	test_refusals();
	test_predefined();
	test_rc_strings();
	CHECK_DONE();
}
