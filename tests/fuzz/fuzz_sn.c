/* libFuzzer target: an MQTT-SN datagram. Whatever decodes must encode and decode again to the same message (and
 * the message inside an envelope likewise); nothing may crash, hang or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "midge/midge.h"
#include "proto/sn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok) __builtin_trap();
}

static bool same_str(struct mqtt_str a, struct mqtt_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool same(const struct sn_msg *a, const struct sn_msg *b)
{
	return a->type == b->type && a->has_flags == b->has_flags && a->dup == b->dup && a->retain == b->retain &&
	       a->will == b->will && a->clean == b->clean && a->qos == b->qos && a->topic_type == b->topic_type &&
	       a->gw_id == b->gw_id && a->radius == b->radius && a->protocol_id == b->protocol_id && a->rc == b->rc &&
	       a->has_duration == b->has_duration && a->duration == b->duration && a->topic_id == b->topic_id &&
	       a->msg_id == b->msg_id && same_str(a->text, b->text) && same_str(a->data, b->data);
}

static void check(const uint8_t *p, size_t n, int depth)
{
	struct sn_msg m;
	int rc = sn__decode(p, n, &m);
	require(rc == SN_OK || rc == SN_MALFORMED || rc == SN_UNKNOWN);
	if (rc != SN_OK) return;
	struct buf b = {0};
	require(sn__encode(&m, &b) == 0);
	struct sn_msg again;
	require(sn__decode(buf__head(&b), buf__len(&b), &again) == SN_OK);
	require(same(&m, &again));
	buf__fini(&b);
	if (m.type == SN_ENCAPSULATED && depth == 0) check(m.data.p, m.data.len, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, 0);
	return 0;
}
