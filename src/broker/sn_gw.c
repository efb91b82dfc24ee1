/* The MQTT-SN gateway's sockets: datagrams in, clients found by address, the CONNECT and will exchange, what
 * needs no connection (SEARCHGW, ADVERTISE, QoS -1 PUBLISH), and the bounds on what strangers can make it keep.
 * See sn_gw.h and sn_int.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/file.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "conn.h"
#include "guard.h"
#include "message.h"
#include "midge/midge.h"
#include "net/listener.h"
#include "persist.h"
#include "security.h"
#include "sn_int.h"
#include "worker.h"

#define HALF_PER_PREFIX 16u /* half-open CONNECTs from one /24 (IPv4) or /64 (IPv6) at a time */

static void count(atomic_uint_fast64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

/* ---- the table of clients, by key ---- */

static uint32_t key_hash(const struct sn_key *k)
{
	/* FNV-1a over the address, port, socket and node id: clients are keyed by all of them. */
	uint32_t h = 2166136261u;
	const uint8_t *p = (const uint8_t *)&k->addr;
	for (socklen_t i = 0; i < k->addrlen; i++) h = (h ^ p[i]) * 16777619u;
	for (uint8_t i = 0; i < k->node_len; i++) h = (h ^ k->node[i]) * 16777619u;
	return (h ^ (uint32_t)k->fd) * 16777619u;
}

static bool key_eq(const struct sn_key *a, const struct sn_key *b)
{
	return a->fd == b->fd && a->addrlen == b->addrlen && a->node_len == b->node_len &&
	       !memcmp(&a->addr, &b->addr, a->addrlen) && !memcmp(a->node, b->node, a->node_len);
}

static struct sn_client *find(struct sn_gw *g, const struct sn_key *k)
{
	for (struct sn_client *c = g->buckets[key_hash(k) % g->nbuckets]; c; c = c->hash_next)
		if (key_eq(&c->key, k)) return c;
	return NULL;
}

void sn_gw__unlink(struct sn_gw *g, struct sn_client *cl)
{
	struct sn_client **p = &g->buckets[key_hash(&cl->key) % g->nbuckets];
	while (*p && *p != cl) p = &(*p)->hash_next;
	if (*p) *p = cl->hash_next;
	cl->hash_next = NULL;
	if (list__linked(&cl->half_node)) {
		list__del(&cl->half_node);
		g->nhalf--;
		g->half_bytes -= cl->connect.cap;
	}
	if (cl->conn) atomic_fetch_sub_explicit(&g->nclients, 1, memory_order_relaxed);
}

static struct sn_client *client_new(struct sn_gw *g, const struct sn_key *k)
{
	struct sn_client *cl = calloc(1, sizeof(*cl));
	if (!cl) return NULL;
	cl->gw = g;
	cl->key = *k;
	list__init(&cl->half_node);
	list__init(&cl->retries);
	list__init(&cl->timer.node);
	sn_topics__init(&cl->topics, 0, 0);
	/* The first REGISTER's message id is what verifies the client: not to be guessed by a forger. */
	if (getrandom(&cl->next_msg_id, sizeof(cl->next_msg_id), GRND_NONBLOCK) != sizeof(cl->next_msg_id))
		cl->next_msg_id = (uint16_t)(clock__ms() ^ (uintptr_t)cl);
	if (!cl->next_msg_id) cl->next_msg_id = 1;
	listener__addr_str(&k->addr, cl->addr, sizeof(cl->addr));
	if (k->node_len) {
		/* Behind a forwarder: the node id, in hex, names the client in logs. */
		size_t at = strlen(cl->addr);
		at += (size_t)snprintf(cl->addr + at, sizeof(cl->addr) - at, "/");
		for (uint8_t i = 0; i < k->node_len && at + 3 <= sizeof(cl->addr); i++)
			at += (size_t)snprintf(cl->addr + at, sizeof(cl->addr) - at, "%02x", k->node[i]);
	}
	struct sn_client **b = &g->buckets[key_hash(k) % g->nbuckets];
	cl->hash_next = *b;
	*b = cl;
	return cl;
}

/* ---- sending ---- */

void sn_gw__send_raw(struct sn_gw *g, const struct sn_key *key, const uint8_t *p, size_t len)
{
	const uint8_t *dg = p;
	size_t n = len;
	if (key->node_len) {
		/* Back through the forwarder: the same envelope, with the node id it came with. */
		struct sn_msg env = {.type = SN_ENCAPSULATED,
				     .text = {key->node, key->node_len},
				     .data = {p, (uint32_t)len}};
		buf__clear(&g->env);
		if (sn__encode(&env, &g->env)) return;
		dg = buf__head(&g->env);
		n = buf__len(&g->env);
	}
	if (sendto(key->fd, dg, n, MSG_DONTWAIT, (const struct sockaddr *)&key->addr, key->addrlen) >= 0)
		count(&g->stats.sent);
}

int sn_gw__send(struct sn_gw *g, const struct sn_key *key, const struct sn_msg *m)
{
	buf__clear(&g->out);
	int r = sn__encode(m, &g->out);
	if (r == 0) sn_gw__send_raw(g, key, buf__head(&g->out), buf__len(&g->out));
	return r;
}

static void send_simple(struct sn_gw *g, const struct sn_key *key, uint8_t type, uint8_t rc)
{
	struct sn_msg m = {.type = type, .rc = rc};
	sn_gw__send(g, key, &m);
}

/* ---- topics ---- */

const uint8_t *sn_gw__topic_of(struct sn_gw *g, struct sn_client *cl, uint8_t kind, uint16_t topic_id, const uint8_t id_field[2],
			       size_t *len)
{
	*len = 0;
	if (kind == SN_TOPIC_SHORT) {
		*len = 2;
		return id_field;
	}
	if (kind == SN_TOPIC_PREDEFINED) {
		const struct sn_predef *p = sn_predef__by_id(&g->predef, topic_id);
		if (!p) return NULL;
		*len = p->len;
		return (const uint8_t *)p->topic;
	}
	if (kind == SN_TOPIC_NORMAL && cl) {
		struct sn_topic *t = sn_topics__by_id(&cl->topics, topic_id);
		if (!t) return NULL;
		*len = t->len;
		return (const uint8_t *)t->name;
	}
	return NULL;
}

/* ---- messages that need no connection ---- */

/* QoS -1: routed at once as the listener's identity, answered with nothing (MQTT-SN 1.2 section 6.8). */
static void publish_minus1(struct sn_gw *g, struct sn_client *cl, const struct sn_msg *m)
{
	struct broker *b = g->b;
	uint8_t id_field[2] = {(uint8_t)(m->topic_id >> 8), (uint8_t)m->topic_id};
	size_t tlen;
	const uint8_t *topic = NULL;
	if (m->topic_type == SN_TOPIC_PREDEFINED || m->topic_type == SN_TOPIC_SHORT)
		topic = sn_gw__topic_of(g, NULL, m->topic_type, m->topic_id, id_field, &tlen);
	if (!topic || !topic__valid_name(topic, tlen) || (m->retain && !b->conf.retain_available) ||
	    (b->conf.message_size_limit && m->data.len > b->conf.message_size_limit)) {
		count(&g->stats.unexpected);
		return;
	}
	const char *client_id = cl && cl->conn ? cl->conn->client_id : "";
	if (!security__allowed(b, security__domain(b, g->l), client_id, g->l->conf->mqttsn_username,
			       (const char *)topic, tlen, ACL_WRITE)) {
		log__printf(&b->log, LOG_T_DEBUG, "Denied MQTT-SN QoS -1 PUBLISH from %s on '%.*s'.",
			    cl ? cl->addr : "?", (int)tlen, (const char *)topic);
		return;
	}
	struct message *msg = msg__new(topic, tlen, m->data.p, m->data.len, 0, m->retain);
	if (!msg) return;
	msg->guarded = guard__marks(g->l);
	atomic_fetch_add_explicit(&g->w->stats.pub_received, 1, memory_order_relaxed);
	persist__group_begin(b);
	broker__publish(b, g->w, msg, cl && cl->conn ? cl->conn->session : NULL);
	persist__group_end(b);
	msg__unref(msg);
	count(&g->stats.qos_minus1);
}

/* The /24 (IPv4) or /64 (IPv6) a key's address is in, for the per-prefix bound on half-open CONNECTs. */
static bool same_prefix(const struct sn_key *a, const struct sn_key *b)
{
	if (a->addr.ss_family != b->addr.ss_family) return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr, *y = (const struct sockaddr_in *)&b->addr;
		return (ntohl(x->sin_addr.s_addr) >> 8) == (ntohl(y->sin_addr.s_addr) >> 8);
	}
	const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr, *y = (const struct sockaddr_in6 *)&b->addr;
	return !memcmp(&x->sin6_addr, &y->sin6_addr, 8);
}

