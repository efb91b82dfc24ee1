/* Unit tests of snclient's exchanges against a scripted gateway: a UDP socket on 127.0.0.1 in a thread of the
 * test that expects each datagram the client should send and answers (or, to test retransmission, does not)
 * as a gateway would. Not the real gateway: its behaviour here is MQTT-SN 1.2's as snclient.h assumes it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "midge/midge.h"
#include "snclient/snclient.h"

struct gw {
	int fd;
	int port;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint8_t rx[70000];
	bool fe; /* expect and send envelopes */
	void (*script)(struct gw *);
	atomic_bool done;
};

static void gw_open(struct gw *g)
{
	memset(g, 0, sizeof(*g));
	g->fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK_EQ(bind(g->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	getsockname(g->fd, (struct sockaddr *)&a, &len);
	g->port = ntohs(a.sin_port);
}

/* The next datagram from the client within 3 s, decoded (and unwrapped); false when none came. */
static bool gw_recv_any(struct gw *g, struct sn_msg *m, int timeout_ms)
{
	struct pollfd p = {.fd = g->fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) != 1) return false;
	g->peerlen = sizeof(g->peer);
	ssize_t n = recvfrom(g->fd, g->rx, sizeof(g->rx), 0, (struct sockaddr *)&g->peer, &g->peerlen);
	if (n <= 0 || sn__decode(g->rx, (size_t)n, m) != SN_OK) return false;
	if (g->fe) {
		CHECK_EQ(m->type, SN_ENCAPSULATED);
		CHECK(m->text.len == 2 && !memcmp(m->text.p, "\x0A\x0B", 2));
		struct mqtt_str inner = m->data;
		if (sn__decode(inner.p, inner.len, m) != SN_OK) return false;
	}
	return true;
}

#define gw_expect(g, m, t) gw_expect_at(g, m, t, __LINE__)
static bool gw_expect_at(struct gw *g, struct sn_msg *m, uint8_t type, int line)
{
	bool ok = gw_recv_any(g, m, 3000) && m->type == type;
	if (!ok) fprintf(stderr, "  gateway: expected %s at line %d\n", sn__type_name(type), line);
	CHECK(ok);
	return ok;
}

static void gw_send(struct gw *g, const struct sn_msg *m)
{
	struct buf b = {0}, w = {0};
	CHECK_EQ(sn__encode(m, &b), 0);
	if (g->fe) {
		struct sn_msg env = {.type = SN_ENCAPSULATED,
		                     .text = {(const uint8_t *)"\x0A\x0B", 2},
		                     .data = {buf__head(&b), (uint32_t)buf__len(&b)}};
		CHECK_EQ(sn__encode(&env, &w), 0);
	}
	struct buf *out = g->fe ? &w : &b;
	sendto(g->fd, buf__head(out), buf__len(out), 0, (struct sockaddr *)&g->peer, g->peerlen);
	buf__fini(&b);
	buf__fini(&w);
}

static bool text_is(struct mqtt_str s, const char *t)
{
	return s.len == strlen(t) && !memcmp(s.p, t, s.len);
}

static void *gw_main(void *arg)
{
	struct gw *g = arg;
	g->script(g);
	atomic_store(&g->done, true);
	return NULL;
}

/* The client side: what it received. */
struct seen {
	int n;
	char topic[64];
	char payload[64];
	int qos;
};

static void on_message(void *ud, const struct snc_message *m)
{
	struct seen *s = ud;
	s->n++;
	snprintf(s->topic, sizeof(s->topic), "%.*s", m->topic ? (int)m->topic_len : 1, m->topic ? m->topic : "?");
	snprintf(s->payload, sizeof(s->payload), "%.*s", (int)m->len, (const char *)m->payload);
	s->qos = m->qos;
}

static pthread_t start(struct gw *g, void (*script)(struct gw *))
{
	g->script = script;
	pthread_t t;
	pthread_create(&t, NULL, gw_main, g);
	return t;
}

static void client_open(struct snc *c, struct gw *g, struct seen *s)
{
	snc__init(c);
	CHECK_EQ(snc__set_client_id(c, "flow"), 0);
	/* Short enough for a quick test, long enough that a busy machine does not make the script miss a resend. */
	CHECK_EQ(snc__set_retry(c, 0.5, 2), 0);
	c->cb = (struct snc_callbacks){.on_message = on_message, .ud = s};
	CHECK_EQ(snc__open(c, "127.0.0.1", g->port), 0);
}

static void send_connack(struct gw *g)
{
	struct sn_msg m;
	if (gw_expect(g, &m, SN_CONNECT)) gw_send(g, &(struct sn_msg){.type = SN_CONNACK});
}

/* ---- connect with a will, publish QoS 1 (lost once) and 2 ---- */

static void script_connect_publish(struct gw *g)
{
	struct sn_msg m;
	if (!gw_expect(g, &m, SN_CONNECT)) return;
	CHECK(m.will && m.clean && m.protocol_id == 1 && m.duration == 30 && text_is(m.text, "flow"));
	gw_send(g, &(struct sn_msg){.type = SN_WILLTOPICREQ});
	if (!gw_expect(g, &m, SN_WILLTOPIC)) return;
	CHECK(m.has_flags && m.qos == 1 && m.retain && text_is(m.text, "w/t"));
	gw_send(g, &(struct sn_msg){.type = SN_WILLMSGREQ});
	if (!gw_expect(g, &m, SN_WILLMSG)) return;
	CHECK(text_is(m.data, "bye"));
	gw_send(g, &(struct sn_msg){.type = SN_CONNACK, .rc = 0});
	/* REGISTER before the first PUBLISH to a normal name */
	if (!gw_expect(g, &m, SN_REGISTER)) return;
	CHECK(text_is(m.text, "a/b/c") && m.topic_id == 0);
	gw_send(g, &(struct sn_msg){.type = SN_REGACK, .topic_id = 5, .msg_id = m.msg_id});
	if (!gw_expect(g, &m, SN_PUBLISH)) return;
	CHECK(m.qos == 1 && m.topic_type == SN_TOPIC_NORMAL && m.topic_id == 5 && !m.dup && text_is(m.data, "hi"));
	/* ...not answered: it comes again after Tretry, with DUP */
	uint16_t id = m.msg_id;
	if (!gw_expect(g, &m, SN_PUBLISH)) return;
	CHECK(m.dup && m.msg_id == id);
	gw_send(g, &(struct sn_msg){.type = SN_PUBACK, .topic_id = 5, .msg_id = id});
	/* a second publish to the same name needs no REGISTER; QoS 2 to a short name */
	if (!gw_expect(g, &m, SN_PUBLISH)) return;
	CHECK(m.qos == 2 && m.topic_type == SN_TOPIC_SHORT && m.topic_id == ('x' << 8 | 'y') && m.retain);
	gw_send(g, &(struct sn_msg){.type = SN_PUBREC, .msg_id = m.msg_id});
	if (!gw_expect(g, &m, SN_PUBREL)) return;
	gw_send(g, &(struct sn_msg){.type = SN_PUBCOMP, .msg_id = m.msg_id});
	if (!gw_expect(g, &m, SN_PUBLISH)) return;
	CHECK(m.qos == 0 && m.topic_id == 5);
	/* QoS 1 refused: invalid topic id */
	if (!gw_expect(g, &m, SN_PUBLISH)) return;
	gw_send(g,
	        &(struct sn_msg){.type = SN_PUBACK, .topic_id = 5, .msg_id = m.msg_id, .rc = SN_RC_INVALID_TOPIC_ID});
	if (!gw_expect(g, &m, SN_DISCONNECT)) return;
	CHECK(!m.has_duration);
	gw_send(g, &(struct sn_msg){.type = SN_DISCONNECT});
}

static void test_connect_publish(void)
{
	struct gw g;
	struct snc c;
	struct seen s = {0};
	gw_open(&g);
	pthread_t t = start(&g, script_connect_publish);
	client_open(&c, &g, &s);
	CHECK_EQ(snc__set_keepalive(&c, 30), 0);
	CHECK_EQ(snc__set_will(&c, "w/t", "bye", 3, 1, true), 0);
	CHECK_EQ(snc__connect(&c), 0);
	CHECK_EQ(c.state, SNC_ACTIVE);
	uint16_t mid = 0;
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("a/b/c"), "hi", 2, 1, false, &mid), 0);
	CHECK(mid != 0);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("xy"), "two", 3, 2, true, NULL), 0);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("a/b/c"), "zero", 4, 0, false, NULL), 0);
	CHECK_EQ(snc__publish(&c, SNC_TOPIC_NAME("a/b/c"), "no", 2, 1, false, NULL), MIDGE_ERR_NOT_FOUND);
	CHECK(!strcmp(snc__error(&c), "publish refused: invalid topic id (2)"));
	CHECK(snc_reg__by_name(&c.reg, "a/b/c", 5) == NULL); /* to be registered again */
	CHECK_EQ(snc__disconnect(&c), 0);
	CHECK_EQ(c.state, SNC_DISCONNECTED);
	pthread_join(t, NULL);
	snc__close(&c);
	close(g.fd);
}

