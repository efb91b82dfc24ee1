/* Server URLs of midge_client_connect: "mqtt://[user[:password]@]host[:port]" or "host[:port]", over TLS
 * "mqtts://..." or "ssl://...", and MQTT over WebSocket "ws://...[/path]" or, over TLS, "wss://...[/path]". */
#ifndef MIDGE_CLIENT_URL_H
#define MIDGE_CLIENT_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URL_DEFAULT_PORT 1883
#define URL_TLS_PORT 8883
#define URL_WS_PORT 80
#define URL_WSS_PORT 443
#define URL_WS_PATH "/mqtt" /* MQTT.js's and Paho's default, where Mosquitto and most brokers answer */

/* A parsed URL. A zeroed struct url is empty; url__fini frees what it owns. */
struct url {
	char *host;     /* name or address; an IPv6 literal without its brackets */
	uint16_t port;  /* when the URL names none: URL_DEFAULT_PORT, URL_TLS_PORT (mqtts), URL_WS_PORT (ws) or
	                 * URL_WSS_PORT (wss) */
	bool tls;       /* mqtts://, ssl:// or wss:// */
	bool ws;        /* ws:// or wss:// */
	char *path;     /* ws and wss: the request target, path and query as written ("/" included), URL_WS_PATH
	                 * when the URL has none; NULL otherwise */
	char *username; /* NULL when the URL has no user part; percent-decoded, valid UTF-8 */
	char *password; /* NULL when absent; percent-decoded, may hold any byte */
	size_t password_len;
};

/* Parses s into u (which must be empty). Returns 0 with u filled (the caller owns it: url__fini),
 * MIDGE_ERR_INVAL for anything malformed (another scheme, empty host, bad port, bad percent escape, a
 * fragment; for mqtt(s) a path other than "/" or a query; for ws(s) a path with a byte that is not visible
 * ASCII), or MIDGE_ERR_NOMEM; u is left empty on error. */
int url__parse(const char *s, struct url *u);
void url__fini(struct url *u);

#endif
