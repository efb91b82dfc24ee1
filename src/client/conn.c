/* The connection: resolving, the nonblocking TCP connect, the TLS and WebSocket handshakes, CONNECT, the end of a
 * connection and the backoff. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "common/clock.h"
#include "net/tls.h"
#include "proto/props.h"
#include "session.h"
#include "ws_client.h"

int conn__resolve(const char *host, uint16_t port, struct addrinfo **ai, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
	char service[8];
	snprintf(service, sizeof service, "%u", port);
	int rc = getaddrinfo(host, service, &hints, ai);
	if (rc == 0) return 0;
	snprintf(err, errlen, "cannot resolve %s: %s", host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	*ai = NULL;
	return MIDGE_ERR_IO;
}

/* "address port N" of a for log lines. */
static void addr_text(const struct addrinfo *a, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (a->ai_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)a->ai_addr;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
		port = ntohs(s->sin_port);
	} else if (a->ai_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)a->ai_addr;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
		port = ntohs(s->sin6_port);
	}
	snprintf(out, n, "%s port %u", host, port);
}

/* Buffers the CONNECT of this attempt. 0 or MIDGE_ERR_NOMEM / MIDGE_ERR_INVAL. */
static int buffer_connect(struct midge_client *c)
{
	const struct copts *o = &c->o;
	bool v5 = o->version == MQTT_V5;
	struct buf props = {0};
	int rc = 0;
	if (v5) {
		struct mqtt_str user = plist__span(&o->connect_props);
		rc = buf__append(&props, user.p, user.len);
		/* The option is the way to ask for a Session Expiry Interval; one in connect_props takes precedence. */
		if (!rc && o->session_expiry && !plist__has(&o->connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL))
			rc = props__put_u32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, o->session_expiry);
	}
	const char *user = c->url.username ? c->url.username : o->username;
	const void *pass = c->url.password ? (const void *)c->url.password : o->password;
	size_t pass_len = c->url.password ? c->url.password_len : o->password_len;
	bool has_pass = c->url.password || o->has_password;
	struct mqtt_connect m = {
	    .version = (uint8_t)o->version,
	    .bridge = o->bridge,
	    .clean = c->clean_next,
	    .keepalive = o->keepalive,
	    .props = {buf__head(&props), (uint32_t)buf__len(&props)},
	    .client_id = {(const uint8_t *)c->client_id, (uint32_t)strlen(c->client_id)},
	    .will = o->will_topic != NULL,
	    .will_qos = o->will_qos,
	    .will_retain = o->will_retain,
	    .will_props = plist__span(&o->will_props),
	    .will_topic = {(const uint8_t *)o->will_topic, o->will_topic ? (uint32_t)strlen(o->will_topic) : 0},
	    .will_payload = {o->will_payload, (uint32_t)o->will_payload_len},
	    .has_username = user != NULL,
	    .has_password = has_pass,
	    .username = {(const uint8_t *)user, user ? (uint32_t)strlen(user) : 0},
	    .password = {pass, (uint32_t)pass_len},
	};
	if (!rc) rc = proto__encode_connect(&c->out, &m);
	buf__fini(&props);
	return rc;
}

/* The connection is up (TCP, and TLS and WebSocket when asked for): send CONNECT and wait for CONNACK. */
static void connection_up(struct midge_client *c)
{
	uint64_t now = clock__ms();
	c->state = CS_CONNACK;
	c->last_in = c->last_out = now;
	c->ping_out = false;
	/* Until a CONNACK says otherwise (MQTT 5 properties), the protocol's own limits hold. */
	c->keepalive = c->o.keepalive;
	c->server_receive_max = 0xFFFF;
	c->server_max_packet = 0;
	c->server_max_qos = 2;
	c->server_retain = true;
	int rc = buffer_connect(c);
	if (rc) {
		snprintf(c->errtext, sizeof c->errtext, "cannot encode CONNECT: %s", midge_strerror(rc));
		conn__end(c, rc, false, (struct mqtt_str){0});
	}
}

