/* The MQTT codec: frames, decoders and encoders for every packet of MQTT 3.1, 3.1.1 and 5.0.
 * Pure: no sockets, no globals, no allocation of its own except into a caller's struct buf.
 * Decoded strings and binaries are views into the caller's packet bytes: valid only as long as those bytes. */
#ifndef MIDGE_PROTO_H
#define MIDGE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "midge/mqtt.h"

/* Results of decoding. Negative ones tell the dispatcher how to react. */
enum proto_res {
	PROTO_OK = 0,
	PROTO_NEED_MORE = 1,         /* frame: not a whole packet yet */
	PROTO_MALFORMED = -1,        /* bytes break the encoding rules */
	PROTO_PROTOCOL_ERROR = -2,   /* well-formed but not allowed (e.g. a SUBSCRIBE with no filters) */
	PROTO_TOO_LARGE = -3,        /* frame: packet larger than the limit given */
	PROTO_BAD_VERSION = -4,      /* CONNECT: known protocol name, unsupported level */
	PROTO_BAD_PROTOCOL_NAME = -5 /* CONNECT: unknown protocol name */
};

/* A view of bytes inside a packet. p is never dereferenced when len is 0.
 * A v5 properties field ("props") holds the property bytes after their varint length. Every v5 decoder has
 * checked them with props__validate (props.h) for its packet type, so props__next walks them; a span a decoder
 * rejects may have been filled anyway and is then unchecked. Encoders write the bytes as given (not checked)
 * with their length in front.
 * Where a v5 packet breaks a rule of each kind, PROTO_MALFORMED wins over PROTO_PROTOCOL_ERROR whichever comes
 * first in the packet, as it does inside one property span. */
struct mqtt_str {
	const uint8_t *p;
	uint32_t len;
};

/* One whole packet located in a byte stream. */
struct mqtt_frame {
	uint8_t type;        /* enum mqtt_packet_type */
	uint8_t flags;       /* low nibble of the first byte */
	uint32_t remaining;  /* remaining length */
	const uint8_t *body; /* remaining bytes (variable header + payload) */
	size_t total_len;    /* fixed header + remaining: bytes the caller can consume */
};

/* Locates one packet at data[0..len). max_size (0 = no limit beyond the protocol's) bounds total_len.
 * Returns PROTO_OK (f filled), PROTO_NEED_MORE, PROTO_MALFORMED (varint longer than 4 bytes or
 * type 0), or PROTO_TOO_LARGE as soon as the header shows the packet would exceed max_size. */
int proto__frame(const uint8_t *data, size_t len, uint32_t max_size, struct mqtt_frame *f);

/* True when flags (low nibble of the first byte) are the ones fixed for type: PUBREL, SUBSCRIBE and
 * UNSUBSCRIBE 0x2, PUBLISH any QoS but 3, every other type 0. Decoders answer PROTO_MALFORMED otherwise. */
bool proto__valid_flags(uint8_t type, uint8_t flags);

/* Variable byte integer. encode writes 1..4 bytes to out and returns the count (0 if v too big).
 * decode returns PROTO_OK with *v and *used set, PROTO_NEED_MORE, or PROTO_MALFORMED. */
size_t proto__varint_encode(uint8_t out[4], uint32_t v);
int proto__varint_decode(const uint8_t *p, size_t len, uint32_t *v, size_t *used);
/* Bytes needed to encode v as a varint (1..4). */
size_t proto__varint_size(uint32_t v);

/* ---- CONNECT / CONNACK ---- */
struct mqtt_connect {
	struct mqtt_str protocol_name; /* "MQTT" or "MQIsdp" */
	uint8_t version;               /* enum mqtt_version */
	bool bridge;                   /* 3.x level with 0x80 set: a bridge (Mosquitto's try_private) */
	bool clean;                    /* clean session (3.x) / clean start (5) */
	uint16_t keepalive;
	struct mqtt_str props; /* v5 CONNECT properties, raw; empty for 3.x */
	struct mqtt_str client_id;
	bool will;
	uint8_t will_qos;
	bool will_retain;
	struct mqtt_str will_props; /* v5 will properties, raw */
	struct mqtt_str will_topic;
	struct mqtt_str will_payload;
	bool has_username, has_password;
	struct mqtt_str username;
	struct mqtt_str password;
};
/* Decodes a CONNECT. Checks: flags 0, protocol name/level pair, reserved connect-flag bit,
 * will QoS/retain without will, will QoS 3, password without username (3.x), UTF-8 of strings,
 * will topic a valid topic name, no trailing bytes; v5: props for CONNECT and will_props for a will
 * (props__validate: e.g. Receive Maximum 0 is PROTO_PROTOCOL_ERROR, Will Delay Interval in props PROTO_MALFORMED).
 * Returns PROTO_OK, PROTO_BAD_VERSION (c->version set: caller answers CONNACK 0x01),
 * PROTO_BAD_PROTOCOL_NAME, PROTO_MALFORMED or PROTO_PROTOCOL_ERROR. */