/* ---- subscriptions and what the gateway sends on its own ---- */

static void script_subscribe(struct gw *g)
{
	struct sn_msg m;
	send_connack(g);
	if (!gw_expect(g, &m, SN_SUBSCRIBE)) return;
	CHECK(m.qos == 2 && m.topic_type == SN_TOPIC_NORMAL && text_is(m.text, "x/#"));
	gw_send(g, &(struct sn_msg){.type = SN_SUBACK, .qos = 1, .topic_id = 0, .msg_id = m.msg_id});
	if (!gw_expect(g, &m, SN_SUBSCRIBE)) return;
	CHECK(text_is(m.text, "plain/name"));
	gw_send(g, &(struct sn_msg){.type = SN_SUBACK, .qos = 0, .topic_id = 12, .msg_id = m.msg_id});
	if (!gw_expect(g, &m, SN_SUBSCRIBE)) return;
	CHECK(m.topic_type == SN_TOPIC_PREDEFINED && m.topic_id == 3);
	gw_send(g, &(struct sn_msg){
	               .type = SN_SUBACK, .qos = 0, .topic_id = 3, .msg_id = m.msg_id, .rc = SN_RC_NOT_SUPPORTED});
	/* a match of the wildcard: REGISTER first, then PUBLISH QoS 2, resent before PUBREL */
	gw_send(
	    g, &(struct sn_msg){.type = SN_REGISTER, .topic_id = 9, .msg_id = 40, .text = {(const uint8_t *)"x/y", 3}});
	if (!gw_expect(g, &m, SN_REGACK)) return;
	CHECK(m.topic_id == 9 && m.msg_id == 40 && m.rc == 0);
	struct sn_msg pub = {
	    .type = SN_PUBLISH, .qos = 2, .topic_id = 9, .msg_id = 77, .data = {(const uint8_t *)"v1", 2}};
	gw_send(g, &pub);
	if (!gw_expect(g, &m, SN_PUBREC) || m.msg_id != 77) return;
	pub.dup = true;
	gw_send(g, &pub);
	if (!gw_expect(g, &m, SN_PUBREC)) return;
	gw_send(g, &(struct sn_msg){.type = SN_PUBREL, .msg_id = 77});
	if (!gw_expect(g, &m, SN_PUBCOMP) || m.msg_id != 77) return;
	/* an id the client never heard of: refused */
	gw_send(g, &(struct sn_msg){.type = SN_PUBLISH, .qos = 1, .topic_id = 99, .msg_id = 78});
	if (!gw_expect(g, &m, SN_PUBACK)) return;
	CHECK(m.topic_id == 99 && m.msg_id == 78 && m.rc == SN_RC_INVALID_TOPIC_ID);
	/* the id SUBACK gave the plain name, QoS 1 */
	gw_send(g, &(struct sn_msg){
	               .type = SN_PUBLISH, .qos = 1, .topic_id = 12, .msg_id = 79, .data = {(const uint8_t *)"p", 1}});
	if (!gw_expect(g, &m, SN_PUBACK)) return;
	CHECK(m.topic_id == 12 && m.msg_id == 79 && m.rc == 0);
	if (!gw_expect(g, &m, SN_UNSUBSCRIBE)) return;
	CHECK(text_is(m.text, "x/#"));
	gw_send(g, &(struct sn_msg){.type = SN_UNSUBACK, .msg_id = m.msg_id});
	/* the gateway drops us */
	gw_send(g, &(struct sn_msg){.type = SN_DISCONNECT});
}

