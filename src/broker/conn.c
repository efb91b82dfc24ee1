/* Client connections: output queue with shared payloads, batched writev, lifetime. See conn.h. */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "message.h"
#include "midge/midge.h"
#include "net/tls.h"
#include "net/ws.h"
#include "common/clock.h"
#include "proto/props.h"
#include "proto/proto.h"
#include "session.h"
#include "worker.h"

struct conn *conn__new(struct listener_rt *l, int fd, const char *addr)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) return NULL;
	c->listener = l;
	c->tp.ops = &tcp__ops;
	c->tp.fd = fd;
	if (l && l->tls && tls__accept(&c->tp, l->tls, fd)) {
		free(c);
		return NULL;
	}
	if (l && l->websockets && ws__accept(&c->tp, &l->ws, c->addr)) {
		/* Release the TLS state, leaving the descriptor to the caller. */
		c->tp.fd = -1;
		c->tp.ops->close(&c->tp);
		free(c);
		return NULL;
	}
	c->io.fd = fd;
	atomic_init(&c->refs, 1);
	atomic_init(&c->kick, KICK_NONE);
	atomic_init(&c->takeover_ready, false);
	atomic_init(&c->need_pump, false);
	atomic_init(&c->replies_held, 0);
	atomic_init(&c->store_failed, false);
	atomic_init(&c->store_resume, false);
	c->state = CONN_NEW;
	list__init(&c->node);
	list__init(&c->flush_node);
	list__init(&c->pending_node);
	list__init(&c->out);
	list__init(&c->timer.node);
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->send_max = 65535;
	c->problem_info = true;
	return c;
}

void conn__unref(struct conn *c)
{
	if (!c) return;
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
	struct list *n;
	while ((n = list__pop(&c->out))) {
		struct out_item *it = list_entry(n, struct out_item, node);
		msg__unref(it->msg);
		free(it);
	}
	if (c->tp.fd >= 0 && c->tp.ops) c->tp.ops->close(&c->tp);
	buf__fini(&c->in);
	buf__free(&c->connack_props);
	if (c->alias) {
		alias__in_fini(&c->alias->in);
		alias__out_fini(&c->alias->out);
		free(c->alias);
	}
	msg__unref(c->will);
	conn__unref(c->successor);
	if (!c->session || c->client_id != c->session->client_id) free(c->client_id); /* else the session's */
	session__unref(c->session);
	free(c->username);
	free(c);
}

/* Appends it, or frees it and returns MIDGE_ERR_CLOSED once the connection said its last word. */
static int push(struct conn *c, struct out_item *it)
{
	lock__acquire(&c->out_lock);
	bool closing = c->closing;
	if (!closing) {
		list__add_tail(&c->out, &it->node);
		c->out_bytes += it->charge;
	}
	lock__release(&c->out_lock);
	if (closing) free(it);
	return closing ? MIDGE_ERR_CLOSED : 0;
}

