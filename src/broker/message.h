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
	bool guarded;        /* published through an encrypted_only listener (guard.h: guard__marks) */
	bool remote;         /* came from another node of the cluster (cluster.h): not sent back to it */
	uint32_t topic_len;
	uint32_t payload_len;
	uint32_t props_len;
	uint64_t expiry_ms;  /* clock__ms() deadline of its Message Expiry Interval; 0 = never expires */
	char *jsack;         /* from a cluster's JetStream consumer: where to say it was consumed (cluster.h), owned;
	                      * such a message goes to one session only */
	uint8_t *topic;      /* points into data, after the two length bytes */
	uint8_t *payload;    /* points into data, after the topic */
	uint8_t *props;      /* points into data, after the payload */
	/* [topic length u16][topic][payload][props]: the wire form of the topic and payload, sent as is.
	 * props are the MQTT 5 properties forwarded unchanged to MQTT 5 subscribers (payload format,
	 * content type, response topic, correlation data, user properties), without their length; the
	 * per-receiver ones (expiry, topic alias, subscription identifiers) are made at delivery. */
	uint8_t data[];
};

/* Makes a message with one reference held by the caller. Copies topic and payload once.
 * Returns NULL when out of memory or topic longer than 65535. */
struct message *msg__new(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen, uint8_t qos,
			 bool retain);
/* The same with forwarded properties (props[0..props_len), copied) and an expiry deadline (0 = none). */
struct message *msg__new_props(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen,
			       const uint8_t *props, size_t props_len, uint64_t expiry_ms, uint8_t qos, bool retain);
/* True when m has a Message Expiry Interval that has run out at now (clock__ms()). */
static inline bool msg__expired(const struct message *m, uint64_t now) { return m->expiry_ms && now >= m->expiry_ms; }
/* Takes another reference; returns m for chaining. Safe from any thread. */
static inline struct message *msg__ref(struct message *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}
/* Drops a reference; frees on the last one. Safe from any thread; NULL is ignored. */
void msg__unref(struct message *m);
/* Bytes the message costs in memory (for queue limits). */
static inline size_t msg__size(const struct message *m) { return sizeof(*m) + 2 + m->topic_len + m->payload_len + m->props_len; }

#endif
