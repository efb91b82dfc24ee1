/* A bridge's topic mapping (Mosquitto's `topic PATTERN [in|out|both] [qos] [local-prefix] [remote-prefix]`): which
 * `topic` line a message falls under and what its topic becomes on the other side. Pure: no broker state. */
#ifndef MIDGE_BRIDGE_TOPICS_H
#define MIDGE_BRIDGE_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "config.h"

/* A local message on topic[0..len) going to the remote: the first `topic` line of direction out or both whose
 * local filter (local prefix + pattern) matches it. The remote topic (its local prefix replaced by the remote
 * prefix; kept as it is when it does not start with the local prefix, as Mosquitto does) is written to out,
 * cleared first. Returns that line, or NULL when none matches or out could not grow (nothing to send). */
const struct bridge_topic *bridge_topics__out(const struct bridge_conf *bc, const uint8_t *topic, size_t len,
					      struct buf *out);
/* The same for a message from the remote: lines of direction in or both, remote prefix replaced by the local. */
const struct bridge_topic *bridge_topics__in(const struct bridge_conf *bc, const uint8_t *topic, size_t len,
					     struct buf *out);

#endif
