/* snclient's session: CONNECT with the will flow, keepalive, sleeping and waking, DISCONNECT, and the wait for
 * what the gateway sends. See snclient.h. */
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "midge/midge.h"
#include "snclient/exchange.h"

static int not_connected(struct snc *c)
{
	return err__set(c->err, sizeof(c->err), MIDGE_ERR_CLOSED, "not connected");
}

int snc__connect(struct snc *c)
{
	if (c->fd < 0) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "not open");
	if (!c->client_id[0]) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "no client id");
	if (c->state == SNC_ACTIVE) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "already connected");
	struct sn_msg req = {.type = SN_CONNECT,
	                     .will = c->will_topic != NULL,
	                     .clean = c->clean,
	                     .protocol_id = 0x01,
	                     .duration = c->keepalive,
	                     .text = {(const uint8_t *)c->client_id, (uint32_t)strlen(c->client_id)}};
	/* The gateway asks for the will's parts in turn; each answer is an exchange of its own, so a lost one is
	 * resent like CONNECT. */
	const struct snc_want w = {.type = {SN_CONNACK, SN_WILLTOPICREQ, SN_WILLMSGREQ}};
	struct sn_msg r;
	int rc = snc__exchange(c, &req, &w, &r);
	while (rc == 0 && r.type != SN_CONNACK) {
		if (r.type == SN_WILLTOPICREQ && c->will_topic) {
			req =
			    (struct sn_msg){.type = SN_WILLTOPIC,
			                    .has_flags = true,
			                    .qos = (int8_t)c->will_qos,
			                    .retain = c->will_retain,
			                    .text = {(const uint8_t *)c->will_topic, (uint32_t)strlen(c->will_topic)}};
		} else if (r.type == SN_WILLTOPICREQ) {
			/* Asked without our having a will: the empty WILLTOPIC says there is none. */
			req = (struct sn_msg){.type = SN_WILLTOPIC};
		} else {
			req = (struct sn_msg){.type = SN_WILLMSG, .data = {c->will_payload, (uint32_t)c->will_len}};
		}
		rc = snc__exchange(c, &req, &w, &r);
	}
	if (rc) return rc;
	if (r.rc != SN_RC_ACCEPTED) {
		c->state = SNC_DISCONNECTED;
		return snc__refused(c, "connection refused", r.rc);
	}
	/* A clean session has no topic ids, and anything half-received belongs to the session that ended. */
	if (c->clean) {
		snc_reg__fini(&c->reg);
		memset(c->qos2_in, 0, sizeof(c->qos2_in));
	}
	c->state = SNC_ACTIVE;
	return 0;
}

int snc__ping(struct snc *c)
{
	if (c->state != SNC_ACTIVE) return not_connected(c);
	struct sn_msg req = {.type = SN_PINGREQ}, r;
	return snc__exchange(c, &req, &(struct snc_want){.type = {SN_PINGRESP}}, &r);
}

int snc__loop(struct snc *c, int timeout_ms)
{
	uint64_t end = timeout_ms < 0 ? 0 : clock__ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t deadline = end;
		if (c->state == SNC_ACTIVE && c->keepalive) {
			uint64_t due = c->last_sent_ms + (uint64_t)c->keepalive * 1000;
			if (clock__ms() >= due) {
				int rc = snc__ping(c);
				if (rc) return rc;
				continue;
			}
			if (!deadline || due < deadline) deadline = due;
		}
		struct sn_msg m;
		int rc = snc__recv(c, deadline, &m);
		if (rc < 0) return rc;
		if (rc == 1) return snc__inbound(c, &m);
		if (end && clock__ms() >= end) return 0;
	}
}

int snc__sleep(struct snc *c, int duration)
{
	if (c->state == SNC_DISCONNECTED) return not_connected(c);
	if (duration < 1 || duration > 65535)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "sleep duration must be 1 to 65535 seconds");
	struct sn_msg req = {.type = SN_DISCONNECT, .has_duration = true, .duration = (uint16_t)duration}, r;
	int rc = snc__exchange(c, &req, &(struct snc_want){.type = {SN_DISCONNECT}}, &r);
	if (rc) return rc;
	c->state = SNC_ASLEEP;
	return 0;
}

int snc__wake(struct snc *c)
{
	if (c->state != SNC_ASLEEP) return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "not asleep");
	struct sn_msg req = {.type = SN_PINGREQ,
	                     .text = {(const uint8_t *)c->client_id, (uint32_t)strlen(c->client_id)}},
	              r;
	return snc__exchange(c, &req, &(struct snc_want){.type = {SN_PINGRESP}, .extend = true}, &r);
}

int snc__disconnect(struct snc *c)
{
	if (c->state == SNC_DISCONNECTED) return 0;
	struct sn_msg req = {.type = SN_DISCONNECT}, r;
	int rc = snc__exchange(c, &req, &(struct snc_want){.type = {SN_DISCONNECT}}, &r);
	c->state = SNC_DISCONNECTED;
	return rc;
}