int proto__decode_connect(const struct mqtt_frame *f, struct mqtt_connect *c);
/* Encodes a whole CONNECT from c (version selects the protocol name). 0 or MIDGE_ERR_NOMEM/INVAL. */
int proto__encode_connect(struct buf *b, const struct mqtt_connect *c);

struct mqtt_connack {
	bool session_present;
	uint8_t rc; /* 3.x return code or v5 reason code */
	struct mqtt_str props;
};
/* Decodes a CONNACK: flags 0, reserved acknowledge flags 0, length 2 in 3.x; v5: the property length present and
 * props checked for CONNACK. The return/reason code is not checked. PROTO_OK, PROTO_MALFORMED or
 * PROTO_PROTOCOL_ERROR (v5 properties). */
int proto__decode_connack(const struct mqtt_frame *f, uint8_t version, struct mqtt_connack *a);
int proto__encode_connack(struct buf *b, uint8_t version, const struct mqtt_connack *a);

/* ---- PUBLISH ---- */
struct mqtt_publish {
	uint8_t qos;
	bool dup;
	bool retain;
	struct mqtt_str topic;
	uint16_t packet_id; /* 0 for QoS 0 */
	struct mqtt_str props;
	struct mqtt_str payload;
};
/* Decodes a PUBLISH. Checks: QoS 3, DUP with QoS 0, packet id 0 with QoS > 0, topic UTF-8
 * and a valid topic name (no wildcards, no U+0000, non-empty in 3.x); v5: props checked for PUBLISH.
 * Left to the caller: Topic Alias 0 or past the maximum, an empty topic without a Topic Alias, and a
 * Subscription Identifier from a client, which all depend on the connection.
 * Returns PROTO_OK or PROTO_MALFORMED / PROTO_PROTOCOL_ERROR. */
int proto__decode_publish(const struct mqtt_frame *f, uint8_t version, struct mqtt_publish *p);
/* Encodes a whole PUBLISH. 0 or MIDGE_ERR_NOMEM/INVAL. */
int proto__encode_publish(struct buf *b, uint8_t version, const struct mqtt_publish *p);
/* Writes the fixed header of a PUBLISH with the given flags and remaining length into out.
 * Returns its length (2..5), or 0 when qos > 2 or remaining > MQTT_MAX_REMAINING.
 * Used by the broker to send a shared payload without copying it. */
size_t proto__publish_fixed_header(uint8_t out[5], uint8_t qos, bool dup, bool retain, uint32_t remaining);

/* ---- PUBACK, PUBREC, PUBREL, PUBCOMP ---- */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t reason; /* v5 only; 0 otherwise */
	struct mqtt_str props;
};
/* Decodes any of the four acks (type from f). Checks flags (PUBREL 0x2, others 0), packet id != 0,
 * length (exactly 2 in 3.x; in v5 reason and properties optional), and in v5 props for that type and the
 * reason code: PUBACK/PUBREC 0x00 0x10 0x80 0x83 0x87 0x90 0x91 0x97 0x99, PUBREL/PUBCOMP 0x00 0x92 (3.4.2.1,
 * 3.5.2.1, 3.6.2.1, 3.7.2.1), any other PROTO_PROTOCOL_ERROR. PROTO_OK, PROTO_MALFORMED or PROTO_PROTOCOL_ERROR. */
int proto__decode_ack(const struct mqtt_frame *f, uint8_t version, struct mqtt_ack *a);
/* Encodes an ack of the given type into out (at most 4 bytes in 3.x); returns its length.
 * For v5 with reason 0 and no props, the short form is used. Use proto__encode_ack_buf for props. */
size_t proto__encode_ack(uint8_t out[4], uint8_t type, uint16_t packet_id);
int proto__encode_ack_buf(struct buf *b, uint8_t type, uint8_t version, const struct mqtt_ack *a);

/* ---- SUBSCRIBE / SUBACK ---- */
struct mqtt_subscribe {
	uint16_t packet_id;
	struct mqtt_str props;
	struct mqtt_str entries; /* the payload; walk it with proto__subscribe_next */
};
/* Decodes a SUBSCRIBE and validates every entry (UTF-8, non-empty filter, option bits, QoS 3): a bad options
 * byte is PROTO_MALFORMED in 3.x; in v5 reserved bits 6-7 are PROTO_MALFORMED and QoS 3 or Retain Handling 3
 * PROTO_PROTOCOL_ERROR (3.8.3.1). v5: props checked for SUBSCRIBE (Subscription Identifier 0 or twice: PROTO_PROTOCOL_ERROR).
 * A SUBSCRIBE with no entries is PROTO_PROTOCOL_ERROR (3.1.1 [MQTT-3.8.3-3]). Wildcard placement is
 * not checked here: that is the broker's SUBACK decision; nor is No Local on a shared subscription. */
int proto__decode_subscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_subscribe *s);
/* Iterates the entries of a decoded SUBSCRIBE. *pos starts at 0. Returns true and fills filter and
 * options (QoS in bits 0-1; v5 option bits above) while entries remain. */
