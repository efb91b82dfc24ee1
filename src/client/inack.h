/* Acknowledging incoming QoS 1/2 PUBLISH packets: at once (PUBACK, PUBREC), or with manual_ack when the
 * application says so through midge_client_ack; and the packet ids that takes remembering.
 *
 * c->qos2_in holds the incoming QoS 2 ids delivered and not yet released (PUBREL), so a resent PUBLISH is not
 * delivered twice. With manual_ack, c->qos2_wait holds those of them the application has not acknowledged yet
 * (no PUBREC went out), and c->qos1_wait the QoS 1 ids delivered on the current connection and not acknowledged
 * yet: a QoS 1 acknowledgement only means something on the connection its message came on. */
#ifndef MIDGE_CLIENT_INACK_H
#define MIDGE_CLIENT_INACK_H

#include <stdbool.h>
#include <stdint.h>

struct midge_client;

/* A PUBLISH of qos 1 or 2 with packet id came on the current connection. Sets *deliver (false for a QoS 2
 * id delivered before and not yet released) and writes the answer due now: PUBACK or PUBREC without manual_ack;
 * with it none, until midge_client_ack, except PUBREC again for a resent QoS 2 id already acknowledged. Loop
 * thread, lock held. 0, or MIDGE_ERR_NOMEM with nothing remembered of it (the caller aborts the connection and
 * the server sends it again). */
int inack__publish(struct midge_client *c, uint8_t qos, uint16_t id, bool *deliver);
/* PUBREL for id: forgets it. True when it was remembered (else PUBCOMP says Packet Identifier not found).
 * Lock held. */
bool inack__release(struct midge_client *c, uint16_t id);
/* The connection ended: the QoS 1 messages not acknowledged are the server's to send again. Lock held. */
void inack__lost(struct midge_client *c);
/* The server kept no session: every id it had for us is void. Lock held, or the client is being freed. */
void inack__forget(struct midge_client *c);

#endif
