/* snclient's engine, shared by its files (not by its users, who have snclient.h): datagrams out and in, the
 * wait for an answer with its retransmissions, and the handling of what the gateway sends on its own. */
#ifndef MIDGE_SNCLIENT_EXCHANGE_H
#define MIDGE_SNCLIENT_EXCHANGE_H

#include "snclient/snclient.h"

/* What an exchange waits for: a message of one of these types (0: unused), with msg_id when match_id. */
struct snc_want {
	uint8_t type[3];
	bool match_id;
	uint16_t msg_id;
	bool extend; /* anything from the gateway restarts the wait (the wake-up's buffered messages) */
};

/* snc__recv's answer when it moved to another address: the request is to be sent again at once. */
#define SNC_RECV_MOVED 2

/* Encodes m (in a forwarder's envelope when set), sends it and tells on_datagram. 0, MIDGE_ERR_INVAL (it cannot
 * be encoded), MIDGE_ERR_NOMEM or MIDGE_ERR_IO; snc__error says which. */
int snc__send(struct snc *c, const struct sn_msg *m);
/* Waits until deadline (clock__ms; 0: wait for ever) for one datagram from the gateway and decodes it into *m
 * (unwrapping an envelope), its views into c->rx until the next receive. Datagrams that do not decode are
 * dropped. Returns 1 with *m, 0 when the deadline passed, or a MIDGE_ERR_*. */
int snc__recv(struct snc *c, uint64_t deadline, struct sn_msg *m);
/* Handles m, something the gateway sent on its own: REGISTER (REGACK), PUBLISH (delivered, acknowledged),
 * PUBREL (PUBCOMP), PINGREQ (PINGRESP), DISCONNECT (MIDGE_ERR_CLOSED: it dropped us). Stale answers are
 * ignored. 0 or a MIDGE_ERR_*. */
int snc__inbound(struct snc *c, const struct sn_msg *m);
/* Sends req and waits for what w describes, resending req (with DUP set on a PUBLISH) every Tretry up to Nretry
 * times and handling anything else through snc__inbound. On 0, *reply is the answer (views into c->rx). After
 * the last resend: MIDGE_ERR_TIMEOUT, "gateway lost", and the session is given up. req is not kept. */
int snc__exchange(struct snc *c, struct sn_msg *req, const struct snc_want *w, struct sn_msg *reply);
/* Puts t into m as the topic of a PUBLISH (filter false: a name, registered first when it is a normal one) or of
 * a SUBSCRIBE / UNSUBSCRIBE (filter true: a name may have wildcards and goes as text): m->topic_type and
 * m->topic_id or m->text. Returns 0 or MIDGE_ERR_INVAL (a bad name or id), or what REGISTER returned. */
int snc__topic_of(struct snc *c, struct snc_topic t, bool filter, struct sn_msg *m);
/* Moves the socket to the next address the host name resolved to, while nothing has answered (localhost may be
 * ::1 and 127.0.0.1, and the gateway on one only). True when it moved. */
bool snc__next_address(struct snc *c);
/* Records a refusal by return code rc (1..3) of what, as MIDGE_ERR_AGAIN / _NOT_FOUND / _NOT_SUPPORTED /
 * _PROTOCOL, "what: congestion (1)". */
int snc__refused(struct snc *c, const char *what, int rc);

#endif
