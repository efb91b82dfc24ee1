/* Packets from the server: one handler per packet family, dispatched by type; see handle.h. */
#include "handle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "common/clock.h"
#include "conn.h"
#include "inack.h"
#include "proto/props.h"
#include "session.h"

static int proto_err(int prc)
{
	return prc == PROTO_MALFORMED ? MIDGE_ERR_MALFORMED : MIDGE_ERR_PROTOCOL;
}

/* Writes an acknowledgement of type for id; with an MQTT 5 reason when not 0. */
static int send_ack(struct midge_client *c, uint8_t type, uint16_t id, uint8_t reason)
{
	if (reason && c->o.version == MQTT_V5)
		return proto__encode_ack_buf(&c->out, type, MQTT_V5,
		                             &(struct mqtt_ack){.packet_id = id, .reason = reason});
	uint8_t b[4];
	return buf__append(&c->out, b, proto__encode_ack(b, type, id));
}

/* Takes in the server's CONNACK properties; the defaults were set when the TCP connection came up. */
static int apply_connack_props(struct midge_client *c, struct mqtt_str props)
{
	size_t pos = 0;
	struct mqtt_prop p;
	while (props__next(&props, &pos, &p)) {
		switch (p.id) {
		case MQTT_PROP_RECEIVE_MAXIMUM:
			c->server_receive_max = (uint16_t)p.u32;
			break;
		case MQTT_PROP_MAXIMUM_PACKET_SIZE:
			c->server_max_packet = p.u32;
			break;
		case MQTT_PROP_MAXIMUM_QOS:
			c->server_max_qos = (uint8_t)p.u32;
			break;
		case MQTT_PROP_RETAIN_AVAILABLE:
			c->server_retain = p.u32 != 0;
			break;
		case MQTT_PROP_SERVER_KEEP_ALIVE:
			c->keepalive = (uint16_t)p.u32;
			break;
		case MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER: {
			/* Kept for the reconnects, which must name the session to resume it. */
			char *id = strndup((const char *)p.str.p, p.str.len);
			if (!id) return MIDGE_ERR_NOMEM;
			free(c->client_id);
			c->client_id = id;
			break;
		}
		default:
			break; /* Topic Alias Maximum: this client never sends aliases */
		}
	}
	return 0;
}

static int on_connack(struct midge_client *c, const struct mqtt_frame *f)
{
	if (c->state != CS_CONNACK) return MIDGE_ERR_PROTOCOL;
	/* A server that does not speak MQTT 5 answers a v5 CONNECT with a 3.x CONNACK (code 1, no properties). */
	uint8_t version = c->o.version == MQTT_V5 && f->remaining == 2 ? MQTT_V311 : (uint8_t)c->o.version;
	struct mqtt_connack a;
	int prc = proto__decode_connack(f, version, &a);
	if (prc) return proto_err(prc);
	bool v5 = version == MQTT_V5;
	if (a.rc != 0) {
		notes__add(c, &(struct note){.kind = NOTE_CONNECT, .rc = a.rc, .has_props = v5, .props = a.props});
		snprintf(c->errtext, sizeof c->errtext, "CONNACK refused the connection with code %u (0x%02x)", a.rc,
		         a.rc);
		conn__end(c, a.rc, false, (struct mqtt_str){0});
		return 0;
	}
	int rc = v5 ? apply_connack_props(c, a.props) : 0;
	if (rc) return rc;
	c->state = CS_CONNECTED;
	c->last_outcome = 0;
	c->outcome_seq++;
	c->failures = 0;
	if (c->o.persistent) c->clean_next = false;
	notes__log(c, MIDGE_LOG_INFO, "connected to %s port %u (session present: %d)", c->url.host, c->url.port,
	           a.session_present);
	notes__add(c,
	           &(struct note){
	               .kind = NOTE_CONNECT, .session_present = a.session_present, .has_props = v5, .props = a.props});
	session__resume(c, a.session_present);
	pthread_cond_broadcast(&c->cond);
	return 0;
}

