/* Unit tests for the cluster's NATS credentials and TLS options (config_cluster.c) and their checks in
 * config__validate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "config.h"
#include "midge/midge.h"

static char err[512];
static char file[64]; /* a readable file, made in main */

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

static void test_options(void)
{
	struct config c;
	char text[512];
	snprintf(text, sizeof(text),
	         "cluster_nats_url tls://127.0.0.1:4222\n"
	         "cluster_nats_user node\n"
	         "cluster_nats_password two words # and all\n"
	         "cluster_nats_cafile %s\n"
	         "cluster_nats_certfile %s\n"
	         "cluster_nats_keyfile %s\n",
	         file, file, file);
	CHECK_EQ(parse(&c, text), 0);
	CHECK(c.cluster_nats_user && strcmp(c.cluster_nats_user, "node") == 0);
	/* A password is the rest of the line, blanks and '#' included. */
	CHECK(c.cluster_nats_password && strcmp(c.cluster_nats_password, "two words # and all") == 0);
	CHECK(c.cluster_nats_cafile && strcmp(c.cluster_nats_cafile, file) == 0);
	CHECK(c.cluster_nats_certfile && c.cluster_nats_keyfile);
	CHECK(!c.cluster_nats_token && !c.cluster_nats_creds);
	config__fini(&c);
	CHECK(!c.cluster_nats_user && !c.cluster_nats_password && !c.cluster_nats_cafile);

	snprintf(text, sizeof(text), "cluster_nats_token s3cret\n");
	CHECK_EQ(parse(&c, text), 0);
	CHECK(c.cluster_nats_token && strcmp(c.cluster_nats_token, "s3cret") == 0);
	config__fini(&c);
	snprintf(text, sizeof(text), "cluster_nats_creds %s\n", file);
	CHECK_EQ(parse(&c, text), 0);
	CHECK(c.cluster_nats_creds && strcmp(c.cluster_nats_creds, file) == 0);
	config__fini(&c);
	/* A user without a password: servers may know users by name alone (no_auth_user aside, NKeys). */
	CHECK_EQ(parse(&c, "cluster_nats_user node\n"), 0);
	config__fini(&c);
}

static void test_errors(void)
{
	char text[512], msg[512];
	snprintf(text, sizeof(text), "cluster_nats_url nats://h:1\n\ncluster_nats_certfile %s\n", file);
	expect_err(text, "t.conf:3: cluster_nats_certfile is set but cluster_nats_keyfile is not");
	snprintf(text, sizeof(text), "cluster_nats_keyfile %s\ncluster_nats_cafile %s\n", file, file);
	expect_err(text, "t.conf:2: cluster_nats_keyfile is set but cluster_nats_certfile is not");
	expect_err("cluster_nats_password p\n", "t.conf:1: cluster_nats_password is set but cluster_nats_user is not");
	expect_err("cluster_nats_user u\ncluster_nats_token t\n",
	           "t.conf:2: give only one of cluster_nats_user, cluster_nats_token and cluster_nats_creds");
	expect_err("cluster_nats_cafile /nonexistent/ca.pem\n",
	           "t.conf:1: cannot read '/nonexistent/ca.pem' for 'cluster_nats_cafile': No such file or directory");
	expect_err("\ncluster_nats_creds /tmp\n",
	           "t.conf:2: cannot read '/tmp' for 'cluster_nats_creds': Is a directory");
	/* A URL refused is shown without what may be its password. */
	expect_err("cluster_nats_url http://u:pw@h:1\n",
	           "t.conf:1: invalid NATS URL 'http://***@h:1' for "
	           "'cluster_nats_url' (expected nats://HOST:PORT or tls://HOST:PORT)");
	expect_err("cluster_nats_user\n", "t.conf:1: missing value for 'cluster_nats_user'");
	expect_err("cluster_nats_token\n", "t.conf:1: missing value for 'cluster_nats_token'");
	snprintf(text, sizeof(text), "cluster_nats_keyfile %s.gone\n", file);
	snprintf(msg, sizeof(msg),
	         "t.conf:1: cannot read '%s.gone' for 'cluster_nats_keyfile': No such file or directory", file);
	expect_err(text, msg);
}

int main(void)
{
	snprintf(file, sizeof(file), "/tmp/midge-cc-XXXXXX");
	int fd = mkstemp(file);
	if (fd < 0 || write(fd, "x\n", 2) != 2) return 2;
	close(fd);
	test_options();
	test_errors();
	unlink(file);
	CHECK_DONE();
}