void conn__close_socket(struct midge_client *c)
{
	if (c->t.ops)
		c->t.ops->close(&c->t); /* TLS: a close_notify if the socket takes it */
	else if (c->sock >= 0)
		close(c->sock);
	c->t = (struct transport){.fd = -1};
	c->sock = -1;
}

void conn__check_ws(struct midge_client *c)
{
	if (c->state != CS_WS || c->sock < 0) return;
	int r = ws_client__handshake(&c->t);
	if (r == 0) return;
	if (r == 1) {
		notes__log(c, MIDGE_LOG_DEBUG, "WebSocket handshake with %s port %u done (%s)", c->url.host,
		           c->url.port, c->url.path);
		connection_up(c);
		return;
	}
	if (c->t.error)
		snprintf(c->errtext, sizeof c->errtext, "%s", c->t.error);
	else
		snprintf(c->errtext, sizeof c->errtext, "WebSocket handshake failed: %s", strerror(errno));
	conn__end(c, ws_client__error(&c->t), false, (struct mqtt_str){0});
}

/* TCP, and TLS when asked for, are up: over WebSocket the upgrade request goes now, else CONNECT. */
static void transport_up(struct midge_client *c)
{
	if (!c->url.ws) {
		connection_up(c);
		return;
	}
	if (ws_client__wrap(&c->t, c->url.host, c->url.port, c->url.tls, c->url.path)) {
		snprintf(c->errtext, sizeof c->errtext, "cannot start WebSocket: %s", midge_strerror(MIDGE_ERR_NOMEM));
		conn__end(c, MIDGE_ERR_NOMEM, false, (struct mqtt_str){0});
		return;
	}
	c->state = CS_WS;
	conn__check_ws(c);
}

void conn__check_tls(struct midge_client *c)
{
	if (c->state != CS_TLS || c->sock < 0) return;
	int r = tls__handshake(&c->t);
	if (r == 0) return;
	if (r == 1) {
		notes__log(c, MIDGE_LOG_DEBUG, "TLS handshake with %s port %u done", c->url.host, c->url.port);
		transport_up(c);
		return;
	}
	if (c->t.error)
		snprintf(c->errtext, sizeof c->errtext, "%s", c->t.error);
	else
		snprintf(c->errtext, sizeof c->errtext, "TLS handshake failed: %s", strerror(errno));
	conn__end(c, MIDGE_ERR_TLS, false, (struct mqtt_str){0});
}

/* The TCP connect succeeded: over TLS the handshake starts (its ClientHello goes now), else over WebSocket the
 * upgrade, else CONNECT. */
static void tcp_up(struct midge_client *c)
{
	if (!c->url.tls) {
		c->t = (struct transport){.ops = &tcp__ops, .fd = c->sock};
		transport_up(c);
		return;
	}
	if (tls__connect(&c->t, c->tls, c->sock, c->url.host, !c->tls_insecure)) {
		snprintf(c->errtext, sizeof c->errtext, "cannot start TLS: %s", midge_strerror(MIDGE_ERR_NOMEM));
		conn__end(c, MIDGE_ERR_NOMEM, false, (struct mqtt_str){0});
		return;
	}
	c->state = CS_TLS;
	conn__check_tls(c);
}

/* Binds fd to the configured local address of the same family (mosquitto's -A). Returns 0, or -1 with
 * errtext set. */
static int bind_local(struct midge_client *c, int fd, int family, const char *where)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
	int rc = getaddrinfo(c->o.bind_address, NULL, &hints, &ai);
	if (rc) {
		snprintf(c->errtext, sizeof c->errtext, "bind address %s for %s: %s", c->o.bind_address, where,
			 gai_strerror(rc));
		return -1;
	}
	rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc) snprintf(c->errtext, sizeof c->errtext, "bind to %s: %s", c->o.bind_address, strerror(errno));
	freeaddrinfo(ai);
	return rc ? -1 : 0;
}

