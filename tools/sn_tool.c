/* sn_tool: the shared part of midge-sn-pub and midge-sn-sub. See sn_tool.h. */
#include "sn_tool.h"

#include <stdarg.h>
#include <string.h>

#include "midge/midge.h"

volatile sig_atomic_t sn_tool_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	sn_tool_interrupted = 1;
}

void sn_tool__signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int sn_tool__parse(struct sn_opts *o, enum sn_tool_kind kind, const char *prog, const char *usage, int argc,
                   char *argv[])
{
	int rc = sn_opts__load(o, kind, argc, argv, stderr);
	if (rc == OPTS_OK) return -1;
	if (rc == OPTS_HELP)
		fputs(usage, stdout);
	else
		fprintf(stderr, "Use '%s --help' to see usage.\n", prog);
	sn_opts__free(o);
	return rc == OPTS_HELP ? 0 : 1;
}

static void debug_line(void *ud, bool sent, const struct sn_msg *m)
{
	(void)ud;
	char line[400];
	sn_tool__describe(m, line, sizeof(line));
	fprintf(stderr, "%s %s\n", sent ? "Sending" : "Received", line);
}

int sn_tool__open(struct snc *c, const struct sn_opts *o, const struct snc_callbacks *cb)
{
	snc__init(c);
	c->cb = *cb;
	if (o->debug) c->cb.on_datagram = debug_line;
	c->clean = o->clean;
	int rc = snc__set_client_id(c, o->id);
	if (!rc) rc = snc__set_keepalive(c, o->keepalive);
	if (!rc) rc = snc__set_retry(c, o->retry, o->retries);
	if (!rc && o->will_topic)
		rc = snc__set_will(c, o->will_topic, o->will_payload, o->will_payload ? strlen(o->will_payload) : 0,
		                   o->will_qos, o->will_retain);
	if (!rc && o->fe) rc = snc__set_forwarder(c, o->wlnid, o->wlnid_len);
	if (!rc && o->predef_file) rc = snc__load_predefined(c, o->predef_file);
	if (!rc) rc = snc__open(c, o->host, o->port);
	if (!rc) return 0;
	sn_tool__fail(c);
	snc__close(c);
	return 1;
}

int sn_tool__fail(const struct snc *c)
{
	fprintf(stderr, "Error: %s\n", snc__error(c));
	return 1;
}

/* Appends to buf as snprintf would, keeping *used. */
static void add(char *buf, size_t size, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	if (*used >= size) return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n > 0) *used += (size_t)n;
}

/* A topic name or client id, cut short for one line. */
#define TEXT(s) (int)((s).len > 100 ? 100 : (s).len), (const char *)(s).p

static void add_topic(char *buf, size_t size, size_t *used, const struct sn_msg *m)
{
	switch (m->topic_type) {
	case SN_TOPIC_PREDEFINED:
		add(buf, size, used, "predefined topic %u", m->topic_id);
		break;
	case SN_TOPIC_SHORT:
		add(buf, size, used, "short topic '%c%c'", (char)(m->topic_id >> 8), (char)(m->topic_id & 0xFF));
		break;
	case SN_TOPIC_NORMAL:
		add(buf, size, used, "topic %u", m->topic_id);
		break;
	default:
		add(buf, size, used, "topic type 3 (reserved)");
		break;
	}
}

void sn_tool__describe(const struct sn_msg *m, char *buf, size_t size)
{
	size_t u = 0;
	buf[0] = 0;
	add(buf, size, &u, "%s (", sn__type_name(m->type));
	switch (m->type) {
	case SN_CONNECT:
		add(buf, size, &u, "'%.*s', keepalive %u, clean %d, will %d", TEXT(m->text), m->duration, m->clean,
		    m->will);
		break;
	case SN_CONNACK:
	case SN_WILLTOPICRESP:
	case SN_WILLMSGRESP:
		add(buf, size, &u, "rc %u: %s", m->rc, snc__rc_string(m->rc));
		break;
	case SN_WILLTOPIC:
		if (m->has_flags)
			add(buf, size, &u, "q%d, r%d, '%.*s'", m->qos, m->retain, TEXT(m->text));
		else
			add(buf, size, &u, "no will");
		break;
	case SN_WILLMSG:
		add(buf, size, &u, "%u bytes", m->data.len);
		break;
	case SN_REGISTER:
		add(buf, size, &u, "topic %u, m%u, '%.*s'", m->topic_id, m->msg_id, TEXT(m->text));
		break;
	case SN_REGACK:
	case SN_PUBACK:
		add(buf, size, &u, "topic %u, m%u, rc %u: %s", m->topic_id, m->msg_id, m->rc, snc__rc_string(m->rc));
		break;
	case SN_PUBLISH:
		add(buf, size, &u, "d%d, q%d, r%d, ", m->dup, m->qos, m->retain);
		add_topic(buf, size, &u, m);
		add(buf, size, &u, ", m%u, %u bytes", m->msg_id, m->data.len);
		break;
	case SN_PUBREC:
	case SN_PUBREL:
	case SN_PUBCOMP:
	case SN_UNSUBACK:
		add(buf, size, &u, "m%u", m->msg_id);
		break;
	case SN_SUBSCRIBE:
	case SN_UNSUBSCRIBE:
		add(buf, size, &u, "d%d, q%d, m%u, ", m->dup, m->qos, m->msg_id);
		if (m->topic_type == SN_TOPIC_PREDEFINED)
			add(buf, size, &u, "predefined topic %u", m->topic_id);
		else if (m->topic_type == SN_TOPIC_SHORT)
			add(buf, size, &u, "short topic '%.*s'", TEXT(m->text));
		else
			add(buf, size, &u, "'%.*s'", TEXT(m->text));
		break;
	case SN_SUBACK:
		add(buf, size, &u, "q%d, topic %u, m%u, rc %u: %s", m->qos, m->topic_id, m->msg_id, m->rc,
		    snc__rc_string(m->rc));
		break;
	case SN_PINGREQ:
		if (m->text.len) add(buf, size, &u, "'%.*s'", TEXT(m->text));
		break;
	case SN_DISCONNECT:
		if (m->has_duration) add(buf, size, &u, "sleep %u s", m->duration);
		break;
	default:
		break;
	}
	add(buf, size, &u, ")");
	/* Nothing between the parentheses: none at all ("PINGRESP"). */
	size_t n = strlen(buf);
	if (n >= 3 && !strcmp(buf + n - 3, " ()")) buf[n - 3] = 0;
}
