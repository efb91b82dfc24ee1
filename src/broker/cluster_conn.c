/* How a cluster node proves itself to NATS and checks the servers: credentials and TLS on its natsOptions, and its
 * URLs as they may be shown (without the credentials they can carry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "common/err.h"
#include "config.h"
#include "midge/midge.h"

/* The message of a failed natsOptions call: cnats keeps the detail (OpenSSL's reason, the file) in its last error.
 * The detail names files, never their content, so it may be logged. */
static int failed(char *err, size_t errlen, const char *what, natsStatus st)
{
	const char *detail = nats_GetLastError(NULL);
	return err__set(err, errlen, MIDGE_ERR_INVAL, "cluster: %s: %s%s%s", what, natsStatus_GetText(st),
	                detail && *detail ? ": " : "", detail && *detail ? detail : "");
}

int cluster__auth_options(const struct config *c, natsOptions *o, char *err, size_t errlen)
{
	natsStatus st = NATS_OK;
	/* config__validate allows one of the three. */
	if (c->cluster_nats_user) {
		st = natsOptions_SetUserInfo(o, c->cluster_nats_user,
		                             c->cluster_nats_password ? c->cluster_nats_password : "");
		if (st != NATS_OK) return failed(err, errlen, "cluster_nats_user", st);
	} else if (c->cluster_nats_token) {
		st = natsOptions_SetToken(o, c->cluster_nats_token);
		if (st != NATS_OK) return failed(err, errlen, "cluster_nats_token", st);
	} else if (c->cluster_nats_creds) {
		/* One file holding the user's JWT and NKey seed, as nsc writes it; cnats reads it at each connect. */
		st = natsOptions_SetUserCredentialsFromFiles(o, c->cluster_nats_creds, NULL);
		if (st != NATS_OK) return failed(err, errlen, c->cluster_nats_creds, st);
	}
	/* A CA to check the servers by or a certificate to show them only make sense over TLS: ask for it, even on
	 * nats:// URLs, rather than let a server that does not offer TLS see the node in clear. */
	if (!c->cluster_nats_cafile && !c->cluster_nats_certfile) return 0;
	st = natsOptions_SetSecure(o, true);
	if (st != NATS_OK) return failed(err, errlen, "TLS", st);
	if (c->cluster_nats_cafile) {
		st = natsOptions_LoadCATrustedCertificates(o, c->cluster_nats_cafile);
		if (st != NATS_OK) return failed(err, errlen, c->cluster_nats_cafile, st);
	}
	if (c->cluster_nats_certfile) {
		st = natsOptions_LoadCertificatesChain(o, c->cluster_nats_certfile, c->cluster_nats_keyfile);
		if (st != NATS_OK) return failed(err, errlen, c->cluster_nats_certfile, st);
	}
	return 0;
}

const char *cluster__why_not_connected(const struct config *c, char *out, size_t outlen)
{
	/* cnats, retrying in the background, keeps no reason for a failed first attempt (a TLS handshake's is lost, an
	 * authorization error's only sometimes): one more attempt without retry tells it. Bounded by a short timeout
	 * per URL, as it delays the start of a node whose servers do not answer. */
	char *urls = strdup(c->cluster_nats_url ? c->cluster_nats_url : "");
	const char *list[64];
	int n = 0;
	for (char *save = NULL, *u = urls ? strtok_r(urls, ",", &save) : NULL; u && n < 64;
	     u = strtok_r(NULL, ",", &save))
		list[n++] = u;
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	char ignored[256];
	natsStatus st = n ? natsOptions_Create(&o) : NATS_NO_SERVER;
	if (st == NATS_OK) st = natsOptions_SetServers(o, list, n);
	if (st == NATS_OK) st = natsOptions_SetTimeout(o, 500);
	if (st == NATS_OK) st = natsOptions_SetAllowReconnect(o, false);
	if (st == NATS_OK && cluster__auth_options(c, o, ignored, sizeof(ignored))) st = NATS_ERR;
	if (st == NATS_OK) st = natsConnection_Connect(&nc, o);
	const char *detail = nats_GetLastError(NULL);
	/* cnats puts its own source position first, "(conn.c:733): ": of no use in a broker's log. */
	const char *pos = detail && detail[0] == '(' ? strstr(detail, "): ") : NULL;
	if (pos) detail = pos + 3;
	if (st == NATS_OK)
		snprintf(out, outlen, "%s", "");
	else
		snprintf(out, outlen, ": %s", detail && *detail ? detail : natsStatus_GetText(st));
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	free(urls);
	return out;
}

const char *cluster__urls_shown(const char *urls, char *out, size_t outlen)
{
	if (!outlen) return out;
	size_t n = 0;
	out[0] = '\0';
	for (const char *u = urls; u && *u;) {
		const char *end = strchr(u, ',');
		if (!end) end = u + strlen(u);
		/* user:password@ or token@ sits between "scheme://" and the host; a password may hold '@', the host
		 * not. */
		const char *host = strstr(u, "://");
		host = host && host < end ? host + 3 : u;
		const char *at = NULL;
		for (const char *p = host; p < end && *p != '/'; p++)
			if (*p == '@') at = p;
		int w = snprintf(out + n, outlen - n, "%s%.*s%.*s", n ? "," : "", (int)(host - u), u,
		                 (int)(end - (at ? at + 1 : host)), at ? at + 1 : host);
		if (w < 0 || (size_t)w >= outlen - n) break; /* cut short: what was written holds no secret */
		n += (size_t)w;
		u = *end ? end + 1 : end;
	}
	return out;
}
