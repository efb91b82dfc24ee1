/* snclient's engine: a datagram out (wrapped for a forwarder), a datagram in (unwrapped), and the wait for an
 * answer with MQTT-SN's retransmission (Tretry, Nretry). See exchange.h. */
#include "snclient/exchange.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "midge/midge.h"

int snc__send(struct snc *c, const struct sn_msg *m)
{
	if (c->fd < 0) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "not open");
	buf__clear(&c->tx);
	int rc = sn__encode(m, &c->tx);
	if (rc == MIDGE_ERR_NOMEM) return err__set(c->err, sizeof(c->err), rc, "out of memory");
	if (rc) return err__set(c->err, sizeof(c->err), rc, "%s cannot be encoded (too long?)", sn__type_name(m->type));
	const uint8_t *p = buf__head(&c->tx);
	size_t n = buf__len(&c->tx);
	if (c->fe) {
		/* ctrl 0: the radius only matters from the gateway to the forwarder. */
		struct sn_msg env = {
		    .type = SN_ENCAPSULATED, .text = {c->wlnid, (uint32_t)c->wlnid_len}, .data = {p, (uint32_t)n}};
		buf__clear(&c->wrap);
		if (sn__encode(&env, &c->wrap))
			return err__set(c->err, sizeof(c->err), MIDGE_ERR_NOMEM, "out of memory");
		p = buf__head(&c->wrap);
		n = buf__len(&c->wrap);
	}
	if (c->cb.on_datagram) c->cb.on_datagram(c->cb.ud, true, m);
	for (int tries = 0;; tries++) {
		if (send(c->fd, p, n, 0) >= 0) break;
		/* An ICMP port unreachable for an earlier datagram is reported here, and this one not sent: once more.
		 */
		if (errno == ECONNREFUSED && tries == 0) {
			c->refused = true;
			continue;
		}
		if (errno == EINTR) continue;
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_IO, "send: %s", strerror(errno));
	}
	c->last_sent_ms = clock__ms();
	return 0;
}

/* Decodes one datagram of n octets in c->rx into *m; false when it is not one a client can take. */
static bool decode(struct snc *c, size_t n, struct sn_msg *m)
{
	if (sn__decode(c->rx, n, m) != SN_OK) return false;
	/* Replies to a forwarder come in an envelope; a gateway may also answer plainly. Either way the message
	 * inside is what counts. */
	if (m->type == SN_ENCAPSULATED) {
		struct mqtt_str inner = m->data;
		if (sn__decode(inner.p, inner.len, m) != SN_OK || m->type == SN_ENCAPSULATED) return false;
	}
	return true;
}

int snc__recv(struct snc *c, uint64_t deadline, struct sn_msg *m)
{
	if (c->fd < 0) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "not open");
	for (;;) {
		int wait = -1;
		if (deadline) {
			uint64_t now = clock__ms();
			if (now >= deadline) return 0;
			wait = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int p = poll(&pfd, 1, wait);
		if (p < 0 && errno == EINTR) return err__set(c->err, sizeof(c->err), MIDGE_ERR_AGAIN, "interrupted");
		if (p < 0) return err__set(c->err, sizeof(c->err), MIDGE_ERR_IO, "poll: %s", strerror(errno));
		if (p == 0) continue;
		ssize_t n = recv(c->fd, c->rx, sizeof(c->rx), MSG_TRUNC);
		if (n < 0) {
			if (errno == ECONNREFUSED) {
				c->refused = true;
				if (snc__next_address(c)) return SNC_RECV_MOVED;
				continue;
			}
			if (errno == EINTR || errno == EAGAIN) continue;
			return err__set(c->err, sizeof(c->err), MIDGE_ERR_IO, "recv: %s", strerror(errno));
		}
		/* Cut short (MSG_TRUNC gives the real size) or not MQTT-SN: dropped, as a gateway drops ours. */
		if ((size_t)n > sizeof(c->rx) || !decode(c, (size_t)n, m)) continue;
		c->heard = true;
		c->refused = false;
		if (c->cb.on_datagram) c->cb.on_datagram(c->cb.ud, false, m);
		return 1;
	}
}

static bool wanted(const struct snc_want *w, const struct sn_msg *m)
{
	for (size_t i = 0; i < sizeof(w->type); i++)
		if (w->type[i] && w->type[i] == m->type) return !w->match_id || m->msg_id == w->msg_id;
	return false;
}

int snc__exchange(struct snc *c, struct sn_msg *req, const struct snc_want *w, struct sn_msg *reply)
{
	int sends = 0;
	while (sends <= c->retries) {
		/* A resent PUBLISH says so, so that the gateway can tell it from a new one. */
		if (sends > 0 && req->type == SN_PUBLISH) req->dup = true;
		int rc = snc__send(c, req);
		if (rc) return rc;
		uint64_t deadline = clock__ms() + (uint64_t)c->retry_ms;
		bool moved = false;
		while (!moved) {
			rc = snc__recv(c, deadline, reply);
			if (rc < 0) return rc;
			if (rc == 0) break;
			if (rc == SNC_RECV_MOVED) {
				moved = true; /* a new address: send again at once, not counted as a retry */
				break;
			}
			if (wanted(w, reply)) return 0;
			rc = snc__inbound(c, reply);
			if (rc) return rc;
			/* Waking up, the gateway sends what it buffered before its PINGRESP: while it does, it is
			 * there. */
			if (w->extend) deadline = clock__ms() + (uint64_t)c->retry_ms;
		}
		if (!moved) sends++;
	}
	c->state = SNC_DISCONNECTED;
	return err__set(c->err, sizeof(c->err), MIDGE_ERR_TIMEOUT, "gateway lost (no answer to %s after %d tries%s)",
	                sn__type_name(req->type), sends,
	                c->refused ? "; port unreachable: is the gateway running?" : "");
}
