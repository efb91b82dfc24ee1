/* UNSUBSCRIBE: removes filters from the tree and the session, answers UNSUBACK. */
#include "broker.h"
#include "conn.h"
#include "dispatch.h"
#include "midge/midge.h"
#include "session.h"
#include "worker.h"
#include "subs.h"

int handle__unsubscribe(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct broker *b = w->broker;
	struct mqtt_unsubscribe u;
	int r = proto__decode_unsubscribe(f, c->version, &u);
	if (r) return dispatch__codec_err(r);
	size_t pos = 0;
	struct mqtt_str filter;
	while (proto__unsubscribe_next(&u, &pos, &filter)) {
		pthread_mutex_lock(&c->session->lock);
		if (session__forget_sub(c->session, filter.p, filter.len))
			subs__remove(b->subs, filter.p, filter.len, c->session);
		pthread_mutex_unlock(&c->session->lock);
	}
	struct buf out = {0};
	r = proto__encode_suback(&out, MQTT_UNSUBACK, c->version, u.packet_id, NULL, 0, NULL);
	if (!r) r = conn__queue_bytes(c, buf__head(&out), buf__len(&out));
	buf__fini(&out);
	/* Logged after the UNSUBACK is queued: the line may be published to this very client. */
	for (pos = 0; log__enabled(&b->log, LOG_T_UNSUBSCRIBE) && proto__unsubscribe_next(&u, &pos, &filter);)
		log__printf(&b->log, LOG_T_UNSUBSCRIBE, "%s %.*s", c->client_id, (int)filter.len, (const char *)filter.p);
	conn__schedule(c, w);
	return r;
}
