/* libFuzzer target: the cluster's message envelope from NATS (cluster__decode) on arbitrary bytes; what decodes
 * is encoded again and must decode to the same message. Also the subjects of the topic and, as a filter, of it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cluster_codec.h"
#include "common/topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	buf__fini(&b);
	buf__fini(&s);
	return 0;
}
