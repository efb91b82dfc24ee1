/* The cluster's wire forms on NATS: subjects and message payloads. See cluster_codec.h. */
#include <string.h>

#include "cluster_codec.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "midge/midge.h"
#include "proto/proto.h"

#define MAGIC0 'M'
#define MAGIC1 'Q'
#define VERSION 1
#define F_QOS 0x03
#define F_RETAIN 0x04
#define F_EXPIRY 0x08

static bool plain(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Appends one level as a token. */
static int put_level(struct buf *out, const uint8_t *l, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!n) return buf__append(out, "=", 1);
	for (size_t i = 0; i < n; i++) {
		if (plain(l[i])) {
			if (buf__append(out, &l[i], 1)) return MIDGE_ERR_NOMEM;
			continue;
		}
		char e[3] = {'=', hex[l[i] >> 4], hex[l[i] & 15]};
		if (buf__append(out, e, 3)) return MIDGE_ERR_NOMEM;
	}
	return 0;
}

/* Appends the subject of levels p[0..len) after the prefix and the class token cls, '+' and '#' as wildcards when
 * filter. */
static int put_subject(struct buf *out, const char *cls, const uint8_t *p, size_t len, bool filter)
{
	if (buf__append(out, CLUSTER_SUBJECT_PREFIX ".", sizeof(CLUSTER_SUBJECT_PREFIX)) ||
	    buf__append(out, cls, strlen(cls)))
		return MIDGE_ERR_NOMEM;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/') continue;
		const uint8_t *l = p + start;
		size_t n = i - start;
		int rc = buf__append(out, ".", 1);
		if (!rc) {
			if (filter && n == 1 && l[0] == '+') rc = buf__append(out, "*", 1);
			else if (filter && n == 1 && l[0] == '#') rc = buf__append(out, ">", 1);
			else rc = put_level(out, l, n);
		}
		if (rc) return MIDGE_ERR_NOMEM;
		start = i + 1;
	}
	return buf__append(out, "", 1);
}

int cluster__topic_subject(const uint8_t *t, size_t len, bool stored, struct buf *out)
{
	buf__clear(out);
	return put_subject(out, stored ? CLUSTER_CLASS_STORED : CLUSTER_CLASS_PLAIN, t, len, false);
}

int cluster__filter_subjects(const uint8_t *f, size_t len, struct buf *out, int *n)
{
	buf__clear(out);
	*n = 1;
	if (put_subject(out, "*", f, len, true)) return MIDGE_ERR_NOMEM;
	/* "a/#" matches "a" too (MQTT 4.7.1.2): its parent's subject; "#" alone has none (no empty topic). */
	if (len >= 2 && f[len - 1] == '#' && f[len - 2] == '/') {
		*n = 2;
		return put_subject(out, "*", f, len - 2, true);
	}
	return 0;
}

int cluster__key(const uint8_t *id, size_t len, struct buf *out)
{
	buf__clear(out);
	return put_level(out, id, len) || buf__append(out, "", 1) ? MIDGE_ERR_NOMEM : 0;
}

static int put_varint(struct buf *out, uint32_t v)
{
	uint8_t b[4];
	size_t n = proto__varint_encode(b, v);
	return n ? buf__append(out, b, n) : MIDGE_ERR_INVAL;
}

int cluster__encode(const struct cluster_msg *m, struct buf *out)
{
	buf__clear(out);
	uint8_t head[3] = {MAGIC0, MAGIC1, VERSION};
	uint8_t flags = (uint8_t)((m->qos & F_QOS) | (m->retain ? F_RETAIN : 0) | (m->expiry_s ? F_EXPIRY : 0));
	uint8_t id[16];
	for (int i = 0; i < 8; i++) {
		id[i] = (uint8_t)(m->origin >> (56 - 8 * i));
		id[8 + i] = (uint8_t)(m->seq >> (56 - 8 * i));
	}
	int rc = buf__append(out, head, 3);
	if (!rc) rc = buf__append(out, &flags, 1);
	if (!rc) rc = buf__append(out, id, 16);
	if (!rc) rc = put_varint(out, (uint32_t)m->topic_len);
	if (!rc) rc = buf__append(out, m->topic, m->topic_len);
	if (!rc) rc = put_varint(out, (uint32_t)m->props_len);
	if (!rc && m->props_len) rc = buf__append(out, m->props, m->props_len);
	if (!rc && m->expiry_s) {
		uint8_t e[4] = {(uint8_t)(m->expiry_s >> 24), (uint8_t)(m->expiry_s >> 16), (uint8_t)(m->expiry_s >> 8),
				(uint8_t)m->expiry_s};
		rc = buf__append(out, e, 4);
	}
	if (!rc && m->payload_len) rc = buf__append(out, m->payload, m->payload_len);
	return rc ? MIDGE_ERR_NOMEM : 0;
}

