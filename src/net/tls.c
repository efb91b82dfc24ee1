/* The TLS transport: a non-blocking OpenSSL session over a connected socket. See tls.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "midge/midge.h"
#include "tls.h"
#include "tls_internal.h"

/* One TLS record of plaintext: what one SSL_write sends with partial writes on. */
#define TLS_CHUNK 16384

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx; /* reference */
	bool done;           /* handshake completed */
	bool failed;         /* a fatal error: no close_notify */
	size_t wpending;     /* length of an SSL_write to repeat (OpenSSL wants at least as many bytes) */
	char error[192];
};

/* Gathers the iovecs for SSL_write in the owner thread; OpenSSL copies into its own buffer, and a
 * retry re-gathers the same bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
static _Thread_local unsigned char scratch[TLS_CHUNK];

/* Makes t the TLS transport of tc over fd, holding a reference to x. */
static void attach(struct transport *t, struct tls_conn *tc, struct tls_ctx *x, int fd)
{
	tc->ctx = tls__ctx_ref(x);
	t->ops = &tls__ops;
	t->fd = fd;
	t->impl = tc;
	t->want_write = false;
	t->error = NULL;
}

int tls__accept(struct transport *t, struct tls_ctx *x, int fd)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	if (!tc) return MIDGE_ERR_NOMEM;
	tc->ssl = SSL_new(x->ssl);
	if (!tc->ssl || !SSL_set_fd(tc->ssl, fd)) {
		SSL_free(tc->ssl);
		free(tc);
		ERR_clear_error();
		return MIDGE_ERR_NOMEM;
	}
	SSL_set_accept_state(tc->ssl);
	attach(t, tc, x, fd);
	return 0;
}

/* A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own writes with write(), and a client library
 * must not kill its application with SIGPIPE when the server goes away. The descriptor is the BIO's
 * data; closing it is the transport's business. */
static int nosig_write(BIO *b, const char *buf, int len)
{
	BIO_clear_retry_flags(b);
	ssize_t n = send((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
	return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
	BIO_clear_retry_flags(b);
	ssize_t n = recv((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
	if (n == 0) BIO_set_flags(b, BIO_FLAGS_IN_EOF); /* BIO_eof tells OpenSSL an unexpected EOF from an error */
	return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_C_GET_FD:
		if (ptr) *(int *)ptr = (int)(intptr_t)BIO_get_data(b);
		return (long)(intptr_t)BIO_get_data(b);
	default:
		return 0;
	}
}

static BIO_METHOD *nosig_method;
static void nosig_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "midge socket");
	if (m && BIO_meth_set_write(m, nosig_write) && BIO_meth_set_read(m, nosig_read) &&
	    BIO_meth_set_ctrl(m, nosig_ctrl))
		nosig_method = m; /* lives as long as the process, like OpenSSL's own methods */
	else
		BIO_meth_free(m);
}

static BIO *nosig_bio(int fd)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, nosig_init);
	BIO *b = nosig_method ? BIO_new(nosig_method) : NULL;
	if (!b) return NULL;
	BIO_set_data(b, (void *)(intptr_t)fd);
	BIO_set_init(b, 1);
	return b;
}

/* Sets SNI and, with verify, the name or address the certificate must carry. */
static bool set_peer_name(SSL *ssl, const char *host, bool verify)
{
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	/* SNI carries host names only (RFC 6066, 3). */
	if (!is_ip && !SSL_set_tlsext_host_name(ssl, host)) return false;
	if (!verify) return true;
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 : SSL_set1_host(ssl, host) == 1;
}

int tls__connect(struct transport *t, struct tls_ctx *x, int fd, const char *host, bool verify_host)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	if (!tc) return MIDGE_ERR_NOMEM;
	tc->ssl = SSL_new(x->ssl);
	BIO *b = tc->ssl ? nosig_bio(fd) : NULL;
	if (!b) goto fail;
	SSL_set_bio(tc->ssl, b, b); /* the SSL owns the BIO from here */
	if (!set_peer_name(tc->ssl, host, verify_host)) goto fail;
	SSL_set_connect_state(tc->ssl);
	attach(t, tc, x, fd);
	return 0;
fail:
	SSL_free(tc->ssl);
	free(tc);
	ERR_clear_error();
	return MIDGE_ERR_NOMEM;
}

/* Records why the session failed, preferring the certificate check's words ("certificate has
 * expired") over the alert it led to. Clears the thread's error queue. */
static void set_error(struct transport *t, struct tls_conn *tc)
{
	long vr = SSL_get_verify_result(tc->ssl);
	unsigned long e = ERR_peek_error();
	const char *why = NULL;
	if (vr != X509_V_OK) why = X509_verify_cert_error_string(vr);
	if (!why && e) why = ERR_reason_error_string(e);
	snprintf(tc->error, sizeof(tc->error), "TLS %s failed: %s", tc->done ? "session" : "handshake",
		 why ? why : "protocol error");
	ERR_clear_error();
	tc->failed = true;
	t->error = tc->error;
}

