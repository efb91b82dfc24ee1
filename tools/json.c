/* json: a cJSON-compatible JSON parser and printer, so midge-sub's %j / %J output matches
 * mosquitto_sub's (which uses cJSON 1.7) byte for byte, including cJSON's leniencies and quirks. */
#include "json.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's CJSON_NESTING_LIMIT. */
#define NESTING_LIMIT 1000

/* The input as cJSON sees it: content[0..len) where the last byte is the terminating NUL. */
struct pbuf {
	const unsigned char *s;
	size_t len;
	size_t off;
	size_t depth;
};

static bool can_access(const struct pbuf *b, size_t i)
{
	return b->off + i < b->len;
}

static bool can_read(const struct pbuf *b, size_t n)
{
	return b->off + n <= b->len;
}

static const unsigned char *at(const struct pbuf *b)
{
	return b->s + b->off;
}

/* cJSON skips every byte <= 32 as whitespace, and never moves past the terminating NUL. */
static void skip_ws(struct pbuf *b)
{
	if (!can_access(b, 0)) return;
	while (can_access(b, 0) && at(b)[0] <= 32)
		b->off++;
	if (b->off == b->len) b->off--;
}

struct json *json__new(enum json_type type)
{
	struct json *j = calloc(1, sizeof(*j));
	if (j) j->type = type;
	return j;
}

void json__free(struct json *j)
{
	while (j) {
		struct json *next = j->next;
		json__free(j->child);
		free(j->string);
		free(j->key);
		free(j);
		j = next;
	}
}

struct json *json__new_number(double n)
{
	struct json *j = json__new(JSON_NUMBER);
	if (j) j->number = n;
	return j;
}

struct json *json__new_string(const char *s, size_t len)
{
	struct json *j = json__new(JSON_STRING);
	if (!j) return NULL;
	const char *nul = memchr(s, 0, len);
	if (nul) len = (size_t)(nul - s);
	j->string = malloc(len + 1);
	if (!j->string) {
		free(j);
		return NULL;
	}
	memcpy(j->string, s, len);
	j->string[len] = '\0';
	return j;
}

static void append(struct json *parent, struct json *item)
{
	if (parent->last)
		parent->last->next = item;
	else
		parent->child = item;
	parent->last = item;
}

int json__add(struct json *parent, const char *key, struct json *item)
{
	if (!item) return -1;
	if (key) {
		item->key = strdup(key);
		if (!item->key) {
			json__free(item);
			return -1;
		}
	}
	append(parent, item);
	return 0;
}

/* ---- parsing ---- */

static bool parse_value(struct json *item, struct pbuf *b);

/* Four hex digits; 0 when any is not hex (cJSON's parse_hex4). */
static unsigned parse_hex4(const unsigned char *p)
{
	unsigned h = 0;
	for (int i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			h += (unsigned)(p[i] - '0');
		else if (p[i] >= 'A' && p[i] <= 'F')
			h += 10u + (unsigned)(p[i] - 'A');
		else if (p[i] >= 'a' && p[i] <= 'f')
			h += 10u + (unsigned)(p[i] - 'a');
		else
			return 0;
		if (i < 3) h <<= 4;
	}
	return h;
}

/* A \uXXXX (or surrogate pair) at p, before end, as UTF-8 into *out. Returns the length of the escape
 * consumed, or 0 when invalid. */
static int utf16_to_utf8(const unsigned char *p, const unsigned char *end, unsigned char **out)
{
	unsigned long cp;
	int seq;
	if (end - p < 6) return 0;
	unsigned first = parse_hex4(p + 2);
	if (first >= 0xDC00 && first <= 0xDFFF) return 0;
	if (first >= 0xD800 && first <= 0xDBFF) {
		const unsigned char *second = p + 6;
		seq = 12;
		if (end - second < 6 || second[0] != '\\' || second[1] != 'u') return 0;
		unsigned code2 = parse_hex4(second + 2);
		if (code2 < 0xDC00 || code2 > 0xDFFF) return 0;
		cp = 0x10000 + (((first & 0x3FFul) << 10) | (code2 & 0x3FFul));
	} else {
		seq = 6;
		cp = first;
	}
	unsigned char *o = *out;
	if (cp < 0x80) {
		*o++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*o++ = (unsigned char)(0xC0 | (cp >> 6));
		*o++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (unsigned char)(0xE0 | (cp >> 12));
		*o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (unsigned char)(0xF0 | (cp >> 18));
		*o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		*o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (unsigned char)(0x80 | (cp & 0x3F));
	}
	*out = o;
	return seq;
}

