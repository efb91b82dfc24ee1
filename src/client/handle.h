/* The client's handlers of packets from the server: CONNACK, PUBLISH, the acknowledgements, SUBACK, UNSUBACK,
 * PINGRESP and DISCONNECT. */
#ifndef MIDGE_CLIENT_HANDLE_H
#define MIDGE_CLIENT_HANDLE_H

#include "proto/proto.h"

struct midge_client;

/* Handles one whole packet f of the current connection. Loop thread, lock held. Queued notes may point into
 * f's bytes: the caller runs them before dropping those. Returns 0 (the connection may have ended: a refusing
 * CONNACK, a DISCONNECT), or the MIDGE_ERR_* for which the caller must abort the connection (MALFORMED,
 * PROTOCOL, NOMEM). */
int handle__packet(struct midge_client *c, const struct mqtt_frame *f);

#endif
