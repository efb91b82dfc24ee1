/* Unit tests for cluster_conn.c: URLs shown without their credentials, and TLS files cnats refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/unit/check.h"
#include "cluster_int.h"
#include "config.h"
#include "midge/midge.h"

static void shown(const char *urls, const char *want)
{
	char out[256];
	const char *got = cluster__urls_shown(urls, out, sizeof(out));
	if (strcmp(got, want) != 0) fprintf(stderr, "  urls: %s\n  got:  %s\n  want: %s\n", urls, got, want);
	CHECK(strcmp(got, want) == 0);
}

static void test_urls_shown(void)
{
	shown("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
	shown("nats://u:p@h:1", "nats://h:1");
	shown("tls://token@h:1,nats://h2:2,nats://a:b@c@h3:3", "tls://h:1,nats://h2:2,nats://h3:3");
	shown("nats://h:1/x@y", "nats://h:1/x@y"); /* an '@' past the host is not userinfo */
	shown("", "");
	/* Cut short, and still without the secret. */
	char small[12];
	cluster__urls_shown("nats://user:secret@host:4222", small, sizeof(small));
	CHECK(strstr(small, "secret") == NULL && strlen(small) < sizeof(small));
}

static void test_bad_files(void)
{
	/* Readable (config load passed) but no PEM: an error naming the file, at start rather than at connect. */
	struct config c;
	config__defaults(&c);
	char path[] = "/tmp/midge-cc-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "not a certificate\n", 18) == 18);
	close(fd);
	c.cluster_nats_cafile = path;
	natsOptions *o = NULL;
	CHECK_EQ(natsOptions_Create(&o), NATS_OK);
	char err[512] = "";
	CHECK_EQ(cluster__auth_options(&c, o, err, sizeof(err)), MIDGE_ERR_INVAL);
	CHECK(strstr(err, path) != NULL);
	natsOptions_Destroy(o);
	c.cluster_nats_cafile = NULL;
	/* Credentials alone need no file and no TLS. */
	c.cluster_nats_user = "u";
	c.cluster_nats_password = "p";
	CHECK_EQ(natsOptions_Create(&o), NATS_OK);
	CHECK_EQ(cluster__auth_options(&c, o, err, sizeof(err)), 0);
	natsOptions_Destroy(o);
	unlink(path);
	nats_Close();
}

int main(void)
{
	test_urls_shown();
	test_bad_files();
	CHECK_DONE();
}
