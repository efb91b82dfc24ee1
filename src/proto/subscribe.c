/* SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK: topic filter lists and their per-filter answers. */
#include "proto.h"

#include <string.h>

#include "midge/midge.h"
#include "reader.h"
#include "writer.h"

/* Reads the packet id (non-zero, [MQTT-2.3.1-1]) and v5 properties shared by all four packets, checking the
 * properties for type; PROTO_MALFORMED or PROTO_OK, a protocol error kept in *verdict (see reader__props_valid). */
static int read_id_props(struct reader *r, uint8_t type, uint8_t version, uint16_t *packet_id, struct mqtt_str *props,
			 int *verdict)
{
	if (reader__u16(r, packet_id) || *packet_id == 0) return PROTO_MALFORMED;
	if (version == MQTT_V5 && reader__props_valid(r, props, type, false, verdict)) return PROTO_MALFORMED;
	return PROTO_OK;
}

/* Reads one filter of a (UN)SUBSCRIBE: UTF-8 and non-empty ([MQTT-4.7.3-1]). */
static int read_filter(struct reader *r, struct mqtt_str *filter)
{
	if (reader__utf8(r, filter) || filter->len == 0) return PROTO_MALFORMED;
	return PROTO_OK;
}

/* Subscription options: 3.x has only QoS in bits 0-1 ([MQTT-3.8.3-4]); v5 adds no-local (2),
 * retain-as-published (3) and retain handling (4-5), leaving 6-7 reserved ([MQTT-3.8.3-5], v5 3.8.3.1).
 * v5 3.8.3.1 calls QoS 3 and retain handling 3 Protocol Errors and only the reserved bits malformed: the
 * reason code a v5 client is told depends on it. Returns PROTO_OK or the verdict. */
static int check_options(uint8_t version, uint8_t o)
{
	if (version != MQTT_V5) return (o & 0xFC) == 0 && (o & 3) != 3 ? PROTO_OK : PROTO_MALFORMED;
	if (o & 0xC0) return PROTO_MALFORMED;
	return (o & 3) == 3 || ((o >> 4) & 3) == 3 ? PROTO_PROTOCOL_ERROR : PROTO_OK;
}

int proto__decode_subscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_subscribe *s)
{
	memset(s, 0, sizeof(*s));
	if (f->type != MQTT_SUBSCRIBE || f->flags != 0x2) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	int verdict = PROTO_OK;
	if (read_id_props(&r, MQTT_SUBSCRIBE, version, &s->packet_id, &s->props, &verdict)) return PROTO_MALFORMED;
	reader__rest(&r, &s->entries);
	if (s->entries.len == 0) return PROTO_PROTOCOL_ERROR; /* [MQTT-3.8.3-3] */
	reader__init(&r, s->entries.p, s->entries.len);
	while (reader__left(&r)) {
		struct mqtt_str filter;
		uint8_t o;
		if (read_filter(&r, &filter) || reader__u8(&r, &o)) return PROTO_MALFORMED;
		int v = check_options(version, o);
		if (v == PROTO_MALFORMED) return v;
		if (v) verdict = v; /* a later malformation still wins */
	}
	return verdict;
}

bool proto__subscribe_next(const struct mqtt_subscribe *s, size_t *pos, struct mqtt_str *filter, uint8_t *options)
{
	struct reader r = {s->entries.p, s->entries.len, *pos};
	/* Bounds-checked again so that a caller walking an undecoded struct cannot overrun. */
	if (*pos >= s->entries.len || reader__binary(&r, filter) || reader__u8(&r, options)) return false;
	*pos = r.pos;
	return true;
}

int proto__encode_subscribe(struct buf *b, uint8_t version, uint16_t packet_id, const struct mqtt_str *filters,
			    const uint8_t *options, size_t n, const struct mqtt_str *props)
{
	if (n == 0 || packet_id == 0) return MIDGE_ERR_INVAL;
	size_t rem = 2 + (version == MQTT_V5 ? writer__props_size(props) : 0);
	for (size_t i = 0; i < n; i++) {
		if (filters[i].len > 65535) return MIDGE_ERR_INVAL;
		rem += 2 + (size_t)filters[i].len + 1;
		if (rem > MQTT_MAX_REMAINING) return MIDGE_ERR_INVAL;
	}
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_SUBSCRIBE << 4 | 0x2, rem);
	if (rc) return rc;
	writer__u16(&w, packet_id);
	if (version == MQTT_V5) writer__props(&w, props);
	for (size_t i = 0; i < n; i++) {
		writer__str(&w, &filters[i]);
		writer__u8(&w, options[i]);
	}
	writer__end(&w);
	return 0;
}

/* Return codes a 3.1.1 SUBACK may carry ([MQTT-3.9.3-2]). */
static bool valid_suback_code_3(uint8_t c) { return c <= 2 || c == MQTT_SUBACK_FAILURE; }

/* Reason codes of a v5 SUBACK (v5 3.9.3). */
static bool valid_suback_code_5(uint8_t c)
{
	switch (c) {
	case MQTT_RC_SUCCESS:
	case MQTT_RC_GRANTED_QOS1:
	case MQTT_RC_GRANTED_QOS2:
	case MQTT_RC_UNSPECIFIED:
	case MQTT_RC_IMPLEMENTATION_SPECIFIC:
	case MQTT_RC_NOT_AUTHORIZED:
	case MQTT_RC_TOPIC_FILTER_INVALID:
	case MQTT_RC_PACKET_ID_IN_USE:
	case MQTT_RC_QUOTA_EXCEEDED:
	case MQTT_RC_SHARED_SUBS_NOT_SUPPORTED:
	case MQTT_RC_SUBSCRIPTION_IDS_NOT_SUPPORTED:
	case MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED: return true;
	}
	return false;
}

