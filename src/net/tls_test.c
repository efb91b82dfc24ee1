/* Unit tests of the TLS transport and contexts (tls.c, tls_ctx.c): a handshake over a socketpair
 * with certificates made here, the accessors, pending, writev's retry rule, refusals and the
 * context builder's errors. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "net/tls.h"
#include "net/tls_internal.h"

static char dir[64];

static const char *path(const char *name)
{
	static char p[32][128]; /* a few calls may be alive at once */
	static int i;
	i = (i + 1) % 32;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

/* Writes a new key and a certificate for it, signed by (ca, ca_key) or self-signed as a CA. */
static void make_cert(const char *name, const char *o, const char *cn, X509 *ca, EVP_PKEY *ca_key, X509 **out_x,
		      EVP_PKEY **out_k)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	static long serial = 1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	if (o) {
		X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"FR", -1, -1, 0);
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)o, -1, -1, 0);
	}
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
	if (!ca) {
		X509V3_CTX v3;
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, ca_key ? ca_key : k, EVP_sha256());
	char file[64];
	snprintf(file, sizeof(file), "%s.crt", name);
	FILE *f = fopen(path(file), "w");
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(file, sizeof(file), "%s.key", name);
	f = fopen(path(file), "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	if (out_x) *out_x = x;
	else X509_free(x);
	if (out_k) *out_k = k;
	else EVP_PKEY_free(k);
}