/* Room for one more half-open CONNECT from key: at most HALF_PER_PREFIX from its prefix (refused beyond), and
 * SN_HALF_OPEN_MAX in all (the oldest is dropped for it), so that a flood from spoofed addresses costs a bounded
 * amount of memory and cannot keep out clients elsewhere for longer than their retry. */
static bool half_room(struct sn_gw *g, const struct sn_key *key)
{
	unsigned same = 0;
	struct list *pos;
	for (pos = g->half.next; pos != &g->half; pos = pos->next)
		if (same_prefix(&list_entry(pos, struct sn_client, half_node)->key, key)) same++;
	if (same >= HALF_PER_PREFIX) return false;
	if (g->nhalf >= SN_HALF_OPEN_MAX) {
		struct sn_client *old = list_entry(g->half.next, struct sn_client, half_node);
		sn_gw__unlink(g, old);
		sn_link__free(old);
	}
	return true;
}

/* Keeps what half-open clients hold within SN_HALF_OPEN_BYTES after cl's buffer grew by grown bytes of capacity:
 * the oldest others go first. */
static void half_grew(struct sn_gw *g, struct sn_client *cl, size_t grown)
{
	g->half_bytes += grown;
	while (g->half_bytes > SN_HALF_OPEN_BYTES && g->half.next != &cl->half_node) {
		struct sn_client *old = list_entry(g->half.next, struct sn_client, half_node);
		sn_gw__unlink(g, old);
		sn_link__free(old);
	}
}