void cluster__set_seq(uint8_t *env, uint64_t seq)
{
	for (int i = 0; i < 8; i++) env[12 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* A varint length at p[*at..n) whose bytes follow within n. */
static bool get_len(const uint8_t *p, size_t n, size_t *at, uint32_t *v)
{
	size_t used;
	if (proto__varint_decode(p + *at, n - *at, v, &used) != PROTO_OK) return false;
	*at += used;
	return *v <= n - *at;
}

int cluster__decode(const uint8_t *p, size_t n, struct cluster_msg *m)
{
	*m = (struct cluster_msg){0};
	if (n < 4 || p[0] != MAGIC0 || p[1] != MAGIC1 || p[2] != VERSION) return MIDGE_ERR_MALFORMED;
	uint8_t flags = p[3];
	if ((flags & ~(F_QOS | F_RETAIN | F_EXPIRY)) || (flags & F_QOS) == 3) return MIDGE_ERR_MALFORMED;
	m->qos = flags & F_QOS;
	m->retain = flags & F_RETAIN;
	if (n < 20) return MIDGE_ERR_MALFORMED;
	for (int i = 0; i < 8; i++) {
		m->origin = m->origin << 8 | p[4 + i];
		m->seq = m->seq << 8 | p[12 + i];
	}
	size_t at = 20;
	uint32_t tl, pl;
	if (!get_len(p, n, &at, &tl)) return MIDGE_ERR_MALFORMED;
	m->topic = p + at;
	m->topic_len = tl;
	at += tl;
	if (!tl || tl > 0xFFFF || !utf8__valid(m->topic, tl) || !topic__valid_name(m->topic, tl)) return MIDGE_ERR_MALFORMED;
	if (!get_len(p, n, &at, &pl)) return MIDGE_ERR_MALFORMED;
	m->props = p + at;
	m->props_len = pl;
	at += pl;
	if (flags & F_EXPIRY) {
		if (n - at < 4) return MIDGE_ERR_MALFORMED;
		m->expiry_s = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 | (uint32_t)p[at + 2] << 8 | p[at + 3];
		at += 4;
		if (!m->expiry_s) return MIDGE_ERR_MALFORMED;
	}
	m->payload = p + at;
	m->payload_len = n - at;
	return 0;
}

/* ---- a persistent session's entry ---- */

#define PS0 'P'
#define PS1 'S'

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++) v = v << 8 | p[i];
	return v;
}

int cluster__psess_begin(struct buf *out, uint64_t owner, uint32_t expiry)
{
	buf__clear(out);
	uint8_t h[15] = {PS0, PS1, VERSION};
	put_be(h + 3, owner, 8);
	put_be(h + 11, expiry, 4);
	return buf__append(out, h, sizeof(h)) ? MIDGE_ERR_NOMEM : 0;
}

int cluster__psess_add(struct buf *out, const struct cluster_psub *s)
{
	if (s->len > 0xFFFF) return MIDGE_ERR_INVAL;
	uint8_t h[7];
	h[0] = s->options;
	put_be(h + 1, s->sub_id, 4);
	put_be(h + 5, s->len, 2);
	return buf__append(out, h, sizeof(h)) || buf__append(out, s->filter, s->len) ? MIDGE_ERR_NOMEM : 0;
}

int cluster__psess_decode(const uint8_t *p, size_t n, uint64_t *owner, uint32_t *expiry,
			  int (*each)(void *arg, const struct cluster_psub *s), void *arg)
{
	if (n < 15 || p[0] != PS0 || p[1] != PS1 || p[2] != VERSION) return MIDGE_ERR_MALFORMED;
	*owner = get_be(p + 3, 8);
	*expiry = (uint32_t)get_be(p + 11, 4);
	for (size_t at = 15; at < n;) {
		if (n - at < 7) return MIDGE_ERR_MALFORMED;
		struct cluster_psub s = {.options = p[at], .sub_id = (uint32_t)get_be(p + at + 1, 4)};
		s.len = (size_t)get_be(p + at + 5, 2);
		at += 7;
		if (s.len > n - at) return MIDGE_ERR_MALFORMED;
		s.filter = p + at;
		at += s.len;
		/* What a SUBSCRIBE would have refused is not subscribed from here either. */
		if (!s.len || (s.options & 3) == 3 || !utf8__valid(s.filter, s.len) || !topic__valid_filter(s.filter, s.len))
			return MIDGE_ERR_MALFORMED;
		if (each) {
			int rc = each(arg, &s);
			if (rc) return rc;
		}
	}
	return 0;
}
