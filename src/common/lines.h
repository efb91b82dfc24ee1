/* Reading a text file a line at a time, the way Mosquitto reads its config, password-like and topic files. */
#ifndef MIDGE_LINES_H
#define MIDGE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A cursor over text[0..len) (need not be NUL-terminated). line is the number of the line last returned. */
struct lines {
	const char *text;
	size_t len, pos;
	int line;
};

static inline void lines__init(struct lines *l, const char *text, size_t len)
{
	*l = (struct lines){.text = text, .len = len};
}

static inline bool lines__blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }

/* The next line with something in it: without its newline and the blanks around it, skipping blank lines and
 * those whose first character is '#'. True with *s and *n set (and l->line its number); false at the end. */
static inline bool lines__next(struct lines *l, const char **s, size_t *n)
{
	while (l->pos < l->len) {
		const char *p = l->text + l->pos;
		const char *nl = memchr(p, '\n', l->len - l->pos);
		size_t k = nl ? (size_t)(nl - p) : l->len - l->pos;
		l->pos += k + (nl != NULL);
		l->line++;
		while (k && lines__blank(*p)) p++, k--;
		while (k && lines__blank(p[k - 1])) k--;
		if (k == 0 || *p == '#') continue;
		*s = p;
		*n = k;
		return true;
	}
	return false;
}

#endif
