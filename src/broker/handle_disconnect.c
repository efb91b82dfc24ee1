/* DISCONNECT: a clean goodbye, so the will is discarded [MQTT-3.14.4-3]. */
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"

int handle__disconnect(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	int r = proto__decode_empty(f);
	if (r) return dispatch__codec_err(r);
	c->clean_disconnect = true;
	msg__unref(c->will);
	c->will = NULL;
	return MIDGE_ERR_CLOSED;
}