/* Appends will data to a half-open client's CONNECT, within the bounds. Returns false when it cannot. */
static bool half_append(struct sn_gw *g, struct sn_client *cl, const uint8_t *p, size_t n)
{
	size_t cap = cl->connect.cap;
	if (buf__append(&cl->connect, p, n)) return false;
	half_grew(g, cl, cl->connect.cap - cap);
	return g->half_bytes <= SN_HALF_OPEN_BYTES;
}

static void on_connect(struct sn_gw *g, struct sn_client *cl, const struct sn_key *key, const struct sn_msg *m)
{
	struct broker *b = g->b;
	if (cl && cl->conn) {
		/* A client connecting again (after sleeping, say) ends its connection as a DISCONNECT would: no will.
		 * The session stays for the new CONNECT unless it asks for a clean one. */
		struct conn *c = cl->conn;
		c->clean_disconnect = true;
		msg__unref(c->will);
		c->will = NULL;
		cl->connack_ok = false; /* no DISCONNECT to it: the CONNACK comes next */
		worker__close(g->w, c, "connected again");
		cl = NULL; /* freed by its transport's close */
	} else if (cl) {
		sn_gw__unlink(g, cl);
		sn_link__free(cl);
		cl = NULL;
	}
	/* A client without keepalive would hold its place for ever: UDP never says it has gone. */
	if (m->protocol_id != 0x01 || m->duration == 0 || m->text.len > SN_CLIENT_ID_MAX) {
		send_simple(g, key, SN_CONNACK, SN_RC_NOT_SUPPORTED);
		return;
	}
	if (atomic_load_explicit(&g->nclients, memory_order_relaxed) >= g->max_clients ||
	    (m->will && !half_room(g, key))) {
		count(&g->stats.congested);
		send_simple(g, key, SN_CONNACK, SN_RC_CONGESTION);
		return;
	}
	cl = client_new(g, key);
	if (!cl || buf__append(&cl->connect, m->text.p, m->text.len)) {
		if (cl) {
			sn_gw__unlink(g, cl);
			sn_link__free(cl);
		}
		send_simple(g, key, SN_CONNACK, SN_RC_CONGESTION);
		return;
	}
	cl->id_len = (uint16_t)m->text.len;
	cl->clean = m->clean;
	cl->duration = m->duration;
	if (!m->will) {
		sn_in__connect(cl);
		return;
	}
	/* The will comes in two more exchanges; until then the client is half-open, bounded and short-lived. */
	cl->state = SN_WILL_TOPIC;
	cl->half_deadline = clock__ms() + (uint64_t)b->conf.connect_timeout * 1000u;
	list__add_tail(&g->half, &cl->half_node);
	g->nhalf++;
	half_grew(g, cl, cl->connect.cap);
	send_simple(g, key, SN_WILLTOPICREQ, 0);
}

