/* The session: items from the offline queue through the inflight window to their acknowledgement; see session.h. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "inack.h"
#include "midge/midge.h"

void session__free_item(struct item *it)
{
	if (!it) return;
	buf__fini(&it->pkt);
	free(it);
}

/* Length of the fixed header at the start of an encoded packet. */
static size_t fixed_header_len(const struct buf *b)
{
	uint32_t rem;
	size_t used = 0;
	proto__varint_decode(buf__head(b) + 1, buf__len(b) - 1, &rem, &used);
	return 1 + used;
}

struct item *session__new_publish(uint8_t version, const char *topic, size_t topic_len, const void *payload, size_t len,
                                  uint8_t qos, bool retain, struct mqtt_str props, int *rc)
{
	if (topic_len > 0xFFFF || len > MQTT_MAX_REMAINING) {
		*rc = MIDGE_ERR_INVAL;
		return NULL;
	}
	struct item *it = calloc(1, sizeof(*it));
	if (!it) {
		*rc = MIDGE_ERR_NOMEM;
		return NULL;
	}
	it->kind = MQTT_PUBLISH;
	it->qos = qos;
	it->retain = retain;
	/* The codec wants a non-zero id for QoS > 0; the real one is written over it in session__add. */
	struct mqtt_publish p = {.qos = qos,
	                         .retain = retain,
	                         .topic = {(const uint8_t *)topic, (uint32_t)topic_len},
	                         .packet_id = qos ? 1 : 0,
	                         .props = props,
	                         .payload = {payload, (uint32_t)len}};
	*rc = proto__encode_publish(&it->pkt, version, &p);
	if (*rc) {
		session__free_item(it);
		return NULL;
	}
	if (qos) it->id_off = fixed_header_len(&it->pkt) + 2 + topic_len;
	return it;
}

struct item *session__new_subscribe(uint8_t version, uint8_t kind, const struct mqtt_str *filters,
                                    const uint8_t *options, size_t n, struct mqtt_str props, int *rc)
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it) {
		*rc = MIDGE_ERR_NOMEM;
		return NULL;
	}
	it->kind = kind;
	if (kind == MQTT_SUBSCRIBE)
		*rc = proto__encode_subscribe(&it->pkt, version, 1, filters, options, n, &props);
	else
		*rc = proto__encode_unsubscribe(&it->pkt, version, 1, filters, n, &props);
	if (*rc) {
		session__free_item(it);
		return NULL;
	}
	it->id_off = fixed_header_len(&it->pkt);
	return it;
}

/* True when it holds a packet id (and one of c->ids). */
static bool has_id(const struct item *it)
{
	return it->id_off != 0;
}

/* Advances c->last_mid to the next id no item holds (any, when all are held). */
static uint16_t next_mid(struct midge_client *c)
{
	for (uint32_t i = 0; i < 0xFFFF; i++) {
		c->last_mid = c->last_mid == 0xFFFF ? 1 : c->last_mid + 1;
		if (!idset__has(&c->ids, c->last_mid)) break;
	}
	return c->last_mid;
}

/* Gives it the next message id: for items with a packet id, one no other item holds, taken into c->ids. */
static int assign_mid(struct midge_client *c, struct item *it)
{
	if (!has_id(it)) {
		/* A QoS 0 id only names the message to on_publish: it is not held, but it avoids the held ones so
		 * on_publish never names two messages alike. */
		it->mid = next_mid(c);
		return 0;
	}
	if (idset__count(&c->ids) >= 0xFFFF) return MIDGE_ERR_AGAIN;
	int rc = idset__add(&c->ids, next_mid(c));
	if (rc < 0) return rc;
	it->mid = c->last_mid;
	uint8_t *p = it->pkt.data + it->pkt.start + it->id_off;
	p[0] = (uint8_t)(it->mid >> 8);
	p[1] = (uint8_t)it->mid;
	return 0;
}

int session__add(struct midge_client *c, struct item *it, uint16_t *mid)
{
	bool queued = it->kind == MQTT_PUBLISH;
	if (queued && c->n_queued >= c->o.max_queued) return MIDGE_ERR_AGAIN;
	int rc = assign_mid(c, it);
	if (rc) return rc;
	*mid = it->mid;
	list__add_tail(&c->items, &it->node);
	if (c->next_send == &c->items) c->next_send = &it->node;
	if (queued) c->n_queued++;
	if (queued && it->qos) c->n_unacked++;
	session__flush_queue(c);
	return 0;
}

/* Removes it from the list and the counters and frees it; on_wire: it counted in the window. */
static void drop(struct midge_client *c, struct item *it, bool on_wire)
{
	if (c->next_send == &it->node) c->next_send = it->node.next;
	if (it->kind == MQTT_PUBLISH) {
		if (!it->sent) c->n_queued--;
		if (it->qos) c->n_unacked--;
		if (it->qos && on_wire) c->window_used--;
	}
	if (has_id(it)) idset__remove(&c->ids, it->mid);
	list__del(&it->node);
	session__free_item(it);
	pthread_cond_broadcast(&c->cond);
}

