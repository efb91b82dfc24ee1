/* MQTT-SN 1.2 codec: one datagram in, one message out, and back. Pure (no I/O, no allocation but the output
 * buffer), shared by the broker's gateway and the MQTT-SN clients. Semantic checks (protocol id, client id
 * length, which topic id types a message may use) are the caller's: the codec only says what the bytes hold. */
#ifndef MIDGE_PROTO_SN_H
#define MIDGE_PROTO_SN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/proto.h"

enum sn_type {
	SN_ADVERTISE = 0x00,
	SN_SEARCHGW = 0x01,
	SN_GWINFO = 0x02,
	SN_CONNECT = 0x04,
	SN_CONNACK = 0x05,
	SN_WILLTOPICREQ = 0x06,
	SN_WILLTOPIC = 0x07,
	SN_WILLMSGREQ = 0x08,
	SN_WILLMSG = 0x09,
	SN_REGISTER = 0x0A,
	SN_REGACK = 0x0B,
	SN_PUBLISH = 0x0C,
	SN_PUBACK = 0x0D,
	SN_PUBCOMP = 0x0E,
	SN_PUBREC = 0x0F,
	SN_PUBREL = 0x10,
	SN_SUBSCRIBE = 0x12,
	SN_SUBACK = 0x13,
	SN_UNSUBSCRIBE = 0x14,
	SN_UNSUBACK = 0x15,
	SN_PINGREQ = 0x16,
	SN_PINGRESP = 0x17,
	SN_DISCONNECT = 0x18,
	SN_WILLTOPICUPD = 0x1A,
	SN_WILLTOPICRESP = 0x1B,
	SN_WILLMSGUPD = 0x1C,
	SN_WILLMSGRESP = 0x1D,
	SN_ENCAPSULATED = 0xFE, /* a forwarder's envelope: ctrl, wireless node id, then a whole message */
};

/* The TopicIdType flag bits. */
enum sn_topic_type {
	SN_TOPIC_NORMAL = 0,     /* a topic id the gateway or client registered (or a topic name in SUBSCRIBE) */
	SN_TOPIC_PREDEFINED = 1, /* a topic id both sides know from configuration */
	SN_TOPIC_SHORT = 2,      /* a two-character topic name carried in the topic id field */
	SN_TOPIC_RESERVED = 3,
};

/* Return codes. */
enum sn_rc {
	SN_RC_ACCEPTED = 0x00,
	SN_RC_CONGESTION = 0x01,
	SN_RC_INVALID_TOPIC_ID = 0x02,
	SN_RC_NOT_SUPPORTED = 0x03,
};

/* sn__decode results. */
enum sn_result {
	SN_OK = 0,
	SN_MALFORMED = -1, /* the length field disagrees with the datagram, or a field is cut short */
	SN_UNKNOWN = -2,   /* a message type MQTT-SN 1.2 does not define */
};

/* One message. Fields a type does not carry are zero; views point into the decoded datagram. */
struct sn_msg {
	uint8_t type;
	/* the Flags octet (CONNECT, WILLTOPIC(UPD), PUBLISH, SUBSCRIBE, SUBACK, UNSUBSCRIBE) */
	bool has_flags; /* WILLTOPIC(UPD) may come without: an empty one deletes the will */
	bool dup, retain, will, clean;
	int8_t qos; /* -1 .. 2 (the flag value 3 is QoS -1) */
	uint8_t topic_type; /* enum sn_topic_type */
	uint8_t gw_id;       /* ADVERTISE, GWINFO */
	uint8_t radius;      /* SEARCHGW; ENCAPSULATED: ctrl */
	uint8_t protocol_id; /* CONNECT: 0x01 */
	uint8_t rc;          /* enum sn_rc */
	bool has_duration;   /* DISCONNECT: with a sleep duration */
	uint16_t duration;   /* ADVERTISE, CONNECT (keepalive), DISCONNECT (sleep), seconds */
	uint16_t topic_id;   /* REGISTER, REGACK, PUBLISH, PUBACK, SUBACK, SUBSCRIBE/UNSUBSCRIBE with an id */
	uint16_t msg_id;
	/* CONNECT and PINGREQ: client id; REGISTER, WILLTOPIC(UPD), SUBSCRIBE/UNSUBSCRIBE: topic name (a short
	 * name's two characters too); GWINFO: gateway address; ENCAPSULATED: wireless node id */
	struct mqtt_str text;
	/* PUBLISH: payload; WILLMSG(UPD): will message; ENCAPSULATED: the message inside, to decode in turn */
	struct mqtt_str data;
};

/* Decodes the datagram p[0..len) (a single message, its length field equal to len; an encapsulated one's covers
 * its envelope only). Returns SN_OK, SN_MALFORMED or SN_UNKNOWN; *m is filled on SN_OK only. */
int sn__decode(const uint8_t *p, size_t len, struct sn_msg *m);
/* Appends m as a datagram to out (the 3-octet length form when it is longer than 255). Returns 0,
 * MIDGE_ERR_NOMEM, or MIDGE_ERR_INVAL when m cannot be encoded (unknown type, longer than 65535, a short name
 * that is not two octets, an encapsulated node id too long for its length octet). */
int sn__encode(const struct sn_msg *m, struct buf *out);
/* The type's name ("PUBLISH"), for logs; "UNKNOWN" for others. */
const char *sn__type_name(uint8_t type);

#endif