static void test_subscribe(void)
{
	struct gw g;
	struct snc c;
	struct seen s = {0};
	gw_open(&g);
	pthread_t t = start(&g, script_subscribe);
	client_open(&c, &g, &s);
	CHECK_EQ(snc__connect(&c), 0);
	int granted = -1;
	CHECK_EQ(snc__subscribe(&c, SNC_TOPIC_NAME("x/#"), 2, &granted), 0);
	CHECK_EQ(granted, 1);
	CHECK_EQ(snc__subscribe(&c, SNC_TOPIC_NAME("plain/name"), 0, NULL), 0);
	CHECK_EQ(snc_reg__by_name(&c.reg, "plain/name", 10)->id, 12);
	CHECK_EQ(snc__subscribe(&c, SNC_TOPIC_PREDEFINED(3), 0, NULL), MIDGE_ERR_NOT_SUPPORTED);
	CHECK(!strcmp(snc__error(&c), "subscription refused: not supported (3)"));
	while (s.n < 1)
		CHECK_EQ(snc__loop(&c, 3000), 0);
	CHECK(!strcmp(s.topic, "x/y") && !strcmp(s.payload, "v1") && s.qos == 2);
	while (s.n < 2 && !atomic_load(&g.done))
		CHECK_EQ(snc__loop(&c, 100), 0);
	CHECK_EQ(s.n, 2); /* the QoS 2 resend was not delivered again, the unknown id not at all */
	CHECK(!strcmp(s.topic, "plain/name") && !strcmp(s.payload, "p"));
	CHECK_EQ(snc__unsubscribe(&c, SNC_TOPIC_NAME("x/#")), 0);
	int rc;
	while ((rc = snc__loop(&c, 3000)) == 0) {
	}
	CHECK_EQ(rc, MIDGE_ERR_CLOSED);
	CHECK(!strcmp(snc__error(&c), "the gateway disconnected us"));
	CHECK_EQ(c.state, SNC_DISCONNECTED);
	pthread_join(t, NULL);
	snc__close(&c);
	close(g.fd);
}