int proto__decode_suback(const struct mqtt_frame *f, uint8_t version, struct mqtt_suback *a)
{
	memset(a, 0, sizeof(*a));
	if (f->type != MQTT_SUBACK || f->flags != 0) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	int verdict = PROTO_OK;
	if (read_id_props(&r, MQTT_SUBACK, version, &a->packet_id, &a->props, &verdict)) return PROTO_MALFORMED;
	reader__rest(&r, &a->codes);
	/* A SUBSCRIBE has at least one filter, so its answer has at least one code. */
	if (a->codes.len == 0) return PROTO_PROTOCOL_ERROR;
	for (uint32_t i = 0; i < a->codes.len; i++) {
		uint8_t c = a->codes.p[i];
		if (version == MQTT_V5 ? !valid_suback_code_5(c) : !valid_suback_code_3(c)) return PROTO_MALFORMED;
	}
	return verdict;
}

int proto__encode_suback(struct buf *b, uint8_t type, uint8_t version, uint16_t packet_id, const uint8_t *codes,
			 size_t n, const struct mqtt_str *props)
{
	if (type != MQTT_SUBACK && type != MQTT_UNSUBACK) return MIDGE_ERR_INVAL;
	bool v5 = version == MQTT_V5;
	/* A 3.x UNSUBACK is only the packet id ([MQTT-3.11.2]). */
	bool with_codes = v5 || type == MQTT_SUBACK;
	if (with_codes && n == 0) return MIDGE_ERR_INVAL;
	size_t rem = 2 + (v5 ? writer__props_size(props) : 0) + (with_codes ? n : 0);
	struct writer w;
	int rc = writer__begin(&w, b, (uint8_t)(type << 4), rem);
	if (rc) return rc;
	writer__u16(&w, packet_id);
	if (v5) writer__props(&w, props);
	if (with_codes) writer__bytes(&w, codes, n);
	writer__end(&w);
	return 0;
}

int proto__decode_unsubscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_unsubscribe *u)
{
	memset(u, 0, sizeof(*u));
	if (f->type != MQTT_UNSUBSCRIBE || f->flags != 0x2) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	int verdict = PROTO_OK;
	if (read_id_props(&r, MQTT_UNSUBSCRIBE, version, &u->packet_id, &u->props, &verdict)) return PROTO_MALFORMED;
	reader__rest(&r, &u->entries);
	if (u->entries.len == 0) return PROTO_PROTOCOL_ERROR; /* [MQTT-3.10.3-2] */
	reader__init(&r, u->entries.p, u->entries.len);
	while (reader__left(&r)) {
		struct mqtt_str filter;
		if (read_filter(&r, &filter)) return PROTO_MALFORMED;
	}
	return verdict;
}

bool proto__unsubscribe_next(const struct mqtt_unsubscribe *u, size_t *pos, struct mqtt_str *filter)
{
	struct reader r = {u->entries.p, u->entries.len, *pos};
	if (*pos >= u->entries.len || reader__binary(&r, filter)) return false;
	*pos = r.pos;
	return true;
}

int proto__encode_unsubscribe(struct buf *b, uint8_t version, uint16_t packet_id, const struct mqtt_str *filters,
			      size_t n, const struct mqtt_str *props)
{
	if (n == 0 || packet_id == 0) return MIDGE_ERR_INVAL;
	size_t rem = 2 + (version == MQTT_V5 ? writer__props_size(props) : 0);
	for (size_t i = 0; i < n; i++) {
		if (filters[i].len > 65535) return MIDGE_ERR_INVAL;
		rem += 2 + (size_t)filters[i].len;
		if (rem > MQTT_MAX_REMAINING) return MIDGE_ERR_INVAL;
	}
	struct writer w;
	int rc = writer__begin(&w, b, MQTT_UNSUBSCRIBE << 4 | 0x2, rem);
	if (rc) return rc;
	writer__u16(&w, packet_id);
	if (version == MQTT_V5) writer__props(&w, props);
	for (size_t i = 0; i < n; i++) writer__str(&w, &filters[i]);
	writer__end(&w);
	return 0;
}

int proto__decode_unsuback(const struct mqtt_frame *f, uint8_t version, struct mqtt_suback *a)
{
	memset(a, 0, sizeof(*a));
	if (f->type != MQTT_UNSUBACK || f->flags != 0) return PROTO_MALFORMED;
	if (version != MQTT_V5 && f->remaining != 2) return PROTO_MALFORMED;
	struct reader r;
	reader__init(&r, f->body, f->remaining);
	int verdict = PROTO_OK;
	if (read_id_props(&r, MQTT_UNSUBACK, version, &a->packet_id, &a->props, &verdict)) return PROTO_MALFORMED;
	reader__rest(&r, &a->codes);
	if (version == MQTT_V5 && a->codes.len == 0) return PROTO_PROTOCOL_ERROR;
	return verdict;
}
