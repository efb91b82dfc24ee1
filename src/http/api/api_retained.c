/* The HTTP API's retained messages: /api/v1/retained?filter=F&limit=N (api.h). Only the topics the caller's
 * ACL lets it read are listed; a payload that is not UTF-8 comes as base64. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "broker/broker.h"
#include "broker/message.h"
#include "broker/retain.h"
#include "broker/security.h"
#include "common/clock.h"
#include "common/jsonw.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "midge/midge.h"
#include "midge/mqtt.h"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 10000
#define BATCH 256

static void payload(struct jsonw *j, const struct message *m)
{
	if (utf8__valid(m->payload, m->payload_len)) {
		jsonw__str(j, "payload", (const char *)m->payload, m->payload_len);
		jsonw__cstr(j, "encoding", "utf8");
		return;
	}
	char *b64 = malloc(4 * ((size_t)m->payload_len / 3 + 1) + 1);
	if (!b64) {
		j->failed = true;
		return;
	}
	int n = EVP_EncodeBlock((unsigned char *)b64, m->payload, (int)m->payload_len);
	jsonw__str(j, "payload", b64, n > 0 ? (size_t)n : 0);
	jsonw__cstr(j, "encoding", "base64");
	free(b64);
}

int api__retained(struct api_req *r)
{
	char filter[65536 + 1] = "#";
	long flen = 1;
	struct http_str v;
	if (http__query(r->rq->target, "filter", &v) &&
	    ((flen = http__pct_decode(v.p, v.len, filter, sizeof(filter))) <= 0 ||
	     !topic__valid_filter((const uint8_t *)filter, (size_t)flen)))
		return api__error(r->out, 400, "filter is not a valid topic filter", NULL);
	size_t limit = api__limit(r, DEFAULT_LIMIT, MAX_LIMIT);
	if (!limit) return api__error(r->out, 400, "limit must be a number from 1 to 10000", NULL);
	struct retain_store *rs = r->b->retained;
	struct retain_cursor *k = retain__cursor_new(rs, (const uint8_t *)filter, (size_t)flen);
	if (!k) return MIDGE_ERR_NOMEM;
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__arr(&j, "retained");
	size_t listed = 0;
	bool truncated = false;
	uint64_t now = clock__ms();
	struct message *got[BATCH];
	char topic[65536 + 1];
	while (!retain__cursor_done(k) && !j.failed) {
		size_t steps = 4096;
		size_t n = retain__cursor_next(rs, k, got, BATCH, &steps);
		for (size_t i = 0; i < n; i++) {
			struct message *m = got[i];
			memcpy(topic, m->topic, m->topic_len);
			topic[m->topic_len] = 0;
			if (!msg__expired(m, now) && api__may(r, topic, ACL_READ)) {
				if (listed == limit) truncated = true;
				else {
					jsonw__obj(&j, NULL);
					jsonw__str(&j, "topic", topic, m->topic_len);
					jsonw__u64(&j, "qos", m->qos);
					payload(&j, m);
					jsonw__end(&j);
					listed++;
				}
			}
			msg__unref(m);
		}
		if (truncated) break;
	}
	retain__cursor_free(rs, k);
	jsonw__end(&j);
	jsonw__bool(&j, "truncated", truncated);
	jsonw__end(&j);
	if (jsonw__done(&j)) {
		buf__fini(&body);
		return MIDGE_ERR_NOMEM;
	}
	return api__send_json(r, &body);
}