/* WILLTOPIC and WILLMSG of a half-open client. */
static void on_will(struct sn_gw *g, struct sn_client *cl, const struct sn_msg *m)
{
	if (m->type == SN_WILLTOPIC && cl->state == SN_WILL_TOPIC) {
		if (!m->has_flags || m->text.len == 0) {
			/* An empty WILLTOPIC: no will after all. */
			cl->will_topic_len = 0;
			goto done;
		}
		if (m->qos < 0 || !utf8__valid(m->text.p, m->text.len) || !topic__valid_name(m->text.p, m->text.len)) {
			send_simple(g, &cl->key, SN_CONNACK, SN_RC_NOT_SUPPORTED);
			sn_gw__unlink(g, cl);
			sn_link__free(cl);
			return;
		}
		if (!half_append(g, cl, m->text.p, m->text.len)) goto refuse;
		cl->will_topic_len = (uint16_t)m->text.len;
		cl->will_qos = (uint8_t)m->qos;
		cl->will_retain = m->retain;
		cl->state = SN_WILL_MSG;
		send_simple(g, &cl->key, SN_WILLMSGREQ, 0);
		return;
	}
	if (m->type == SN_WILLMSG && cl->state == SN_WILL_MSG) {
		if (!half_append(g, cl, m->data.p, m->data.len)) goto refuse;
		goto done;
	}
	count(&g->stats.unexpected);
	return;
refuse:
	count(&g->stats.congested);
	send_simple(g, &cl->key, SN_CONNACK, SN_RC_CONGESTION);
	sn_gw__unlink(g, cl);
	sn_link__free(cl);
	return;
done:
	list__del(&cl->half_node);
	g->nhalf--;
	g->half_bytes -= cl->connect.cap;
	sn_in__connect(cl);
}

/* Types only a gateway sends, or answers only a client expects: never taken from a client. */
static bool client_sends(uint8_t type)
{
	switch (type) {
	case SN_CONNECT: case SN_WILLTOPIC: case SN_WILLMSG: case SN_REGISTER: case SN_REGACK: case SN_PUBLISH:
	case SN_PUBACK: case SN_PUBCOMP: case SN_PUBREC: case SN_PUBREL: case SN_SUBSCRIBE: case SN_UNSUBSCRIBE:
	case SN_PINGREQ: case SN_DISCONNECT: case SN_WILLTOPICUPD: case SN_WILLMSGUPD: case SN_SEARCHGW:
		return true;
	default:
		return false;
	}
}

static void handle(struct sn_gw *g, const struct sn_key *key, const struct sn_msg *m)
{
	if (!client_sends(m->type)) {
		count(&g->stats.unexpected);
		return;
	}
	struct sn_client *cl = find(g, key);
	if (m->type == SN_SEARCHGW) {
		/* GWINFO from a gateway is three octets, as SEARCHGW is: no amplification. */
		struct sn_msg r = {.type = SN_GWINFO, .gw_id = g->l->conf->mqttsn_gateway_id};
		sn_gw__send(g, key, &r);
		return;
	}
	if (m->type == SN_CONNECT) {
		on_connect(g, cl, key, m);
		return;
	}
	if (m->type == SN_PUBLISH && m->qos == -1) {
		publish_minus1(g, cl, m);
		return;
	}
	if (!cl) {
		count(&g->stats.unexpected);
		/* A stranger that thinks it is connected (the gateway restarted, say) learns it is not, in a DISCONNECT of
		 * two octets, less than anything it could have sent; an answer or a goodbye gets nothing. */
		if (m->type != SN_DISCONNECT && m->type != SN_PUBACK && m->type != SN_PUBREC && m->type != SN_PUBCOMP &&
		    m->type != SN_REGACK)
			send_simple(g, key, SN_DISCONNECT, 0);
		return;
	}
	if (!cl->conn) {
		on_will(g, cl, m);
		return;
	}
	sn_in__handle(cl, m);
}

/* ---- the sockets ---- */

