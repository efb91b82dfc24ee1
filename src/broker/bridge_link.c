/* The local side of a bridge: a connection of the broker to itself, without a socket, whose transport is this
 * file. The broker writes it the messages of the bridge's out topics, which go to the remote client; messages
 * of the in topics come from the remote client and are fed to it as the bridge's PUBLISHes. Acknowledgements
 * are chained both ways, so neither broker lets go of a QoS 1/2 message before the other has it (and, with the
 * store on, has committed it). See bridge_int.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "bridge_topics.h"
#include "broker.h"
#include "common/clock.h"
#include "common/log.h"
#include "conn.h"
#include "midge/midge.h"
#include "proto/props.h"
#include "proto/proto.h"
#include "worker.h"

static void count(atomic_uint_fast64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

static void set_waiting(struct bridge *br)
{
	atomic_store_explicit(&br->stats.waiting, br->out_pending, memory_order_relaxed);
	atomic_store_explicit(&br->stats.backlog, br->nbacklog, memory_order_relaxed);
}

/* ---- packets owed to the broker ---- */

/* Packets for the broker are fed at the end of this loop turn, never from inside the broker's write to this
 * connection. */
static void owe_soon(struct bridge *br) { worker__defer(br->w, &br->owed_task); }

static void owe_ack(struct bridge *br, uint8_t type, uint16_t pid)
{
	uint8_t a[4];
	size_t n = proto__encode_ack(a, type, pid);
	if (buf__append(&br->owed, a, n)) return; /* the broker resends after the local side reconnects */
	owe_soon(br);
}

/* Feeds one packet; false when the connection cannot take it now (the caller keeps it). */
static bool feed(struct bridge *br, const uint8_t *p, size_t n)
{
	if (!br->conn) return false;
	int rc = worker__feed(br->w, br->conn, p, n);
	return rc != MIDGE_ERR_AGAIN && rc != MIDGE_ERR_NOMEM;
}

/* ---- from the remote to the broker ---- */

static uint16_t take_pid(struct bridge *br)
{
	for (;;) {
		br->next_pid = br->next_pid == 0xFFFF ? 1 : (uint16_t)(br->next_pid + 1);
		if (!br->in[br->next_pid].used) return br->next_pid;
	}
}

/* Encodes pm as a PUBLISH under pid (DUP when sent again) into br->scratch. 0 or MIDGE_ERR_NOMEM. */
static int encode_pending(struct bridge *br, const struct bridge_pending *pm, uint16_t pid, bool dup)
{
	struct mqtt_publish p = {
	    .qos = pm->qos,
	    .dup = dup,
	    .retain = pm->retain,
	    .topic = {pm->data, pm->topic_len},
	    .packet_id = pid,
	    .props = {pm->data + pm->topic_len, pm->props_len},
	    .payload = {pm->data + pm->topic_len + pm->props_len, pm->payload_len},
	};
	buf__clear(&br->scratch);
	return proto__encode_publish(&br->scratch, MQTT_V5, &p);
}

/* Publishes a waiting message locally; a QoS 1/2 one is then kept in its packet id's entry. False when it must
 * wait (window full, or the broker's input), pm still the caller's. */
static bool feed_pending(struct bridge *br, struct bridge_pending *pm)
{
	if (pm->qos && br->in_flight >= br->local_window) return false;
	uint16_t pid = pm->qos ? take_pid(br) : 0;
	if (encode_pending(br, pm, pid, false)) return false;
	if (pm->qos) {
		br->in[pid] = (struct bridge_in){.msg = pm, .remote_mid = pm->remote_mid, .qos = pm->qos, .used = true};
		br->in_flight++;
	}
	if (!feed(br, buf__head(&br->scratch), buf__len(&br->scratch))) {
		if (pm->qos) {
			br->in[pid] = (struct bridge_in){0};
			br->in_flight--;
		}
		return false;
	}
	if (!pm->qos) count(&br->stats.received);
	br->last_traffic_ms = clock__ms();
	return true;
}