/* The topic of an MQTT 5 PUBLISH after its Topic Alias, if any (3.3.2.3.4). PROTOCOL for an alias this client
 * did not allow or does not know. */
static int resolve_alias(struct midge_client *c, struct mqtt_publish *p)
{
	size_t pos = 0;
	struct mqtt_prop pr;
	uint32_t alias = 0;
	while (props__next(&p->props, &pos, &pr))
		if (pr.id == MQTT_PROP_TOPIC_ALIAS) alias = pr.u32;
	if (!alias) return p->topic.len ? 0 : MIDGE_ERR_PROTOCOL;
	if (alias > c->o.topic_alias_max_in) return MIDGE_ERR_PROTOCOL;
	if (!c->aliases) {
		c->aliases = calloc((size_t)c->o.topic_alias_max_in + 1, sizeof(struct buf));
		if (!c->aliases) return MIDGE_ERR_NOMEM;
	}
	struct buf *slot = &c->aliases[alias];
	if (p->topic.len) {
		buf__clear(slot);
		return buf__append(slot, p->topic.p, p->topic.len);
	}
	if (!buf__len(slot)) return MIDGE_ERR_PROTOCOL;
	p->topic = (struct mqtt_str){buf__head(slot), (uint32_t)buf__len(slot)};
	return 0;
}

/* The topic as a NUL-terminated string in c->topic_buf (the packet has no room for the NUL). */
static const char *topic_cstr(struct midge_client *c, struct mqtt_str t)
{
	if (c->topic_cap < (size_t)t.len + 1) {
		char *b = realloc(c->topic_buf, (size_t)t.len + 1);
		if (!b) return NULL;
		c->topic_buf = b;
		c->topic_cap = (size_t)t.len + 1;
	}
	memcpy(c->topic_buf, t.p, t.len);
	c->topic_buf[t.len] = 0;
	return c->topic_buf;
}

static int on_publish(struct midge_client *c, const struct mqtt_frame *f)
{
	struct mqtt_publish p;
	int prc = proto__decode_publish(f, (uint8_t)c->o.version, &p);
	if (prc) return proto_err(prc);
	bool v5 = c->o.version == MQTT_V5;
	int rc = v5 ? resolve_alias(c, &p) : 0;
	if (rc) return rc;
	const char *topic = topic_cstr(c, p.topic);
	if (!topic) return MIDGE_ERR_NOMEM;
	bool deliver = true;
	/* An acknowledgement written now goes out after the callback: only the loop writes the socket. */
	if (p.qos) rc = inack__publish(c, p.qos, p.packet_id, &deliver);
	if (rc) return rc;
	if (!deliver) return 0;
	struct note n = {.kind = NOTE_MESSAGE, .has_props = v5, .props = p.props};
	n.msg = (struct midge_message){.topic = topic,
	                               .topic_len = p.topic.len,
	                               .payload = p.payload.p,
	                               .payload_len = p.payload.len,
	                               .qos = p.qos,
	                               .retain = p.retain,
	                               .dup = p.dup,
	                               .mid = p.packet_id};
	notes__add(c, &n);
	return 0;
}

/* Completes item it with the acknowledgement a: on_publish gets its reason and properties. */
static void complete(struct midge_client *c, struct item *it, const struct mqtt_ack *a)
{
	notes__add(c, &(struct note){.kind = NOTE_PUBLISH,
	                             .mid = it->mid,
	                             .rc = a->reason,
	                             .has_props = c->o.version == MQTT_V5,
	                             .props = a->props});
	session__done(c, it);
	session__flush_queue(c);
}

