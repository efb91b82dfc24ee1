/* Building OpenSSL contexts from Mosquitto's TLS options, and their reference counts. See tls.h. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509err.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "midge/midge.h"
#include "psk_file.h"
#include "tls.h"
#include "tls_internal.h"

int tls__parse_version(const char *s)
{
	if (!strcmp(s, "tlsv1.3")) return 13;
	if (!strcmp(s, "tlsv1.2")) return 12;
	if (!strcmp(s, "tlsv1.1")) return 11;
	return 0;
}

/* The oldest error OpenSSL queued (the cause; later ones say where it surfaced), then a clean queue:
 * the queue is per thread and must not leak into the next connection's report. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

/* A file must be readable now, so a typo is reported at start-up with errno's words. */
static bool readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (!access(path, R_OK)) return true;
	snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
	return false;
}

/* Never prompt on the terminal for an encrypted key: a broker has nobody to ask. */
static int no_password(char *buf, int size, int rwflag, void *u) { return 0; }

/* Select "mqtt" when the client offers it; otherwise carry on without ALPN (clients that offer
 * something else, or nothing, are not refused). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	static const unsigned char mqtt[] = "\x04mqtt";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, mqtt, sizeof(mqtt) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* TLS 1.2 PSK, and TLS 1.3 too: OpenSSL falls back to this callback for TLS 1.3 external PSKs,
 * as Mosquitto's clients (--psk) expect. */
static unsigned int psk_server(SSL *ssl, const char *identity, unsigned char *psk, unsigned int max)
{
	const struct tls_ctx *x = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct psk_entry *e = x && identity ? psk__find(&x->psk, identity) : NULL;
	if (!e || e->key_len > max) return 0;
	memcpy(psk, e->key, e->key_len);
	/* OpenSSL does not keep the identity of a TLS 1.3 PSK handshake made through this callback
	 * (SSL_get_psk_identity gives NULL then): remember the table's copy, which lives as long as the
	 * context the connection holds. */
	SSL_set_app_data(ssl, e->identity);
	return (unsigned int)e->key_len;
}

static int load_psk(struct tls_ctx *x, const struct tls_settings *s, char *err, size_t errlen)
{
	if (!s->psk_file) {
		snprintf(err, errlen, "psk_hint is set but there is no psk_file");
		return -1;
	}
	if (!readable("psk_file", s->psk_file, err, errlen)) return -1;
	char *text = NULL;
	size_t len = 0;
	int e = file__read_all(s->psk_file, &text, &len);
	if (e) {
		snprintf(err, errlen, "cannot read psk_file '%s': %s", s->psk_file, strerror(e));
		return -1;
	}
	char why[160];
	int rc = psk__parse(&x->psk, text, len, why, sizeof(why));
	free(text);
	if (rc) {
		snprintf(err, errlen, "psk_file '%s': %s", s->psk_file, rc == MIDGE_ERR_NOMEM ? "out of memory" : why);
		return -1;
	}
	SSL_CTX_set_psk_server_callback(x->ssl, psk_server);
	if (!SSL_CTX_use_psk_identity_hint(x->ssl, s->psk_hint)) {
		snprintf(err, errlen, "psk_hint '%s': %s", s->psk_hint, ossl_reason());
		return -1;
	}
	return 0;
}

/* The client's PSK for TLS 1.2 and, through OpenSSL's fallback to this callback, TLS 1.3 (as
 * mosquitto_pub --psk does). The hint is not needed: a client has one identity. */
static unsigned int psk_client(SSL *ssl, const char *hint, char *identity, unsigned int max_identity,
			       unsigned char *psk, unsigned int max_psk)
{
	const struct tls_ctx *x = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct psk_entry *e = &x->client_psk;
	size_t id_len = strlen(e->identity);
	if (id_len >= max_identity || e->key_len > max_psk) return 0;
	memcpy(identity, e->identity, id_len + 1);
	memcpy(psk, e->key, e->key_len);
	return (unsigned int)e->key_len;
}

static int client_psk(struct tls_ctx *x, const struct tls_settings *s, char *err, size_t errlen)
{
	unsigned char key[PSK_KEY_MAX];
	int n = psk__hex_key(s->psk, strlen(s->psk), key, sizeof(key));
	if (n < 0) {
		snprintf(err, errlen, "psk: expected 1 to %d bytes in hexadecimal, not zero", PSK_KEY_MAX);
		return -1;
	}
	if (!s->psk_identity || !*s->psk_identity || strlen(s->psk_identity) > PSK_IDENTITY_MAX) {
		snprintf(err, errlen, "psk_identity: expected 1 to %d characters", PSK_IDENTITY_MAX);
		return -1;
	}
	x->client_psk.identity = strdup(s->psk_identity);
	x->client_psk.key = malloc((size_t)n);
	if (!x->client_psk.identity || !x->client_psk.key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(x->client_psk.key, key, (size_t)n);
	x->client_psk.key_len = (size_t)n;
	SSL_CTX_set_psk_client_callback(x->ssl, psk_client);
	return 0;
}

/* What only a client has: the trust store's default, ALPN, PSK; the server is verified whenever there
 * is something to verify it against. */
static int configure_client(struct tls_ctx *x, const struct tls_settings *s, char *err, size_t errlen)
{
	SSL_CTX *ctx = x->ssl;
	if (s->use_os_certs && !SSL_CTX_set_default_verify_paths(ctx)) {
		snprintf(err, errlen, "cannot load the system's CA certificates: %s", ossl_reason());
		return -1;
	}
	SSL_CTX_set_verify(ctx, s->cafile || s->capath || s->use_os_certs ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (s->alpn) {
		size_t n = strlen(s->alpn);
		unsigned char wire[256];
		if (n == 0 || n > 255) {
			snprintf(err, errlen, "alpn '%s': expected 1 to 255 bytes", s->alpn);
			return -1;
		}
		wire[0] = (unsigned char)n;
		memcpy(wire + 1, s->alpn, n);
		if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)n + 1) != 0) { /* 0 is success here */
			snprintf(err, errlen, "alpn '%s': %s", s->alpn, ossl_reason());
			return -1;
		}
	}
	return s->psk ? client_psk(x, s, err, errlen) : 0;
}

