/* Mosquitto-compatible password files: parse "user:$7$..." / "user:$6$..." lines, verify and create hashes. */
#ifndef MIDGE_AUTH_PASSWD_H
#define MIDGE_AUTH_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#define PW_SALT_LEN 12     /* bytes of salt mosquitto_passwd 2.0 writes (16 base64 characters) */
#define PW_SALT_MAX 64     /* Mosquitto 2.0's broker also accepts 64-byte salts */
#define PW_HASH_LEN 64     /* SHA-512 output; 88 base64 characters */
#define PW_ENCODED_MAX 256 /* room for "$7$<iterations>$<salt>$<hash>" and its NUL */

enum pw_type {
	PW_SHA512 = 6,        /* "$6$salt$hash": SHA-512(password || salt), Mosquitto 1.6's default */
	PW_SHA512_PBKDF2 = 7, /* "$7$iterations$salt$hash": PBKDF2-HMAC-SHA512, Mosquitto 2's default */
};

struct pw_entry {
	char *username;
	enum pw_type type;
	int iterations; /* PW_SHA512_PBKDF2 only */
	size_t salt_len;
	unsigned char salt[PW_SALT_MAX];
	unsigned char hash[PW_HASH_LEN];
	int line; /* where it was read, for messages */
};

/* Entries sorted by username. A zeroed table is a valid empty one. */
struct pw_table {
	struct pw_entry *entries;
	size_t count;
	size_t costliest; /* index of the entry whose check costs most (most $7$ iterations) */
};

/* Decodes a hash field ("$7$101$salt$hash" or "$6$salt$hash") into e's type, iterations, salt and hash
 * (e->username is left alone). Returns 0, or MIDGE_ERR_INVAL with a reason in err. */
int pw__decode(const char *field, struct pw_entry *e, char *err, size_t errlen);

/* Hashes password with a fresh random salt and writes the field ("$7$iterations$salt$hash", or "$6$salt$hash"
 * when type is PW_SHA512; iterations is then ignored) into out. Returns 0, MIDGE_ERR_INVAL (bad iterations,
 * out too small) or MIDGE_ERR_IO (no randomness / digest failure). */
int pw__encode(enum pw_type type, int iterations, const char *password, char *out, size_t outlen);

/* Parses a password file's text into t (which must be empty). name is used in messages: "NAME:LINE: ...".
 * Blank lines and lines starting with '#' (after blanks) are skipped; any other line must be
 * "username:hashfield" (blanks around either side ignored) with a valid $6$/$7$ field; a username may appear
 * once. Returns 0, or MIDGE_ERR_INVAL / MIDGE_ERR_NOMEM with a message in err; t is empty after a failure. */
int pw__parse_text(struct pw_table *t, const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Reads and parses the file at path as pw__parse_text. MIDGE_ERR_IO when it cannot be read ("PATH: reason"). */
int pw__parse_file(struct pw_table *t, const char *path, char *err, size_t errlen);

/* The entry for username, or NULL. The pointer is owned by t. */
const struct pw_entry *pw__find(const struct pw_table *t, const char *username);

/* True when password hashes to e's hash (compared with CRYPTO_memcmp). */
bool pw__entry_verify(const struct pw_entry *e, const char *password);

/* True when username is in t and password is right. Every check costs at least as much as the table's costliest
 * entry (an unknown user, or a user with a cheaper hash, pays for a check of that one too), so that timing tells
 * neither which usernames exist nor which hash each has. */
bool pw__verify(const struct pw_table *t, const char *username, const char *password);

/* Frees everything t holds and leaves it empty. */
void pw__table_fini(struct pw_table *t);

#endif