static void pump(struct bridge *br)
{
	while (!list__empty(&br->backlog) && br->local_up) {
		struct bridge_pending *pm = list_entry(br->backlog.next, struct bridge_pending, node);
		if (!feed_pending(br, pm)) break;
		list__del(&pm->node);
		br->nbacklog--;
		if (!pm->qos) free(pm);
	}
	set_waiting(br);
}

static void on_owed_retry(struct timer *t) { owe_soon(container_of(t, struct bridge, owed_timer)); }

static void on_owed(struct worker_task *t)
{
	struct bridge *br = container_of(t, struct bridge, owed_task);
	if (br->ready_owed && br->local_up) {
		br->ready_owed = false;
		bridge__local_ready(br);
	}
	while (buf__len(&br->owed) && br->conn) {
		struct mqtt_frame f;
		if (proto__frame(buf__head(&br->owed), buf__len(&br->owed), 0, &f) != PROTO_OK) {
			buf__clear(&br->owed);
			break;
		}
		if (!feed(br, buf__head(&br->owed), f.total_len)) {
			/* The broker's input for it is full (the store catching up): a little later. */
			timer__arm(&br->w->loop.timers, &br->owed_timer, clock__ms() + 10, on_owed_retry);
			return;
		}
		if (f.type == MQTT_PUBACK && f.remaining >= 2) br->out_mid[(uint16_t)(f.body[0] << 8 | f.body[1])] = 0;
		buf__consume(&br->owed, f.total_len);
	}
	if (!br->conn) buf__clear(&br->owed);
	pump(br);
}

/* The remote message's MQTT 5 properties, for the local PUBLISH: all but a Topic Alias and Subscription
 * Identifiers, which belong to the remote connection. */
static int copy_props(const struct midge_props *from, struct buf *to)
{
	size_t pos = 0;
	struct midge_prop p;
	while (midge_props_next(from, &pos, &p)) {
		const struct mqtt_prop_info *in = props__info(p.id);
		if (!in || p.id == MQTT_PROP_TOPIC_ALIAS || p.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER) continue;
		struct mqtt_str s = {(const uint8_t *)p.str, (uint32_t)p.len}, s2 = {(const uint8_t *)p.str2, (uint32_t)p.len2};
		int rc = 0;
		switch (in->type) {
		case MQTT_PROP_T_BYTE: rc = props__put_u8(to, p.id, (uint8_t)p.value); break;
		case MQTT_PROP_T_U16: rc = props__put_u16(to, p.id, (uint16_t)p.value); break;
		case MQTT_PROP_T_U32: rc = props__put_u32(to, p.id, p.value); break;
		case MQTT_PROP_T_VARINT: rc = props__put_varint(to, p.id, p.value); break;
		case MQTT_PROP_T_UTF8: rc = props__put_str(to, p.id, &s); break;
		case MQTT_PROP_T_BINARY: rc = props__put_bin(to, p.id, &s); break;
		default: rc = props__put_pair(to, p.id, &s, &s2); break;
		}
		if (rc) return rc;
	}
	return 0;
}

void bridge_link__from_remote(struct bridge *br, const struct midge_message *m)
{
	/* While the local side is down a message waits here too (the remote connection is ended meanwhile, so it
	 * sends again what was not acknowledged; a QoS 2 one it does not deliver twice, so this copy must stay). */
	const struct bridge_topic *line = bridge_topics__in(br->conf, (const uint8_t *)m->topic, m->topic_len, &br->scratch);
	struct buf props = {0};
	if (!line || (m->props && copy_props(m->props, &props)) ||
	    (m->qos == 0 && br->nbacklog >= BRIDGE_BACKLOG_MAX)) {
		count(&br->stats.dropped);
		if (m->qos) midge_client_ack(br->mc, m->mid, m->qos);
		buf__fini(&props);
		return;
	}
	size_t tl = buf__len(&br->scratch), pl = buf__len(&props);
	struct bridge_pending *pm = malloc(sizeof(*pm) + tl + pl + m->payload_len);
	if (!pm) { /* not acknowledged: the remote sends it again after a reconnect */
		buf__fini(&props);
		return;
	}
	*pm = (struct bridge_pending){.remote_mid = m->mid,
				      .qos = m->qos,
				      .retain = m->retain,
				      .topic_len = (uint32_t)tl,
				      .props_len = (uint32_t)pl,
				      .payload_len = (uint32_t)m->payload_len};
	memcpy(pm->data, buf__head(&br->scratch), tl);
	if (pl) memcpy(pm->data + tl, buf__head(&props), pl);
	if (m->payload_len) memcpy(pm->data + tl + pl, m->payload, m->payload_len);
	buf__fini(&props);
	list__add_tail(&br->backlog, &pm->node);
	br->nbacklog++;
	pump(br);
}

