/* CONNECT: version checks, client id rules, session creation or takeover, will, CONNACK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker.h"
#include "figures.h"
#include "common/clock.h"
#include "common/utf8.h"
#include "proto/props.h"
#include "authq.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "guard.h"
#include "net/tls.h"
#include "persist.h"
#include "security.h"
#include "session.h"
#include "worker.h"

/* Queues a CONNACK in the client's protocol version, with MQTT 5 properties props (may be NULL). */
static int queue_connack(struct conn *c, uint8_t version, bool present, uint8_t rc, const struct buf *props)
{
	struct buf b = {0};
	struct mqtt_connack a = {.session_present = present, .rc = rc};
	if (props) a.props = (struct mqtt_str){buf__head(props), (uint32_t)buf__len(props)};
	int r = proto__encode_connack(&b, version, &a);
	if (!r) r = conn__queue_bytes(c, buf__head(&b), buf__len(&b));
	buf__fini(&b);
	return r;
}

/* Refuses the connection: CONNACK with rc (and for MQTT 5 a Reason String), then an orderly close. */
static int refuse_why(struct conn *c, uint8_t version, uint8_t rc, const char *why)
{
	struct buf props = {0};
	/* Left out when the CONNACK would exceed the client's Maximum Packet Size [MQTT-3.2.2-19]. */
	if (why && c->max_out_packet && strlen(why) + 16 > c->max_out_packet) why = NULL;
	if (version == MQTT_V5 && why) {
		struct mqtt_str s = {(const uint8_t *)why, (uint32_t)strlen(why)};
		props__put_str(&props, MQTT_PROP_REASON_STRING, &s);
	}
	queue_connack(c, version, false, rc, &props);
	buf__fini(&props);
	return MIDGE_ERR_CLOSED;
}

static int refuse(struct conn *c, uint8_t version, uint8_t rc) { return refuse_why(c, version, rc, NULL); }

