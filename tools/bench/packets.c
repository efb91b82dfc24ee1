/* packets: what a load-generator client sends (CONNECT, SUBSCRIBE, PUBLISH from a patched template, acks)
 * and what it does with each packet from the server: counting, latency, stream tracking, the QoS flows. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "common/clock.h"
#include "payload.h"
#include "proto/props.h"
#include "proto/proto.h"
#include "run.h"
#include "sysmon.h"
#include "worker.h"

void bclient__send_connect(struct bclient *c)
{
	const struct bench_opts *o = c->w->b->o;
	char id[96];
	const char *kind = c->role == ROLE_PUB ? "p" : c->role == ROLE_SUB ? "s" : "c";
	/* The $SYS watcher is one of a kind: "w" without an index, an id no other client has. */
	int n = c->role == ROLE_SYS ? snprintf(id, sizeof id, "%sw", o->id_prefix)
				    : snprintf(id, sizeof id, "%s%s%u", o->id_prefix, kind, c->idx);
	/* The $SYS watcher keeps nothing between runs: a session left behind would only collect its topics. */
	struct mqtt_connect cn = {.version = o->version,
				  .clean = o->clean || c->role == ROLE_SYS,
				  .keepalive = o->keepalive,
				  .client_id = {(const uint8_t *)id, (uint32_t)n}};
	if (proto__encode_connect(&c->out, &cn)) {
		bclient__fail(c, "cannot encode CONNECT");
		return;
	}
	bclient__mark(c);
}

static void send_subscribe(struct bclient *c)
{
	const struct bench_opts *o = c->w->b->o;
	struct mqtt_str f[2] = {{(const uint8_t *)c->topic, (uint32_t)strlen(c->topic)}};
	uint8_t opt[2] = {o->qos, 0};
	size_t n = 1;
	if (c->role == ROLE_SYS) {
		/* QoS 0: $SYS is published at QoS 0, and nothing is to be queued for the watcher. */
		f[0] = (struct mqtt_str){(const uint8_t *)SYSMON_DROPPED, (uint32_t)strlen(SYSMON_DROPPED)};
		f[1] = (struct mqtt_str){(const uint8_t *)SYSMON_TICK, (uint32_t)strlen(SYSMON_TICK)};
		opt[0] = 0;
		n = 2;
	}
	if (proto__encode_subscribe(&c->out, o->version, 1, f, opt, n, NULL)) {
		bclient__fail(c, "cannot encode SUBSCRIBE");
		return;
	}
	c->state = BC_SUBACK;
	bclient__mark(c);
}

static void ready(struct bclient *c)
{
	c->state = BC_READY;
	bstat_add(&c->w->st.ready, 1);
	bstat_set(&c->w->st.last_connect_ns, bench__now_ns());
}

static int send_ack(struct bclient *c, uint8_t type, uint16_t id)
{
	uint8_t a[4];
	size_t n = proto__encode_ack(a, type, id);
	if (buf__append(&c->out, a, n)) {
		bclient__fail(c, "out of memory");
		return -1;
	}
	bclient__mark(c);
	return 0;
}

void bclient__ping(struct bclient *c)
{
	uint8_t p[2];
	proto__encode_empty(p, MQTT_PINGREQ);
	if (!buf__append(&c->out, p, 2)) bclient__mark(c);
}

uint32_t bclient__publish(struct bclient *c, uint32_t n, uint64_t now_ns, bool measured)
{
	size_t len = buf__len(&c->tmpl);
	if (!n || buf__reserve(&c->out, (size_t)n * len)) return 0;
	const uint8_t *tmpl = buf__head(&c->tmpl);
	uint8_t qos = c->w->b->o->qos;
	struct payload_hdr h = {.flags = measured ? 0 : PAYLOAD_WARMUP, .publisher = c->idx, .sent_ns = now_ns};
	uint32_t done = 0;
	for (; done < n; done++) {
		uint8_t *p = buf__tail(&c->out);
		memcpy(p, tmpl, len);
		if (qos) {
			/* The next free packet id: the window is at most 65,535, so one is always free. */
			uint16_t id = c->next_id;
			while (c->ids[id / 64] & ((uint64_t)1 << (id % 64))) id = (uint16_t)(id == 65535 ? 1 : id + 1);
			c->ids[id / 64] |= (uint64_t)1 << (id % 64);
			uint64_t *m = &c->ids[1024 + id / 64];
			if (measured) *m |= (uint64_t)1 << (id % 64);
			else *m &= ~((uint64_t)1 << (id % 64));
			c->next_id = (uint16_t)(id == 65535 ? 1 : id + 1);
			p[c->pid_off] = (uint8_t)(id >> 8);
			p[c->pid_off + 1] = (uint8_t)id;
			c->inflight++;
		}
		h.seq = c->seq++;
		payload__write(p + c->pay_off, &h);
		buf__produce(&c->out, len);
	}
	struct bstats *st = &c->w->st;
	if (measured) {
		if (!c->measured) c->first_measured = h.seq + 1 - done;
		c->measured += done;
		bstat_add(&st->sent, done);
		bstat_set(&st->last_send_ns, now_ns);
	}
	bstat_add(&st->all_sent, done);
	if (qos) bstat_add(&st->inflight, done);
	bclient__mark(c);
	return done;
}