static void on_readable(struct loop_io *io, uint32_t events)
{
	(void)events;
	struct sn_gw *g = container_of(io, struct sn_sock, io)->g;
	int fd = io->fd;
	/* A bounded batch per wake-up, so one busy socket does not starve the worker's other connections. */
	for (int i = 0; i < 256; i++) {
		struct sn_key key = {.fd = fd, .addrlen = sizeof(key.addr)};
		ssize_t n = recvfrom(fd, g->rx, sizeof(g->rx), MSG_DONTWAIT, (struct sockaddr *)&key.addr, &key.addrlen);
		if (n < 0) break;
		count(&g->stats.received);
		struct sn_msg m;
		int rc = sn__decode(g->rx, (size_t)n, &m);
		if (rc == SN_OK && m.type == SN_ENCAPSULATED) {
			/* A forwarder's envelope: the message inside is the node's own, from the node's own key. */
			if (m.text.len > SN_NODE_MAX) {
				count(&g->stats.unexpected);
				continue;
			}
			key.node_len = (uint8_t)m.text.len;
			memcpy(key.node, m.text.p, m.text.len);
			rc = sn__decode(m.data.p, m.data.len, &m);
			if (rc == SN_OK && m.type == SN_ENCAPSULATED) rc = SN_MALFORMED; /* envelopes do not nest */
		}
		if (rc == SN_MALFORMED) count(&g->stats.malformed);
		else if (rc == SN_UNKNOWN) count(&g->stats.unknown);
		else handle(g, &key, &m);
	}
}

/* Once a second: half-open CONNECTs past their time go, and an ADVERTISE when one is due. */
static void on_tick(struct timer *t)
{
	struct sn_gw *g = container_of(t, struct sn_gw, tick);
	uint64_t now = clock__ms();
	while (!list__empty(&g->half)) {
		struct sn_client *cl = list_entry(g->half.next, struct sn_client, half_node);
		if (cl->half_deadline > now) break;
		sn_gw__unlink(g, cl);
		sn_link__free(cl);
	}
	if (g->adv_fd >= 0 && now >= g->next_advertise_ms) {
		uint16_t every = g->l->conf->mqttsn_advertise_interval;
		struct sn_msg m = {.type = SN_ADVERTISE, .gw_id = g->l->conf->mqttsn_gateway_id, .duration = every};
		struct sn_key k = {.addr = g->adv_addr, .addrlen = g->adv_len, .fd = g->adv_fd};
		sn_gw__send(g, &k, &m);
		g->next_advertise_ms = now + (uint64_t)every * 1000u;
	}
	timer__arm(&g->w->loop.timers, &g->tick, now + 1000, on_tick);
}

/* Where ADVERTISE goes: "host[:port]" (IPv6 as "[addr]:port"), by default the broadcast address and the
 * listener's port; sent from the listener's socket of that family. */