/* Tries the remaining addresses of the attempt until one connects or is under way; ends the attempt when none is. */
static void try_next(struct midge_client *c)
{
	while (c->ai_next) {
		struct addrinfo *a = c->ai_next;
		c->ai_next = a->ai_next;
		char where[INET6_ADDRSTRLEN + 16];
		addr_text(a, where, sizeof where);
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(c->errtext, sizeof c->errtext, "socket for %s: %s", where, strerror(errno));
			continue;
		}
		int one = 1;
		/* MQTT packets are small and answered one by one: Nagle would hold each ack back for the previous. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (c->o.bind_address && bind_local(c, fd, a->ai_family, where)) {
			close(fd);
			continue;
		}
		c->sock = fd;
		c->t = (struct transport){.fd = -1}; /* no transport until connected */
		c->conn_gen++;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			tcp_up(c);
			return;
		}
		if (errno == EINPROGRESS) return;
		snprintf(c->errtext, sizeof c->errtext, "connect to %s: %s", where, strerror(errno));
		conn__close_socket(c);
	}
	conn__end(c, MIDGE_ERR_IO, false, (struct mqtt_str){0});
}

void conn__start(struct midge_client *c)
{
	c->state = CS_TCP;
	c->errtext[0] = 0;
	c->deadline = clock__ms() + c->o.connect_timeout_ms;
	c->ai_next = c->ai;
	buf__clear(&c->out);
	c->out_sent = 0;
	c->q0_n = 0;
	notes__log(c, MIDGE_LOG_DEBUG, "connecting to %s port %u", c->url.host, c->url.port);
	try_next(c);
}

