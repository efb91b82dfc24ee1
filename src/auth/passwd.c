/* Mosquitto-compatible password files: the $6$ (salted SHA-512) and $7$ (PBKDF2-SHA512) hashes, on libcrypto. */
#include "auth/passwd.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/file.h"
#include "midge/midge.h"


/* Strict base64 (padded, no whitespace) of s[0..n) into out (cap bytes); returns the decoded length or -1. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap + 2 || n > 1024) return -1;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			if (i < n - 2) return -1;
			pad++;
		} else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		                    c == '+' || c == '/')) {
			return -1;
		}
	}
	unsigned char tmp[1024];
	int len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (len < 0 || (size_t)len < pad) return -1;
	len -= (int)pad; /* EVP_DecodeBlock counts the bytes the padding stands for */
	if ((size_t)len > cap) return -1;
	memcpy(out, tmp, (size_t)len);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return len;
}

static int hash_password(const struct pw_entry *e, const char *password, unsigned char out[PW_HASH_LEN])
{
	size_t plen = strlen(password);
	if (plen > INT_MAX) return -1;
	if (e->type == PW_SHA512_PBKDF2) {
		return PKCS5_PBKDF2_HMAC(password, (int)plen, e->salt, (int)e->salt_len, e->iterations, EVP_sha512(),
		                         PW_HASH_LEN, out) == 1
		           ? 0
		           : -1;
	}
	/* $6$: SHA-512 over the password then the salt, as Mosquitto's pw__digest. */
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 && EVP_DigestUpdate(ctx, password, plen) == 1 &&
	         EVP_DigestUpdate(ctx, e->salt, e->salt_len) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
	         len == PW_HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int pw__decode(const char *field, struct pw_entry *e, char *err, size_t errlen)
{
	const char *p;
	if (field[0] != '$' || (field[1] != '6' && field[1] != '7') || field[2] != '$')
		return err__set(err, errlen, MIDGE_ERR_INVAL, "unknown password hash type (expected $6$ or $7$)");
	e->type = field[1] == '7' ? PW_SHA512_PBKDF2 : PW_SHA512;
	p = field + 3;
	e->iterations = 0;
	if (e->type == PW_SHA512_PBKDF2) {
		long it = 0;
		const char *q = p;
		while (*q >= '0' && *q <= '9' && it <= INT_MAX)
			it = it * 10 + (*q++ - '0');
		if (q == p || *q != '$' || it < 1 || it > INT_MAX)
			return err__set(err, errlen, MIDGE_ERR_INVAL, "invalid iteration count in $7$ hash");
		e->iterations = (int)it;
		p = q + 1;
	}
	const char *d = strchr(p, '$');
	if (!d) return err__set(err, errlen, MIDGE_ERR_INVAL, "missing '$' between salt and hash");
	int n = b64_decode(p, (size_t)(d - p), e->salt, sizeof(e->salt));
	if (n != PW_SALT_LEN && n != PW_SALT_MAX)
		return err__set(err, errlen, MIDGE_ERR_INVAL, "invalid salt (base64 of 12 or 64 bytes expected)");
	e->salt_len = (size_t)n;
	p = d + 1;
	if (b64_decode(p, strlen(p), e->hash, sizeof(e->hash)) != PW_HASH_LEN)
		return err__set(err, errlen, MIDGE_ERR_INVAL, "invalid hash (base64 of 64 bytes expected)");
	return 0;
}

int pw__encode(enum pw_type type, int iterations, const char *password, char *out, size_t outlen)
{
	struct pw_entry e = {.type = type, .iterations = iterations, .salt_len = PW_SALT_LEN};
	unsigned char hash[PW_HASH_LEN];
	char salt64[4 * ((PW_SALT_LEN + 2) / 3) + 1], hash64[4 * ((PW_HASH_LEN + 2) / 3) + 1];
	int rc = MIDGE_ERR_IO;

	if (type != PW_SHA512 && type != PW_SHA512_PBKDF2) return MIDGE_ERR_INVAL;
	if (type == PW_SHA512_PBKDF2 && iterations < 1) return MIDGE_ERR_INVAL;
	if (RAND_bytes(e.salt, PW_SALT_LEN) != 1) goto out;
	if (hash_password(&e, password, hash)) goto out;
	EVP_EncodeBlock((unsigned char *)salt64, e.salt, PW_SALT_LEN);
	EVP_EncodeBlock((unsigned char *)hash64, hash, PW_HASH_LEN);
	int n = type == PW_SHA512_PBKDF2 ? snprintf(out, outlen, "$7$%d$%s$%s", iterations, salt64, hash64)
	                                 : snprintf(out, outlen, "$6$%s$%s", salt64, hash64);
	rc = n < 0 || (size_t)n >= outlen ? MIDGE_ERR_INVAL : 0;
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

bool pw__entry_verify(const struct pw_entry *e, const char *password)
{
	unsigned char hash[PW_HASH_LEN];
	if (!e || !password || hash_password(e, password, hash)) return false;
	bool ok = CRYPTO_memcmp(hash, e->hash, PW_HASH_LEN) == 0;
	OPENSSL_cleanse(hash, sizeof(hash));
	return ok;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct pw_entry *)a)->username, ((const struct pw_entry *)b)->username);
}

