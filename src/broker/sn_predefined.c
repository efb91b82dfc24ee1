/* MQTT-SN predefined topic ids: see sn_predefined.h. */
#include "sn_predefined.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/lines.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "midge/midge.h"

/* A refusal: the table is emptied, the message says which line. */
#define fail(t, err, errlen, line, ...) (sn_predef__fini(t), err__line(err, errlen, line, __VA_ARGS__))

#define blank lines__blank

int sn_predef__parse(struct sn_predefs *t, const char *text, size_t len, char *err, size_t errlen)
{
	size_t cap = 0, n;
	struct lines ls;
	const char *s;
	lines__init(&ls, text, len);
	while (lines__next(&ls, &s, &n)) {
		int line = ls.line;
		unsigned long id = 0;
		size_t i = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (id <= 65535) id = id * 10 + (unsigned long)(s[i] - '0'); /* past it: out of range, below */
		if (i == 0 || i == n || !blank(s[i]))
			return fail(t, err, errlen, line, "expected a topic id (a number) and a topic name");
		if (id == 0 || id >= 0xFFFF)
			return fail(t, err, errlen, line, "topic id out of range (1 to 65534)");
		while (i < n && blank(s[i])) i++;
		const uint8_t *topic = (const uint8_t *)s + i;
		size_t tl = n - i;
		if (tl > 65535 || !utf8__valid(topic, tl) || !topic__valid_name(topic, tl))
			return fail(t, err, errlen, line, "invalid topic name (UTF-8, no wildcards)");
		if (sn_predef__by_id(t, (uint16_t)id)) return fail(t, err, errlen, line, "topic id %lu given twice", id);
		if (sn_predef__by_topic(t, topic, tl)) return fail(t, err, errlen, line, "topic given two ids");
		if (t->n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct sn_predef *v = realloc(t->v, nc * sizeof(*v));
			if (!v) goto nomem;
			t->v = v;
			cap = nc;
		}
		char *copy = malloc(tl + 1);
		if (!copy) goto nomem;
		memcpy(copy, topic, tl);
		copy[tl] = 0;
		t->v[t->n++] = (struct sn_predef){.id = (uint16_t)id, .topic = copy, .len = tl};
	}
	return 0;
nomem:
	sn_predef__fini(t);
	return MIDGE_ERR_NOMEM;
}

const struct sn_predef *sn_predef__by_id(const struct sn_predefs *t, uint16_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].id == id) return &t->v[i];
	return NULL;
}

const struct sn_predef *sn_predef__by_topic(const struct sn_predefs *t, const uint8_t *topic, size_t len)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].len == len && memcmp(t->v[i].topic, topic, len) == 0) return &t->v[i];
	return NULL;
}

void sn_predef__fini(struct sn_predefs *t)
{
	for (size_t i = 0; i < t->n; i++) free(t->v[i].topic);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
