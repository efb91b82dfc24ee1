/* PUBACK, PUBREC and PUBCOMP from a client: acknowledgements of messages the broker sent. */
#include "broker.h"
#include "conn.h"
#include "dispatch.h"
#include "session.h"
#include "worker.h"

int handle__ack(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct mqtt_ack a;
	int r = proto__decode_ack(f, c->version, &a);
	if (r) return dispatch__codec_err(r);
	/* An unknown packet id is ignored: it may be a late ack for a message of a taken-over connection. */
	session__ack(w->broker, w, c->session, f->type, a.packet_id, a.reason);
	/* What the ack let out of the queue goes at the end of this read, not of the loop turn: a subscriber's
	 * rate at QoS 1/2 is its window over this round trip, which the rest of the turn would lengthen. */
	c->acked = true;
	return 0;
}