static int on_ack(struct midge_client *c, const struct mqtt_frame *f)
{
	struct mqtt_ack a;
	int prc = proto__decode_ack(f, (uint8_t)c->o.version, &a);
	if (prc) return proto_err(prc);
	struct item *it;
	switch (f->type) {
	case MQTT_PUBACK:
		it = session__find(c, MQTT_PUBLISH, a.packet_id);
		if (it && it->qos == 1)
			complete(c, it, &a);
		else
			notes__log(c, MIDGE_LOG_DEBUG, "PUBACK for unknown packet id %u ignored", a.packet_id);
		return 0;
	case MQTT_PUBREC:
		it = session__find(c, MQTT_PUBLISH, a.packet_id);
		if (!it || it->qos != 2) /* 4.3.3: answer it anyway so the server can let go of the id */
			return send_ack(c, MQTT_PUBREL, a.packet_id, MQTT_RC_PACKET_ID_NOT_FOUND);
		if (a.reason >= 0x80) { /* refused: the flow ends here, without PUBREL */
			complete(c, it, &a);
			return 0;
		}
		it->released = true;
		return send_ack(c, MQTT_PUBREL, a.packet_id, 0);
	case MQTT_PUBCOMP:
		it = session__find(c, MQTT_PUBLISH, a.packet_id);
		if (it && it->released)
			complete(c, it, &a);
		else
			notes__log(c, MIDGE_LOG_DEBUG, "PUBCOMP for unknown packet id %u ignored", a.packet_id);
		return 0;
	default: /* PUBREL */ {
		bool had = inack__release(c, a.packet_id);
		return send_ack(c, MQTT_PUBCOMP, a.packet_id, had ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND);
	}
	}
}

static int on_suback(struct midge_client *c, const struct mqtt_frame *f)
{
	struct mqtt_suback a;
	bool sub = f->type == MQTT_SUBACK;
	int prc = sub ? proto__decode_suback(f, (uint8_t)c->o.version, &a)
	              : proto__decode_unsuback(f, (uint8_t)c->o.version, &a);
	if (prc) return proto_err(prc);
	struct item *it = session__find(c, sub ? MQTT_SUBSCRIBE : MQTT_UNSUBSCRIBE, a.packet_id);
	if (!it) {
		notes__log(c, MIDGE_LOG_DEBUG, "%s for unknown packet id %u ignored", proto__type_name(f->type),
		           a.packet_id);
		return 0;
	}
	notes__add(c, &(struct note){.kind = sub ? NOTE_SUBSCRIBE : NOTE_UNSUBSCRIBE,
	                             .mid = it->mid,
	                             .codes = a.codes,
	                             .has_props = c->o.version == MQTT_V5,
	                             .props = a.props});
	session__done(c, it);
	session__flush_queue(c);
	return 0;
}

static int on_disconnect(struct midge_client *c, const struct mqtt_frame *f)
{
	/* Only MQTT 5 servers may send DISCONNECT. */
	if (c->o.version != MQTT_V5) return MIDGE_ERR_PROTOCOL;
	struct mqtt_disconnect d;
	int prc = proto__decode_disconnect(f, MQTT_V5, &d);
	if (prc) return proto_err(prc);
	snprintf(c->errtext, sizeof c->errtext, "the server sent DISCONNECT with reason 0x%02x", d.reason);
	conn__end(c, d.reason, true, d.props);
	return 0;
}

int handle__packet(struct midge_client *c, const struct mqtt_frame *f)
{
	if (f->type == MQTT_CONNACK) return on_connack(c, f);
	if (f->type == MQTT_DISCONNECT) return on_disconnect(c, f);
	/* Everything else needs the session the CONNACK opens. */
	if (c->state != CS_CONNECTED) return MIDGE_ERR_PROTOCOL;
	switch (f->type) {
	case MQTT_PUBLISH:
		return on_publish(c, f);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return on_ack(c, f);
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return on_suback(c, f);
	case MQTT_PINGRESP:
		if (proto__decode_empty(f)) return MIDGE_ERR_MALFORMED;
		c->ping_out = false;
		return 0;
	default: /* CONNECT, SUBSCRIBE, PINGREQ, AUTH (no authentication method was asked for): not for a client */
		return MIDGE_ERR_PROTOCOL;
	}
}
