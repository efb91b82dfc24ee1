/* A bridge's topic mapping between the local and the remote broker. See bridge_topics.h. */
#include <string.h>

#include "bridge_topics.h"
#include "common/topic.h"

/* Writes topic with from replaced by to (when topic starts with from) into out. 0 or MIDGE_ERR_NOMEM. */
static int remap(const uint8_t *topic, size_t len, const char *from, const char *to, struct buf *out)
{
	size_t fl = from ? strlen(from) : 0;
	buf__clear(out);
	if (fl && (len < fl || memcmp(topic, from, fl) != 0)) return buf__append(out, topic, len);
	if (to && buf__append(out, to, strlen(to))) return -1;
	return buf__append(out, topic + fl, len - fl);
}

static const struct bridge_topic *find(const struct bridge_conf *bc, const uint8_t *topic, size_t len, bool out_way,
				       struct buf *out)
{
	for (size_t i = 0; i < bc->ntopics; i++) {
		const struct bridge_topic *t = &bc->topics[i];
		enum bridge_direction skip = out_way ? BRIDGE_IN : BRIDGE_OUT;
		if (t->direction == skip) continue;
		const char *filter = out_way ? t->local_topic : t->remote_topic;
		if (!topic__matches((const uint8_t *)filter, strlen(filter), topic, len)) continue;
		int rc = out_way ? remap(topic, len, t->local_prefix, t->remote_prefix, out)
				 : remap(topic, len, t->remote_prefix, t->local_prefix, out);
		return rc ? NULL : t;
	}
	return NULL;
}

const struct bridge_topic *bridge_topics__out(const struct bridge_conf *bc, const uint8_t *topic, size_t len,
					      struct buf *out)
{
	return find(bc, topic, len, true, out);
}

const struct bridge_topic *bridge_topics__in(const struct bridge_conf *bc, const uint8_t *topic, size_t len,
					     struct buf *out)
{
	return find(bc, topic, len, false, out);
}