/* A string literal at the offset into *dst (malloc'd). */
static bool parse_string_raw(struct pbuf *b, char **dst)
{
	if (!can_access(b, 0) || at(b)[0] != '"') return false;
	const unsigned char *p = at(b) + 1;
	const unsigned char *end = p;
	while ((size_t)(end - b->s) < b->len && *end != '"') {
		if (*end == '\\') {
			if ((size_t)(end + 1 - b->s) >= b->len) return false;
			end++;
		}
		end++;
	}
	if ((size_t)(end - b->s) >= b->len || *end != '"') return false;
	/* Escapes never grow: \uXXXX (6 bytes) becomes at most 3, a pair (12) at most 4. */
	unsigned char *out = malloc((size_t)(end - p) + 1);
	if (!out) return false;
	unsigned char *o = out;
	while (p < end) {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		int seq = 2;
		switch (p[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			*o++ = p[1];
			break;
		case 'u':
			seq = utf16_to_utf8(p, end, &o);
			if (seq == 0) {
				free(out);
				return false;
			}
			break;
		default:
			free(out);
			return false;
		}
		p += seq;
	}
	*o = '\0';
	*dst = (char *)out;
	b->off = (size_t)(end - b->s) + 1;
	return true;
}

static bool parse_number(struct json *item, struct pbuf *b)
{
	size_t n = 0;
	while (can_access(b, n)) {
		unsigned char c = at(b)[n];
		if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.')) break;
		n++;
	}
	char *num = malloc(n + 1);
	if (!num) return false;
	memcpy(num, at(b), n);
	num[n] = '\0';
	char *after = NULL;
	double d = strtod(num, &after);
	size_t used = (size_t)(after - num);
	free(num);
	if (used == 0) return false;
	item->type = JSON_NUMBER;
	item->number = d;
	b->off += used;
	return true;
}

static bool parse_array(struct json *item, struct pbuf *b)
{
	if (b->depth >= NESTING_LIMIT) return false;
	b->depth++;
	item->type = JSON_ARRAY;
	if (at(b)[0] != '[') return false;
	b->off++;
	skip_ws(b);
	if (can_access(b, 0) && at(b)[0] == ']') goto done;
	if (!can_access(b, 0)) return false;
	b->off--;
	do {
		struct json *child = json__new(JSON_NULL);
		if (!child) return false;
		append(item, child);
		b->off++;
		skip_ws(b);
		if (!parse_value(child, b)) return false;
		skip_ws(b);
	} while (can_access(b, 0) && at(b)[0] == ',');
	if (!can_access(b, 0) || at(b)[0] != ']') return false;
done:
	b->depth--;
	b->off++;
	return true;
}

static bool parse_object(struct json *item, struct pbuf *b)
{
	if (b->depth >= NESTING_LIMIT) return false;
	b->depth++;
	item->type = JSON_OBJECT;
	if (!can_access(b, 0) || at(b)[0] != '{') return false;
	b->off++;
	skip_ws(b);
	if (can_access(b, 0) && at(b)[0] == '}') goto done;
	if (!can_access(b, 0)) return false;
	b->off--;
	do {
		struct json *child = json__new(JSON_NULL);
		if (!child) return false;
		append(item, child);
		b->off++;
		skip_ws(b);
		if (!parse_string_raw(b, &child->key)) return false;
		skip_ws(b);
		if (!can_access(b, 0) || at(b)[0] != ':') return false;
		b->off++;
		skip_ws(b);
		if (!parse_value(child, b)) return false;
		skip_ws(b);
	} while (can_access(b, 0) && at(b)[0] == ',');
	if (!can_access(b, 0) || at(b)[0] != '}') return false;
done:
	b->depth--;
	b->off++;
	return true;
}

static bool parse_value(struct json *item, struct pbuf *b)
{
	if (can_read(b, 4) && !strncmp((const char *)at(b), "null", 4)) {
		item->type = JSON_NULL;
		b->off += 4;
		return true;
	}
	if (can_read(b, 5) && !strncmp((const char *)at(b), "false", 5)) {
		item->type = JSON_FALSE;
		b->off += 5;
		return true;
	}
	if (can_read(b, 4) && !strncmp((const char *)at(b), "true", 4)) {
		item->type = JSON_TRUE;
		b->off += 4;
		return true;
	}
	if (!can_access(b, 0)) return false;
	unsigned char c = at(b)[0];
	if (c == '"') {
		item->type = JSON_STRING;
		return parse_string_raw(b, &item->string);
	}
	if (c == '-' || (c >= '0' && c <= '9')) return parse_number(item, b);
	if (c == '[') return parse_array(item, b);
	if (c == '{') return parse_object(item, b);
	return false;
}

struct json *json__parse(const char *text, size_t len)
{
	if (memchr(text, 0, len)) return NULL; /* cJSON would stop at the NUL, short of the payload's end */
	char *copy = malloc(len + 1);
	if (!copy) return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	struct pbuf b = {(const unsigned char *)copy, len + 1, 0, 0};
	struct json *root = json__new(JSON_NULL);
	bool ok = root != NULL;
	if (ok && can_access(&b, 4) && !strncmp(copy, "\xEF\xBB\xBF", 3)) b.off += 3;
	if (ok) {
		skip_ws(&b);
		ok = parse_value(root, &b);
	}
	if (ok) {
		skip_ws(&b);
		ok = b.off < b.len && at(&b)[0] == '\0';
	}
	free(copy);
	if (!ok) {
		json__free(root);
		return NULL;
	}
	return root;
}

/* ---- printing ---- */

static bool same_double(double a, double b)
{
	double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	return fabs(a - b) <= max * DBL_EPSILON;
}

static void print_number(FILE *out, double d)
{
	char buf[32];
	double back = 0.0;
	if (isnan(d) || isinf(d)) {
		fputs("null", out);
		return;
	}
	snprintf(buf, sizeof(buf), "%1.15g", d);
	if (sscanf(buf, "%lg", &back) != 1 || !same_double(back, d)) snprintf(buf, sizeof(buf), "%1.17g", d);
	fputs(buf, out);
}

static void print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 32)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

