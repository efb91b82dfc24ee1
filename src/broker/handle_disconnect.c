/* DISCONNECT: a clean goodbye, so the will is discarded [MQTT-3.14.4-3], unless an MQTT 5 client gives
 * another reason than 0x00 (0x04 asks for the will); MQTT 5 may also change the Session Expiry Interval. */
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "proto/props.h"

int handle__disconnect(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct mqtt_disconnect d;
	int r = proto__decode_disconnect(f, c->version, &d);
	if (r) return dispatch__codec_err(r);
	size_t pos = 0;
	struct mqtt_prop p;
	while (props__next(&d.props, &pos, &p)) {
		if (p.id != MQTT_PROP_SESSION_EXPIRY_INTERVAL) continue;
		/* A session that was to end with the connection cannot be kept alive now [MQTT-3.14.2-2]. */
		if (c->session_expiry == 0 && p.u32 != 0)
			return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "session expiry set after 0", MIDGE_ERR_PROTOCOL);
		c->session_expiry = p.u32;
		c->expiry_changed = true;
	}
	c->clean_disconnect = true;
	/* Only a normal disconnection deletes the will [MQTT-3.1.2-8]: 0x04 asks for it, and so does an
	 * error the client reports. */
	if (d.reason == MQTT_RC_SUCCESS) {
		msg__unref(c->will);
		c->will = NULL;
	}
	return MIDGE_ERR_CLOSED;
}