/* The broker acknowledged a message the bridge published: the remote gets its acknowledgement now. */
static void local_ack(struct bridge *br, uint8_t type, const struct mqtt_ack *a)
{
	struct bridge_in *e = &br->in[a->packet_id];
	if (!e->used) return;
	bool refused = a->reason >= 0x80;
	free(e->msg); /* the broker has it (or refused it): never sent again */
	e->msg = NULL;
	if (type == MQTT_PUBCOMP || type == MQTT_PUBACK || refused) {
		if (type != MQTT_PUBCOMP) {
			count(refused ? &br->stats.dropped : &br->stats.received);
			if (e->remote_mid && br->mc) midge_client_ack(br->mc, e->remote_mid, e->qos);
		}
		e->used = false;
		br->in_flight--;
		owe_soon(br); /* the window has room: pump */
		return;
	}
	/* PUBREC: the broker has it; the remote may let go, and the local exchange ends with PUBREL/PUBCOMP. */
	count(&br->stats.received);
	if (e->remote_mid && br->mc) midge_client_ack(br->mc, e->remote_mid, 2);
	e->remote_mid = 0;
	owe_ack(br, MQTT_PUBREL, a->packet_id);
}

/* ---- from the broker to the remote ---- */

/* The local PUBLISH's properties for the remote client (MQTT 5 remote only): all but Subscription Identifiers
 * (the bridge's own) and a Topic Alias. NULL when there are none. */
static struct midge_props *remote_props(const struct mqtt_str *span)
{
	if (!span->len) return NULL;
	struct midge_props *out = midge_props_new();
	if (!out) return NULL;
	size_t pos = 0;
	struct mqtt_prop p;
	char *tmp = NULL;
	while (props__next(span, &pos, &p)) {
		if (p.id == MQTT_PROP_TOPIC_ALIAS || p.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER) continue;
		if (p.type == MQTT_PROP_T_BINARY) {
			midge_props_add_binary(out, p.id, p.str.p, p.str.len);
		} else if (p.type == MQTT_PROP_T_UTF8 || p.type == MQTT_PROP_T_PAIR) {
			char *n = realloc(tmp, (size_t)p.str.len + p.str2.len + 2);
			if (!n) break;
			tmp = n;
			memcpy(tmp, p.str.p, p.str.len);
			tmp[p.str.len] = 0;
			memcpy(tmp + p.str.len + 1, p.str2.p, p.str2.len);
			tmp[p.str.len + 1 + p.str2.len] = 0;
			if (p.type == MQTT_PROP_T_UTF8) midge_props_add_string(out, p.id, tmp);
			else midge_props_add_user(out, tmp, tmp + p.str.len + 1);
		} else {
			midge_props_add_int(out, p.id, p.u32);
		}
	}
	free(tmp);
	return out;
}

/* A local message's journey ends without the remote (dropped): the broker's window moves on. */
static void drop_out(struct bridge *br, const struct mqtt_publish *p)
{
	count(&br->stats.dropped);
	if (p->qos) owe_ack(br, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->packet_id);
}