void conn__check_tcp(struct midge_client *c)
{
	if (c->state != CS_TCP || c->sock < 0) return;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->sock, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
	if (!err) {
		/* No error yet may still mean not connected yet: only a peer name says it is up. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getpeername(c->sock, (struct sockaddr *)&ss, &sl) == 0) {
			tcp_up(c);
			return;
		}
		if (errno == ENOTCONN) return;
		err = errno;
	}
	snprintf(c->errtext, sizeof c->errtext, "connect to %s port %u: %s", c->url.host, c->url.port, strerror(err));
	conn__close_socket(c);
	try_next(c);
}

/* The next reconnect delay: reconnect_min_ms doubled per failure in a row up to reconnect_max_ms, +-25 %. */
static unsigned backoff_ms(struct midge_client *c)
{
	uint64_t d = c->o.reconnect_min_ms;
	for (unsigned i = 1; i < c->failures && d < c->o.reconnect_max_ms; i++)
		d *= 2;
	if (d > c->o.reconnect_max_ms) d = c->o.reconnect_max_ms;
	/* xorshift64: jitter only needs to spread clients that lost the same server at once apart. */
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	uint64_t span = d / 2; /* from 75 % to 125 % */
	return (unsigned)(d - d / 4 + (span ? c->rng % (span + 1) : 0));
}

static const char *reason_text(int reason)
{
	static const char *const rc3[] = {"accepted",           "unacceptable protocol version", "identifier rejected",
	                                  "server unavailable", "bad user name or password",     "not authorized"};
	if (reason == 0) return "disconnected by the application";
	if (reason < 0) return midge_strerror(reason);
	if (reason < 6) return rc3[reason];
	return "reason code";
}

void conn__end(struct midge_client *c, int reason, bool has_props, struct mqtt_str props)
{
	enum conn_state was = c->state;
	if (was == CS_IDLE || was == CS_BACKOFF) return;
	conn__close_socket(c);
	buf__clear(&c->out);
	c->out_sent = 0;
	c->q0_n = 0; /* QoS 0 messages not yet written are lost, as QoS 0 allows */
	c->disconnecting = c->disc_req = c->ping_out = false;
	session__lost(c);
	if (was != CS_CONNECTED) {
		c->last_outcome = reason ? reason : MIDGE_ERR_CLOSED;
		c->outcome_seq++;
		c->failures++;
	} else {
		c->failures = 0;
	}
	c->last_end = reason;
	c->loop_rc = reason < 0 ? reason : reason > 0 ? MIDGE_ERR_CLOSED : 0;
	int level = reason == 0 ? MIDGE_LOG_INFO : MIDGE_LOG_WARNING;
	const char *what = was == CS_CONNECTED ? "connection" : "connection attempt";
	if (c->errtext[0])
		notes__log(c, level, "%s ended: %s", what, c->errtext);
	else
		notes__log(c, level, "%s ended: %s (%d)", what, reason_text(reason), reason);
	snprintf(c->last_error, sizeof c->last_error, "%s", c->errtext[0] ? c->errtext : reason_text(reason));
	c->errtext[0] = 0;
	notes__add(c, &(struct note){.kind = NOTE_DISCONNECT, .rc = reason, .has_props = has_props, .props = props});
	if (c->o.reconnect && !c->user_stop && c->have_url) {
		unsigned d = backoff_ms(c);
		c->state = CS_BACKOFF;
		c->reconnect_at = clock__ms() + d;
		notes__log(c, MIDGE_LOG_INFO, "reconnecting in %u ms", d);
	} else {
		c->state = CS_IDLE;
	}
	pthread_cond_broadcast(&c->cond);
}

/* The MQTT 5 reason that tells the server why the client closes for err. */
static uint8_t abort_reason(int err)
{
	switch (err) {
	case MIDGE_ERR_MALFORMED:
		return MQTT_RC_MALFORMED_PACKET;
	case MIDGE_ERR_PROTOCOL:
		return MQTT_RC_PROTOCOL_ERROR;
	case MIDGE_ERR_TOO_LARGE:
		return MQTT_RC_PACKET_TOO_LARGE;
	case MIDGE_ERR_TIMEOUT:
		return MQTT_RC_KEEP_ALIVE_TIMEOUT;
	default:
		return MQTT_RC_UNSPECIFIED;
	}
}

void conn__abort(struct midge_client *c, int err)
{
	if (c->o.version == MQTT_V5 && c->sock >= 0 && c->state >= CS_CONNACK) {
		/* Behind whatever is buffered, so it cannot land inside a half-written packet. */
		struct mqtt_disconnect d = {.reason = abort_reason(err)};
		if (proto__encode_disconnect(&c->out, MQTT_V5, &d) == 0) {
			struct iovec iov = {(void *)buf__head(&c->out), buf__len(&c->out)};
			if (c->t.ops->writev(&c->t, &iov, 1) < 0) {
				/* best effort: the connection is going anyway */
			}
		}
	}
	if (!c->errtext[0]) snprintf(c->errtext, sizeof c->errtext, "%s", midge_strerror(err));
	conn__end(c, err, false, (struct mqtt_str){0});
}

void conn__reconnect(struct midge_client *c)
{
	char *host = strdup(c->url.host);
	uint16_t port = c->url.port;
	unsigned gen = c->url_gen;
	if (!host) return; /* out of memory: the next loop_misc tries again */
	struct addrinfo *ai = NULL;
	char err[sizeof c->errtext];
	/* Resolution can take seconds: publishers must not wait for it on the lock. */
	pthread_mutex_unlock(&c->lock);
	int rc = conn__resolve(host, port, &ai, err, sizeof err);
	pthread_mutex_lock(&c->lock);
	free(host);
	if (c->state != CS_BACKOFF || gen != c->url_gen) {
		if (ai) freeaddrinfo(ai);
		return;
	}
	if (rc) {
		c->state = CS_TCP; /* an attempt that failed at its first step */
		snprintf(c->errtext, sizeof c->errtext, "%s", err);
		conn__end(c, rc, false, (struct mqtt_str){0});
		return;
	}
	if (c->ai) freeaddrinfo(c->ai);
	c->ai = ai;
	conn__start(c);
}
