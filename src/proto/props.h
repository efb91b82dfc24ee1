/* MQTT 5.0 properties (spec 2.2.2.2): the identifier table, validation, iteration and encoding of a raw span. */
#ifndef MIDGE_PROTO_PROPS_H
#define MIDGE_PROTO_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/proto.h"

/* Property identifiers (enum mqtt_prop_id) are in midge/mqtt.h, for libmidge's users too. */


/* Wire data types of properties (spec 1.5). */
enum mqtt_prop_type {
	MQTT_PROP_T_BYTE = 1,
	MQTT_PROP_T_U16,    /* two-byte integer */
	MQTT_PROP_T_U32,    /* four-byte integer */
	MQTT_PROP_T_VARINT, /* variable byte integer */
	MQTT_PROP_T_UTF8,   /* UTF-8 encoded string */
	MQTT_PROP_T_BINARY, /* binary data */
	MQTT_PROP_T_PAIR    /* UTF-8 string pair */
};

/* Where a property may appear: bit (1 << packet type) for packets, bit 0 for the will properties of CONNECT. */
#define MQTT_PROP_IN_WILL 0x0001u
#define MQTT_PROP_IN(type) ((uint16_t)(1u << (type)))

/* One row of the identifier table. */
struct mqtt_prop_info {
	uint8_t id;
	uint8_t type;     /* enum mqtt_prop_type */
	uint16_t packets; /* MQTT_PROP_IN(...) | MQTT_PROP_IN_WILL */
	const char *name; /* spec name, for logs */
};

/* The table row of id, or NULL for an identifier MQTT 5.0 does not define. Static storage. */
const struct mqtt_prop_info *props__info(uint8_t id);

/* True when property id may appear in packets of packet_type (will: in CONNECT's will properties,
 * packet_type then ignored). False for unknown ids. */
bool props__allowed(uint8_t id, uint8_t packet_type, bool will);

/* Checks a whole property span (bytes after the length varint) for packet_type; will selects CONNECT's
 * will properties. Returns PROTO_OK, or:
 * PROTO_MALFORMED: truncated property, unknown identifier, an identifier not allowed in that packet
 *   (spec 2.2.2.2), invalid UTF-8 in a string or pair, Payload Format Indicator other than 0 or 1
 *   (the spec names no reason for it; treated as a value not of its type);
 * PROTO_PROTOCOL_ERROR: a property given twice where it may appear once (all except User Property and
 *   Subscription Identifier in PUBLISH), Receive Maximum 0, Maximum Packet Size 0, Subscription
 *   Identifier 0, and Request Problem/Response Information, Maximum QoS, Retain/Wildcard Subscription/
 *   Subscription Identifier/Shared Subscription Available other than 0 or 1 (spec 3.1.2.11, 3.2.2.3).
 * Topic Alias 0 or past the negotiated maximum is left to the caller: it answers "Topic Alias invalid".
 * Never reads outside props->p[0..len). */
int props__validate(const struct mqtt_str *props, uint8_t packet_type, bool will);

/* The range rule of one integer property value (validation applies it to every property it reads): PROTO_OK,
 * PROTO_MALFORMED (Payload Format Indicator past 1) or PROTO_PROTOCOL_ERROR (a 0/1 flag past 1; Receive Maximum,
 * Maximum Packet Size or Subscription Identifier 0). Identifiers without a rule, or not integers, are PROTO_OK. */
int props__check_value(uint8_t id, uint32_t v);

/* One decoded property. Strings and binaries are views into the span. */
struct mqtt_prop {
	uint8_t id;           /* enum mqtt_prop_id */
	uint8_t type;         /* enum mqtt_prop_type */
	uint32_t u32;         /* BYTE, U16, U32, VARINT */
	struct mqtt_str str;  /* UTF8, BINARY; the name of a PAIR */
	struct mqtt_str str2; /* the value of a PAIR */
};

/* Iterates a span that passed props__validate. *pos starts at 0. Returns true with *out filled and *pos
 * advanced while properties remain; false at the end (and, defensively, on bytes that do not decode). */
bool props__next(const struct mqtt_str *props, size_t *pos, struct mqtt_prop *out);

/* Append one property (identifier + value) to b; the caller collects them into a span and the packet
 * encoder writes its length. Each returns 0, MIDGE_ERR_NOMEM (b unchanged), or MIDGE_ERR_INVAL (b unchanged)
 * when id is unknown or not of the function's type, a string/binary is longer than 65535 bytes, or a varint
 * value is past 268435455. Values are not range-checked against the spec; strings are not UTF-8-checked. */
int props__put_u8(struct buf *b, uint8_t id, uint8_t v);
int props__put_u16(struct buf *b, uint8_t id, uint16_t v);
int props__put_u32(struct buf *b, uint8_t id, uint32_t v);
int props__put_varint(struct buf *b, uint8_t id, uint32_t v);
int props__put_str(struct buf *b, uint8_t id, const struct mqtt_str *s);
int props__put_bin(struct buf *b, uint8_t id, const struct mqtt_str *s);
int props__put_pair(struct buf *b, uint8_t id, const struct mqtt_str *name, const struct mqtt_str *value);

#endif
