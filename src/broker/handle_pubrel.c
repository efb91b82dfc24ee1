/* PUBREL from a client: releases an incoming QoS 2 packet id and answers PUBCOMP. */
#include "conn.h"
#include "dispatch.h"
#include "midge/midge.h"
#include "persist.h"
#include "session.h"
#include "worker.h"

int handle__pubrel(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct mqtt_ack a;
	int r = proto__decode_ack(f, c->version, &a);
	if (r) return dispatch__codec_err(r);
	/* The release and the PUBCOMP's barrier in one group: the reply answers for this write, not another's. */
	persist__group_begin(w->broker);
	lock__acquire(&c->session->lock);
	bool known = session__qos2_remove(c->session, a.packet_id);
	if (known) persist__qos2(w->broker, w, c->session, a.packet_id, false);
	lock__release(&c->session->lock);
	/* PUBCOMP even for an unknown id: the client may be resending after our PUBCOMP was lost.
	 * MQTT 5 says which it was (3.7.2.1). Stored, it waits for the release to be committed: the client may reuse
	 * the packet id at once, and a restart must not take that new message for a resend. */
	r = persist__ack(w->broker, w, c, MQTT_PUBCOMP, a.packet_id, known ? MQTT_RC_SUCCESS : MQTT_RC_PACKET_ID_NOT_FOUND,
			 known ? NULL : "packet identifier not found", known && w->store_touched ? PERSIST_ACK_RELEASED : 0);
	persist__group_end(w->broker);
	conn__schedule(c, w);
	return r;
}
