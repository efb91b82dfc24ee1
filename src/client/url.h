/* Server URLs of midge_client_connect: "mqtt://[user[:password]@]host[:port]" or "host[:port]", and over TLS
 * "mqtts://..." or "ssl://...". */
#ifndef MIDGE_CLIENT_URL_H
#define MIDGE_CLIENT_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URL_DEFAULT_PORT 1883
#define URL_TLS_PORT 8883

/* A parsed URL. A zeroed struct url is empty; url__fini frees what it owns. */
struct url {
	char *host;     /* name or address; an IPv6 literal without its brackets */
	uint16_t port;  /* URL_DEFAULT_PORT (URL_TLS_PORT with tls) when the URL names none */
	bool tls;       /* mqtts:// or ssl:// */
	char *username; /* NULL when the URL has no user part; percent-decoded, valid UTF-8 */
	char *password; /* NULL when absent; percent-decoded, may hold any byte */
	size_t password_len;
};

/* Parses s into u (which must be empty). Returns 0 with u filled (the caller owns it: url__fini),
 * MIDGE_ERR_NOT_SUPPORTED for ws:// and wss://, MIDGE_ERR_INVAL for anything malformed (another
 * scheme, empty host, bad port, bad percent escape, a path other than "/", a query or fragment), or
 * MIDGE_ERR_NOMEM; u is left empty on error. */
int url__parse(const char *s, struct url *u);
void url__fini(struct url *u);

#endif