/* ---- sleeping, waking to what was buffered, through a forwarder ---- */

static void script_sleep(struct gw *g)
{
	struct sn_msg m;
	send_connack(g);
	if (!gw_expect(g, &m, SN_DISCONNECT)) return;
	CHECK(m.has_duration && m.duration == 30);
	gw_send(g, &(struct sn_msg){.type = SN_DISCONNECT});
	if (!gw_expect(g, &m, SN_PINGREQ)) return;
	CHECK(text_is(m.text, "flow"));
	gw_send(g, &(struct sn_msg){.type = SN_PUBLISH,
	                            .qos = 1,
	                            .topic_type = SN_TOPIC_PREDEFINED,
	                            .topic_id = 1,
	                            .msg_id = 5,
	                            .data = {(const uint8_t *)"b1", 2}});
	if (!gw_expect(g, &m, SN_PUBACK)) return;
	gw_send(g, &(struct sn_msg){.type = SN_PUBLISH,
	                            .qos = 0,
	                            .topic_type = SN_TOPIC_SHORT,
	                            .topic_id = 'o' << 8 | 'k',
	                            .data = {(const uint8_t *)"b2", 2}});
	gw_send(g, &(struct sn_msg){.type = SN_PINGRESP});
	if (!gw_expect(g, &m, SN_DISCONNECT)) return;
	CHECK(!m.has_duration);
	gw_send(g, &(struct sn_msg){.type = SN_DISCONNECT});
}

