/* AUTH from a client: no enhanced authentication method is configured, so none can be in progress
 * and an AUTH is a Protocol Error (MQTT 5.0 4.12). The place where a SCRAM or plugin method will go. */
#include "conn.h"
#include "dispatch.h"
#include "midge/midge.h"

int handle__auth(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	struct mqtt_auth a;
	int r = proto__decode_auth(f, c->version, &a);
	if (r) return dispatch__codec_err(r);
	return dispatch__fail(c, MQTT_RC_PROTOCOL_ERROR, "no authentication in progress", MIDGE_ERR_PROTOCOL);
}
