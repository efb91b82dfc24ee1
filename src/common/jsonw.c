/* jsonw: a streaming JSON writer (jsonw.h). */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "midge/midge.h"
#include "utf8.h"

static void put(struct jsonw *j, const void *p, size_t n)
{
	if (!j->failed && buf__append(j->out, p, n)) j->failed = true;
}

static void puts_(struct jsonw *j, const char *s) { put(j, s, strlen(s)); }

/* The length of the UTF-8 sequence starting at p[0..len) when it is well-formed, else 0. */
static size_t seq_len(const uint8_t *p, size_t len)
{
	size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
	return n && n <= len && utf8__valid(p, n) ? n : 0;
}

static void string(struct jsonw *j, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	put(j, "\"", 1);
	size_t run = 0; /* bytes before i that need no escaping, written in one go */
	for (size_t i = 0; i < len;) {
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		size_t n = c >= 0x80 ? seq_len(p + i, len - i) : 0;
		if (n) {
			i += n;
			run += n;
			continue;
		}
		put(j, p + i - run, run);
		run = 0;
		char esc[8];
		if (c == '"') puts_(j, "\\\"");
		else if (c == '\\') puts_(j, "\\\\");
		else if (c == '\n') puts_(j, "\\n");
		else if (c == '\r') puts_(j, "\\r");
		else if (c == '\t') puts_(j, "\\t");
		else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			puts_(j, esc);
		} else puts_(j, "\\ufffd"); /* not UTF-8 */
		i++;
	}
	put(j, p + len - run, run);
	put(j, "\"", 1);
}

/* The separator and member name before a value. */
static void lead(struct jsonw *j, const char *key)
{
	if (!j->first[j->depth]) put(j, ",", 1);
	j->first[j->depth] = false;
	if (key && j->depth > 0) {
		string(j, key, strlen(key));
		put(j, ":", 1);
	}
}

void jsonw__init(struct jsonw *j, struct buf *out)
{
	*j = (struct jsonw){.out = out};
	j->first[0] = true;
}

static void open_(struct jsonw *j, const char *key, const char *bracket)
{
	lead(j, key);
	if (j->depth >= JSONW_MAX_DEPTH) {
		j->failed = true;
		return;
	}
	puts_(j, bracket);
	j->depth++;
	j->first[j->depth] = true;
	j->array[j->depth] = bracket[0] == '[';
}

void jsonw__obj(struct jsonw *j, const char *key) { open_(j, key, "{"); }
void jsonw__arr(struct jsonw *j, const char *key) { open_(j, key, "["); }

void jsonw__end(struct jsonw *j)
{
	if (j->depth == 0) {
		j->failed = true;
		return;
	}
	put(j, j->array[j->depth] ? "]" : "}", 1);
	j->depth--;
}

void jsonw__str(struct jsonw *j, const char *key, const char *s, size_t len)
{
	lead(j, key);
	if (s) string(j, s, len);
	else puts_(j, "null");
}

void jsonw__cstr(struct jsonw *j, const char *key, const char *s) { jsonw__str(j, key, s, s ? strlen(s) : 0); }

void jsonw__u64(struct jsonw *j, const char *key, uint64_t v)
{
	char t[24];
	lead(j, key);
	puts_(j, (snprintf(t, sizeof(t), "%" PRIu64, v), t));
}

void jsonw__i64(struct jsonw *j, const char *key, int64_t v)
{
	char t[24];
	lead(j, key);
	puts_(j, (snprintf(t, sizeof(t), "%" PRId64, v), t));
}

void jsonw__bool(struct jsonw *j, const char *key, bool v)
{
	lead(j, key);
	puts_(j, v ? "true" : "false");
}

void jsonw__null(struct jsonw *j, const char *key)
{
	lead(j, key);
	puts_(j, "null");
}

int jsonw__done(const struct jsonw *j)
{
	if (j->failed) return j->depth > JSONW_MAX_DEPTH ? MIDGE_ERR_INVAL : MIDGE_ERR_NOMEM;
	return j->depth ? MIDGE_ERR_INVAL : 0;
}
