/* Refcounted application messages: see message.h. */
#include "message.h"

#include <stdlib.h>
#include <string.h>

struct message *msg__new(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen, uint8_t qos,
			 bool retain)
{
	if (tlen > 65535 || plen > UINT32_MAX) return NULL;
	struct message *m = malloc(sizeof(*m) + 2 + tlen + plen);
	if (!m) return NULL;
	atomic_init(&m->refs, 1);
	m->qos = qos;
	m->retain = retain;
	m->topic_len = (uint32_t)tlen;
	m->payload_len = (uint32_t)plen;
	m->data[0] = (uint8_t)(tlen >> 8);
	m->data[1] = (uint8_t)tlen;
	m->topic = m->data + 2;
	m->payload = m->topic + tlen;
	if (tlen) memcpy(m->topic, topic, tlen);
	if (plen) memcpy(m->payload, payload, plen);
	return m;
}

void msg__unref(struct message *m)
{
	if (!m) return;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) free(m);
}
