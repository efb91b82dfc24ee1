/* libFuzzer target: the cluster's message envelope from NATS (cluster__decode) on arbitrary bytes; what decodes
 * is encoded again and must decode to the same message. Also the subjects of the topic and, as a filter, of it;
 * and a persistent session's entry from the bucket (cluster__psess_decode), re-encoded the same way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cluster_codec.h"
#include "common/topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int again(void *arg, const struct cluster_psub *s) { return cluster__psess_add(arg, s); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_msg m;
	struct buf b = {0}, s = {0};
	if (cluster__decode(data, size, &m) == 0) {
		if (cluster__encode(&m, &b) == 0) {
			struct cluster_msg again;
			if (cluster__decode(buf__head(&b), buf__len(&b), &again) != 0 || again.qos != m.qos ||
			    again.retain != m.retain || again.topic_len != m.topic_len ||
			    memcmp(again.topic, m.topic, m.topic_len) != 0 || again.payload_len != m.payload_len ||
			    again.props_len != m.props_len || again.expiry_s != m.expiry_s)
				abort();
		}
		(void)cluster__topic_subject(m.topic, m.topic_len, m.qos > 0, &s);
	}
	if (size && topic__valid_filter(data, size)) {
		int n;
		(void)cluster__filter_subjects(data, size, &s, &n);
	}
	uint64_t owner;
	uint32_t expiry;
	if (cluster__psess_decode(data, size, &owner, &expiry, NULL, NULL) == 0) {
		/* Every subscription written back gives the same bytes. */
		if (cluster__psess_begin(&b, owner, expiry) || cluster__psess_decode(data, size, &owner, &expiry, again, &b))
			abort();
		if (buf__len(&b) != size || memcmp(buf__head(&b), data, size) != 0) abort();
	}
	buf__fini(&b);
	buf__fini(&s);
	return 0;
}
