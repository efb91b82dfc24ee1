/* Callbacks waiting to run: handlers queue notes while they hold the client's lock; the loop thread runs them
 * after letting it go, so a callback may call back into the library. */
#ifndef MIDGE_CLIENT_NOTES_H
#define MIDGE_CLIENT_NOTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/client.h"
#include "proto/proto.h"

struct midge_client;

enum note_kind {
	NOTE_CONNECT,
	NOTE_DISCONNECT,
	NOTE_MESSAGE,
	NOTE_PUBLISH,
	NOTE_SUBSCRIBE,
	NOTE_UNSUBSCRIBE,
	NOTE_LOG
};

/* One callback to make. Spans (props, codes, and the message's topic and payload) are views into the packet
 * being handled: a note holding one is queued by the loop thread and run before that packet is dropped. */
struct note {
	uint8_t kind;
	bool session_present;
	bool has_props; /* MQTT 5: props is handed over (possibly empty); else the callback gets NULL */
	uint16_t mid;
	int rc; /* rc, reason, or log level */
	struct mqtt_str props;
	struct mqtt_str codes;
	struct midge_message msg; /* NOTE_MESSAGE; msg.props is set when run */
	char *line;               /* NOTE_LOG, owned */
};

struct notes {
	struct note *v;
	size_t n, cap;
};

/* Queues n. Lock held. When memory runs out the callback is lost (the state change it reports is not). */
void notes__add(struct midge_client *c, const struct note *n);
/* Queues an on_log line (formatted now). Lock held. */
void notes__log(struct midge_client *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs the queued callbacks in order. Loop thread, lock not held. */
void notes__run(struct midge_client *c);
/* Frees queued notes without running them (destroy). */
void notes__fini(struct notes *ns);

#endif