static size_t put_vp(uint8_t *o, uint8_t id, uint32_t v, int bytes)
{
	o[0] = id;
	if (bytes == 0) return 1 + proto__varint_encode(o + 1, v);
	for (int i = 0; i < bytes; i++) o[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return 1 + (size_t)bytes;
}

/* Topics longer than this are sent in full rather than given an alias: the table's memory stays small
 * (the broker keeps a copy of each aliased topic for the connection's life). */
#define ALIAS_TOPIC_MAX 1024

int conn__queue_publish(struct conn *c, struct message *m, uint8_t qos, uint16_t pid, bool dup, bool retain,
			const uint32_t *subids, size_t nsubids)
{
	bool v5 = c->version == MQTT_V5;
	/* Per-receiver properties (expiry, subscription identifiers, alias) are written straight into the
	 * item, after room for their length: at most 5 + 5 per identifier + 3 bytes. */
	size_t vmax = v5 ? 4 + 5 + 5 * nsubids + 3 : 0;
	struct out_item *it = malloc(sizeof(*it) + vmax);
	if (!it) return MIDGE_ERR_NOMEM;
	uint8_t *vp = it->data + 4;
	size_t vn = 0; /* per-receiver property bytes, without their length */
	if (v5) {
		if (m->expiry_ms) {
			/* The remaining interval, rounded up so a message still alive never says 0 [MQTT-3.3.2-6]. */
			uint64_t now = clock__ms();
			uint64_t left = m->expiry_ms > now ? (m->expiry_ms - now + 999) / 1000 : 1;
			vn += put_vp(vp + vn, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, (uint32_t)left, 4);
		}
		for (size_t i = 0; i < nsubids; i++) vn += put_vp(vp + vn, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, subids[i], 0);
	}
	lock__acquire(&c->out_lock);
	if (c->closing) {
		lock__release(&c->out_lock);
		free(it);
		return MIDGE_ERR_CLOSED;
	}
	uint16_t alias = 0;
	struct alias_out *ao = c->alias ? &c->alias->out : NULL;
	bool known = false, aliasable = v5 && ao && ao->max && m->topic_len <= ALIAS_TOPIC_MAX;
	if (aliasable) alias__out_lookup(ao, m->topic, m->topic_len, true, &alias, &known);
	/* Size it as it will go out: a new alias still to be given costs its property too. */
	bool may_alias = known || (aliasable && ao->count < ao->max);
	size_t props = vn + (may_alias ? 3 : 0) + m->props_len;
	uint64_t remaining = 2 + (uint64_t)(known ? 0 : m->topic_len) + (qos ? 2 : 0) + m->payload_len +
			     (v5 ? proto__varint_size((uint32_t)props) + props : 0);
	uint64_t total = remaining + 1 + proto__varint_size((uint32_t)remaining);
	if (remaining > MQTT_MAX_REMAINING || (c->max_out_packet && total > c->max_out_packet)) {
		lock__release(&c->out_lock);
		free(it);
		return MIDGE_ERR_TOO_LARGE;
	}
	if (aliasable && !known) {
		alias__out_lookup(ao, m->topic, m->topic_len, false, &alias, &known);
		known = false; /* a new alias: this PUBLISH carries the topic that sets it */
	}
	if (alias) vn += put_vp(vp + vn, MQTT_PROP_TOPIC_ALIAS, alias, 2);
	size_t vlen = 0;
	if (v5) {
		/* The length goes right in front of the properties: shift them back to it. */
		uint8_t len[4];
		size_t l = proto__varint_encode(len, (uint32_t)(vn + m->props_len));
		memmove(it->data + l, vp, vn);
		memcpy(it->data, len, l);
		vlen = l + vn;
	}
	it->vp_len = (uint32_t)vlen;
	it->alias_only = known;
	remaining = 2 + (known ? 0 : m->topic_len) + (qos ? 2 : 0) + vlen + (v5 ? m->props_len : 0) + m->payload_len;
	it->msg = msg__ref(m);
	it->hdr_len = (uint8_t)proto__publish_fixed_header(it->hdr, qos, dup, retain, (uint32_t)remaining);
	it->has_pid = qos > 0;
	it->pid[0] = (uint8_t)(pid >> 8);
	it->pid[1] = (uint8_t)pid;
	it->len = it->hdr_len + remaining;
	it->sent = 0;
	it->cap = 0;
	it->charge = sizeof(*it) + vmax + it->len;
	it->packets = 1;
	list__add_tail(&c->out, &it->node);
	c->out_bytes += it->charge;
	lock__release(&c->out_lock);
	return 0;
}

#define OWN_BYTES_MIN 256

int conn__queue_bytes(struct conn *c, const void *p, size_t n)
{
	lock__acquire(&c->out_lock);
	if (c->closing) {
		lock__release(&c->out_lock);
		return MIDGE_ERR_CLOSED;
	}
	if (!list__empty(&c->out)) {
		/* Append to the last item of own bytes when it has room: consecutive acks share one. */
		struct out_item *last = list_entry(c->out.prev, struct out_item, node);
		if (!last->msg && last->cap - last->len >= n) {
			memcpy(last->data + last->len, p, n);
			last->len += n;
			last->packets++;
			lock__release(&c->out_lock);
			return 0;
		}
	}
	lock__release(&c->out_lock);
	size_t cap = n > OWN_BYTES_MIN ? n : OWN_BYTES_MIN;
	struct out_item *it = malloc(sizeof(*it) + cap);
	if (!it) return MIDGE_ERR_NOMEM;
	it->msg = NULL;
	it->len = n;
	it->cap = cap;
	it->sent = 0;
	it->hdr_len = 0;
	it->has_pid = false;
	it->alias_only = false;
	it->vp_len = 0;
	it->charge = sizeof(*it) + cap;
	it->packets = 1;
	memcpy(it->data, p, n);
	return push(c, it);
}

int conn__queue_ack(struct conn *c, uint8_t type, uint16_t pid)
{
	uint8_t out[4];
	return conn__queue_bytes(c, out, proto__encode_ack(out, type, pid));
}

/* The properties of a broker's error answer: a Reason String when the client accepts one. */
static int reason_props(struct conn *c, struct buf *props, const char *why, bool always)
{
	if (!why || (!c->problem_info && !always)) return 0;
	struct mqtt_str s = {(const uint8_t *)why, (uint32_t)strlen(why)};
	return props__put_str(props, MQTT_PROP_REASON_STRING, &s);
}

/* A Reason String is left out when the packet would exceed the client's Maximum Packet Size
 * [MQTT-3.1.2-25]: 16 bytes cover the rest of any ack or DISCONNECT. */
static const char *fitting(const struct conn *c, const char *why)
{
	return why && c->max_out_packet && strlen(why) + 16 > c->max_out_packet ? NULL : why;
}

int conn__queue_ack_rc(struct conn *c, uint8_t type, uint16_t pid, uint8_t reason, const char *why)
{
	why = fitting(c, why);
	if (c->version != MQTT_V5 || (reason == 0 && !why)) return conn__queue_ack(c, type, pid);
	struct buf props = {0}, out = {0};
	int r = reason_props(c, &props, why, false);
	struct mqtt_ack a = {.packet_id = pid, .reason = reason,
			     .props = {buf__head(&props), (uint32_t)buf__len(&props)}};
	if (!r) r = proto__encode_ack_buf(&out, type, MQTT_V5, &a);
	if (!r) r = conn__queue_bytes(c, buf__head(&out), buf__len(&out));
	buf__fini(&props);
	buf__fini(&out);
	return r;
}

int conn__queue_disconnect(struct conn *c, uint8_t reason, const char *why)
{
	if (c->version != MQTT_V5) return 0;
	struct buf props = {0}, out = {0};
	/* A DISCONNECT may carry a Reason String whatever Request Problem Information says (3.1.2.11.7). */
	int r = reason_props(c, &props, fitting(c, why), true);
	struct mqtt_disconnect d = {.reason = reason, .props = {buf__head(&props), (uint32_t)buf__len(&props)}};
	if (!r) r = proto__encode_disconnect(&out, MQTT_V5, &d);
	if (!r) r = conn__queue_bytes(c, buf__head(&out), buf__len(&out));
	buf__fini(&props);
	buf__fini(&out);
	/* Nothing may follow the DISCONNECT [MQTT-3.14.4-1], though other workers still see the session
	 * attached until the close detaches it: they are refused from now on. */
	conn__close_output(c);
	return r;
}

void conn__close_output(struct conn *c)
{
	lock__acquire(&c->out_lock);
	c->closing = true;
	lock__release(&c->out_lock);
}

size_t conn__out_bytes(struct conn *c)
{
	lock__acquire(&c->out_lock);
	size_t n = c->out_bytes;
	lock__release(&c->out_lock);
	return n;
}

void conn__schedule(struct conn *c, struct worker *w)
{
	if (w && c->worker == w) {
		/* The owner batches: one writev per connection per loop turn. */
		if (!list__linked(&c->flush_node)) list__add_tail(&w->flush, &c->flush_node);
		return;
	}
	worker__post(c->worker, c);
}

/* Appends the iovecs of it, skipping the first `skip` bytes. Returns the new count. */
static int item_iov(struct out_item *it, struct iovec *iov, int cnt, int max)
{
	static const uint8_t empty_topic[2] = {0, 0};
	const uint8_t *seg[6];
	size_t len[6];
	int ns = 0;
	if (it->msg) {
		seg[ns] = it->hdr, len[ns++] = it->hdr_len;
		if (it->alias_only) seg[ns] = empty_topic, len[ns++] = 2;
		else seg[ns] = it->msg->data, len[ns++] = 2 + it->msg->topic_len;
		if (it->has_pid) seg[ns] = it->pid, len[ns++] = 2;
		if (it->vp_len) {
			seg[ns] = it->data, len[ns++] = it->vp_len;
			seg[ns] = it->msg->props, len[ns++] = it->msg->props_len;
		}
		seg[ns] = it->msg->payload, len[ns++] = it->msg->payload_len;
	} else {
		seg[ns] = it->data, len[ns++] = it->len;
	}
	size_t skip = it->sent;
	for (int i = 0; i < ns && cnt < max; i++) {
		if (skip >= len[i]) {
			skip -= len[i];
			continue;
		}
		iov[cnt].iov_base = (void *)(seg[i] + skip);
		iov[cnt].iov_len = len[i] - skip;
		skip = 0;
		if (iov[cnt].iov_len) cnt++;
	}
	return cnt;
}

/* Writes from mine (items taken off c->out) until it is empty or the socket is full; fully written items move
 * to sent. Returns the bytes written, or -1 with errno. */
static ssize_t write_some(struct conn *c, struct list *mine, struct list *sent)
{
	ssize_t total = 0;
	while (!list__empty(mine)) {
		struct iovec iov[64];
		int cnt = 0;
		struct list *pos;
		for (pos = mine->next; pos != mine && cnt < 60; pos = pos->next)
			cnt = item_iov(list_entry(pos, struct out_item, node), iov, cnt, 64);
		ssize_t w = c->tp.ops->writev(&c->tp, iov, cnt);
		if (w < 0) {
			if (errno == EINTR) continue;
			return total ? total : -1;
		}
		total += w;
		size_t left = (size_t)w;
		while (left && !list__empty(mine)) {
			struct out_item *it = list_entry(mine->next, struct out_item, node);
			size_t take = it->len - it->sent < left ? it->len - it->sent : left;
			it->sent += take;
			left -= take;
			if (it->sent == it->len) list__add_tail(sent, list__pop(mine));
		}
		if (w == 0) break;
	}
	return total;
}

int conn__flush(struct conn *c)
{
	struct worker_stats *st = &c->worker->stats;
	int rc = 0;
	bool want = c->tp.want_write;
	bool more;
	struct list mine, sent;
	list__init(&mine);
	list__init(&sent);
	/* The items are taken off the list and written without the lock: other workers delivering to c meanwhile
	 * append to c->out instead of waiting (asleep) for the write to finish. Only this worker takes items off. */
	lock__acquire(&c->out_lock);
	for (;;) {
		list__splice_tail(&mine, &c->out);
		lock__release(&c->out_lock);
		errno = 0;
		ssize_t w = list__empty(&mine) ? 0 : write_some(c, &mine, &sent);
		int err = errno;
		if (w > 0) atomic_fetch_add_explicit(&st->bytes_sent, (uint64_t)w, memory_order_relaxed);
		size_t freed = 0;
		uint64_t packets = 0, pubs = 0;
		struct list *n;
		while ((n = list__pop(&sent))) {
			struct out_item *it = list_entry(n, struct out_item, node);
			freed += it->charge;
			packets += it->packets;
			pubs += it->msg != NULL;
			msg__unref(it->msg);
			free(it);
		}
		atomic_fetch_add_explicit(&st->msgs_sent, packets, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->pub_sent, pubs, memory_order_relaxed);
		lock__acquire(&c->out_lock);
		c->out_bytes -= freed;
		if (w < 0 && err != EAGAIN && err != EWOULDBLOCK) rc = MIDGE_ERR_IO;
		/* Stuck (socket full) or failed: what is left goes back before what was appended meanwhile. Otherwise
		 * go round again for what was appended while writing. */
		if (!list__empty(&mine) || rc || list__empty(&c->out)) break;
	}
	list__splice_head(&c->out, &mine);
	more = !list__empty(&c->out);
	lock__release(&c->out_lock);
	/* A transport may also want writability for bytes of its own (a WebSocket pong after the last frame). */
	if (rc == 0 && c->state != CONN_CLOSED && (more != c->writable_wait || c->tp.want_write != want)) {
		c->writable_wait = more;
		conn__update_events(c);
	}
	return rc;
}

void conn__update_events(struct conn *c)
{
	/* EPOLLOUT only while output is stuck or a TLS read waits to write, so idle sockets cost no
	 * wake-ups; EPOLLIN unless paused. */
	uint32_t out = c->writable_wait || c->tp.want_write ? EPOLLOUT : 0;
	loop__mod(&c->worker->loop, &c->io, (c->read_paused ? 0 : EPOLLIN) | out);
}
