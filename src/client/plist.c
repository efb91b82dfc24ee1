/* The public MQTT 5 property list (midge_props_*), kept as wire bytes: built with the codec's props__put_* and read
 * with props__next; see plist.h. */
#include "plist.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "proto/props.h"

struct mqtt_str plist__span(const struct midge_props *p)
{
	if (!p) return (struct mqtt_str){NULL, 0};
	return (struct mqtt_str){buf__head(&p->b), (uint32_t)buf__len(&p->b)};
}

void plist__view(struct midge_props *p, struct mqtt_str span)
{
	/* cap 0 marks borrowed bytes: nothing appends to or frees a view. */
	p->b = (struct buf){(uint8_t *)span.p, 0, span.len, 0};
}

bool plist__has(const struct midge_props *p, uint8_t id)
{
	struct midge_prop pr;
	return midge_props_get(p, id, &pr);
}

struct midge_props *midge_props_new(void)
{
	return calloc(1, sizeof(struct midge_props));
}

void midge_props_free(struct midge_props *p)
{
	if (!p) return;
	buf__fini(&p->b);
	free(p);
}

/* The wire type of id, or 0 when id is not an MQTT 5.0 property. */
static uint8_t type_of(uint8_t id)
{
	const struct mqtt_prop_info *in = props__info(id);
	return in ? in->type : 0;
}

int midge_props_add_int(struct midge_props *p, uint8_t id, uint32_t value)
{
	if (!p) return MIDGE_ERR_INVAL;
	/* The spec's rules for values (Receive Maximum 0, a flag of 2, ...) are those every decoder applies. */
	if (props__check_value(id, value) != PROTO_OK) return MIDGE_ERR_INVAL;
	switch (type_of(id)) {
	case MQTT_PROP_T_BYTE:
		return value > 0xFF ? MIDGE_ERR_INVAL : props__put_u8(&p->b, id, (uint8_t)value);
	case MQTT_PROP_T_U16:
		return value > 0xFFFF ? MIDGE_ERR_INVAL : props__put_u16(&p->b, id, (uint16_t)value);
	case MQTT_PROP_T_U32:
		return props__put_u32(&p->b, id, value);
	case MQTT_PROP_T_VARINT:
		return props__put_varint(&p->b, id, value); /* INVAL past 268435455 */
	default:
		return MIDGE_ERR_INVAL;
	}
}

/* s as a span when it is a string MQTT can carry (at most 65535 bytes of valid UTF-8), else false. */
static bool utf8_span(const char *s, struct mqtt_str *out)
{
	if (!s) return false;
	size_t n = strlen(s);
	if (n > 0xFFFF || !utf8__valid((const uint8_t *)s, n)) return false;
	*out = (struct mqtt_str){(const uint8_t *)s, (uint32_t)n};
	return true;
}

int midge_props_add_string(struct midge_props *p, uint8_t id, const char *value)
{
	struct mqtt_str s;
	if (!p || type_of(id) != MQTT_PROP_T_UTF8 || !utf8_span(value, &s)) return MIDGE_ERR_INVAL;
	return props__put_str(&p->b, id, &s);
}

int midge_props_add_binary(struct midge_props *p, uint8_t id, const void *data, size_t len)
{
	if (!p || type_of(id) != MQTT_PROP_T_BINARY || len > 0xFFFF || (!data && len)) return MIDGE_ERR_INVAL;
	struct mqtt_str s = {data, (uint32_t)len};
	return props__put_bin(&p->b, id, &s);
}

int midge_props_add_user(struct midge_props *p, const char *name, const char *value)
{
	struct mqtt_str n, v;
	if (!p || !utf8_span(name, &n) || !utf8_span(value, &v)) return MIDGE_ERR_INVAL;
	return props__put_pair(&p->b, MQTT_PROP_USER_PROPERTY, &n, &v);
}

bool midge_props_next(const struct midge_props *p, size_t *pos, struct midge_prop *out)
{
	struct mqtt_str span = plist__span(p);
	struct mqtt_prop pr;
	if (!pos || !out || !props__next(&span, pos, &pr)) return false;
	memset(out, 0, sizeof(*out));
	out->id = pr.id;
	out->value = pr.u32;
	out->str = (const char *)pr.str.p;
	out->len = pr.str.len;
	out->str2 = (const char *)pr.str2.p;
	out->len2 = pr.str2.len;
	return true;
}

bool midge_props_get(const struct midge_props *p, uint8_t id, struct midge_prop *out)
{
	size_t pos = 0;
	struct midge_prop pr;
	while (midge_props_next(p, &pos, &pr)) {
		if (pr.id != id) continue;
		if (out) *out = pr;
		return true;
	}
	return false;
}

size_t midge_props_count(const struct midge_props *p)
{
	size_t pos = 0, n = 0;
	struct midge_prop pr;
	while (midge_props_next(p, &pos, &pr))
		n++;
	return n;
}
