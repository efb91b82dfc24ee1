/* An application message as the broker holds it: immutable once published and shared by reference
 * between every receiver, the retained store and session queues. */
#ifndef MIDGE_MESSAGE_H
#define MIDGE_MESSAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct message {
	atomic_uint refs;
	uint8_t qos;         /* QoS it was published with */
	bool retain;         /* retain flag it was published with */
	uint32_t topic_len;
	uint32_t payload_len;
	uint8_t *topic;      /* points into data, after the two length bytes */
	uint8_t *payload;    /* points into data, after the topic */
	uint8_t data[];      /* [topic length u16][topic][payload]: the wire form, sent as is */
};

/* Makes a message with one reference held by the caller. Copies topic and payload once.
 * Returns NULL when out of memory or topic longer than 65535. */
struct message *msg__new(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen, uint8_t qos,
			 bool retain);
/* Takes another reference; returns m for chaining. Safe from any thread. */
static inline struct message *msg__ref(struct message *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}
/* Drops a reference; frees on the last one. Safe from any thread; NULL is ignored. */
void msg__unref(struct message *m);
/* Bytes the message costs in memory (for queue limits). */
static inline size_t msg__size(const struct message *m) { return sizeof(*m) + 2 + m->topic_len + m->payload_len; }

#endif