bool proto__subscribe_next(const struct mqtt_subscribe *s, size_t *pos, struct mqtt_str *filter, uint8_t *options);
/* Encodes a SUBSCRIBE of n filters with their option bytes. */
int proto__encode_subscribe(struct buf *b, uint8_t version, uint16_t packet_id, const struct mqtt_str *filters,
			    const uint8_t *options, size_t n, const struct mqtt_str *props);

struct mqtt_suback {
	uint16_t packet_id;
	struct mqtt_str props;
	struct mqtt_str codes; /* one return/reason code per filter */
};
/* Decodes a SUBACK: flags 0, packet id != 0, at least one code (else PROTO_PROTOCOL_ERROR), each one the version
 * allows (else PROTO_MALFORMED); v5: props checked for SUBACK. */
int proto__decode_suback(const struct mqtt_frame *f, uint8_t version, struct mqtt_suback *a);
/* Encodes a SUBACK (or UNSUBACK when type is MQTT_UNSUBACK: in 3.x the codes are then not written). */
int proto__encode_suback(struct buf *b, uint8_t type, uint8_t version, uint16_t packet_id, const uint8_t *codes,
			 size_t n, const struct mqtt_str *props);

/* ---- UNSUBSCRIBE / UNSUBACK ---- */
struct mqtt_unsubscribe {
	uint16_t packet_id;
	struct mqtt_str props;
	struct mqtt_str entries;
};
/* Decodes an UNSUBSCRIBE: flags 0x2, packet id != 0, filters UTF-8 and non-empty; no entries is
 * PROTO_PROTOCOL_ERROR; v5: props checked for UNSUBSCRIBE. */
int proto__decode_unsubscribe(const struct mqtt_frame *f, uint8_t version, struct mqtt_unsubscribe *u);
bool proto__unsubscribe_next(const struct mqtt_unsubscribe *u, size_t *pos, struct mqtt_str *filter);
int proto__encode_unsubscribe(struct buf *b, uint8_t version, uint16_t packet_id, const struct mqtt_str *filters,
			      size_t n, const struct mqtt_str *props);
/* UNSUBACK decodes into mqtt_suback (codes empty in 3.x; in v5 at least one, else PROTO_PROTOCOL_ERROR, values
 * not checked); v5: props checked for UNSUBACK. */
int proto__decode_unsuback(const struct mqtt_frame *f, uint8_t version, struct mqtt_suback *a);

/* ---- PINGREQ, PINGRESP, DISCONNECT (3.x: two bytes, no body) ---- */
/* Checks an empty-bodied packet (flags 0, remaining 0 in 3.x). For v5 DISCONNECT use decode_disconnect. */
int proto__decode_empty(const struct mqtt_frame *f);
struct mqtt_disconnect {
	uint8_t reason;
	struct mqtt_str props;
};
/* Decodes a DISCONNECT: 3.x as proto__decode_empty; v5 with optional reason code and properties, props checked
 * for DISCONNECT and the reason one of table 3.14.2.1 (either direction's), else PROTO_PROTOCOL_ERROR. */
int proto__decode_disconnect(const struct mqtt_frame *f, uint8_t version, struct mqtt_disconnect *d);
/* Encodes a DISCONNECT in its shortest form: no body in 3.x or for a v5 reason 0 without properties.
 * 0 or MIDGE_ERR_NOMEM/INVAL. */
int proto__encode_disconnect(struct buf *b, uint8_t version, const struct mqtt_disconnect *d);
/* Encodes a two-byte packet of type (PINGREQ, PINGRESP, DISCONNECT 3.x) into out; returns 2. */
size_t proto__encode_empty(uint8_t out[2], uint8_t type);

/* ---- AUTH (MQTT 5 only) ---- */
struct mqtt_auth {
	uint8_t reason; /* 0x00 success, 0x18 continue authentication, 0x19 re-authenticate */
	struct mqtt_str props;
};
/* Decodes an AUTH: flags 0; an empty body means reason 0 without properties (spec 3.15.2.1); otherwise
 * a reason code (one of the three above, else PROTO_PROTOCOL_ERROR) and, when more bytes follow, the
 * properties, checked for AUTH. Only for version 5 (PROTO_PROTOCOL_ERROR otherwise). Whether the
 * Authentication Method is there and is the CONNECT's is the caller's check (4.12).
 * PROTO_OK, PROTO_MALFORMED or PROTO_PROTOCOL_ERROR. */
int proto__decode_auth(const struct mqtt_frame *f, uint8_t version, struct mqtt_auth *a);
/* Encodes an AUTH: an empty body for reason 0 without properties, otherwise the reason code and the properties
 * with their length, even when empty (3.15.2.1 allows leaving off only both). 0, MIDGE_ERR_NOMEM, or
 * MIDGE_ERR_INVAL for a reason other than the three above or properties too long; b is unchanged on error. */
int proto__encode_auth(struct buf *b, const struct mqtt_auth *a);

/* Name of a packet type for logs ("PUBLISH"), "UNKNOWN" otherwise. */
const char *proto__type_name(uint8_t type);

#endif
