/* Mosquitto's psk_file: "identity:hexkey" lines, parsed into a table the TLS server looks keys up in. */
#ifndef MIDGE_PSK_FILE_H
#define MIDGE_PSK_FILE_H

#include <stddef.h>

/* OpenSSL's limits (PSK_MAX_IDENTITY_LEN, PSK_MAX_PSK_LEN), without its headers. */
#define PSK_IDENTITY_MAX 128
#define PSK_KEY_MAX 256

struct psk_entry {
	char *identity;     /* NUL-terminated, owned by the table */
	size_t key_len;     /* 1..PSK_KEY_MAX */
	unsigned char *key; /* owned by the table */
};

/* A zeroed table is a valid empty one. */
struct psk_table {
	struct psk_entry *v;
	size_t n;
};

/* Converts a hex key of len characters as Mosquitto's tools do (OpenSSL's BN_hex2bn then BN_bn2bin):
 * an odd number of digits gets a leading zero nibble and leading zero bytes are dropped, so a key is
 * the same bytes on both sides. Writes at most max bytes to out. Returns the key length (>0), or -1
 * when hex is empty, not hexadecimal, zero, or longer than max. */
int psk__hex_key(const char *hex, size_t len, unsigned char *out, size_t max);
/* Parses len bytes of psk_file text (need not be NUL-terminated) into t, which must be empty.
 * Lines are "identity:hexkey"; blank lines and lines starting with '#' are skipped; blanks around
 * the identity and the key are ignored; the first entry of an identity wins.
 * Returns 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_INVAL with "line N: message" in err (errlen bytes);
 * on error t is left empty. */
int psk__parse(struct psk_table *t, const char *text, size_t len, char *err, size_t errlen);
/* The entry for identity, or NULL. The pointer lives as long as t. */
const struct psk_entry *psk__find(const struct psk_table *t, const char *identity);
/* Frees every entry; t is then empty. */
void psk__fini(struct psk_table *t);

#endif
