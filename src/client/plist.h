/* struct midge_props, the public MQTT 5 property list: kept as the wire bytes of a property span, so a list
 * goes into a packet by copying and a received span is handed to callbacks without decoding it first. */
#ifndef MIDGE_CLIENT_PLIST_H
#define MIDGE_CLIENT_PLIST_H

#include "common/buf.h"
#include "midge/client.h"
#include "proto/proto.h"

/* Properties encoded back to back as in a packet (identifier, value), without the length in front.
 * A list made by midge_props_new owns b; a view (plist__view) borrows the bytes and is never freed. */
struct midge_props {
	struct buf b;
};

/* The property bytes of p, an empty span when p is NULL. Valid while p is unchanged. */
struct mqtt_str plist__span(const struct midge_props *p);
/* Makes p a read-only view of span (bytes that passed props__validate); nothing is allocated. */
void plist__view(struct midge_props *p, struct mqtt_str span);
/* True when p holds a property with this id. */
bool plist__has(const struct midge_props *p, uint8_t id);

#endif
