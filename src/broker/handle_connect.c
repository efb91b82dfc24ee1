/* CONNECT: version checks, client id rules, session creation or takeover, will, CONNACK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker.h"
#include "common/clock.h"
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "session.h"
#include "worker.h"

/* Queues a CONNACK in the client's protocol version. */
static int queue_connack(struct conn *c, uint8_t version, bool present, uint8_t rc)
{
	struct buf b = {0};
	struct mqtt_connack a = {.session_present = present, .rc = rc};
	int r = proto__encode_connack(&b, version, &a);
	if (!r) r = conn__queue_bytes(c, buf__head(&b), buf__len(&b));
	buf__fini(&b);
	return r;
}

/* Refuses the connection: CONNACK with rc, then an orderly close. */
static int refuse(struct conn *c, uint8_t version, uint8_t rc)
{
	queue_connack(c, version, false, rc);
	return MIDGE_ERR_CLOSED;
}

/* An identifier for a client that sent none, as Mosquitto's "auto-" ids: 128 random bits. */
static void make_client_id(char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* No entropy: fall back to time and address, still unique within this process. */
		uint64_t a = clock__ms(), p = (uint64_t)(uintptr_t)out;
		memcpy(rnd, &a, 8);
		memcpy(rnd + 8, &p, 8);
	}
	char *o = out + snprintf(out, n, "auto-");
	for (size_t i = 0; i < sizeof(rnd) && (size_t)(o - out) + 2 < n; i++) {
		*o++ = hex[rnd[i] >> 4];
		*o++ = hex[rnd[i] & 15];
	}
	*o = 0;
}

/* Finds or makes the session for c's client id and attaches c to it. When another connection holds
 * the session, that one is asked to finish what it already sent and close; c then waits (returns 1)
 * and handle__connect_resume completes the attach once the old connection is gone, so packets of
 * the old connection always come before those of the new one.
 * The CONNACK is queued under the session lock before attaching, so it precedes every delivery.
 * Returns 0 (attached, *present set), 1 (waiting) or MIDGE_ERR_NOMEM. */
static int attach_session(struct worker *w, struct conn *c, bool *present)
{
	struct broker *b = w->broker;
	const char *id = c->client_id;
	size_t len = strlen(id);
	bool clean = c->clean_start;
	struct conn *old = NULL, *dropped = NULL;
	struct session *ended = NULL;
	int rc = 0;
	pthread_mutex_lock(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, id, len);
	if (s) {
		pthread_mutex_lock(&s->lock);
		if (s->conn) {
			/* Take over: c becomes the successor; an earlier successor still waiting is dropped. */
			old = conn__ref(s->conn);
			dropped = old->successor;
			old->successor = conn__ref(c);
			atomic_store(&old->kick, true);
			pthread_mutex_unlock(&s->lock);
			pthread_mutex_unlock(&b->sessions.lock);
			if (dropped) {
				atomic_store(&dropped->kick, true);
				worker__post(dropped->worker, dropped);
				conn__unref(dropped);
			}
			worker__post(old->worker, old);
			conn__unref(old);
			return 1;
		}
		atomic_fetch_sub(&b->stats.clients_persistent_offline, 1);
		bool keep = !clean && !s->clean;
		pthread_mutex_unlock(&s->lock);
		if (!keep) {
			ended = session__ref(s);
			sessions__remove_locked(&b->sessions, s);
			s = NULL;
		}
	}
	*present = s != NULL;
	if (!s) {
		s = session__new(id, len, clean);
		if (!s) {
			rc = MIDGE_ERR_NOMEM;
			goto out;
		}
		sessions__insert_locked(&b->sessions, s);
		session__unref(s); /* the table holds it */
	}
	pthread_mutex_lock(&s->lock);
	s->clean = clean;
	rc = queue_connack(c, c->version, *present, MQTT_CONNACK_ACCEPTED);
	if (!rc) {
		s->conn = c;
		c->session = session__ref(s);
		if (*present) session__resume_locked(b, s);
	}
	pthread_mutex_unlock(&s->lock);
out:
	pthread_mutex_unlock(&b->sessions.lock);
	if (ended) {
		session__end(b, ended);
		session__unref(ended);
	}
	return rc;
}

