/* Parsing Mosquitto's psk_file: see psk_file.h. Pure: no files, no OpenSSL. */
#include "psk_file.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/lines.h"
#include "midge/midge.h"

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
	return -1;
}

int psk__hex_key(const char *hex, size_t len, unsigned char *out, size_t max)
{
	size_t n = 0, i = 0;
	bool started = false;
	while (i < len) {
		int hi = 0, lo;
		/* An odd count: the first digit stands alone as the high byte, as BN_hex2bn reads it. */
		if (i == 0 && len % 2) {
			lo = hexval(hex[i++]);
		} else {
			hi = hexval(hex[i++]);
			lo = hexval(hex[i++]);
		}
		if (hi < 0 || lo < 0) return -1;
		unsigned char b = (unsigned char)(hi << 4 | lo);
		if (!started && b == 0) continue; /* BN_bn2bin writes no leading zero bytes */
		started = true;
		if (n == max) return -1;
		out[n++] = b;
	}
	return n ? (int)n : -1;
}

/* A refusal: the table is emptied, the message says which line. */
#define fail(t, err, errlen, line, ...) (psk__fini(t), err__line(err, errlen, line, __VA_ARGS__))

#define blank lines__blank

int psk__parse(struct psk_table *t, const char *text, size_t len, char *err, size_t errlen)
{
	size_t cap = 0, n;
	struct lines ls;
	const char *s;
	lines__init(&ls, text, len);
	while (lines__next(&ls, &s, &n)) {
		int line = ls.line;
		const char *colon = memchr(s, ':', n);
		if (!colon) return fail(t, err, errlen, line, "expected identity:key");
		size_t il = (size_t)(colon - s), kl = n - il - 1;
		const char *k = colon + 1;
		while (il && blank(s[il - 1])) il--;
		while (kl && blank(*k)) k++, kl--;
		if (il == 0) return fail(t, err, errlen, line, "empty identity");
		if (il > PSK_IDENTITY_MAX)
			return fail(t, err, errlen, line, "identity longer than %d bytes", PSK_IDENTITY_MAX);
		if (memchr(s, '\0', il)) return fail(t, err, errlen, line, "NUL byte in identity");
		unsigned char key[PSK_KEY_MAX];
		int klen = psk__hex_key(k, kl, key, sizeof(key));
		if (klen < 0) {
			return fail(t, err, errlen, line, "invalid key (expected 1 to %d bytes in hexadecimal, not zero)",
				    PSK_KEY_MAX);
		}
		char id[PSK_IDENTITY_MAX + 1];
		memcpy(id, s, il);
		id[il] = '\0';
		if (psk__find(t, id)) continue;
		if (t->n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct psk_entry *v = realloc(t->v, nc * sizeof(*v));
			if (!v) goto nomem;
			t->v = v;
			cap = nc;
		}
		struct psk_entry *e = &t->v[t->n];
		e->identity = strdup(id);
		e->key = malloc((size_t)klen);
		if (!e->identity || !e->key) {
			free(e->identity);
			free(e->key);
			goto nomem;
		}
		memcpy(e->key, key, (size_t)klen);
		e->key_len = (size_t)klen;
		t->n++;
	}
	return 0;
nomem:
	psk__fini(t);
	return MIDGE_ERR_NOMEM;
}

const struct psk_entry *psk__find(const struct psk_table *t, const char *identity)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].identity, identity)) return &t->v[i];
	return NULL;
}

void psk__fini(struct psk_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].identity);
		free(t->v[i].key);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
