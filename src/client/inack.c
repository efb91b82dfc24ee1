/* Acknowledging incoming QoS 1/2 messages, at once or by the application (manual_ack); see inack.h. */
#include "inack.h"

#include "client.h"
#include "proto/proto.h"

/* Appends a PUBACK, PUBREC or PUBCOMP for id (no reason code: success) to the output. 0 or MIDGE_ERR_NOMEM. */
static int write_ack(struct midge_client *c, uint8_t type, uint16_t id)
{
	uint8_t b[4];
	return buf__append(&c->out, b, proto__encode_ack(b, type, id));
}

int inack__publish(struct midge_client *c, uint8_t qos, uint16_t id, bool *deliver)
{
	bool manual = c->o.manual_ack;
	*deliver = true;
	if (qos == 1) {
		int rc = manual ? idset__add(&c->qos1_wait, id) : write_ack(c, MQTT_PUBACK, id);
		return rc < 0 ? rc : 0;
	}
	/* Delivered at PUBLISH, its id remembered until PUBREL, so a resent PUBLISH (DUP, after a reconnect) is
	 * acknowledged again but not delivered twice (MQTT 5.0 4.3.3, method B). */
	int added = idset__add(&c->qos2_in, id);
	if (added < 0) return added;
	if (!added) {
		*deliver = false;
		/* Not acknowledged by the application yet: its acknowledgement will answer it. */
		if (manual && idset__has(&c->qos2_wait, id)) return 0;
		return write_ack(c, MQTT_PUBREC, id);
	}
	int rc = manual ? idset__add(&c->qos2_wait, id) : write_ack(c, MQTT_PUBREC, id);
	if (rc < 0) idset__remove(&c->qos2_in, id); /* not delivered: its resend must be */
	return rc < 0 ? rc : 0;
}

bool inack__release(struct midge_client *c, uint16_t id)
{
	/* A PUBREL before our PUBREC is the server's mistake; the id is done with all the same. */
	idset__remove(&c->qos2_wait, id);
	return idset__remove(&c->qos2_in, id);
}

void inack__lost(struct midge_client *c)
{
	idset__fini(&c->qos1_wait);
}

void inack__forget(struct midge_client *c)
{
	idset__fini(&c->qos1_wait);
	idset__fini(&c->qos2_wait);
	idset__fini(&c->qos2_in);
}

int midge_client_ack(struct midge_client *c, uint16_t mid, uint8_t qos)
{
	if (!c || !mid || (qos != 1 && qos != 2) || !c->o.manual_ack) return MIDGE_ERR_INVAL;
	pthread_mutex_lock(&c->lock);
	struct idset *wait = qos == 1 ? &c->qos1_wait : &c->qos2_wait;
	int rc = 0;
	if (!idset__has(wait, mid)) {
		/* QoS 1: not from this connection (or answered already); the server sends it again if need be. */
		rc = qos == 2 ? MIDGE_ERR_NOT_FOUND : 0;
	} else if (c->state == CS_CONNECTED && !c->disconnecting) {
		/* The output keeps the order acknowledgements are given in, whichever thread gives them. */
		rc = write_ack(c, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, mid);
		if (!rc) {
			idset__remove(wait, mid);
			client__wake(c);
		}
	} else {
		/* No connection to say it on. QoS 2: the server's resend after the reconnect gets PUBREC; QoS 1 cannot
		 * be here (qos1_wait empties when the connection ends) but for a DISCONNECT under way: dropped. */
		idset__remove(wait, mid);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
