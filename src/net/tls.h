/* TLS on OpenSSL 3: contexts built from Mosquitto's listener options (tls_ctx.c), and the tls__ops
 * transport with a lazy non-blocking handshake and accessors for authentication (tls.c). */
#ifndef MIDGE_TLS_H
#define MIDGE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "transport.h"

enum tls_role {
	TLS_ROLE_SERVER, /* a listener: certfile/keyfile, optional client certificates and PSK */
	TLS_ROLE_CLIENT, /* a connection out: cafile/capath verify the server, certfile/keyfile identify us */
};

/* What a context is built from, named as Mosquitto's options (the listener's, and for a client those of
 * mosquitto_pub). Strings are borrowed for the call; NULL is unset. */
struct tls_settings {
	const char *cafile;
	const char *capath;
	const char *certfile;
	const char *keyfile;
	const char *crlfile;       /* CRLs in PEM, checked for the client certificate (leaf only) */
	const char *ciphers;       /* OpenSSL cipher list for TLS 1.2 and below; NULL = OpenSSL's default */
	const char *ciphers_tls13; /* TLS 1.3 ciphersuites; NULL = OpenSSL's default */
	const char *psk_hint;      /* server: turns PSK on (with psk_file) and is sent as the hint */
	const char *psk_file;      /* server: "identity:hexkey" lines (psk_file.h) */
	int min_version;           /* minimum protocol: 11, 12 or 13 for TLS 1.1/1.2/1.3; 0 = TLS 1.2 */
	bool require_certificate;  /* server: a client without a certificate that verifies is refused */
	bool use_os_certs;         /* client: trust the system's CA store too (--tls-use-os-certs) */
	const char *alpn;          /* client: the one protocol offered by ALPN (--tls-alpn) */
	const char *psk;           /* client: turns PSK on with this key in hexadecimal (--psk) */
	const char *psk_identity;  /* client: the identity sent with psk (--psk-identity) */
};

/* A built context: immutable and shared by every thread; counted, so a reload can replace a
 * listener's context while the connections made with the old one keep it. */
struct tls_ctx;

/* Builds a context for role from s. Every file is read now: a missing or bad one is an error.
 * Returns a context holding one reference, or NULL with "<option> '<path>': <reason>" (or another
 * one-line reason from OpenSSL) in err (errlen bytes). Any thread. */
struct tls_ctx *tls__ctx_new(const struct tls_settings *s, enum tls_role role, char *err, size_t errlen);
/* Takes a reference; returns x. Thread-safe. */
struct tls_ctx *tls__ctx_ref(struct tls_ctx *x);
/* Drops a reference; the last frees the context. NULL is ignored. Thread-safe. */
void tls__ctx_unref(struct tls_ctx *x);
/* Mosquitto's tls_version value ("tlsv1.3", "tlsv1.2", "tlsv1.1") as a min_version (13, 12, 11);
 * 0 when it is none of them. */
int tls__parse_version(const char *s);

/* The TLS transport. read does the handshake first (errno EAGAIN while it waits, and want_write
 * set when it waits for the socket to be writable); a refused handshake returns -1 with errno
 * EPROTO and t->error set. writev writes at most 16 KiB (one record) per call and must be called
 * again with the same bytes first after EAGAIN (conn__flush does). pending counts decoded bytes
 * waiting inside OpenSSL, which epoll cannot see. */
extern const struct transport_ops tls__ops;

/* Makes t a server-side TLS transport over the connected socket fd: the handshake happens at the
 * first read. Takes a reference to x. Returns 0, or MIDGE_ERR_NOMEM with t unchanged (the caller
 * still owns fd). May be called in one thread and the transport then used by another. */
int tls__accept(struct transport *t, struct tls_ctx *x, int fd);
/* Makes t a client-side TLS transport over the connected socket fd, with a context built for
 * TLS_ROLE_CLIENT. host (the name or address connected to; copied) is sent as SNI when it is a name,
 * and, with verify_host, the server's certificate must be for it (a DNS name, or an IP address
 * matched against the certificate's IP addresses); verify_host false is Mosquitto's --insecure.
 * The handshake is driven by tls__handshake (read also drives it). Writes never raise SIGPIPE.
 * Takes a reference to x. Returns 0, or MIDGE_ERR_NOMEM with t unchanged (the caller still owns fd). */
int tls__connect(struct transport *t, struct tls_ctx *x, int fd, const char *host, bool verify_host);
/* Advances the handshake of a TLS transport: 1 once it has completed (at once if it had), 0 while it
 * waits for the socket (t->want_write says whether for writing), -1 when it failed, with errno EPROTO
 * and t->error set for a refusal ("TLS handshake failed: certificate verify failed") or errno's own
 * reason for a failed socket. */
int tls__handshake(struct transport *t);

/* The accessors below are for authentication at CONNECT, in the thread that owns t. On a transport
 * that is not TLS they report nothing (false or NULL). */

/* True when t is a TLS transport whose handshake has completed. */
bool tls__handshake_done(const struct transport *t);
/* The Common Name of the client's verified certificate (use_identity_as_username), as a malloc'd
 * UTF-8 string the caller frees; NULL without a certificate, without a CN, with a CN holding a NUL
 * byte, or when out of memory. */
char *tls__peer_cn(const struct transport *t);
/* The client's certificate subject as Mosquitto 2 prints it for use_subject_as_username (OpenSSL's
 * RFC 2253 form, e.g. "CN=midge-client,O=Example,C=FR"), malloc'd for the caller; NULL without one. */
char *tls__peer_subject(const struct transport *t);
/* The PSK identity the client used (use_identity_as_username on a PSK listener), owned by t and
 * valid until it closes; NULL when no PSK was used. */
const char *tls__psk_identity(const struct transport *t);

#endif
