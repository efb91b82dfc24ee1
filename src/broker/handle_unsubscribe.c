/* UNSUBSCRIBE: removes filters from the tree and the session, answers UNSUBACK. */
#include <stdlib.h>

#include "broker.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "midge/midge.h"
#include "persist.h"
#include "session.h"
#include "worker.h"
#include "subs.h"

int handle__unsubscribe(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_unsubscribe u;
	int r = proto__decode_unsubscribe(f, c->version, &u);
	if (r) return dispatch__codec_err(r);
	size_t pos = 0, n = 0;
	struct mqtt_str filter;
	while (proto__unsubscribe_next(&u, &pos, &filter)) n++;
	uint8_t *codes = malloc(n);
	if (!codes) return MIDGE_ERR_NOMEM;
	persist__group_begin(b);
	for (n = 0, pos = 0; proto__unsubscribe_next(&u, &pos, &filter); n++) {
		lock__acquire(&c->session->lock);
		bool had = session__forget_sub(c->session, filter.p, filter.len);
		if (had) {
			session__unsubscribe_locked(b, c->session, filter.p, filter.len);
			persist__sub_del(b, w, c->session, filter.p, filter.len);
			cluster__session_unsub(b->cluster, c->session, filter.p, filter.len);
		}
		lock__release(&c->session->lock);
		codes[n] = had ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
	}
	struct buf out = {0};
	r = proto__encode_suback(&out, MQTT_UNSUBACK, c->version, u.packet_id, codes, n, NULL);
	free(codes);
	if (!r) r = persist__reply(b, w, c, buf__head(&out), buf__len(&out), NULL, NULL, NULL);
	persist__group_end(b);
	buf__fini(&out);
	/* Logged after the UNSUBACK is queued: the line may be published to this very client. */
	for (pos = 0; log__enabled(&b->log, LOG_T_UNSUBSCRIBE) && proto__unsubscribe_next(&u, &pos, &filter);)
		log__printf(&b->log, LOG_T_UNSUBSCRIBE, "%s %.*s", c->client_id, (int)filter.len, (const char *)filter.p);
	conn__schedule(c, w);
	return r;
}
