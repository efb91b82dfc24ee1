/* The dispatcher: routes each packet to its handler and enforces what may come when. */
#include "dispatch.h"

#include "broker.h"
#include "conn.h"
#include "midge/midge.h"
#include "worker.h"

int dispatch__packet(struct worker *w, struct conn *c, const struct mqtt_frame *f)
{
	atomic_fetch_add_explicit(&w->stats.msgs_received, 1, memory_order_relaxed);
	w->store_touched = false; /* set by the store writes this packet makes (persist.h) */
	w->cluster_ticket = 0;    /* set by a message it sends to the cluster's stream (cluster.h) */
	if (c->state == CONN_OPEN) {
		/* The first packet must be CONNECT [MQTT-3.1.0-1]. */
		return f->type == MQTT_CONNECT ? handle__connect(w, c, f) : MIDGE_ERR_PROTOCOL;
	}
	switch (f->type) {
	case MQTT_PUBLISH: return handle__publish(w, c, f);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP: return handle__ack(w, c, f);
	case MQTT_PUBREL: return handle__pubrel(w, c, f);
	case MQTT_SUBSCRIBE: return handle__subscribe(w, c, f);
	case MQTT_UNSUBSCRIBE: return handle__unsubscribe(w, c, f);
	case MQTT_PINGREQ: return handle__pingreq(w, c, f);
	case MQTT_DISCONNECT: return handle__disconnect(w, c, f);
	case MQTT_AUTH:
		if (c->version == MQTT_V5) return handle__auth(w, c, f);
		return MIDGE_ERR_PROTOCOL;
	default: return MIDGE_ERR_PROTOCOL; /* a second CONNECT [MQTT-3.1.0-2], or a server-only packet */
	}
}

const char *dispatch__reason(int err)
{
	switch (err) {
	case MIDGE_ERR_MALFORMED: return "malformed packet";
	case MIDGE_ERR_PROTOCOL: return "protocol error";
	case MIDGE_ERR_TOO_LARGE: return "packet too large";
	case MIDGE_ERR_NOMEM: return "out of memory";
	case MIDGE_ERR_CLOSED: return "disconnected";
	default: return "error";
	}
}

/* Maps a codec result to the error the connection is closed with. */
int dispatch__codec_err(int proto_rc)
{
	return proto_rc == PROTO_PROTOCOL_ERROR ? MIDGE_ERR_PROTOCOL : MIDGE_ERR_MALFORMED;
}

int dispatch__fail(struct conn *c, uint8_t reason, const char *why, int err)
{
	if (!c->disconnect_rc) {
		c->disconnect_rc = reason;
		c->disconnect_why = why;
	}
	return err;
}

uint8_t dispatch__err_reason(int err)
{
	switch (err) {
	case MIDGE_ERR_MALFORMED: return MQTT_RC_MALFORMED_PACKET;
	case MIDGE_ERR_PROTOCOL: return MQTT_RC_PROTOCOL_ERROR;
	case MIDGE_ERR_TOO_LARGE: return MQTT_RC_PACKET_TOO_LARGE;
	case MIDGE_ERR_CLOSED: return 0;
	default: return MQTT_RC_UNSPECIFIED;
	}
}