static void out_publish(struct bridge *br, const struct mqtt_frame *f)
{
	struct mqtt_publish p;
	if (proto__decode_publish(f, MQTT_V5, &p) != PROTO_OK) return;
	/* Sent again after the local side came back: the remote client has it already; if the remote is done with
	 * it, the acknowledgement owed then went with the old connection and is owed again now. */
	if (p.qos && br->out_mid[p.packet_id]) {
		uint16_t mid = (uint16_t)(br->out_mid[p.packet_id] - 1);
		if (br->out[mid].local_pid != p.packet_id) owe_ack(br, p.qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p.packet_id);
		return;
	}
	br->last_traffic_ms = clock__ms();
	const struct bridge_topic *line = bridge_topics__out(br->conf, p.topic.p, p.topic.len, &br->scratch);
	bool remote_down = br->state != BRIDGE_CONNECTED;
	if (!line || buf__append(&br->scratch, "", 1) || (p.qos == 0 && remote_down)) {
		drop_out(br, &p);
		return;
	}
	const char *topic = (const char *)buf__head(&br->scratch);
	size_t tlen = buf__len(&br->scratch) - 1;
	/* bridge_max_packet_size bounds the packet the remote would get: fixed header, topic, id, properties. */
	if (br->conf->max_packet_size &&
	    5 + 2 + tlen + 2 + 4 + (size_t)p.props.len + p.payload.len > br->conf->max_packet_size) {
		log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s: message on %s dropped: larger than bridge_max_packet_size.",
			    br->conf->name, topic);
		drop_out(br, &p);
		return;
	}
	struct midge_props *props = br->conf->protocol_version == MQTT_V5 ? remote_props(&p.props) : NULL;
	bool retain = br->conf->outgoing_retain && p.retain;
	uint16_t mid = 0;
	int rc = midge_client_publish(br->mc, topic, p.payload.p, p.payload.len, p.qos, retain, props, &mid);
	midge_props_free(props);
	if (rc) {
		drop_out(br, &p);
		return;
	}
	if (p.qos) {
		br->out[mid] = (struct bridge_out){.local_pid = p.packet_id, .qos = p.qos};
		br->out_mid[p.packet_id] = (uint16_t)(mid + 1);
		br->out_pending++;
		set_waiting(br);
	} else {
		count(&br->stats.sent);
		br->out_qos0++;
	}
}

void bridge_link__remote_done(struct bridge *br, uint16_t mid, int reason)
{
	struct bridge_out *e = &br->out[mid];
	if (!e->local_pid) { /* QoS 0, written (counted when handed over) */
		if (br->out_qos0 && --br->out_qos0 == BRIDGE_QOS0_SLACK / 2 && br->conn) conn__schedule(br->conn, br->w);
		return;
	}
	count(reason >= 0x80 ? &br->stats.dropped : &br->stats.sent);
	if (reason >= 0x80)
		log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s: the remote broker refused a message (reason 0x%02x).",
			    br->conf->name, (unsigned)reason);
	/* The id stays known until the broker is done with it (a QoS 2 one until its PUBREL), so that a resend from
	 * a local side that came back in between is answered, not sent twice. A QoS 1 one lets go when its PUBACK is
	 * fed (on_owed). */
	owe_ack(br, e->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, e->local_pid);
	*e = (struct bridge_out){0};
	br->out_pending--;
	set_waiting(br);
}

void bridge_link__remote_gone(struct bridge *br)
{
	/* QoS 0 messages not yet written went with the connection (libmidge says nothing of them). */
	if (br->out_qos0 >= BRIDGE_QOS0_SLACK / 2 && br->conn) conn__schedule(br->conn, br->w);
	br->out_qos0 = 0;
	/* An acknowledgement given from now on would go to the next connection, where the remote may have given the
	 * id to another message (a session it did not keep): none is given; the remote sends again what it kept. */
	for (size_t i = 0; br->in && i < 65536; i++)
		if (br->in[i].qos == 1) br->in[i].remote_mid = 0;
	struct list *pos, *n;
	list_for_each_safe(pos, n, &br->backlog)
	{
		struct bridge_pending *pm = list_entry(pos, struct bridge_pending, node);
		if (pm->qos == 1) pm->remote_mid = 0;
	}
}

