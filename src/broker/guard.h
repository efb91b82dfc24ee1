/* The encryption guard: messages published over an encrypted listener marked encrypted_only, or on a topic
 * named by encrypted_topic, never go to a subscriber connected through a plain listener that is not
 * loopback-only, where they would cross the network readable. */
#ifndef MIDGE_GUARD_H
#define MIDGE_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct config;
struct listener_conf;
struct listener_rt;
struct message;

/* True when l speaks TLS (certfile or psk_hint set). */
bool guard__encrypted(const struct listener_conf *l);
/* True when l accepts connections from this machine only: bound to a loopback address or to "lo". */
bool guard__loopback_only(const struct listener_conf *l);
/* Sets l's encrypted / exposed flags from its configuration (at start-up). */
void guard__init_listener(struct listener_rt *l);
/* True when messages published through listener from are guarded whatever their topic (an encrypted_only
 * TLS listener): the message's `guarded` flag. NULL (made by the broker) is not. */
bool guard__marks(const struct listener_rt *from);
/* True when the guard keeps m off exposed listeners: published through an encrypted_only listener, or on a
 * topic that an encrypted_topic of the current settings matches (so a reload also covers messages already
 * retained or queued). Any thread. */
bool guard__keeps(struct broker *b, const struct message *m);
/* Logs, in one warning line, the plain non-loopback and the encrypted listeners that share the topic space
 * when no guard is configured: no encrypted_only listener and no encrypted_topic in nc (the configuration
 * in force, or the one being reloaded). Returns true when it warned. */
bool guard__warn_unguarded(struct broker *b, const struct config *nc);

#endif
