/* snclient's handle: defaults, settings, the UDP socket and its address, errors. See snclient.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "midge/midge.h"
#include "snclient/exchange.h"

void snc__init(struct snc *c)
{
	/* The 64 KiB receive buffer needs no clearing: it is only read after a receive fills it. */
	memset(c, 0, offsetof(struct snc, rx));
	c->tx = (struct buf){0};
	c->wrap = (struct buf){0};
	c->err[0] = 0;
	c->keepalive = 60;
	c->clean = true;
	c->retry_ms = 10000;
	c->retries = 5;
	c->fd = -1;
}

void snc__close(struct snc *c)
{
	if (c->fd >= 0) close(c->fd);
	if (c->addrs) freeaddrinfo(c->addrs);
	free(c->will_topic);
	free(c->will_payload);
	snc_reg__fini(&c->reg);
	sn_predef__fini(&c->predefs);
	buf__fini(&c->tx);
	buf__fini(&c->wrap);
	snc__init(c);
}

const char *snc__error(const struct snc *c)
{
	return c->err;
}

uint16_t snc__next_msg_id(struct snc *c)
{
	if (++c->last_msg_id == 0) c->last_msg_id = 1;
	return c->last_msg_id;
}

const char *snc__rc_string(int rc)
{
	switch (rc) {
	case SN_RC_ACCEPTED:
		return "accepted";
	case SN_RC_CONGESTION:
		return "congestion";
	case SN_RC_INVALID_TOPIC_ID:
		return "invalid topic id";
	case SN_RC_NOT_SUPPORTED:
		return "not supported";
	default:
		return "unknown";
	}
}

int snc__refused(struct snc *c, const char *what, int rc)
{
	int code = rc == SN_RC_CONGESTION         ? MIDGE_ERR_AGAIN
	           : rc == SN_RC_INVALID_TOPIC_ID ? MIDGE_ERR_NOT_FOUND
	           : rc == SN_RC_NOT_SUPPORTED    ? MIDGE_ERR_NOT_SUPPORTED
	                                          : MIDGE_ERR_PROTOCOL;
	return err__set(c->err, sizeof(c->err), code, "%s: %s (%d)", what, snc__rc_string(rc), rc);
}

/* ---- settings ---- */

int snc__set_client_id(struct snc *c, const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n < 1 || n > SNC_CLIENT_ID_MAX)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "client id must be 1 to %d characters",
		                SNC_CLIENT_ID_MAX);
	memcpy(c->client_id, id, n + 1);
	return 0;
}

int snc__set_keepalive(struct snc *c, int seconds)
{
	if (seconds < 0 || seconds > 65535)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "keepalive must be 0 to 65535 seconds");
	c->keepalive = (uint16_t)seconds;
	return 0;
}

int snc__set_retry(struct snc *c, double seconds, int retries)
{
	/* The comparison is written so that NaN fails it too. */
	if (!(seconds >= 0.001 && seconds <= 3600))
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL,
		                "retry interval must be 0.001 to 3600 seconds");
	if (retries < 0 || retries > 255)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "retries must be 0 to 255");
	c->retry_ms = (int)(seconds * 1000 + 0.5);
	c->retries = retries;
	return 0;
}

int snc__set_will(struct snc *c, const char *topic, const void *payload, size_t len, int qos, bool retain)
{
	if (!topic || !*topic || strchr(topic, '+') || strchr(topic, '#') || strlen(topic) > 65000)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "invalid will topic (no wildcards)");
	if (qos < 0 || qos > 2) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "will QoS must be 0, 1 or 2");
	if (len > 65000) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "will payload too long");
	char *t = strdup(topic);
	uint8_t *p = malloc(len ? len : 1);
	if (!t || !p) {
		free(t);
		free(p);
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_NOMEM, "out of memory");
	}
	if (len) memcpy(p, payload, len);
	free(c->will_topic);
	free(c->will_payload);
	c->will_topic = t;
	c->will_payload = p;
	c->will_len = len;
	c->will_qos = qos;
	c->will_retain = retain;
	return 0;
}

int snc__set_forwarder(struct snc *c, const void *wlnid, size_t len)
{
	if (!wlnid || len < 1 || len > SNC_WLNID_MAX)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "wireless node id must be 1 to %d octets",
		                SNC_WLNID_MAX);
	memcpy(c->wlnid, wlnid, len);
	c->wlnid_len = len;
	c->fe = true;
	return 0;
}

int snc__load_predefined(struct snc *c, const char *path)
{
	char *text = NULL, why[200];
	size_t len = 0;
	int rc = file__read_all_err(path, &text, &len, why, sizeof(why));
	if (rc) return err__set(c->err, sizeof(c->err), rc, "%s", why);
	struct sn_predefs t = {0};
	rc = sn_predef__parse(&t, text, len, why, sizeof(why));
	free(text);
	if (rc)
		return err__set(c->err, sizeof(c->err), rc, "%s: %s", path,
		                rc == MIDGE_ERR_NOMEM ? "out of memory" : why);
	sn_predef__fini(&c->predefs);
	c->predefs = t;
	return 0;
}

/* ---- the socket ---- */

/* A datagram socket connected to c->cur, so that the kernel drops what other addresses send us and reports an
 * ICMP port unreachable as ECONNREFUSED. */
static int connect_cur(struct snc *c)
{
	if (c->fd >= 0) close(c->fd);
	c->fd = -1;
	int fd = socket(c->cur->ai_family, c->cur->ai_socktype | SOCK_CLOEXEC, c->cur->ai_protocol);
	if (fd < 0) return errno;
	if (connect(fd, c->cur->ai_addr, c->cur->ai_addrlen) < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	c->fd = fd;
	return 0;
}

int snc__open(struct snc *c, const char *host, int port)
{
	if (c->fd >= 0 || c->addrs) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "already open");
	if (port < 1 || port > 65535) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "port out of range");
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
	int g = getaddrinfo(host, service, &hints, &c->addrs);
	if (g) {
		c->addrs = NULL;
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_IO, "unable to resolve %s: %s", host,
		                gai_strerror(g));
	}
	int e = 0;
	for (c->cur = c->addrs; c->cur; c->cur = c->cur->ai_next)
		if (!(e = connect_cur(c))) return 0;
	freeaddrinfo(c->addrs);
	c->addrs = NULL;
	return err__set(c->err, sizeof(c->err), MIDGE_ERR_IO, "unable to open a socket to %s port %d: %s", host, port,
	                strerror(e));
}

/* Moves to the next address getaddrinfo gave, when nothing has answered on this one. True when it did. */
bool snc__next_address(struct snc *c)
{
	if (c->heard || !c->cur) return false;
	struct addrinfo *was = c->cur;
	for (struct addrinfo *a = was->ai_next; a; a = a->ai_next) {
		c->cur = a;
		if (!connect_cur(c)) return true;
	}
	/* None of the others would open: stay where we were, which did. */
	c->cur = was;
	connect_cur(c);
	return false;
}
