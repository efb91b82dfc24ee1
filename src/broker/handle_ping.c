/* PINGREQ: answered with PINGRESP; the read itself already refreshed the keepalive. */
#include "conn.h"
#include "dispatch.h"

int handle__pingreq(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	int r = proto__decode_empty(f);
	if (r) return dispatch__codec_err(r);
	uint8_t out[2];
	r = conn__queue_bytes(c, out, proto__encode_empty(out, MQTT_PINGRESP));
	conn__schedule(c, w);
	return r;
}
