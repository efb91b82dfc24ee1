/* Bounds-checked readers of MQTT wire fields: see reader.h. */
#include "reader.h"

#include "common/utf8.h"
#include "props.h"

int reader__u8(struct reader *r, uint8_t *v)
{
	if (reader__left(r) < 1) return PROTO_MALFORMED;
	*v = r->p[r->pos++];
	return PROTO_OK;
}

int reader__u16(struct reader *r, uint16_t *v)
{
	if (reader__left(r) < 2) return PROTO_MALFORMED;
	*v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return PROTO_OK;
}

int reader__bytes(struct reader *r, size_t n, struct mqtt_str *s)
{
	if (reader__left(r) < n) return PROTO_MALFORMED;
	s->p = r->p + r->pos;
	s->len = (uint32_t)n;
	r->pos += n;
	return PROTO_OK;
}

int reader__binary(struct reader *r, struct mqtt_str *s)
{
	size_t save = r->pos;
	uint16_t n;
	if (reader__u16(r, &n) || reader__bytes(r, n, s)) {
		r->pos = save;
		return PROTO_MALFORMED;
	}
	return PROTO_OK;
}

int reader__utf8(struct reader *r, struct mqtt_str *s)
{
	size_t save = r->pos;
	if (reader__binary(r, s) || !utf8__valid(s->p, s->len)) {
		r->pos = save;
		return PROTO_MALFORMED;
	}
	return PROTO_OK;
}

int reader__varint(struct reader *r, uint32_t *v)
{
	size_t used;
	if (proto__varint_decode(r->p + r->pos, reader__left(r), v, &used) != PROTO_OK) return PROTO_MALFORMED;
	r->pos += used;
	return PROTO_OK;
}

int reader__props(struct reader *r, struct mqtt_str *s)
{
	size_t save = r->pos;
	uint32_t n;
	if (reader__varint(r, &n) || reader__bytes(r, n, s)) {
		r->pos = save;
		return PROTO_MALFORMED;
	}
	return PROTO_OK;
}

int reader__props_valid(struct reader *r, struct mqtt_str *s, uint8_t packet_type, bool will, int *verdict)
{
	if (reader__props(r, s)) return PROTO_MALFORMED;
	int rc = props__validate(s, packet_type, will);
	if (rc == PROTO_MALFORMED) return rc;
	if (*verdict == PROTO_OK) *verdict = rc;
	return PROTO_OK;
}

void reader__rest(struct reader *r, struct mqtt_str *s)
{
	s->p = r->p + r->pos;
	s->len = (uint32_t)reader__left(r);
	r->pos = r->len;
}
