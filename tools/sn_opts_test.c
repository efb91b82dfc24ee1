/* Unit tests of midge-sn-pub's and midge-sn-sub's option parser: defaults, every flag, and the refusals
 * (QoS -1 with a long topic, two topics to publish to, a will payload without a topic, ...). And the -d lines. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sn_opts.h"
#include "sn_tool.h"

static char *err_text;
static size_t err_len;

static int load(struct sn_opts *o, enum sn_tool_kind kind, const char *const *args)
{
	char *argv[64] = {"prog"};
	int argc = 1;
	while (args[argc - 1])
		argv[argc] = (char *)args[argc - 1], argc++;
	free(err_text);
	FILE *err = open_memstream(&err_text, &err_len);
	int rc = sn_opts__load(o, kind, argc, argv, err);
	fclose(err);
	return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

#define expect_error(kind, args, msg) expect_error_at(kind, args, msg, __LINE__)
static void expect_error_at(enum sn_tool_kind kind, const char *const *args, const char *msg, int line)
{
	struct sn_opts o;
	CHECK_EQ(load(&o, kind, args), OPTS_ERROR);
	if (!strstr(err_text, msg)) fprintf(stderr, "  line %d: expected '%s', got '%s'\n", line, msg, err_text);
	CHECK(strstr(err_text, msg) != NULL);
	sn_opts__free(&o);
}

static void test_defaults(void)
{
	struct sn_opts o;
	char pid_id[32];
	CHECK_EQ(load(&o, SN_TOOL_PUB, ARGS("-t", "a/b", "-m", "hi")), OPTS_OK);
	CHECK(!strcmp(o.host, "localhost") && o.port == 1884 && o.keepalive == 60 && o.clean);
	CHECK(o.retry == 10 && o.retries == 5 && o.qos == 0 && !o.retain && !o.fe);
	CHECK(o.ntopics == 1 && !strcmp(o.topics[0], "a/b") && o.npredef_ids == 0);
	CHECK(o.pub_mode == PUB_MESSAGE && o.message_len == 2 && !memcmp(o.message, "hi", 2));
	snprintf(pid_id, sizeof(pid_id), "midge-sn-pub-%ld", (long)getpid());
	CHECK(!strcmp(o.id, pid_id));
	sn_opts__free(&o);
	CHECK_EQ(load(&o, SN_TOOL_SUB, ARGS("-t", "a/#")), OPTS_OK);
	snprintf(pid_id, sizeof(pid_id), "midge-sn-sub-%ld", (long)getpid());
	CHECK(!strcmp(o.id, pid_id) && o.count == 0 && o.timeout == 0 && o.sleep_s == 0 && !o.verbose);
	sn_opts__free(&o);
}

static void test_every_flag(void)
{
	struct sn_opts o;
	CHECK_EQ(
	    load(&o, SN_TOOL_PUB,
	         ARGS("-h", "::1", "-p", "2000", "-T", "7", "-s", "-q", "-1", "-i", "me", "-k", "0", "-r", "-c", "-d",
	              "--retry", "0.5", "--retries", "2", "--fe", "--wlnid", "0x0a0B", "--predefined-file", "p.txt")),
	    OPTS_OK);
	CHECK(!strcmp(o.host, "::1") && o.port == 2000 && o.npredef_ids == 1 && o.predef_ids[0] == 7);
	CHECK(o.pub_mode == PUB_STDIN_FILE && o.qos == -1 && !strcmp(o.id, "me") && o.keepalive == 0);
	CHECK(o.retain && !o.clean && o.debug && o.retry == 0.5 && o.retries == 2);
	CHECK(o.fe && o.wlnid_len == 2 && o.wlnid[0] == 0x0A && o.wlnid[1] == 0x0B);
	CHECK(!strcmp(o.predef_file, "p.txt"));
	sn_opts__free(&o);
	/* QoS -1 to a short topic; -n; --wlnid as text; the will */
	CHECK_EQ(load(&o, SN_TOOL_PUB, ARGS("--topic", "ab", "-n", "--qos", "-1", "--fe", "--wlnid", "node7")),
	         OPTS_OK);
	CHECK(o.pub_mode == PUB_NULL && o.wlnid_len == 5 && !memcmp(o.wlnid, "node7", 5));
	sn_opts__free(&o);
	CHECK_EQ(load(&o, SN_TOOL_PUB, ARGS("-t", "a/b", "-l", "--fe")), OPTS_OK);
	CHECK(o.pub_mode == PUB_STDIN_LINE && o.wlnid_len > 0); /* the process id */
	sn_opts__free(&o);
	CHECK_EQ(load(&o, SN_TOOL_SUB,
	              ARGS("-t", "a/#", "-t", "ab", "-T", "3", "-T", "4", "-q", "2", "-C", "5", "-W", "9", "-v", "-e",
	                   "30", "--will-topic", "w/t", "--will-payload", "bye", "--will-qos", "1", "--will-retain")),
	         OPTS_OK);
	CHECK(o.ntopics == 2 && o.npredef_ids == 2 && o.predef_ids[1] == 4 && o.qos == 2 && o.count == 5);
	CHECK(o.timeout == 9 && o.verbose && o.sleep_s == 30);
	CHECK(!strcmp(o.will_topic, "w/t") && !strcmp(o.will_payload, "bye") && o.will_qos == 1 && o.will_retain);
	sn_opts__free(&o);
	/* a QoS -1 long name that a predefined file may list: left to the library, which reads the file */
	CHECK_EQ(load(&o, SN_TOOL_PUB, ARGS("-t", "sensors/temp", "-m", "1", "-q", "-1", "--predefined-file", "f")),
	         OPTS_OK);
	sn_opts__free(&o);
	CHECK_EQ(load(&o, SN_TOOL_PUB, ARGS("--help")), OPTS_HELP);
	sn_opts__free(&o);
	CHECK_EQ(load(&o, SN_TOOL_SUB, ARGS("-t", "x", "--help")), OPTS_HELP);
	sn_opts__free(&o);
}