/* A QoS 1/2 flow of publisher c ended (PUBACK, PUBCOMP). */
static void complete(struct bclient *c, uint16_t id)
{
	uint64_t bit = (uint64_t)1 << (id % 64);
	if (!c->ids || !(c->ids[id / 64] & bit)) {
		bstat_add(&c->w->st.errors, 1); /* an ack for nothing we sent */
		return;
	}
	c->ids[id / 64] &= ~bit;
	c->inflight--;
	bstat_add(&c->w->st.inflight, (uint64_t)-1);
	if (c->ids[1024 + id / 64] & bit) bstat_add(&c->w->st.acked, 1);
}

static int on_publish(struct bclient *c, const struct mqtt_frame *f, uint64_t now_ns)
{
	const struct bench_opts *o = c->w->b->o;
	struct mqtt_publish p;
	if (proto__decode_publish(f, o->version, &p)) {
		bclient__fail(c, "malformed PUBLISH from the server");
		return -1;
	}
	struct bstats *st = &c->w->st;
	if (c->role == ROLE_SYS) {
		sysmon__publish(c->w->sysmon, &p, now_ns);
		return 0; /* QoS 0, as subscribed */
	}
	bstat_add(&st->all_received, 1);
	struct payload_hdr h;
	if (!payload__read(p.payload.p, p.payload.len, &h)) {
		bstat_add(&st->foreign, 1);
	} else if (!(h.flags & PAYLOAD_WARMUP)) {
		bstat_add(&st->received, 1);
		if (!bstat_get(&st->first_recv_ns)) bstat_set(&st->first_recv_ns, now_ns);
		bstat_set(&st->last_recv_ns, now_ns);
		hist__add(&c->w->hist, now_ns > h.sent_ns ? now_ns - h.sent_ns : 0);
		struct track *t = streams__get(&c->streams, h.publisher);
		int r = t ? track__see(t, h.seq) : -1;
		if (r < 0) bstat_add(&st->errors, 1);
		else if (r == 1) bstat_add(&st->unique, 1);
	}
	if (p.qos == 1) return send_ack(c, MQTT_PUBACK, p.packet_id);
	if (p.qos == 2) return send_ack(c, MQTT_PUBREC, p.packet_id);
	return 0;
}

int bclient__packet(struct bclient *c, const struct mqtt_frame *f, uint64_t now_ns)
{
	const struct bench_opts *o = c->w->b->o;
	struct mqtt_ack a;
	switch (f->type) {
	case MQTT_PUBLISH:
		if (c->state != BC_READY) break;
		return on_publish(c, f, now_ns);
	case MQTT_PUBACK:
	case MQTT_PUBCOMP:
		if (proto__decode_ack(f, o->version, &a)) break;
		if (a.reason >= 0x80) bstat_add(&c->w->st.errors, 1);
		complete(c, a.packet_id);
		return 0;
	case MQTT_PUBREC:
		if (proto__decode_ack(f, o->version, &a)) break;
		if (a.reason >= 0x80) {
			/* A refused QoS 2 message ends here (MQTT 5 4.3.3). */
			bstat_add(&c->w->st.errors, 1);
			complete(c, a.packet_id);
			return 0;
		}
		return send_ack(c, MQTT_PUBREL, a.packet_id);
	case MQTT_PUBREL:
		if (proto__decode_ack(f, o->version, &a)) break;
		return send_ack(c, MQTT_PUBCOMP, a.packet_id);
	case MQTT_CONNACK: {
		struct mqtt_connack ca;
		if (c->state != BC_CONNACK || proto__decode_connack(f, o->version, &ca)) break;
		if (ca.rc) {
			bclient__fail(c, "connection refused by the server (code %u)", ca.rc);
			return -1;
		}
		bstat_add(&c->w->st.connected, 1);
		/* An MQTT 5 server closes a client that has more QoS 1/2 messages in flight than it allows. */
		c->window = o->window;
		size_t pos = 0;
		struct mqtt_prop pr;
		while (props__next(&ca.props, &pos, &pr))
			if (pr.id == MQTT_PROP_RECEIVE_MAXIMUM && pr.u32 < c->window) c->window = pr.u32;
		if (c->role == ROLE_SUB || c->role == ROLE_SYS) send_subscribe(c);
		else ready(c);
		return 0;
	}
	case MQTT_SUBACK: {
		struct mqtt_suback sa;
		if (c->state != BC_SUBACK || proto__decode_suback(f, o->version, &sa)) break;
		/* The watcher needs the drop counter; without the uptime it still has what the counter itself says. */
		if (c->role == ROLE_SYS && (sa.codes.len != 2 || sa.codes.p[0] >= 0x80)) {
			bclient__fail(c, "subscription to '%s' refused", SYSMON_DROPPED);
			return -1;
		}
		if (c->role != ROLE_SYS && (sa.codes.len != 1 || sa.codes.p[0] >= 0x80)) {
			bclient__fail(c, "subscription to '%s' refused", c->topic);
			return -1;
		}
		ready(c);
		return 0;
	}
	case MQTT_PINGRESP: return 0;
	case MQTT_DISCONNECT: bclient__fail(c, "disconnected by the server"); return -1;
	default: break;
	}
	bclient__fail(c, "unexpected or malformed %s from the server", proto__type_name(f->type));
	return -1;
}