/* A refusal in the client's terms: the MQTT 5 reason, or the 3.x return code that comes closest. */
static int refuse5(struct conn *c, uint8_t rc5, uint8_t rc3, const char *why)
{
	return refuse_why(c, c->version, c->version == MQTT_V5 ? rc5 : rc3, why);
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
	struct session *ended = NULL, *will_from = NULL;
	struct message *due_will = NULL;
	uint32_t will_expiry = 0;
	bool will_retain = false;
	char *will_user = NULL; /* the due will's owner, for its ACL check: not c's */
	size_t will_domain = 0;
	int rc = 0;
	/* An old session's end and the new one's row are kept together: a crash leaves one or the other. */
	persist__group_begin(b);
	bool grouped = true;
	lock__acquire(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, id, len);
	if (s) {
		lock__acquire(&s->lock);
		if (s->conn) {
			/* Take over: c becomes the successor; an earlier successor still waiting is dropped. */
			old = conn__ref(s->conn);
			dropped = old->successor;
			old->successor = conn__ref(c);
			atomic_store(&old->kick, KICK_TAKEOVER);
			lock__release(&s->lock);
			lock__release(&b->sessions.lock);
			if (dropped) {
				atomic_store(&dropped->kick, KICK_TAKEOVER);
				worker__post(dropped->worker, dropped);
				conn__unref(dropped);
			}
			worker__post(old->worker, old);
			conn__unref(old);
			persist__group_end(b);
			return 1;
		}
		atomic_fetch_sub(&b->stats.clients_persistent_offline, 1);
		/* A session past its expiry is gone even if the scan has not ended it yet [MQTT-4.1.0-2]. */
		uint64_t now = clock__ms();
		bool keep = !clean && !s->clean && !(s->expire_at_ms && now >= s->expire_at_ms) &&
			    !atomic_load(&s->cluster_moved); /* stale: the cluster's copy is taken over again */
		/* Its rows go before the new session's are written (under the table lock, so in that order). */
		if (!keep) persist__session_del(b, s);
		lock__release(&s->lock);
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
	lock__acquire(&s->lock);
	if (session__set_identity(s, c->username, security__domain(b, c->listener),
				  c->listener && c->listener->exposed)) {
		lock__release(&s->lock);
		rc = MIDGE_ERR_NOMEM;
		goto out;
	}
	s->expiry_interval = c->session_expiry;
	s->clean = c->session_expiry == 0;
	s->expire_at_ms = 0;
	/* A persistent session another node of the cluster had comes with its subscriptions. */
	atomic_store(&s->cluster_moved, false);
	if (b->cluster && !c->internal && cluster__session_attach(b->cluster, s, clean) && !*present)
		*present = true;
	/* Back before its will's delay ran out: the will is not sent [MQTT-3.1.3-9]; once the delay has
	 * passed it is, even if the scan has not got to it yet [MQTT-3.1.2-8]. */
	if (s->will && clock__ms() >= s->will_at_ms) {
		due_will = s->will;
		will_expiry = s->will_expiry;
		will_retain = s->will_retain;
		will_user = s->will_user;
		will_domain = s->will_domain;
		will_from = session__ref(s);
	} else {
		msg__unref(s->will);
		free(s->will_user);
	}
	s->will = NULL;
	s->will_user = NULL;
	rc = queue_connack(c, c->version, *present, MQTT_CONNACK_ACCEPTED, c->connack_props);
	if (!rc) {
		s->conn = c;
		atomic_store(&s->online, true);
		session__track_locked(b, s);
		c->session = session__ref(s);
		/* The session holds the same id for as long as the connection holds the session: one copy is enough. */
		free(c->client_id);
		c->client_id = s->client_id;
		persist__session_online(b, s, c);
		/* The cluster's registry learns that this node has the client now: another node's connection goes. */
		if (b->cluster && !c->internal) {
			cluster__claim(b->cluster, s->client_id);
			cluster__will(b->cluster, c); /* the other nodes publish it if this one dies */
		}
		/* The group is the session's rows; the resume's marks stand alone: on a full disk they go through
		 * (they insert nothing) while a group with an insert does not. */
		persist__group_end(b);
		grouped = false;
		if (*present) session__resume_locked(b, s);
	}
	lock__release(&s->lock);
out:
	lock__release(&b->sessions.lock);
	if (ended) {
		session__end(b, ended);
		session__unref(ended);
	}
	if (due_will) {
		worker__publish_will(b, w, due_will, will_expiry, will_retain, will_from, will_user, will_domain);
		msg__unref(due_will);
		free(will_user);
		session__unref(will_from);
	}
	if (grouped) persist__group_end(b);
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
	buf__free(&c->connack_props);
	c->state = CONN_ACTIVE;
	atomic_fetch_add(&b->stats.clients_connected, 1);
	figures__connected(b);
	atomic_fetch_add(&b->stats.clients_total_ever, 1);
	worker__arm_keepalive(w, c);
	if (b->conf.connection_messages)
		/* Mosquitto's line, with the username when there is one. */
		log__printf(&b->log, LOG_T_NOTICE, "New client connected from %s as %s (p%u, c%d, k%u%s%s%s).", c->addr,
			    c->client_id, c->version == MQTT_V31 ? 1 : c->version == MQTT_V5 ? 5 : 2, c->clean_start ? 1 : 0,
			    c->keepalive, c->username ? ", u'" : "", c->username ? c->username : "", c->username ? "'" : "");
	conn__schedule(c, w);
	return 0;
}

int handle__connect_resume(struct worker *w, struct conn *c)
{
	if (c->state != CONN_OPEN || !c->waiting_takeover) return 0;
	return finish_connect(w, c);
}

/* Refuses a client the security settings keep out: a wrong password (MQTT 5 0x86, 3.x 4) or no
 * username where anonymous clients are not allowed (0x87, 5). Logged: the operator wants to know. */
static int refuse_auth(struct worker *w, struct conn *c, bool bad_password)
{
	struct broker *b = w->broker;
	if (bad_password)
		log__printf(&b->log, LOG_T_NOTICE,
			    "Client %s from %s refused: bad username or password (username '%s'; %u failure%s from this address).",
			    c->client_id, c->addr, c->username, c->auth_failures, c->auth_failures == 1 ? "" : "s");
	else
		log__printf(&b->log, LOG_T_NOTICE, "Client %s from %s refused: not authorised (anonymous).", c->client_id,
			    c->addr);
	return bad_password ? refuse5(c, MQTT_RC_BAD_USERNAME_OR_PASSWORD, MQTT_CONNACK_BAD_CREDENTIALS,
				      "bad username or password")
			    : refuse5(c, MQTT_RC_NOT_AUTHORIZED, MQTT_CONNACK_NOT_AUTHORIZED, "not authorised");
}

/* Decides whether c may connect, as Mosquitto 2 does: a client without a username needs allow_anonymous;
 * one with a username needs the right password when a password_file applies, and is let in when none does.
 * Returns 0 (in), 1 (a password check is running off the loop: reading is paused and
 * handle__connect_authed continues) or a refusal already queued (MIDGE_ERR_CLOSED). */
static int authenticate(struct worker *w, struct conn *c, const struct mqtt_connect *ct)
{
	struct broker *b = w->broker;
	const struct listener_conf *lc = c->listener ? c->listener->conf : NULL;
	if (lc && (lc->use_identity_as_username || lc->use_subject_as_username)) {
		/* The certificate (or PSK identity) is the credential: it replaces the CONNECT's username and
		 * no password is asked, as in Mosquitto. Without one the client is not let in. */
		const char *psk = tls__psk_identity(&c->tp);
		char *id = lc->use_identity_as_username ? (psk ? strdup(psk) : tls__peer_cn(&c->tp))
							: tls__peer_subject(&c->tp);
		if (!id) {
			log__printf(&b->log, LOG_T_NOTICE,
				    "Client %s from %s refused: no client certificate identity for %s.", c->client_id,
				    c->addr, lc->use_identity_as_username ? "use_identity_as_username" : "use_subject_as_username");
			return refuse5(c, MQTT_RC_NOT_AUTHORIZED, MQTT_CONNACK_NOT_AUTHORIZED, "no certificate identity");
		}
		free(c->username);
		c->username = id;
		return 0;
	}
	if (c->internal) {
		/* A bridge's local side: the configuration is its credential; its local_username, if any, is what
		 * the ACL sees (as in Mosquitto). */
		if (ct->has_username && !c->username && !(c->username = strndup((const char *)ct->username.p, ct->username.len)))
			return MIDGE_ERR_NOMEM;
		return 0;
	}
	if (lc && lc->mqttsn) {
		/* MQTT-SN 1.2 carries no credentials: the listener's configured identity stands for each of its
		 * clients, trusted like a certificate's (no password); without one they are anonymous. */
		if (lc->mqttsn_username && !(c->username = strdup(lc->mqttsn_username))) return MIDGE_ERR_NOMEM;
		if (c->username) return 0;
	}
	if (ct->has_username && !c->username) {
		c->username = malloc(ct->username.len + 1);
		if (!c->username) return MIDGE_ERR_NOMEM;
		memcpy(c->username, ct->username.p, ct->username.len);
		c->username[ct->username.len] = 0;
	}
	struct security *sec = security__get(b);
	size_t dom = security__domain(b, c->listener);
	const struct sec_domain *d = dom < sec->ndomains ? &sec->dom[dom] : NULL;
	int r = 0;
	if (!d) {
		r = refuse_auth(w, c, false); /* cannot happen: fail closed all the same */
	} else if (!c->username) {
		if (!d->allow_anonymous) r = refuse_auth(w, c, false);
	} else if (d->has_pw) {
		/* No password is not the empty password: it matches no entry (NULL), as in Mosquitto 2. */
		r = authq__submit(b, c, sec, dom, c->username, ct->has_password ? ct->password.p : NULL,
				  ct->has_password ? ct->password.len : 0);
		if (!r) {
			r = 1;
			c->read_paused = true;
			conn__update_events(c);
		} else if (r == MIDGE_ERR_AGAIN) {
			log__printf(&b->log, LOG_T_NOTICE,
				    "Client %s from %s refused: too many password checks pending from this address.",
				    c->client_id, c->addr);
			r = refuse5(c, MQTT_RC_SERVER_BUSY, MQTT_CONNACK_UNAVAILABLE, "too many login attempts");
		}
	}
	security__unref(sec);
	return r;
}

int handle__connect_authed(struct worker *w, struct conn *c)
{
	int st = atomic_exchange(&c->auth_state, AUTH_NONE);
	if (c->state != CONN_OPEN || (st != AUTH_ALLOWED && st != AUTH_REFUSED)) return 0;
	if (st == AUTH_REFUSED) return refuse_auth(w, c, true);
	return finish_connect(w, c);
}

/* Reads the CONNECT properties into c. Returns 0 or a refusal already queued (MIDGE_ERR_CLOSED). */
static int connect_props(struct broker *b, struct conn *c, const struct mqtt_connect *ct, bool *want_resp)
{
	if (!c->alias && !(c->alias = calloc(1, sizeof(*c->alias)))) return MIDGE_ERR_NOMEM;
	size_t pos = 0;
	struct mqtt_prop p;
	bool auth_data = false, auth_method = false;
	while (props__next(&ct->props, &pos, &p)) {
		switch (p.id) {
		case MQTT_PROP_SESSION_EXPIRY_INTERVAL: c->session_expiry = p.u32; break;
		case MQTT_PROP_RECEIVE_MAXIMUM: c->send_max = (uint16_t)p.u32; break;
		case MQTT_PROP_MAXIMUM_PACKET_SIZE: c->max_out_packet = p.u32; break;
		case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
			/* The broker's own limit bounds the memory of the aliases it keeps per connection. */
			c->alias->out.max = (uint16_t)(p.u32 < b->conf.max_topic_alias_broker ? p.u32
											     : b->conf.max_topic_alias_broker);
			break;
		case MQTT_PROP_AUTHENTICATION_DATA: auth_data = true; break;
		case MQTT_PROP_REQUEST_RESPONSE_INFORMATION: *want_resp = p.u32 == 1; break;
		case MQTT_PROP_REQUEST_PROBLEM_INFORMATION: c->problem_info = p.u32 == 1; break;
		case MQTT_PROP_AUTHENTICATION_METHOD: auth_method = true; break;
		default: break; /* user properties: accepted, not used */
		}
	}
	/* Every property is read first: the answer must respect the client's Maximum Packet Size. */
	if (auth_method) /* no enhanced authentication method is configured (MQTT 5.0 4.12) */
		return refuse_why(c, MQTT_V5, MQTT_RC_BAD_AUTH_METHOD, "authentication method not supported");
	/* Authentication Data without a method is a Protocol Error (3.1.2.11.10). */
	if (auth_data) return refuse_why(c, MQTT_V5, MQTT_RC_PROTOCOL_ERROR, "authentication data without method");
	return 0;
}

/* The will as a message: its properties split into those forwarded with it and those the broker acts on.
 * Returns 0, MIDGE_ERR_NOMEM, or a refusal already queued (MIDGE_ERR_CLOSED). */
static int make_will(struct broker *b, struct conn *c, const struct mqtt_connect *ct)
{
	if (ct->will_qos > b->conf.max_qos)
		return refuse5(c, MQTT_RC_QOS_NOT_SUPPORTED, MQTT_CONNACK_NOT_AUTHORIZED, "will QoS not supported");
	if (ct->will_retain && !b->conf.retain_available)
		return refuse5(c, MQTT_RC_RETAIN_NOT_SUPPORTED, MQTT_CONNACK_NOT_AUTHORIZED, "retain not available");
	struct buf fwd = {0};
	size_t pos = 0, at = 0;
	struct mqtt_prop p;
	bool utf8 = false;
	while (props__next(&ct->will_props, &pos, &p)) {
		if (p.id == MQTT_PROP_WILL_DELAY_INTERVAL) c->will_delay = p.u32;
		else if (p.id == MQTT_PROP_MESSAGE_EXPIRY_INTERVAL) c->will_expiry = p.u32;
		else if (buf__append(&fwd, ct->will_props.p + at, pos - at)) goto nomem;
		if (p.id == MQTT_PROP_PAYLOAD_FORMAT_INDICATOR) utf8 = p.u32 == 1;
		at = pos;
	}
	if (utf8 && !utf8__valid(ct->will_payload.p, ct->will_payload.len)) {
		buf__fini(&fwd);
		return refuse_why(c, MQTT_V5, MQTT_RC_PAYLOAD_FORMAT_INVALID, "will payload is not UTF-8");
	}
	c->will = msg__new_props(ct->will_topic.p, ct->will_topic.len, ct->will_payload.p, ct->will_payload.len,
				 buf__head(&fwd), buf__len(&fwd), 0, ct->will_qos, ct->will_retain);
	buf__fini(&fwd);
	if (!c->will) return MIDGE_ERR_NOMEM;
	c->will->guarded = guard__marks(c->listener);
	c->will_qos = ct->will_qos;
	c->will_retain = ct->will_retain;
	return 0;
nomem:
	buf__fini(&fwd);
	return MIDGE_ERR_NOMEM;
}

/* The CONNACK properties of an accepted MQTT 5 client: what the broker imposes (3.2.2.3). */
static int connack_props(struct broker *b, struct conn *c, bool assigned, bool want_resp, bool server_ka)
{
	const struct config *cf = &b->conf;
	struct buf *p = c->connack_props = calloc(1, sizeof(*p));
	if (!p) return MIDGE_ERR_NOMEM;
	int r = 0;
	c->recv_max = cf->max_inflight_messages && cf->max_inflight_messages < 65535 ? (uint16_t)cf->max_inflight_messages
										      : 65535;
	if (c->recv_max < 65535) r |= props__put_u16(p, MQTT_PROP_RECEIVE_MAXIMUM, c->recv_max);
	if (cf->max_qos < 2) r |= props__put_u8(p, MQTT_PROP_MAXIMUM_QOS, cf->max_qos);
	if (!cf->retain_available) r |= props__put_u8(p, MQTT_PROP_RETAIN_AVAILABLE, 0);
	if (cf->max_packet_size) r |= props__put_u32(p, MQTT_PROP_MAXIMUM_PACKET_SIZE, cf->max_packet_size);
	if (cf->max_topic_alias) r |= props__put_u16(p, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, cf->max_topic_alias);
	if (assigned) {
		struct mqtt_str id = {(const uint8_t *)c->client_id, (uint32_t)strlen(c->client_id)};
		r |= props__put_str(p, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER, &id);
	}
	if (server_ka) r |= props__put_u16(p, MQTT_PROP_SERVER_KEEP_ALIVE, c->keepalive);
	if (want_resp && cf->response_information) {
		struct mqtt_str ri = {(const uint8_t *)cf->response_information,
				      (uint32_t)strlen(cf->response_information)};
		r |= props__put_str(p, MQTT_PROP_RESPONSE_INFORMATION, &ri);
	}
	return r ? MIDGE_ERR_NOMEM : 0;
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
	if (r && ct.version == MQTT_V5) {
		/* An MQTT 5 client is told why before the close (MQTT 5.0 4.13.1). */
		c->version = MQTT_V5;
		return refuse_why(c, MQTT_V5,
				  r == PROTO_PROTOCOL_ERROR ? MQTT_RC_PROTOCOL_ERROR : MQTT_RC_MALFORMED_PACKET,
				  "invalid CONNECT");
	}
	if (r) return dispatch__codec_err(r);
	c->version = ct.version;
	c->bridge = ct.bridge;
	bool v5 = ct.version == MQTT_V5;
	bool want_resp = false;
	/* 3.x: a clean session ends with its connection, any other lives on [MQTT-3.1.2-4..6]. */
	c->session_expiry = ct.clean ? 0 : UINT32_MAX;
	if (v5) {
		c->session_expiry = 0; /* absent means 0 (3.1.2.11.2) */
		if ((r = connect_props(b, c, &ct, &want_resp))) return r;
	}
	const char *ref = c->listener ? c->listener->conf->server_reference : NULL;
	if (ref) {
		if (!v5) return refuse(c, c->version, MQTT_CONNACK_UNAVAILABLE);
		struct buf props = {0};
		struct mqtt_str s = {(const uint8_t *)ref, (uint32_t)strlen(ref)};
		props__put_str(&props, MQTT_PROP_SERVER_REFERENCE, &s);
		queue_connack(c, MQTT_V5, false, MQTT_RC_USE_ANOTHER_SERVER, &props);
		buf__fini(&props);
		return MIDGE_ERR_CLOSED;
	}

	char idbuf[64];
	const char *id = (const char *)ct.client_id.p;
	size_t idlen = ct.client_id.len;
	bool assigned = false;
	if (idlen == 0) {
		/* 3.1 needs an id; 3.1.1 allows none only with a clean session [MQTT-3.1.3-7]; MQTT 5 always,
		 * telling the client the id it got [MQTT-3.2.2-16]. */
		if (ct.version == MQTT_V31 || (!v5 && !ct.clean) ||
		    !config__allow_zero_length_clientid(&b->conf, c->listener ? c->listener->conf : NULL))
			return refuse5(c, MQTT_RC_CLIENT_ID_NOT_VALID, MQTT_CONNACK_ID_REJECTED, "client identifier required");
		make_client_id(idbuf, sizeof(idbuf));
		id = idbuf;
		idlen = strlen(idbuf);
		assigned = v5;
	}
	bool server_ka = false;
	uint16_t max_ka = b->conf.max_keepalive;
	if (max_ka && ct.keepalive > max_ka) {
		/* 3.x has no way to say so but refusing; MQTT 5 tells the client the keepalive to use. */
		if (!v5) return refuse(c, c->version, MQTT_CONNACK_ID_REJECTED);
		server_ka = true;
		ct.keepalive = max_ka;
	} else if (v5 && max_ka && max_ka < 65535 && ct.keepalive == 0) {
		server_ka = true;
		ct.keepalive = max_ka;
	}
	if (memchr(id, 0, idlen)) return MIDGE_ERR_MALFORMED; /* U+0000 is refused by the codec; be sure */

	c->client_id = malloc(idlen + 1);
	if (!c->client_id) return MIDGE_ERR_NOMEM;
	memcpy(c->client_id, id, idlen);
	c->client_id[idlen] = 0;
	c->keepalive = ct.keepalive;
	c->clean_start = ct.clean;
	if (v5) c->alias->in.max = b->conf.max_topic_alias;

	if (ct.will && (r = make_will(b, c, &ct))) return r;
	if (v5 && connack_props(b, c, assigned, want_resp, server_ka)) return MIDGE_ERR_NOMEM;
	if ((r = authenticate(w, c, &ct))) return r == 1 ? 0 : r;
	return finish_connect(w, c);
}
