/* Topic names and topic filters: validation and matching by the MQTT rules. */
#ifndef MIDGE_TOPIC_H
#define MIDGE_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A topic name a PUBLISH may carry: non-empty, at most 65535 bytes, valid UTF-8 (utf8__valid),
 * no '+' or '#'. */
bool topic__valid_name(const uint8_t *p, size_t len);
/* A topic filter a SUBSCRIBE may carry: non-empty, valid UTF-8, '+' only as a whole level,
 * '#' only as the whole last level. Shared-subscription syntax ($share/...) is checked by the broker. */
bool topic__valid_filter(const uint8_t *p, size_t len);
/* True when the topic name matches the filter. Topics starting with '$' are not matched by a filter
 * whose first level is '+' or '#'. "a/#" matches "a". */
bool topic__matches(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);

/* A 32-bit FNV-1a hash of p[0..len), never 0 (so 0 can mean "none"). */
uint32_t topic__hash(const uint8_t *p, size_t len);

/* Splits a shared-subscription filter "$share/{group}/{filter}" (MQTT 5.0 4.8.2). Returns 0 when p is
 * not one (does not start with "$share/"), 1 when it is a valid one, with group, glen, filter and flen
 * pointing into p (group non-empty without '+', '#' or '/', filter a valid topic filter), -1 when it
 * starts with "$share/" but is invalid (the broker answers "Topic Filter invalid"). */
int topic__parse_share(const uint8_t *p, size_t len, const uint8_t **group, size_t *glen, const uint8_t **filter,
		       size_t *flen);

#endif