static void test_refusals(void)
{
	expect_error(SN_TOOL_PUB, ARGS("-t", "a/long/topic", "-m", "x", "-q", "-1"),
	             "Error: QoS -1 needs a predefined topic id (-T) or a two-character (short) topic name.");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m", "x", "-q", "-1"), "QoS -1 needs");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a/#", "-q", "-1"), "Error: QoS must be a number from 0 to 2, not '-1'.");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m", "x", "-q", "3"), "QoS must be a number from -1 to 2");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m", "x", "-q", "1x"), "not '1x'");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m", "x", "--bogus"), "Error: Unknown option '--bogus'.");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m", "x", "-v"), "Error: Unknown option '-v'."); /* sub's */
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "-m", "x"), "Error: Unknown option '-m'.");       /* pub's */
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m"), "Error: -m argument given but no value specified.");
	expect_error(SN_TOOL_PUB, ARGS("-m", "x"), "Error: No topic given");
	expect_error(SN_TOOL_SUB, ARGS("-v"), "Error: No topic given");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a"), "Error: Nothing to publish");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-m", "x", "-n"), "Only one type of message");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a", "-T", "1", "-m", "x"), "Only one topic");
	expect_error(SN_TOOL_PUB, ARGS("-t", "a/+", "-m", "x"), "Invalid publish topic 'a/+'");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a/#/b"), "Invalid subscription topic 'a/#/b'");
	expect_error(SN_TOOL_SUB, ARGS("-T", "0"), "A predefined topic id must be a number from 1 to 65534");
	expect_error(SN_TOOL_SUB, ARGS("-T", "65535"), "A predefined topic id must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "-p", "0"), "The port must be a number from 1 to 65535");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "-k", "65536"), "The keepalive must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "-i", "012345678901234567890123"), "1 to 23 characters");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "-C", "0"), "The message count must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "-e", "0"), "The sleep duration must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--retry", "0"), "--retry must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--retries", "256"), "The number of retries must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--will-payload", "x"), "no will topic");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--will-topic", "w/#"), "Invalid will topic");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--will-topic", "w", "--will-qos", "3"), "The will QoS must be");
	expect_error(SN_TOOL_PUB, ARGS("-t", "ab", "-m", "x", "-q", "-1", "--will-topic", "w"), "A will needs");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--wlnid", "n"), "--wlnid given without --fe");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--fe", "--wlnid", "0x0"), "--wlnid must be");
	expect_error(SN_TOOL_SUB, ARGS("-t", "a", "--fe", "--wlnid", "0xzz"), "--wlnid must be");
}

static void test_describe(void)
{
	char line[400];
	struct sn_msg m = {
	    .type = SN_PUBLISH, .qos = 1, .topic_id = 5, .msg_id = 3, .data = {(const uint8_t *)"hi", 2}};
	sn_tool__describe(&m, line, sizeof(line));
	CHECK(!strcmp(line, "PUBLISH (d0, q1, r0, topic 5, m3, 2 bytes)"));
	m = (struct sn_msg){.type = SN_PUBLISH, .qos = -1, .topic_type = SN_TOPIC_SHORT, .topic_id = 'a' << 8 | 'b'};
	sn_tool__describe(&m, line, sizeof(line));
	CHECK(!strcmp(line, "PUBLISH (d0, q-1, r0, short topic 'ab', m0, 0 bytes)"));
	m = (struct sn_msg){.type = SN_CONNACK, .rc = 3};
	sn_tool__describe(&m, line, sizeof(line));
	CHECK(!strcmp(line, "CONNACK (rc 3: not supported)"));
	m = (struct sn_msg){.type = SN_PINGRESP};
	sn_tool__describe(&m, line, sizeof(line));
	CHECK(!strcmp(line, "PINGRESP"));
	m = (struct sn_msg){.type = SN_DISCONNECT, .has_duration = true, .duration = 30};
	sn_tool__describe(&m, line, sizeof(line));
	CHECK(!strcmp(line, "DISCONNECT (sleep 30 s)"));
	m = (struct sn_msg){.type = SN_SUBSCRIBE, .qos = 2, .msg_id = 1, .text = {(const uint8_t *)"a/#", 3}};
	sn_tool__describe(&m, line, sizeof(line));
	CHECK(!strcmp(line, "SUBSCRIBE (d0, q2, m1, 'a/#')"));
	/* never past the buffer */
	m = (struct sn_msg){.type = SN_REGISTER, .topic_id = 1, .msg_id = 2, .text = {(const uint8_t *)"abcdefgh", 8}};
	sn_tool__describe(&m, line, 12);
	CHECK_EQ(strlen(line), 11u);
}

int main(void)
{
	test_defaults();
	test_every_flag();
	test_refusals();
	test_describe();
	free(err_text);
	CHECK_DONE();
}
