/* Refcounted application messages: see message.h. */
#include "message.h"

#include <stdlib.h>
#include <string.h>

struct message *msg__new_props(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen,
			       const uint8_t *props, size_t props_len, uint64_t expiry_ms, uint8_t qos, bool retain)
{
	if (tlen > 65535 || plen > UINT32_MAX || props_len > UINT32_MAX) return NULL;
	struct message *m = malloc(sizeof(*m) + 2 + tlen + plen + props_len);
	if (!m) return NULL;
	atomic_init(&m->refs, 1);
	m->qos = qos;
	m->retain = retain;
	m->guarded = false;
	m->remote = false;
	m->jsack = NULL;
	m->topic_len = (uint32_t)tlen;
	m->payload_len = (uint32_t)plen;
	m->props_len = (uint32_t)props_len;
	m->expiry_ms = expiry_ms;
	m->data[0] = (uint8_t)(tlen >> 8);
	m->data[1] = (uint8_t)tlen;
	m->topic = m->data + 2;
	m->payload = m->topic + tlen;
	m->props = m->payload + plen;
	if (tlen) memcpy(m->topic, topic, tlen);
	if (plen) memcpy(m->payload, payload, plen);
	if (props_len) memcpy(m->props, props, props_len);
	return m;
}

struct message *msg__new(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen, uint8_t qos,
			 bool retain)
{
	return msg__new_props(topic, tlen, payload, plen, NULL, 0, 0, qos, retain);
}

void msg__unref(struct message *m)
{
	if (!m) return;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
	free(m->jsack);
	free(m);
}
