/* Topic names and topic filters: validation, matching by the MQTT rules and shared-subscription parsing. */
#include "topic.h"

#include <string.h>

#include "utf8.h"

bool topic__valid_name(const uint8_t *p, size_t len)
{
	if (len == 0 || len > 65535) return false;
	if (memchr(p, '+', len) || memchr(p, '#', len)) return false;
	return utf8__valid(p, len);
}

bool topic__valid_filter(const uint8_t *p, size_t len)
{
	if (len == 0 || len > 65535) return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '+' && p[i] != '#') continue;
		/* A wildcard must be the whole level: a '/' or the edge on both sides. */
		bool alone = (i == 0 || p[i - 1] == '/') && (i + 1 == len || p[i + 1] == '/');
		if (!alone) return false;
		if (p[i] == '#' && i + 1 != len) return false;
	}
	return utf8__valid(p, len);
}

/* Ends of the level starting at pos: returns the index of the next '/' or len. */
static size_t level_end(const uint8_t *s, size_t len, size_t pos)
{
	const uint8_t *slash = pos < len ? memchr(s + pos, '/', len - pos) : NULL;
	return slash ? (size_t)(slash - s) : len;
}

bool topic__matches(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen)
{
	/* [MQTT-4.7.2-1]: a leading wildcard must not reach server-internal $-topics. */
	if (tlen > 0 && topic[0] == '$' && flen > 0 && (filter[0] == '+' || filter[0] == '#')) return false;

	size_t fpos = 0, tpos = 0;
	bool tmore = true; /* the topic still has a level to match (possibly empty) */
	for (;;) {
		size_t fend = level_end(filter, flen, fpos);
		size_t fl = fend - fpos;
		/* '#' also matches the parent level: "a/#" matches "a", so test it before the topic runs out. */
		if (fl == 1 && filter[fpos] == '#') return true;
		if (!tmore) return false;
		size_t tend = level_end(topic, tlen, tpos);
		size_t tl = tend - tpos;
		bool plus = fl == 1 && filter[fpos] == '+';
		if (!plus && (fl != tl || memcmp(filter + fpos, topic + tpos, fl) != 0)) return false;
		tmore = tend < tlen;
		if (fend >= flen) return !tmore;
		fpos = fend + 1;
		tpos = tend + 1;
	}
}

int topic__parse_share(const uint8_t *p, size_t len, const uint8_t **group, size_t *glen, const uint8_t **filter,
                       size_t *flen)
{
	static const char prefix[] = "$share/";
	size_t plen = sizeof(prefix) - 1;
	if (len < plen || memcmp(p, prefix, plen) != 0) return 0;
	const uint8_t *g = p + plen, *slash = memchr(g, '/', len - plen);
	/* No '/' after the group ("$share/g") leaves no filter at all. */
	if (!slash) return -1;
	size_t gl = (size_t)(slash - g), fl = len - plen - gl - 1;
	/* [MQTT-4.8.2-2]: a group name is a non-empty string without wildcards ('/' ended it above). */
	if (gl == 0 || memchr(g, '+', gl) || memchr(g, '#', gl) || !utf8__valid(g, gl)) return -1;
	if (!topic__valid_filter(slash + 1, fl)) return -1;
	*group = g;
	*glen = gl;
	*filter = slash + 1;
	*flen = fl;
	return 1;
}

uint32_t topic__hash(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
	return h ? h : 1;
}