void bridge_link__remote_fresh(struct bridge *br)
{
	for (size_t i = 0; br->in && i < 65536; i++) br->in[i].remote_mid = 0;
	struct list *pos, *n;
	list_for_each_safe(pos, n, &br->backlog) list_entry(pos, struct bridge_pending, node)->remote_mid = 0;
}

/* Frees every message the link holds from the remote (bridge_link__fini). */
static void drop_all(struct bridge *br)
{
	for (size_t i = 0; br->in && i < 65536; i++) free(br->in[i].msg);
	while (!list__empty(&br->backlog)) {
		struct bridge_pending *pm = list_entry(br->backlog.next, struct bridge_pending, node);
		list__del(&pm->node);
		free(pm);
	}
	br->nbacklog = 0;
}

/* Reads the broker's CONNACK: its Receive Maximum bounds what the bridge publishes unacknowledged. */
static void on_connack(struct bridge *br, const struct mqtt_frame *f)
{
	struct mqtt_connack a;
	if (proto__decode_connack(f, MQTT_V5, &a) != PROTO_OK) return;
	if (a.rc) {
		log__printf(&br->b->log, LOG_T_ERR, "Bridge %s: the broker refused the bridge's local connection (reason 0x%02x).",
			    br->conf->name, (unsigned)a.rc);
		return;
	}
	if (!a.session_present) {
		/* A new local session: the packet ids of messages the remote client still holds belong to the old one,
		 * whose acknowledgements no longer matter (the messages themselves still go). */
		for (size_t i = 0; br->out && i < 65536; i++) br->out[i].local_pid = 0;
		if (br->out_mid) memset(br->out_mid, 0, 65536 * sizeof(*br->out_mid));
		br->out_pending = 0;
	}
	br->local_window = 65535;
	size_t pos = 0;
	struct mqtt_prop p;
	while (props__next(&a.props, &pos, &p))
		if (p.id == MQTT_PROP_RECEIVE_MAXIMUM) br->local_window = (uint16_t)p.u32;
	br->local_up = true;
	br->ready_owed = true;
	bool any_out = false;
	for (size_t i = 0; i < br->conf->ntopics; i++) any_out = any_out || br->conf->topics[i].direction != BRIDGE_IN;
	if (!any_out) atomic_store(&br->subscribed, true);
	owe_soon(br);
}

static void on_suback(struct bridge *br, const struct mqtt_frame *f)
{
	struct mqtt_suback a;
	if (proto__decode_suback(f, MQTT_V5, &a) != PROTO_OK) return;
	atomic_store(&br->subscribed, true);
	size_t k = 0;
	for (size_t i = 0; i < br->conf->ntopics && k < a.codes.len; i++) {
		const struct bridge_topic *t = &br->conf->topics[i];
		if (t->direction == BRIDGE_IN) continue;
		if (a.codes.p[k] >= 0x80)
			log__printf(&br->b->log, LOG_T_WARNING, "Bridge %s: local subscription to %s refused (reason 0x%02x).",
				    br->conf->name, t->local_topic, (unsigned)a.codes.p[k]);
		k++;
	}
}

static void translate(struct bridge *br, const struct mqtt_frame *f)
{
	struct mqtt_ack a;
	switch (f->type) {
	case MQTT_CONNACK: on_connack(br, f); break;
	case MQTT_PUBLISH: out_publish(br, f); break;
	case MQTT_PUBREL:
		if (proto__decode_ack(f, MQTT_V5, &a) != PROTO_OK) break;
		br->out_mid[a.packet_id] = 0;
		owe_ack(br, MQTT_PUBCOMP, a.packet_id);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		if (proto__decode_ack(f, MQTT_V5, &a) == PROTO_OK) local_ack(br, f->type, &a);
		break;
	case MQTT_SUBACK: on_suback(br, f); break;
	case MQTT_DISCONNECT: {
		struct mqtt_disconnect d;
		if (proto__decode_disconnect(f, MQTT_V5, &d) == PROTO_OK)
			log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s: the broker closed the local side (reason 0x%02x).",
				    br->conf->name, (unsigned)d.reason);
		break;
	}
	default: break; /* PINGRESP, UNSUBACK */
	}
}