/* Maps the result r of an OpenSSL call to the transport's convention. */
static ssize_t outcome(struct transport *t, struct tls_conn *tc, int r, bool reading)
{
	int saved = errno;
	switch (SSL_get_error(tc->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (reading) t->want_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		if (reading) return 0;
		errno = EPIPE;
		return -1;
	case SSL_ERROR_SYSCALL:
		/* No OpenSSL error: the socket's own, or an end of stream when errno is clear. */
		ERR_clear_error();
		tc->failed = true;
		if (!saved && reading) return 0;
		errno = saved ? saved : EPIPE;
		return -1;
	default:
		set_error(t, tc);
		errno = EPROTO;
		return -1;
	}
}

/* One step of the handshake: 1 when done, otherwise what outcome() makes of it (0 for a peer that
 * closed, -1 with errno). Clears want_write and errno first. */
static ssize_t handshake_step(struct transport *t, struct tls_conn *tc)
{
	t->want_write = false;
	errno = 0;
	if (tc->done) return 1;
	int r = SSL_do_handshake(tc->ssl);
	if (r != 1) return outcome(t, tc, r, true);
	tc->done = true;
	return 1;
}

int tls__handshake(struct transport *t)
{
	struct tls_conn *tc = t->impl;
	ssize_t r = handshake_step(t, tc);
	if (r == 1) return 1;
	if (r < 0) return errno == EAGAIN ? 0 : -1;
	/* A peer that hangs up in the middle of a handshake refused it (a plain MQTT port closes on a
	 * ClientHello): a TLS failure for the caller, not an ordinary end of stream. */
	snprintf(tc->error, sizeof(tc->error), "TLS handshake failed: the peer closed the connection");
	tc->failed = true;
	t->error = tc->error;
	errno = EPROTO;
	return -1;
}

static ssize_t tls_read(struct transport *t, void *buf, size_t len)
{
	struct tls_conn *tc = t->impl;
	ssize_t h = handshake_step(t, tc);
	if (h != 1) return h;
	int n = SSL_read(tc->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : outcome(t, tc, n, true);
}

static ssize_t tls_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct tls_conn *tc = t->impl;
	if (!tc->done) {
		errno = EAGAIN; /* nothing is queued before CONNECT, which needs the handshake */
		return -1;
	}
	size_t want = tc->wpending ? tc->wpending : TLS_CHUNK;
	const void *p;
	size_t len = 0;
	if (iovcnt > 0 && iov[0].iov_len >= want) {
		p = iov[0].iov_base, len = want; /* a large payload goes without a copy */
	} else {
		for (int i = 0; i < iovcnt && len < want; i++) {
			size_t k = iov[i].iov_len < want - len ? iov[i].iov_len : want - len;
			memcpy(scratch + len, iov[i].iov_base, k);
			len += k;
		}
		p = scratch;
	}
	if (len == 0) return 0;
	errno = 0;
	int n = SSL_write(tc->ssl, p, (int)len);
	if (n > 0) {
		tc->wpending = 0;
		return n;
	}
	tc->wpending = len;
	return outcome(t, tc, n, false);
}

static void tls_close(struct transport *t)
{
	struct tls_conn *tc = t->impl;
	if (tc) {
		/* Best effort and non-blocking: one close_notify if the socket takes it, no waiting for the
		 * peer's. */
		if (tc->done && !tc->failed) SSL_shutdown(tc->ssl);
		SSL_free(tc->ssl);
		tls__ctx_unref(tc->ctx);
		free(tc);
		ERR_clear_error();
		t->impl = NULL;
	}
	t->error = NULL;
	if (t->fd >= 0) close(t->fd);
	t->fd = -1;
}

static size_t tls_pending(struct transport *t)
{
	struct tls_conn *tc = t->impl;
	int n = tc && tc->done ? SSL_pending(tc->ssl) : 0;
	return n > 0 ? (size_t)n : 0;
}

const struct transport_ops tls__ops = {
	.name = "tls",
	.read = tls_read,
	.writev = tls_writev,
	.close = tls_close,
	.pending = tls_pending,
};

static SSL *session(const struct transport *t)
{
	/* Through a WebSocket (wss) to the TLS underneath. */
	while (t && t->ops != &tls__ops && t->ops && t->ops->inner) t = t->ops->inner((struct transport *)t);
	if (!t || t->ops != &tls__ops || !t->impl) return NULL;
	const struct tls_conn *tc = t->impl;
	return tc->done ? tc->ssl : NULL;
}

bool tls__handshake_done(const struct transport *t) { return session(t) != NULL; }

/* The client's certificate, only when it was verified (require_certificate). */
static X509 *peer_cert(const struct transport *t)
{
	SSL *ssl = session(t);
	if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK) return NULL;
	return SSL_get0_peer_certificate(ssl);
}

char *tls__peer_cn(const struct transport *t)
{
	X509 *cert = peer_cert(t);
	if (!cert) return NULL;
	X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0) return NULL;
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	char *cn = NULL;
	/* A NUL inside the name would cut the user name short: refuse it, as Mosquitto does. */
	if (n >= 0 && memchr(utf8, '\0', (size_t)n) == NULL) {
		cn = malloc((size_t)n + 1);
		if (cn) {
			memcpy(cn, utf8, (size_t)n);
			cn[n] = '\0';
		}
	}
	OPENSSL_free(utf8);
	return cn;
}

char *tls__peer_subject(const struct transport *t)
{
	X509 *cert = peer_cert(t);
	if (!cert) return NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio) return NULL;
	char *out = NULL;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
		char *data;
		long n = BIO_get_mem_data(bio, &data);
		if (n >= 0 && (out = malloc((size_t)n + 1))) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	return out;
}

const char *tls__psk_identity(const struct transport *t)
{
	SSL *ssl = session(t);
	if (!ssl) return NULL;
	const char *id = SSL_get_app_data(ssl); /* set by the PSK callback (tls_ctx.c) */
	return id ? id : SSL_get_psk_identity(ssl);
}