static int advertise_setup(struct sn_gw *g, char *err, size_t errlen)
{
	const struct listener_conf *lc = g->l->conf;
	g->adv_fd = -1;
	if (!lc->mqttsn_advertise_interval) return 0;
	char host[256], port[8];
	snprintf(port, sizeof(port), "%u", lc->port);
	const char *a = lc->mqttsn_advertise_address ? lc->mqttsn_advertise_address : "255.255.255.255";
	const char *colon = strrchr(a, ':');
	if (a[0] == '[') {
		const char *close = strchr(a, ']');
		if (!close) return err__set(err, errlen, MIDGE_ERR_INVAL, "mqttsn_advertise_address '%s': missing ']'", a);
		snprintf(host, sizeof(host), "%.*s", (int)(close - a - 1), a + 1);
		if (close[1] == ':') snprintf(port, sizeof(port), "%s", close + 2);
	} else if (colon && strchr(a, ':') == colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - a), a);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(host, sizeof(host), "%s", a);
	}
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return err__set(err, errlen, MIDGE_ERR_INVAL, "mqttsn_advertise_address '%s': %s", a, gai_strerror(rc));
	for (int i = 0; i < g->nfds && g->adv_fd < 0; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(g->fds[i], (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == res->ai_family)
			g->adv_fd = g->fds[i];
	}
	if (g->adv_fd >= 0) {
		memcpy(&g->adv_addr, res->ai_addr, res->ai_addrlen);
		g->adv_len = res->ai_addrlen;
		int one = 1;
		if (res->ai_family == AF_INET) setsockopt(g->adv_fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	}
	freeaddrinfo(res);
	if (g->adv_fd < 0)
		return err__set(err, errlen, MIDGE_ERR_INVAL,
				"mqttsn_advertise_address '%s': the listener has no socket of that address family", a);
	return 0;
}

/* The listener's predefined topic file, if it names one, into t. Refusals name the file and line. */
static int load_predefined(const struct listener_conf *lc, struct sn_predefs *t, char *err, size_t errlen)
{
	if (!lc->mqttsn_predefined_file) return 0;
	char *text = NULL, msg[256];
	size_t len = 0;
	int rc = file__read_all_err(lc->mqttsn_predefined_file, &text, &len, err, errlen);
	if (rc) return rc;
	rc = sn_predef__parse(t, text, len, msg, sizeof(msg));
	free(text);
	if (rc) return err__set(err, errlen, rc, "%s: %s", lc->mqttsn_predefined_file, msg);
	return 0;
}

int sn_gw__check_files(const struct listener_conf *lc, char *err, size_t errlen)
{
	struct sn_predefs t = {0};
	int rc = load_predefined(lc, &t, err, errlen);
	sn_predef__fini(&t);
	return rc;
}

int sn_gw__start(struct broker *b, struct listener_rt *l, char *err, size_t errlen)
{
	const struct listener_conf *lc = l->conf;
	struct sn_gw *g = calloc(1, sizeof(*g));
	if (!g) return MIDGE_ERR_NOMEM;
	g->b = b;
	g->l = l;
	list__init(&g->half);
	list__init(&g->tick.node);
	for (int i = 0; i < LISTENER_MAX_FDS; i++) g->fds[i] = -1;
	l->sn = g;
	/* Each listener's clients all live in one worker; listeners are spread over the workers. */
	size_t idx = (size_t)(l - b->listeners);
	g->w = &b->workers[idx % (size_t)b->nworkers];
	g->max_clients = lc->max_connections >= 0 ? (size_t)lc->max_connections : SN_DEFAULT_MAX_CLIENTS;
	g->nbuckets = g->max_clients / 2 + SN_HALF_OPEN_MAX / 2 + 1;
	g->buckets = calloc(g->nbuckets, sizeof(*g->buckets));
	if (!g->buckets) return MIDGE_ERR_NOMEM;
	g->retry_ms = (uint64_t)lc->mqttsn_retry_interval * 1000u;
	g->retries = lc->mqttsn_retries;
	int rc = load_predefined(lc, &g->predef, err, errlen);
	if (rc) return rc;
	int n = listener__open_udp(lc->bind_address, lc->bind_interface, lc->port, lc->socket_domain, g->fds,
				   LISTENER_MAX_FDS, err, errlen);
	if (n < 0) return n;
	g->nfds = n;
	rc = advertise_setup(g, err, errlen);
	if (rc) return rc;
	/* The workers do not run yet: registering in one's loop and arming its timer is still safe from here. */
	for (int i = 0; i < n; i++) {
		g->socks[i].g = g;
		if (loop__add(&g->w->loop, &g->socks[i].io, g->fds[i], EPOLLIN, on_readable))
			return err__set(err, errlen, MIDGE_ERR_IO, "cannot watch the MQTT-SN socket on port %u", lc->port);
	}
	timer__arm(&g->w->loop.timers, &g->tick, clock__ms() + 1000, on_tick);
	g->next_advertise_ms = 0;
	log__printf(&b->log, LOG_T_NOTICE, "Opening MQTT-SN listener on UDP port %u%s%s (gateway id %u%s).", lc->port,
		    lc->bind_address ? " bound to " : "", lc->bind_address ? lc->bind_address : "",
		    lc->mqttsn_gateway_id, g->predef.n ? ", predefined topics loaded" : "");
	return 0;
}

void sn_gw__free(struct sn_gw *g)
{
	if (!g) return;
	/* Connected clients went with their connections (worker__drain); half-open ones are left. */
	while (!list__empty(&g->half)) {
		struct sn_client *cl = list_entry(g->half.next, struct sn_client, half_node);
		sn_gw__unlink(g, cl);
		sn_link__free(cl);
	}
	for (int i = 0; i < g->nfds; i++) close(g->fds[i]);
	sn_predef__fini(&g->predef);
	buf__fini(&g->out);
	buf__fini(&g->env);
	free(g->buckets);
	free(g);
}

const struct sn_gw_stats *sn_gw__stats(const struct sn_gw *g) { return &g->stats; }
size_t sn_gw__clients(const struct sn_gw *g) { return atomic_load_explicit(&g->nclients, memory_order_relaxed); }