/* ---- the transport ---- */

static ssize_t link_read(struct transport *t, void *buf, size_t len)
{
	(void)t, (void)buf, (void)len;
	errno = EAGAIN; /* input is fed (worker__feed) */
	return -1;
}

static ssize_t link_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct bridge *br = t->impl;
	if (!br) {
		errno = EPIPE;
		return -1;
	}
	/* The remote client holds as many QoS 0 messages as it may: the rest waits in the broker (see
	 * BRIDGE_QOS0_SLACK), asked for again once half are written. */
	if (br->out_qos0 >= BRIDGE_QOS0_SLACK) {
		errno = EAGAIN;
		return -1;
	}
	size_t taken = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (buf__append(&br->pend, iov[i].iov_base, iov[i].iov_len)) break;
		taken += iov[i].iov_len;
	}
	if (!taken && iovcnt) {
		errno = ENOMEM;
		return -1;
	}
	while (buf__len(&br->pend)) {
		struct mqtt_frame f;
		int r = proto__frame(buf__head(&br->pend), buf__len(&br->pend), 0, &f);
		if (r == PROTO_NEED_MORE) break;
		if (r != PROTO_OK) { /* cannot happen: the broker writes whole, valid packets */
			buf__clear(&br->pend);
			break;
		}
		translate(br, &f);
		buf__consume(&br->pend, f.total_len);
	}
	if (!buf__len(&br->pend)) buf__fini(&br->pend);
	return (ssize_t)taken;
}

static void link_close(struct transport *t)
{
	struct bridge *br = t->impl;
	t->impl = NULL;
	if (!br) return;
	br->conn = NULL;
	br->local_up = false;
	buf__fini(&br->pend);
	buf__clear(&br->owed);
	bridge__local_lost(br);
}

static const struct transport_ops link_ops = {
    .name = "bridge",
    .read = link_read,
    .writev = link_writev,
    .close = link_close,
};

/* ---- opening ---- */

static int feed_connect(struct bridge *br)
{
	const struct bridge_conf *bc = br->conf;
	bool clean = bc->local_cleansession < 0 ? bc->cleansession : bc->local_cleansession == 1;
	struct buf props = {0}, pkt = {0};
	int rc = props__put_u16(&props, MQTT_PROP_RECEIVE_MAXIMUM, BRIDGE_LOCAL_WINDOW);
	/* A persistent local session outlives restarts: what waits for the remote is in it. */
	if (!rc && !clean) rc = props__put_u32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0xFFFFFFFFu);
	const char *user = bc->local_username;
	struct mqtt_connect ct = {
	    .version = MQTT_V5,
	    .clean = clean,
	    .keepalive = 0,
	    .props = {buf__head(&props), (uint32_t)buf__len(&props)},
	    .client_id = {(const uint8_t *)br->local_id, (uint32_t)strlen(br->local_id)},
	    .has_username = user != NULL,
	    .username = {(const uint8_t *)user, user ? (uint32_t)strlen(user) : 0},
	};
	if (!rc) rc = proto__encode_connect(&pkt, &ct);
	if (!rc && !feed(br, buf__head(&pkt), buf__len(&pkt))) rc = MIDGE_ERR_CLOSED;
	buf__fini(&props);
	buf__fini(&pkt);
	return rc;
}

/* One SUBSCRIBE of every out/both line's local filter, each with No Local (what the bridge itself publishes
 * locally came from the remote) and Retain As Published (the remote keeps retained messages retained). */