static void make_pki(void)
{
	snprintf(dir, sizeof(dir), "/tmp/midge-tls-test-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	X509 *ca;
	EVP_PKEY *ca_key;
	make_cert("ca", NULL, "Test CA", NULL, NULL, &ca, &ca_key);
	make_cert("server", NULL, "localhost", ca, ca_key, NULL, NULL);
	make_cert("client", "Midge Test", "midge-client", ca, ca_key, NULL, NULL);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	FILE *f = fopen(path("psk.txt"), "w");
	fputs("alice:0a0b0c0d\n", f);
	fclose(f);
}

static struct tls_ctx *server_ctx(bool require)
{
	struct tls_settings s = {.certfile = path("server.crt"), .keyfile = path("server.key"),
				 .cafile = path("ca.crt"), .require_certificate = require};
	char err[256];
	struct tls_ctx *x = tls__ctx_new(&s, TLS_ROLE_SERVER, err, sizeof(err));
	if (!x) fprintf(stderr, "server context: %s\n", err);
	return x;
}

/* A client session on fd, with the client certificate when cert is set. */
static SSL *client(int fd, bool cert)
{
	struct tls_settings s = {.cafile = path("ca.crt")};
	if (cert) s.certfile = path("client.crt"), s.keyfile = path("client.key");
	char err[256];
	struct tls_ctx *x = tls__ctx_new(&s, TLS_ROLE_CLIENT, err, sizeof(err));
	CHECK(x != NULL);
	if (!x) return NULL;
	SSL *ssl = SSL_new(x->ssl);
	tls__ctx_unref(x); /* the session holds the SSL_CTX itself */
	SSL_set_fd(ssl, fd);
	SSL_set_connect_state(ssl);
	return ssl;
}

/* Drives both sides until the server's read returns data or fails; returns its result. */
static ssize_t handshake(struct transport *t, SSL *c, char *buf, size_t len, const char *first)
{
	bool sent = false;
	for (int i = 0; i < 200; i++) {
		int r = SSL_do_handshake(c);
		if (r == 1 && !sent) sent = SSL_write(c, first, (int)strlen(first)) > 0;
		ssize_t n = tls__ops.read(t, buf, len);
		if (n >= 0 || errno != EAGAIN) return n;
	}
	return -2;
}

static void test_session(void)
{
	int fds[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	struct tls_ctx *x = server_ctx(true);
	struct transport t = {0};
	CHECK(x && tls__accept(&t, x, fds[0]) == 0);
	tls__ctx_unref(x); /* the transport keeps its own reference */
	CHECK(!tls__handshake_done(&t));
	CHECK(tls__peer_cn(&t) == NULL);
	SSL *c = client(fds[1], true);
	char buf[256];
	CHECK_EQ(handshake(&t, c, buf, sizeof(buf), "hello"), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK(tls__handshake_done(&t));
	char *cn = tls__peer_cn(&t), *subj = tls__peer_subject(&t);
	CHECK(cn && strcmp(cn, "midge-client") == 0);
	CHECK(subj && strcmp(subj, "CN=midge-client,O=Midge Test,C=FR") == 0);
	if (subj && strcmp(subj, "CN=midge-client,O=Midge Test,C=FR")) fprintf(stderr, "  subject: %s\n", subj);
	free(cn);
	free(subj);
	CHECK(tls__psk_identity(&t) == NULL);

	/* Decoded bytes wait inside OpenSSL: pending says so, as epoll cannot. */
	static char big[60000];
	memset(big, 'x', sizeof(big));
	CHECK_EQ(SSL_write(c, big, 10000), 10000);
	CHECK_EQ(tls__ops.read(&t, buf, 100), 100);
	CHECK_EQ(tls__ops.pending(&t), 9900);
	static char in[70000];
	size_t got = 0;
	while (tls__ops.pending(&t)) got += (size_t)tls__ops.read(&t, in, sizeof(in));
	CHECK_EQ(got, 9900);

	/* writev: at most one record per call; after EAGAIN the same bytes are presented again (as
	 * conn__flush does) until everything arrives intact. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	int small = 4096;
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	size_t off = 0, rcvd = 0;
	int eagain = 0;
	while (rcvd < sizeof(big)) {
		if (off < sizeof(big)) {
			struct iovec iov[3] = {{big + off, 10}, {big + off + 10, 0}, {big + off + 10, sizeof(big) - off - 10}};
			if (sizeof(big) - off < 10) iov[0].iov_len = sizeof(big) - off, iov[2].iov_len = 0;
			ssize_t w = tls__ops.writev(&t, iov, 3);
			if (w > 0) {
				CHECK(w <= 16384);
				off += (size_t)w;
			} else {
				CHECK(errno == EAGAIN);
				eagain++;
			}
		}
		/* The reader lags behind, so the socket fills up now and then. */
		if (eagain || off == sizeof(big)) {
			int n = SSL_read(c, in + rcvd, (int)(sizeof(in) - rcvd));
			if (n > 0) rcvd += (size_t)n;
		}
	}
	CHECK_EQ(rcvd, sizeof(big));
	CHECK(memcmp(in, big, sizeof(big)) == 0);
	CHECK(eagain > 0); /* the retry path was taken */

	/* The client goes: an ordinary end of stream. */
	SSL_shutdown(c);
	CHECK_EQ(tls__ops.read(&t, buf, sizeof(buf)), 0);
	SSL_free(c);
	close(fds[1]);
	tls__ops.close(&t);
	CHECK(t.fd == -1 && t.impl == NULL);
}

static void test_refused(void)
{
	int fds[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	struct tls_ctx *x = server_ctx(true);
	struct transport t = {0};
	CHECK(x && tls__accept(&t, x, fds[0]) == 0);
	tls__ctx_unref(x);
	SSL *c = client(fds[1], false);
	char buf[64];
	CHECK_EQ(handshake(&t, c, buf, sizeof(buf), "x"), -1);
	CHECK_EQ(errno, EPROTO);
	CHECK(t.error && strcmp(t.error, "TLS handshake failed: peer did not return a certificate") == 0);
	CHECK(!tls__handshake_done(&t));
	SSL_free(c);
	close(fds[1]);
	tls__ops.close(&t);
	CHECK(ERR_peek_error() == 0); /* nothing left for the next connection's report */

	/* Not TLS at all. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	x = server_ctx(false);
	CHECK(x && tls__accept(&t, x, fds[0]) == 0);
	tls__ctx_unref(x);
	CHECK(write(fds[1], "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14) == 14);
	CHECK_EQ(tls__ops.read(&t, buf, sizeof(buf)), -1);
	CHECK(t.error && strcmp(t.error, "TLS handshake failed: wrong version number") == 0);
	close(fds[1]);
	tls__ops.close(&t);

	/* A TCP transport has no TLS facts. */
	struct transport tcp = {.ops = &tcp__ops, .fd = -1};
	CHECK(!tls__handshake_done(&tcp) && !tls__peer_cn(&tcp) && !tls__peer_subject(&tcp) && !tls__psk_identity(&tcp));
}

/* Drives a client transport (tls__connect) and a server one (tls__accept) until both are settled; returns the
 * client's tls__handshake result. */
static int settle(struct transport *cli, struct transport *srv)
{
	char buf[64];
	int rc = 0;
	for (int i = 0; i < 200; i++) {
		rc = tls__handshake(cli);
		ssize_t n = tls__ops.read(srv, buf, sizeof(buf));
		if (rc != 0 && (n >= 0 || errno != EAGAIN || tls__handshake_done(srv))) break;
	}
	return rc;
}

/* One connection from a client context built from cs to the server context sx; want: the handshake's result
 * (1, or -1 with the client's reason why). Returns nothing; checks a message goes through when it succeeds. */
static void client_case(const struct tls_settings *cs, struct tls_ctx *sx, const char *host, bool verify, int want,
			const char *why)
{
	int fds[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	char err[256] = "";
	struct tls_ctx *cx = tls__ctx_new(cs, TLS_ROLE_CLIENT, err, sizeof(err));
	CHECK(cx != NULL);
	if (!cx) {
		fprintf(stderr, "  client context: %s\n", err);
		return;
	}
	struct transport cli = {0}, srv = {0};
	CHECK(tls__connect(&cli, cx, fds[1], host, verify) == 0);
	CHECK(tls__accept(&srv, sx, fds[0]) == 0);
	tls__ctx_unref(cx);
	int rc = settle(&cli, &srv);
	CHECK_EQ(rc, want);
	if (why) CHECK(cli.error && strcmp(cli.error, why) == 0);
	if (why && (!cli.error || strcmp(cli.error, why))) fprintf(stderr, "  got: %s\n", cli.error ? cli.error : "-");
	if (rc == 1) {
		struct iovec iov = {(void *)"ping", 4};
		CHECK_EQ(tls__ops.writev(&cli, &iov, 1), 4);
		char buf[16];
		ssize_t n = -1;
		for (int i = 0; i < 50 && n < 0; i++)
			n = tls__ops.read(&srv, buf, sizeof(buf));
		CHECK(n == 4 && memcmp(buf, "ping", 4) == 0);
	}
	tls__ops.close(&cli);
	tls__ops.close(&srv);
}

static void test_client(void)
{
	struct tls_ctx *sx = server_ctx(false);
	struct tls_settings cs = {.cafile = path("ca.crt")};
	client_case(&cs, sx, "localhost", true, 1, NULL);
	client_case(&cs, sx, "other.example", true, -1, "TLS handshake failed: hostname mismatch");
	client_case(&cs, sx, "127.0.0.1", true, -1, "TLS handshake failed: IP address mismatch");
	client_case(&cs, sx, "other.example", false, 1, NULL); /* --insecure: the name is not checked */
	struct tls_settings stranger = {.use_os_certs = true};  /* the system's CAs do not know ours */
	client_case(&stranger, sx, "localhost", true, -1, NULL);
	tls__ctx_unref(sx);

	/* The client's certificate where one is required. */
	sx = server_ctx(true);
	cs.certfile = path("client.crt"), cs.keyfile = path("client.key");
	client_case(&cs, sx, "localhost", true, 1, NULL);
	tls__ctx_unref(sx);

	/* PSK, TLS 1.3 by default, and the identity the server saw. */
	struct tls_settings ps = {.psk_hint = "hint", .psk_file = path("psk.txt")};
	char err[256];
	sx = tls__ctx_new(&ps, TLS_ROLE_SERVER, err, sizeof(err));
	CHECK(sx != NULL);
	struct tls_settings pc = {.psk = "0A0B0C0D", .psk_identity = "alice", .alpn = "mqtt"};
	client_case(&pc, sx, "localhost", true, 1, NULL);
	pc.psk = "0a0b0c0e";
	client_case(&pc, sx, "localhost", true, -1, NULL);
	tls__ctx_unref(sx);

	/* Client settings refused when the context is built. */
	struct tls_settings bad = {.psk = "zz", .psk_identity = "a"};
	CHECK(tls__ctx_new(&bad, TLS_ROLE_CLIENT, err, sizeof(err)) == NULL && strstr(err, "psk: expected"));
	bad = (struct tls_settings){.psk = "00ff"};
	CHECK(tls__ctx_new(&bad, TLS_ROLE_CLIENT, err, sizeof(err)) == NULL && strstr(err, "psk_identity"));
	bad = (struct tls_settings){.alpn = ""};
	CHECK(tls__ctx_new(&bad, TLS_ROLE_CLIENT, err, sizeof(err)) == NULL && strstr(err, "alpn ''"));
	CHECK(ERR_peek_error() == 0);
}

static void expect_ctx_err(const struct tls_settings *s, const char *want)
{
	char err[512] = "";
	struct tls_ctx *x = tls__ctx_new(s, TLS_ROLE_SERVER, err, sizeof(err));
	CHECK(x == NULL);
	CHECK(strstr(err, want) != NULL);
	if (!strstr(err, want)) fprintf(stderr, "  got: %s\n  want: %s\n", err, want);
	tls__ctx_unref(x);
}

static void test_ctx_errors(void)
{
	struct tls_settings s = {.certfile = "/nonexistent/s.crt", .keyfile = path("server.key")};
	expect_ctx_err(&s, "cannot read certfile '/nonexistent/s.crt': No such file or directory");
	s.certfile = path("server.crt");
	s.keyfile = path("client.key");
	expect_ctx_err(&s, "does not match certfile");
	s.keyfile = path("server.crt");
	expect_ctx_err(&s, "cannot load keyfile");
	s.keyfile = path("server.key");
	s.ciphers = "NOT-A-CIPHER";
	expect_ctx_err(&s, "ciphers 'NOT-A-CIPHER': no cipher match");
	s.ciphers = NULL;
	s.crlfile = path("ca.key");
	expect_ctx_err(&s, "cannot load crlfile");
	s.crlfile = NULL;
	s.psk_hint = "hint";
	expect_ctx_err(&s, "psk_hint is set but there is no psk_file");
	s.psk_file = path("server.key");
	expect_ctx_err(&s, "psk_file '");
	s.psk_file = path("psk.txt");
	char err[256];
	struct tls_ctx *x = tls__ctx_new(&s, TLS_ROLE_SERVER, err, sizeof(err));
	CHECK(x != NULL && x->psk.n == 1);
	CHECK(tls__ctx_ref(x) == x);
	tls__ctx_unref(x);
	tls__ctx_unref(x);
	CHECK_EQ(tls__parse_version("tlsv1.3"), 13);
	CHECK_EQ(tls__parse_version("tlsv1.1"), 11);
	CHECK_EQ(tls__parse_version("tlsv1"), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as the broker does: a close_notify may meet a closed socket */
	make_pki();
	test_session();
	test_refused();
	test_client();
	test_ctx_errors();
	const char *files[] = {"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key", "psk.txt"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path(files[i]));
	rmdir(dir);
	CHECK_DONE();
}