/* Attaches the session and, once attached, makes c an active client. */
static int finish_connect(struct worker *w, struct conn *c)
{
	struct broker *b = w->broker;
	bool present = false;
	int r = attach_session(w, c, &present);
	if (r < 0) return r;
	if (r == 1) {
		/* Nothing more is read from c until the old connection is gone. */
		c->waiting_takeover = true;
		c->read_paused = true;
		conn__update_events(c);
		return 0;
	}
	c->waiting_takeover = false;
	c->state = CONN_ACTIVE;
	atomic_fetch_add(&b->stats.clients_connected, 1);
	atomic_fetch_add(&b->stats.clients_total_ever, 1);
	worker__arm_keepalive(w, c);
	if (b->conf.connection_messages)
		log__printf(&b->log, LOG_T_NOTICE, "New client connected from %s as %s (p%u, c%d, k%u).", c->addr,
			    c->client_id, c->version == MQTT_V31 ? 1 : 2, c->clean_start ? 1 : 0, c->keepalive);
	conn__schedule(c, w);
	return 0;
}

int handle__connect_resume(struct worker *w, struct conn *c)
{
	if (c->state != CONN_OPEN || !c->waiting_takeover) return 0;
	return finish_connect(w, c);
}

int handle__connect(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_connect ct;
	int r = proto__decode_connect(f, &ct);
	if (r == PROTO_BAD_VERSION) {
		log__printf(&b->log, LOG_T_INFO, "Client from %s refused: unsupported protocol version %u.", c->addr,
			    ct.version);
		return refuse(c, ct.version == MQTT_V5 ? MQTT_V5 : MQTT_V311,
			      ct.version == MQTT_V5 ? MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION : MQTT_CONNACK_BAD_VERSION);
	}
	if (r) return dispatch__codec_err(r);
	if (ct.version == MQTT_V5) {
		/* MQTT 5 lands in its own release; tell the client in its own format. */
		log__printf(&b->log, LOG_T_INFO, "Client from %s refused: MQTT 5 not supported yet.", c->addr);
		return refuse(c, MQTT_V5, MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION);
	}
	c->version = ct.version;

	char idbuf[64];
	const char *id = (const char *)ct.client_id.p;
	size_t idlen = ct.client_id.len;
	if (idlen == 0) {
		/* 3.1 needs an id; 3.1.1 allows none only with a clean session [MQTT-3.1.3-7]. */
		if (ct.version == MQTT_V31 || !ct.clean || !config__allow_zero_length_clientid(&b->conf, c->listener->conf))
			return refuse(c, c->version, MQTT_CONNACK_ID_REJECTED);
		make_client_id(idbuf, sizeof(idbuf));
		id = idbuf;
		idlen = strlen(idbuf);
	}
	if (b->conf.max_keepalive && ct.keepalive > b->conf.max_keepalive)
		return refuse(c, c->version, MQTT_CONNACK_ID_REJECTED);
	if (memchr(id, 0, idlen)) return MIDGE_ERR_MALFORMED; /* U+0000 is refused by the codec; be sure */

	c->client_id = malloc(idlen + 1);
	if (!c->client_id) return MIDGE_ERR_NOMEM;
	memcpy(c->client_id, id, idlen);
	c->client_id[idlen] = 0;
	c->keepalive = ct.keepalive;
	c->clean_start = ct.clean;

	if (ct.will) {
		c->will = msg__new(ct.will_topic.p, ct.will_topic.len, ct.will_payload.p, ct.will_payload.len,
				   ct.will_qos, ct.will_retain);
		if (!c->will) return MIDGE_ERR_NOMEM;
		c->will_qos = ct.will_qos;
		c->will_retain = ct.will_retain;
	}
	return finish_connect(w, c);
}