static int feed_subscribe(struct bridge *br)
{
	const struct bridge_conf *bc = br->conf;
	struct mqtt_str *filters = calloc(bc->ntopics, sizeof(*filters));
	uint8_t *opts = calloc(bc->ntopics, 1);
	size_t n = 0;
	int rc = filters && opts ? 0 : MIDGE_ERR_NOMEM;
	for (size_t i = 0; !rc && i < bc->ntopics; i++) {
		const struct bridge_topic *t = &bc->topics[i];
		if (t->direction == BRIDGE_IN) continue;
		filters[n] = (struct mqtt_str){(const uint8_t *)t->local_topic, (uint32_t)strlen(t->local_topic)};
		opts[n++] = (uint8_t)(t->qos | MQTT_SUBOPT_NO_LOCAL | MQTT_SUBOPT_RAP);
	}
	struct buf pkt = {0};
	if (!rc && n) {
		rc = proto__encode_subscribe(&pkt, MQTT_V5, take_pid(br), filters, opts, n, NULL);
		if (!rc && !feed(br, buf__head(&pkt), buf__len(&pkt))) rc = MIDGE_ERR_CLOSED;
	}
	buf__fini(&pkt);
	free(filters);
	free(opts);
	return rc;
}

int bridge_link__open(struct bridge *br)
{
	if (!br->out) br->out = calloc(65536, sizeof(*br->out));
	if (!br->out_mid) br->out_mid = calloc(65536, sizeof(*br->out_mid));
	if (!br->in) br->in = calloc(65536, sizeof(*br->in));
	if (!br->out || !br->out_mid || !br->in) return MIDGE_ERR_NOMEM;
	/* Acknowledgements owed to the old connection are owed again when the broker resends (out_publish). */
	buf__clear(&br->owed);
	/* The bridge's own QoS 2 messages the broker had not completed: the broker keeps their ids (it delivered
	 * them at PUBLISH, MQTT 5 4.3.3 method B) until a PUBREL, and would take a new message under one of them
	 * for a resend. Each gets its PUBREL now (answered with PUBCOMP, known or not) before its id is used again.
	 * QoS 1 ids are the broker's to forget. */
	br->in_flight = 0;
	for (uint32_t pid = 1; pid < 65536; pid++) {
		struct bridge_in *e = &br->in[pid];
		if (!e->used) continue;
		/* As any client resuming a session: unacknowledged PUBLISHes again with DUP (the broker knows a QoS 2 one
		 * it has), PUBREL for QoS 2 past PUBREC. */
		int rc;
		if (e->msg) {
			rc = encode_pending(br, e->msg, (uint16_t)pid, true);
			if (!rc) rc = buf__append(&br->owed, buf__head(&br->scratch), buf__len(&br->scratch));
		} else {
			uint8_t a[4];
			rc = buf__append(&br->owed, a, proto__encode_ack(a, MQTT_PUBREL, (uint16_t)pid));
		}
		if (!rc) {
			br->in_flight++;
			continue;
		}
		free(e->msg); /* out of memory: the remote sends it again after the next reconnect */
		*e = (struct bridge_in){0};
	}
	char addr[48];
	snprintf(addr, sizeof(addr), "bridge %s", br->conf->name);
	struct conn *c = conn__new(NULL, -1, addr);
	if (!c) return MIDGE_ERR_NOMEM;
	c->tp.ops = &link_ops;
	c->tp.impl = br;
	c->internal = true;
	br->conn = c;
	br->local_up = false;
	br->owed_task.run = on_owed;
	worker__add_local(br->w, c);
	int rc = feed_connect(br);
	if (!rc && br->conn) rc = feed_subscribe(br);
	if (buf__len(&br->owed)) owe_soon(br);
	return br->conn ? rc : MIDGE_ERR_CLOSED;
}

void bridge_link__fini(struct bridge *br)
{
	drop_all(br);
	timer__cancel(&br->w->loop.timers, &br->owed_timer);
	worker__undefer(br->w, &br->owed_task);
	buf__fini(&br->pend);
	buf__fini(&br->owed);
	buf__fini(&br->scratch);
	free(br->out);
	free(br->out_mid);
	free(br->in);
	br->out = NULL;
	br->out_mid = NULL;
	br->in = NULL;
}