void session__done(struct midge_client *c, struct item *it)
{
	drop(c, it, true);
}

/* The MQTT 5 reason this connection's server would refuse it with (CONNACK limits), or 0. */
static int refusal(const struct midge_client *c, const struct item *it)
{
	if (it->released) return 0; /* only its PUBREL goes now */
	if (c->server_max_packet && buf__len(&it->pkt) > c->server_max_packet) return MQTT_RC_PACKET_TOO_LARGE;
	if (it->qos > c->server_max_qos) return MQTT_RC_QOS_NOT_SUPPORTED;
	if (it->retain && !c->server_retain) return MQTT_RC_RETAIN_NOT_SUPPORTED;
	return 0;
}

/* Writes it to the output: its packet, with DUP when due, or its PUBREL. 0 or MIDGE_ERR_NOMEM. */
static int write_item(struct midge_client *c, struct item *it)
{
	if (it->released) {
		uint8_t rel[4];
		return buf__append(&c->out, rel, proto__encode_ack(rel, MQTT_PUBREL, it->mid));
	}
	uint8_t *first = it->pkt.data + it->pkt.start;
	if (it->kind == MQTT_PUBLISH && it->qos) *first = (uint8_t)(it->dup ? *first | 0x08 : *first & ~0x08);
	return buf__append(&c->out, first, buf__len(&it->pkt));
}

/* Notes that a QoS 0 PUBLISH ends at the current end of the output (on_publish once it is written). */
static void mark_q0(struct midge_client *c, uint16_t mid)
{
	if (c->q0_n == c->q0_cap) {
		size_t cap = c->q0_cap ? c->q0_cap * 2 : 64;
		struct q0_mark *v = realloc(c->q0, cap * sizeof(*v));
		if (!v) return; /* the message still goes; only its callback is lost */
		c->q0 = v;
		c->q0_cap = cap;
	}
	c->q0[c->q0_n++] = (struct q0_mark){mid, c->out_sent + buf__len(&c->out)};
}

void session__flush_queue(struct midge_client *c)
{
	if (c->state != CS_CONNECTED || c->disconnecting) return;
	while (c->next_send != &c->items && buf__len(&c->out) < SESSION_OUT_CAP) {
		struct item *it = container_of(c->next_send, struct item, node);
		bool publish = it->kind == MQTT_PUBLISH;
		int why = publish ? refusal(c, it) : 0;
		if (why) {
			notes__log(c, MIDGE_LOG_WARNING,
			           "message %u not sent: the server's limits refuse it (reason 0x%02x)", it->mid, why);
			notes__add(c, &(struct note){.kind = NOTE_PUBLISH, .mid = it->mid, .rc = why});
			drop(c, it, false);
			continue;
		}
		if (publish && it->qos && c->window_used >= client__window(c)) return;
		if (write_item(c, it)) return; /* out of memory: try again at the next pump */
		c->next_send = it->node.next;
		if (publish && !it->sent) c->n_queued--;
		it->sent = true;
		if (!publish) continue;
		if (it->qos == 0) {
			mark_q0(c, it->mid);
			list__del(&it->node);
			session__free_item(it);
			continue;
		}
		c->window_used++;
		it->dup = true; /* [MQTT-3.3.1-1]: a redelivery carries DUP */
	}
}

struct item *session__find(struct midge_client *c, uint8_t kind, uint16_t mid)
{
	/* Answers mostly come in order, so the item is usually first. */
	for (struct list *n = c->items.next; n != c->next_send; n = n->next) {
		struct item *it = container_of(n, struct item, node);
		if (it->kind == kind && it->mid == mid && has_id(it)) return it;
	}
	return NULL;
}

void session__lost(struct midge_client *c)
{
	c->next_send = c->items.next;
	c->window_used = 0;
	inack__lost(c);
}

void session__resume(struct midge_client *c, bool session_present)
{
	c->next_send = c->items.next;
	c->window_used = 0;
	if (!session_present) {
		/* The server kept nothing: the ids it had for us are void, and so are ours for it. */
		inack__forget(c);
		struct list *n, *tmp;
		list_for_each_safe(n, tmp, &c->items)
		{
			struct item *it = container_of(n, struct item, node);
			if (it->released) {
				notes__add(c, &(struct note){.kind = NOTE_PUBLISH, .mid = it->mid});
				drop(c, it, false);
			} else {
				it->dup = false;
			}
		}
	}
	session__flush_queue(c);
}

void session__fini(struct midge_client *c)
{
	struct list *n, *tmp;
	list_for_each_safe(n, tmp, &c->items)
	{
		struct item *it = container_of(n, struct item, node);
		list__del(n);
		session__free_item(it);
	}
	c->next_send = &c->items;
	idset__fini(&c->ids);
	inack__forget(c);
}
