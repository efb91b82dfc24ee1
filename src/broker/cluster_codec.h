/* The cluster's wire forms on NATS (docs/cluster.md): MQTT topics and filters as NATS subjects, and a message as
 * a NATS payload. Pure: no NATS, no broker state. */
#ifndef MIDGE_CLUSTER_CODEC_H
#define MIDGE_CLUSTER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Every cluster subject starts with this, so MQTT topics meet none of NATS's own ($JS, $KV, _INBOX). */
#define CLUSTER_SUBJECT_PREFIX "mqtt"

/* The class token after the prefix: messages the JetStream stream keeps (QoS 1 and 2: its subjects are
 * "mqtt.1.>") and those it does not (QoS 0). Subscriptions take both ("mqtt.*."). */
#define CLUSTER_CLASS_PLAIN "0"
#define CLUSTER_CLASS_STORED "1"
#define CLUSTER_STORED_SUBJECTS CLUSTER_SUBJECT_PREFIX "." CLUSTER_CLASS_STORED ".>"

/* The subject of topic name t[0..len): "mqtt", the class token (stored or not), then one token per level, where
 * every byte outside [A-Za-z0-9_-] is written "=HH" (two upper-case hex digits) and an empty level is "=".
 * Reversible, and never a NATS wildcard or separator. Written to out (cleared first), NUL-terminated. 0 or
 * MIDGE_ERR_NOMEM. */
int cluster__topic_subject(const uint8_t *t, size_t len, bool stored, struct buf *out);
/* The subjects that carry every topic filter f[0..len) matches, either class ("mqtt.*."): '+' becomes "*"; a
 * trailing '#' becomes ">" and, since "a/#" also matches "a", also the parent's subject ("#" alone:
 * "mqtt.*.>" only). Writes one or two
 * NUL-terminated subjects to out, one after the other (cleared first); *n gets their count. 0 or
 * MIDGE_ERR_NOMEM. The filter is assumed valid (topic__valid_filter). */
int cluster__filter_subjects(const uint8_t *f, size_t len, struct buf *out, int *n);

/* A client id as a JetStream key-value key (the session registry): its bytes escaped as a topic level's.
 * NUL-terminated into out (cleared first). 0 or MIDGE_ERR_NOMEM. */
int cluster__key(const uint8_t *id, size_t len, struct buf *out);

/* A message between nodes. */
struct cluster_msg {
	uint64_t origin;      /* the publishing node's id (random at its start) */
	uint64_t seq;         /* that node's count of messages sent, from 1: a node that gets one message through
	                       * several of its subscriptions keeps the first */
	uint8_t qos;
	bool retain;
	const uint8_t *topic;
	size_t topic_len;
	const uint8_t *props; /* MQTT 5 properties forwarded as the broker keeps them (message.h), no length */
	size_t props_len;
	uint32_t expiry_s;    /* remaining Message Expiry Interval, seconds; 0 = none */
	const uint8_t *payload;
	size_t payload_len;
};

/* Encodes m as a NATS payload into out (cleared first): "MQ", version 1, flags (QoS, retain, expiry present),
 * origin and seq (8 bytes each, big-endian), varint topic length and topic, varint properties length and properties, [u32 expiry], payload.
 * 0 or MIDGE_ERR_NOMEM. */
int cluster__encode(const struct cluster_msg *m, struct buf *out);
/* Writes seq into an encoded envelope (cluster__encode's output), in place. */
void cluster__set_seq(uint8_t *env, uint64_t seq);
/* Decodes p[0..n) into m (pointing into p). Returns 0, or MIDGE_ERR_MALFORMED for anything else: another magic
 * or version, reserved flag bits, QoS 3, lengths past the end, a topic that is empty, not UTF-8 or not a valid
 * topic name. Properties are checked by the caller (props__validate). */
int cluster__decode(const uint8_t *p, size_t n, struct cluster_msg *m);

/* A persistent session as the cluster keeps it (bucket midge_psess, key its client id): the node that has it, its
 * Session Expiry Interval and its subscriptions. "PS", version 1, owner (8 bytes, big-endian), expiry (4), then per
 * subscription: options (1), subscription identifier (4), filter length (2) and filter. */
struct cluster_psub {
	uint8_t options;
	uint32_t sub_id;
	const uint8_t *filter;
	size_t len;
};
/* Starts an entry in out (cleared first); then cluster__psess_add once per subscription. 0 or MIDGE_ERR_NOMEM
 * (MIDGE_ERR_INVAL for a filter longer than 65535). */
int cluster__psess_begin(struct buf *out, uint64_t owner, uint32_t expiry);
int cluster__psess_add(struct buf *out, const struct cluster_psub *s);
/* Decodes an entry: owner and expiry, and each (may be NULL) called per subscription, filter pointing into p; a
 * non-zero return of each stops and is returned. MIDGE_ERR_MALFORMED for anything cluster__psess_begin/add would
 * not make, or a filter a SUBSCRIBE could not carry (not UTF-8, invalid, QoS 3). */
int cluster__psess_decode(const uint8_t *p, size_t n, uint64_t *owner, uint32_t *expiry,
			  int (*each)(void *arg, const struct cluster_psub *s), void *arg);

#endif
