/* The client's session: what it sends that needs an answer or may wait (PUBLISH, SUBSCRIBE, UNSUBSCRIBE), in
 * the application's order, from the offline queue through the inflight window to the acknowledgement, and
 * what is sent again after a reconnect.
 *
 * The items form one list. Those before c->next_send were sent on the current connection and wait for their
 * acknowledgement (QoS 1/2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE: QoS 0 ones leave the list once written); those from
 * it on wait for room: a connection, the window of QoS 1/2 publishes, or space under the output cap. Sending
 * stops at the first item that must wait, so nothing overtakes. */
#ifndef MIDGE_CLIENT_SESSION_H
#define MIDGE_CLIENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/list.h"
#include "proto/proto.h"

struct midge_client;

/* Output is not filled past this many bytes from the session; what does not fit waits in the list. */
#define SESSION_OUT_CAP (1u << 20)

struct item {
	struct list node;
	uint8_t kind; /* MQTT_PUBLISH, MQTT_SUBSCRIBE or MQTT_UNSUBSCRIBE */
	uint8_t qos;
	bool retain;
	bool sent;     /* written at least once (no longer counts as queued) */
	bool dup;      /* the next PUBLISH of it carries DUP: sent before in the session the server still has */
	bool released; /* QoS 2: PUBREC received; PUBREL is what is sent, and sent again */
	uint16_t mid;
	size_t id_off;  /* where the packet id sits in pkt; 0 for a QoS 0 PUBLISH */
	struct buf pkt; /* the whole packet */
};

/* A new PUBLISH item, encoded for version with packet id 0 (session__add sets it). NULL with *rc =
 * MIDGE_ERR_NOMEM or MIDGE_ERR_INVAL (a field the codec cannot encode). The caller owns it until session__add. */
struct item *session__new_publish(uint8_t version, const char *topic, size_t topic_len, const void *payload, size_t len,
                                  uint8_t qos, bool retain, struct mqtt_str props, int *rc);
/* A new SUBSCRIBE (kind MQTT_SUBSCRIBE, options per filter) or UNSUBSCRIBE (options unused) item. As above. */
struct item *session__new_subscribe(uint8_t version, uint8_t kind, const struct mqtt_str *filters,
                                    const uint8_t *options, size_t n, struct mqtt_str props, int *rc);
void session__free_item(struct item *it);

/* Gives it its message id (its packet id when it has one; *mid gets it), appends it and sends what may go.
 * Lock held. Returns 0 (the session owns it, which may have sent and freed a QoS 0 message already),
 * MIDGE_ERR_AGAIN (max_queued publishes wait already, or every packet id is
 * taken) or MIDGE_ERR_NOMEM; the caller keeps it on error. */
int session__add(struct midge_client *c, struct item *it, uint16_t *mid);
/* Writes waiting items to the output while the connection, window and output cap allow. Lock held. */
void session__flush_queue(struct midge_client *c);
/* The item sent on this connection with this kind and packet id, or NULL. Lock held. */
struct item *session__find(struct midge_client *c, uint8_t kind, uint16_t mid);
/* Removes and frees an item that was sent on this connection and is now answered. Lock held. */
void session__done(struct midge_client *c, struct item *it);
/* The connection is gone: nothing is on the wire any more (and incoming QoS 1 messages not acknowledged are the
 * server's to send again: inack__lost). Lock held. */
void session__lost(struct midge_client *c);
/* A CONNACK accepted the connection: with the session present everything unanswered goes again with DUP (PUBREL
 * for QoS 2 past PUBREC), otherwise as new (a QoS 2 message past PUBREC is complete: the server had it). Then
 * the queue. Without the session, the incoming ids remembered are forgotten (inack__forget). Lock held. */
void session__resume(struct midge_client *c, bool session_present);
/* Frees every item. */
void session__fini(struct midge_client *c);

#endif
