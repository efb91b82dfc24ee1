/* Unit tests for the TLS options of the configuration (config_tls.c) and their checks in
 * config__validate. */
#include <stdio.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "config.h"
#include "midge/midge.h"

static char err[512];

static int parse(struct config *c, const char *text)
{
	config__defaults(c);
	int rc = config__parse(c, "t.conf", text, strlen(text), err, sizeof(err));
	return rc ? rc : config__validate(c, err, sizeof(err));
}

/* Parses and validates text, expecting failure with exactly the message msg. */
static void expect_err(const char *text, const char *msg)
{
	struct config c;
	CHECK_EQ(parse(&c, text), MIDGE_ERR_INVAL);
	if (strcmp(err, msg) != 0) fprintf(stderr, "  text: %s\n  got:  %s\n  want: %s\n", text, err, msg);
	CHECK(strcmp(err, msg) == 0);
	config__fini(&c);
}

static void test_listener_options(void)
{
	struct config c;
	CHECK_EQ(parse(&c, "listener 1883\n"
			   "listener 8883\n"
			   "cafile /etc/ca dir/ca.crt\n"
			   "capath /etc/ssl/certs\n"
			   "certfile /s.crt\n"
			   "keyfile /s.key\n"
			   "crlfile /c.crl\n"
			   "ciphers ECDHE-RSA-AES128-GCM-SHA256:HIGH\n"
			   "ciphers_tls1.3 TLS_AES_256_GCM_SHA384\n"
			   "tls_version tlsv1.3\n"
			   "require_certificate true\n"
			   "use_identity_as_username 1\n"
			   "use_subject_as_username false\n"),
		 0);
	CHECK_EQ(c.nlisteners, 2);
	const struct listener_conf *p = &c.listeners[0], *l = &c.listeners[1];
	CHECK(!config__listener_tls(p) && !p->cafile && !p->require_certificate && p->tls_version == 0);
	CHECK(config__listener_tls(l));
	CHECK(l->cafile && strcmp(l->cafile, "/etc/ca dir/ca.crt") == 0); /* a path may hold blanks */
	CHECK(l->capath && strcmp(l->capath, "/etc/ssl/certs") == 0);
	CHECK(l->certfile && strcmp(l->certfile, "/s.crt") == 0);
	CHECK(l->keyfile && strcmp(l->keyfile, "/s.key") == 0);
	CHECK(l->crlfile && strcmp(l->crlfile, "/c.crl") == 0);
	CHECK(l->ciphers && strcmp(l->ciphers, "ECDHE-RSA-AES128-GCM-SHA256:HIGH") == 0);
	CHECK(l->ciphers_tls13 && strcmp(l->ciphers_tls13, "TLS_AES_256_GCM_SHA384") == 0);
	CHECK_EQ(l->tls_version, 13);
	CHECK(l->require_certificate && l->use_identity_as_username && !l->use_subject_as_username);
	config__fini(&c);

	/* Before any `listener`, the options make and configure the default listener (Mosquitto's rule). */
	CHECK_EQ(parse(&c, "certfile /s.crt\nkeyfile /s.key\ntls_version tlsv1.2\n"), 0);
	CHECK(c.nlisteners == 1 && c.listeners[0].is_default && c.listeners[0].port == 1883);
	CHECK(config__listener_tls(&c.listeners[0]) && c.listeners[0].tls_version == 12);
	config__fini(&c);
	/* A default value makes no listener. */
	CHECK_EQ(parse(&c, "require_certificate false\nuse_subject_as_username false\n"), 0);
	CHECK_EQ(c.nlisteners, 0);
	config__fini(&c);
}

static void test_psk(void)
{
	struct config c;
	/* psk_file is global without per_listener_settings ... */
	CHECK_EQ(parse(&c, "psk_file /p.txt\nlistener 8884\npsk_hint midge hint\nlistener 8885\npsk_hint other\n"), 0);
	CHECK(c.psk_file && strcmp(c.psk_file, "/p.txt") == 0);
	CHECK(config__listener_tls(&c.listeners[0]) && strcmp(c.listeners[0].psk_hint, "midge hint") == 0);
	CHECK(strcmp(config__psk_file(&c, &c.listeners[0]), "/p.txt") == 0);
	CHECK(strcmp(config__psk_file(&c, &c.listeners[1]), "/p.txt") == 0);
	config__fini(&c);
	/* ... and per listener with it. */
	CHECK_EQ(parse(&c, "per_listener_settings true\nlistener 8884\npsk_hint h\npsk_file /a\n"), 0);
	CHECK(c.psk_file == NULL && strcmp(config__psk_file(&c, &c.listeners[0]), "/a") == 0);
	config__fini(&c);
	expect_err("per_listener_settings true\nlistener 8884\npsk_hint h\nlistener 8885\npsk_file /a\n",
		   "t.conf:2: listener on port 8884: psk_hint is set but psk_file is not");
	expect_err("psk_file /a\nper_listener_settings true\n",
		   "t.conf:2: option 'per_listener_settings' must come before any security option");
}

static void test_errors(void)
{
	expect_err("listener 8883\ncertfile /s.crt\n", "t.conf:1: listener on port 8883: certfile is set but keyfile is not");
	expect_err("listener 1883\n\nlistener 8883\nkeyfile /s.key\n",
		   "t.conf:3: listener on port 8883: keyfile is set but certfile is not");
	expect_err("listener 8883\ncertfile /s.crt\nkeyfile /s.key\nrequire_certificate true\n",
		   "t.conf:1: listener on port 8883: require_certificate needs cafile or capath");
	expect_err("listener 8883\ntls_version sslv3\n",
		   "t.conf:2: invalid value 'sslv3' for 'tls_version' (expected tlsv1.3, tlsv1.2 or tlsv1.1)");
	expect_err("listener 8883\ntls_version\n", "t.conf:2: missing value for 'tls_version'");
	expect_err("listener 8883\ncafile\n", "t.conf:2: missing value for 'cafile'");
	expect_err("listener 8883\nrequire_certificate yes\n",
		   "t.conf:2: invalid value 'yes' for 'require_certificate' (expected true or false)");
	expect_err("tls_keyform engine\n", "t.conf:1: option 'tls_keyform' is only supported as 'tls_keyform pem' for "
					  "now (keys are read as PEM)");
	expect_err("disable_client_cert_date_checks true\n",
		   "t.conf:1: option 'disable_client_cert_date_checks' is only supported as "
		   "'disable_client_cert_date_checks false' for now (client certificates are always checked for dates)");
	struct config c;
	CHECK_EQ(parse(&c, "tls_keyform pem\ndisable_client_cert_date_checks false\n"), 0);
	config__fini(&c);
	/* require_certificate on a plain listener is Mosquitto's no-op, not an error. */
	CHECK_EQ(parse(&c, "listener 1883\nrequire_certificate true\n"), 0);
	config__fini(&c);
}

int main(void)
{
	test_listener_options();
	test_psk();
	test_errors();
	CHECK_DONE();
}