const struct pw_entry *pw__find(const struct pw_table *t, const char *username)
{
	if (!t->count || !username) return NULL;
	struct pw_entry key = {.username = (char *)username};
	return bsearch(&key, t->entries, t->count, sizeof(*t->entries), by_name);
}

bool pw__verify(const struct pw_table *t, const char *username, const char *password)
{
	const struct pw_entry *e = pw__find(t, username);
	bool ok = e && pw__entry_verify(e, password);
	if (t->count && password && e != &t->entries[t->costliest]) {
		/* Spend what the dearest real check costs, whatever was (or was not) checked above. */
		(void)pw__entry_verify(&t->entries[t->costliest], password);
	}
	return ok;
}

void pw__table_fini(struct pw_table *t)
{
	for (size_t i = 0; i < t->count; i++) {
		free(t->entries[i].username);
		OPENSSL_cleanse(&t->entries[i], sizeof(t->entries[i]));
	}
	free(t->entries);
	t->entries = NULL;
	t->count = 0;
	t->costliest = 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int pw__parse_text(struct pw_table *t, const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	size_t cap = 0;
	int rc = 0;
	int lineno = 0;
	char *line = NULL;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		lineno++;
		size_t ll = (size_t)(le - p);
		char *nline = realloc(line, ll + 1);
		if (!nline) {
			rc = err__set(err, errlen, MIDGE_ERR_NOMEM, "%s:%d: out of memory", name, lineno);
			goto out;
		}
		line = nline;
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = nl ? nl + 1 : end;
		if (strlen(line) != ll) {
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: NUL byte in line", name, lineno);
			goto out;
		}

		char *s = line;
		while (blank(*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && blank(e[-1]))
			*--e = '\0';
		if (*s == '\0' || *s == '#') continue;

		char *colon = strchr(s, ':');
		if (!colon) {
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: expected \"username:hash\"", name, lineno);
			goto out;
		}
		char *u_end = colon;
		while (u_end > s && blank(u_end[-1]))
			u_end--;
		*u_end = '\0';
		char *field = colon + 1;
		while (blank(*field))
			field++;
		if (*s == '\0') {
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: empty username", name, lineno);
			goto out;
		}
		if (*field == '\0') {
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: no password hash for user \"%s\"", name, lineno,
			          s);
			goto out;
		}
		if (t->count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pw_entry *ne = realloc(t->entries, ncap * sizeof(*ne));
			if (!ne) {
				rc = err__set(err, errlen, MIDGE_ERR_NOMEM, "%s:%d: out of memory", name, lineno);
				goto out;
			}
			t->entries = ne;
			cap = ncap;
		}
		struct pw_entry *ent = &t->entries[t->count];
		memset(ent, 0, sizeof(*ent));
		char why[128];
		if (pw__decode(field, ent, why, sizeof(why))) {
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: user \"%s\": %s", name, lineno, s, why);
			goto out;
		}
		ent->line = lineno;
		if (!(ent->username = strdup(s))) {
			rc = err__set(err, errlen, MIDGE_ERR_NOMEM, "%s:%d: out of memory", name, lineno);
			goto out;
		}
		t->count++;
	}

	if (t->count) qsort(t->entries, t->count, sizeof(*t->entries), by_name);
	t->costliest = 0;
	for (size_t i = 0; i < t->count; i++)
		if (t->entries[i].iterations > t->entries[t->costliest].iterations) t->costliest = i;
	for (size_t i = 1; i < t->count; i++) {
		if (strcmp(t->entries[i - 1].username, t->entries[i].username) == 0) {
			const struct pw_entry *a = &t->entries[i - 1], *b = &t->entries[i];
			const struct pw_entry *later = a->line > b->line ? a : b, *first = later == a ? b : a;
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: duplicate user \"%s\" (first at line %d)", name,
			          later->line, later->username, first->line);
			goto out;
		}
	}
out:
	if (line) {
		OPENSSL_cleanse(line, strlen(line));
		free(line);
	}
	if (rc) pw__table_fini(t);
	return rc;
}

int pw__parse_file(struct pw_table *t, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = file__read_all_err(path, &buf, &len, err, errlen);
	if (rc) return rc;
	rc = pw__parse_text(t, buf ? buf : "", len, path, err, errlen);
	if (buf) OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}