static void tabs(FILE *out, size_t n)
{
	while (n--)
		fputc('\t', out);
}

static void print_value(FILE *out, const struct json *j, bool pretty, size_t *depth)
{
	switch (j->type) {
	case JSON_NULL:
		fputs("null", out);
		break;
	case JSON_FALSE:
		fputs("false", out);
		break;
	case JSON_TRUE:
		fputs("true", out);
		break;
	case JSON_NUMBER:
		print_number(out, j->number);
		break;
	case JSON_STRING:
		print_string(out, j->string);
		break;
	case JSON_ARRAY:
		fputc('[', out);
		(*depth)++;
		for (const struct json *c = j->child; c; c = c->next) {
			print_value(out, c, pretty, depth);
			if (c->next) fputs(pretty ? ", " : ",", out);
		}
		fputc(']', out);
		(*depth)--;
		break;
	case JSON_OBJECT:
		fputc('{', out);
		(*depth)++;
		if (pretty) fputc('\n', out);
		for (const struct json *c = j->child; c; c = c->next) {
			if (pretty) tabs(out, *depth);
			print_string(out, c->key);
			fputs(pretty ? ":\t" : ":", out);
			print_value(out, c, pretty, depth);
			if (c->next) fputc(',', out);
			if (pretty) fputc('\n', out);
		}
		if (pretty) tabs(out, *depth - 1);
		fputc('}', out);
		(*depth)--;
		break;
	}
}

void json__print(FILE *out, const struct json *j, bool pretty)
{
	size_t depth = 0;
	print_value(out, j, pretty, &depth);
}