static int min_proto(int v)
{
	return v == 13 ? TLS1_3_VERSION : v == 11 ? TLS1_1_VERSION : TLS1_2_VERSION;
}

/* Everything but the context's creation; returns 0 or -1 with err written. */
static int configure(struct tls_ctx *x, const struct tls_settings *s, enum tls_role role, char *err, size_t errlen)
{
	SSL_CTX *ctx = x->ssl;
	SSL_CTX_set_app_data(ctx, x);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	if (!SSL_CTX_set_min_proto_version(ctx, min_proto(s->min_version))) {
		snprintf(err, errlen, "tls_version: %s", ossl_reason());
		return -1;
	}
	/* No renegotiation (a client could make the broker work for nothing); a peer that closes without
	 * close_notify is an ordinary end of stream, as MQTT clients often do. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Partial writes and a moving buffer: conn__flush re-gathers the same unsent bytes for a retry.
	 * Released buffers: an idle connection keeps no 34 KiB of record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	if (s->ciphers && !SSL_CTX_set_cipher_list(ctx, s->ciphers)) {
		snprintf(err, errlen, "ciphers '%s': %s", s->ciphers, ossl_reason());
		return -1;
	}
	if (s->ciphers_tls13 && !SSL_CTX_set_ciphersuites(ctx, s->ciphers_tls13)) {
		snprintf(err, errlen, "ciphers_tls1.3 '%s': %s", s->ciphers_tls13, ossl_reason());
		return -1;
	}
	if (s->cafile && !readable("cafile", s->cafile, err, errlen)) return -1;
	if (s->capath && !readable("capath", s->capath, err, errlen)) return -1;
	if ((s->cafile || s->capath) && !SSL_CTX_load_verify_locations(ctx, s->cafile, s->capath)) {
		snprintf(err, errlen, "cannot load %s '%s': %s", s->cafile ? "cafile" : "capath",
			 s->cafile ? s->cafile : s->capath, ossl_reason());
		return -1;
	}
	if (s->certfile) {
		if (!readable("certfile", s->certfile, err, errlen)) return -1;
		if (!SSL_CTX_use_certificate_chain_file(ctx, s->certfile)) {
			snprintf(err, errlen, "cannot load certfile '%s': %s", s->certfile, ossl_reason());
			return -1;
		}
	}
	if (s->keyfile) {
		if (!readable("keyfile", s->keyfile, err, errlen)) return -1;
		if (!SSL_CTX_use_PrivateKey_file(ctx, s->keyfile, SSL_FILETYPE_PEM)) {
			bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
			if (!mismatch) {
				snprintf(err, errlen, "cannot load keyfile '%s': %s", s->keyfile, ossl_reason());
				return -1;
			}
		}
		if (!SSL_CTX_check_private_key(ctx)) {
			snprintf(err, errlen, "keyfile '%s' does not match certfile '%s': %s", s->keyfile,
				 s->certfile ? s->certfile : "", ossl_reason());
			return -1;
		}
	}
	if (s->crlfile) {
		if (!readable("crlfile", s->crlfile, err, errlen)) return -1;
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
		if (!lookup || X509_load_crl_file(lookup, s->crlfile, X509_FILETYPE_PEM) <= 0) {
			snprintf(err, errlen, "cannot load crlfile '%s': %s", s->crlfile, ossl_reason());
			return -1;
		}
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	if (role == TLS_ROLE_CLIENT) return configure_client(x, s, err, errlen);
	/* Without require_certificate a client certificate is not asked for, as in Mosquitto. */
	SSL_CTX_set_verify(ctx, s->require_certificate ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE,
			   NULL);
	/* Resumed sessions need an id context once peers are verified. */
	static const unsigned char sid[] = "midge";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (s->psk_hint && load_psk(x, s, err, errlen)) return -1;
	if (!s->certfile && !s->psk_hint) {
		snprintf(err, errlen, "a TLS listener needs certfile and keyfile, or psk_hint and psk_file");
		return -1;
	}
	return 0;
}

struct tls_ctx *tls__ctx_new(const struct tls_settings *s, enum tls_role role, char *err, size_t errlen)
{
	struct tls_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&x->refs, 1);
	ERR_clear_error();
	x->ssl = SSL_CTX_new(role == TLS_ROLE_SERVER ? TLS_server_method() : TLS_client_method());
	if (!x->ssl) {
		snprintf(err, errlen, "cannot create a TLS context: %s", ossl_reason());
		free(x);
		return NULL;
	}
	if (configure(x, s, role, err, errlen)) {
		ERR_clear_error();
		tls__ctx_unref(x);
		return NULL;
	}
	return x;
}

struct tls_ctx *tls__ctx_ref(struct tls_ctx *x)
{
	atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
	return x;
}

void tls__ctx_unref(struct tls_ctx *x)
{
	if (!x || atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) != 1) return;
	SSL_CTX_free(x->ssl);
	psk__fini(&x->psk);
	free(x->client_psk.identity);
	if (x->client_psk.key) OPENSSL_cleanse(x->client_psk.key, x->client_psk.key_len);
	free(x->client_psk.key);
	free(x);
}
