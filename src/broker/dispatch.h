/* The dispatcher: one decoded frame to its handler; codec errors become the protocol's reaction. */
#ifndef MIDGE_DISPATCH_H
#define MIDGE_DISPATCH_H

#include "proto/proto.h"

struct worker;
struct conn;

/* Handles one whole packet from c. Returns 0, or a negative MIDGE_ERR_* after which the caller closes
 * the connection (MIDGE_ERR_CLOSED: an orderly close, e.g. DISCONNECT or a refused CONNECT). */
int dispatch__packet(struct worker *w, struct conn *c, const struct mqtt_frame *f);
/* Words for the log when a connection is closed for err. */
const char *dispatch__reason(int err);

/* Maps a negative codec result (enum proto_res) to the MIDGE_ERR_* the connection is closed with. */
int dispatch__codec_err(int proto_rc);
/* Closes with an MQTT 5 reason: records reason and why (static text) as what the DISCONNECT sent to an
 * MQTT 5 client will say, and returns err for the handler to return (MIDGE_ERR_PROTOCOL, say). */
int dispatch__fail(struct conn *c, uint8_t reason, const char *why, int err);
/* The MQTT 5 reason code a connection closed for err is told (0x81 malformed, 0x82 protocol error, ...),
 * 0 when none is sent (an orderly close). */
uint8_t dispatch__err_reason(int err);

/* One handler per packet (handle_<packet>.c); same return contract as dispatch__packet. */
int handle__connect(struct worker *w, struct conn *c, const struct mqtt_frame *f);
/* Completes a CONNECT that waited for the previous connection of its client id to close (takeover).
 * Same return contract; a no-op for a connection not waiting. */
int handle__connect_resume(struct worker *w, struct conn *c);
/* Continues a CONNECT whose password check (authq) has answered: accepts or refuses it. Same returns as
 * handle__connect. */
int handle__connect_authed(struct worker *w, struct conn *c);
int handle__publish(struct worker *w, struct conn *c, const struct mqtt_frame *f);
int handle__ack(struct worker *w, struct conn *c, const struct mqtt_frame *f);    /* PUBACK, PUBREC, PUBCOMP */
int handle__pubrel(struct worker *w, struct conn *c, const struct mqtt_frame *f);
int handle__subscribe(struct worker *w, struct conn *c, const struct mqtt_frame *f);
int handle__unsubscribe(struct worker *w, struct conn *c, const struct mqtt_frame *f);
int handle__pingreq(struct worker *w, struct conn *c, const struct mqtt_frame *f);
int handle__disconnect(struct worker *w, struct conn *c, const struct mqtt_frame *f);
int handle__auth(struct worker *w, struct conn *c, const struct mqtt_frame *f);

#endif