static void test_sleep_forwarder(void)
{
	struct gw g;
	struct snc c;
	struct seen s = {0};
	gw_open(&g);
	g.fe = true;
	pthread_t t = start(&g, script_sleep);
	client_open(&c, &g, &s);
	CHECK_EQ(snc__set_forwarder(&c, "\x0A\x0B", 2), 0);
	CHECK_EQ(snc__connect(&c), 0);
	CHECK_EQ(snc__sleep(&c, 30), 0);
	CHECK_EQ(c.state, SNC_ASLEEP);
	CHECK_EQ(snc__ping(&c), MIDGE_ERR_CLOSED); /* asleep: no keepalive pings */
	CHECK_EQ(snc__wake(&c), 0);
	CHECK_EQ(c.state, SNC_ASLEEP);
	CHECK_EQ(s.n, 2);
	CHECK(!strcmp(s.topic, "ok") && !strcmp(s.payload, "b2"));
	CHECK_EQ(snc__disconnect(&c), 0);
	pthread_join(t, NULL);
	snc__close(&c);
	close(g.fd);
}

/* ---- refusals and a gateway that stops answering ---- */

static void script_refuse(struct gw *g)
{
	struct sn_msg m;
	if (!gw_expect(g, &m, SN_CONNECT)) return;
	gw_send(g, &(struct sn_msg){.type = SN_CONNACK, .rc = SN_RC_NOT_SUPPORTED});
	send_connack(g);
	/* keepalive 1 s: a PINGREQ when idle, answered once; then never again */
	if (!gw_expect(g, &m, SN_PINGREQ)) return;
	CHECK_EQ(m.text.len, 0u);
	gw_send(g, &(struct sn_msg){.type = SN_PINGRESP});
	for (int i = 0; i < 3; i++)
		gw_expect(g, &m, SN_PINGREQ); /* the first and Nretry = 2 resends */
	CHECK(!gw_recv_any(g, &m, 500));
}

static void test_refused_and_lost(void)
{
	struct gw g;
	struct snc c;
	struct seen s = {0};
	gw_open(&g);
	pthread_t t = start(&g, script_refuse);
	client_open(&c, &g, &s);
	CHECK_EQ(snc__set_keepalive(&c, 1), 0);
	CHECK_EQ(snc__connect(&c), MIDGE_ERR_NOT_SUPPORTED);
	CHECK(!strcmp(snc__error(&c), "connection refused: not supported (3)"));
	CHECK_EQ(snc__connect(&c), 0);
	int rc;
	while ((rc = snc__loop(&c, 5000)) == 0) {
	}
	CHECK_EQ(rc, MIDGE_ERR_TIMEOUT);
	CHECK(!strncmp(snc__error(&c), "gateway lost", 12));
	CHECK_EQ(c.state, SNC_DISCONNECTED);
	pthread_join(t, NULL);
	snc__close(&c);
	close(g.fd);
}

/* Nothing listening: the ICMP port unreachable is noticed, and the end is still "gateway lost". */
static void test_nobody_there(void)
{
	struct gw g;
	gw_open(&g);
	int port = g.port;
	close(g.fd);
	struct snc c;
	struct seen s = {0};
	snc__init(&c);
	CHECK_EQ(snc__set_client_id(&c, "x"), 0);
	CHECK_EQ(snc__set_retry(&c, 0.1, 1), 0);
	c.cb.ud = &s;
	CHECK_EQ(snc__open(&c, "127.0.0.1", port), 0);
	CHECK_EQ(snc__connect(&c), MIDGE_ERR_TIMEOUT);
	CHECK(strstr(snc__error(&c), "gateway lost") != NULL);
	/* The ICMP error is the kernel's to send (and to rate-limit): noted when it came, not required. */
	if (!strstr(snc__error(&c), "port unreachable")) fprintf(stderr, "  (no ICMP port unreachable seen)\n");
	snc__close(&c);
}

int main(void)
{
	test_connect_publish();
	test_subscribe();
	test_sleep_forwarder();
	test_refused_and_lost();
	test_nobody_there();
	CHECK_DONE();
}
