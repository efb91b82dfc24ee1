/* Durable state (`persistence true`): the broker's side of the store (store/store.h). What each change of a
 * session, subscription, retained message or outgoing message writes; loading it all back at start-up; and the
 * replies held back until what they acknowledge is committed (`persistence_sync durable`, the default).
 *
 * Without persistence b->store is NULL and every function here does nothing (the replies go at once).
 * Writes are asynchronous (the store thread commits them in groups); the functions that take the session
 * lock say so. Replies held for a commit are queued on their connection from the store thread. */
#ifndef MIDGE_PERSIST_H
#define MIDGE_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct worker;
struct conn;
struct session;
struct message;
struct delivery;
struct inflight;

/* Opens the store the configuration names and loads what it holds: retained messages, sessions with their
 * subscriptions, outgoing messages and incoming QoS 2 state; wills of clients that were connected when the
 * broker stopped without closing them (a crash) are published. After broker__init, before the listeners open.
 * 0 (also without persistence), or MIDGE_ERR_* with a message naming the file in err. */
int persist__open(struct broker *b, char *err, size_t errlen);
/* Waits until everything enqueued so far is committed and its callbacks ran (they may post to workers'
 * inboxes): at shutdown, after the workers halted and before they are drained. */
void persist__flush(struct broker *b);
/* Commits what is still queued and closes the store. After the workers are drained. */
void persist__close(struct broker *b);

/* True when a session's QoS 1/2 messages are written to the store (persistence on, session not clean, its row
 * written and not deleted since). Session lock held. */
bool persist__keeps(struct broker *b, const struct session *s);
/* True when replies wait for the commit of what they acknowledge (durable mode). */
bool persist__durable(struct broker *b);

/* The store writes a thread makes between these are committed in one transaction (store__group_begin): what one
 * packet changed never survives a crash in part, e.g. an incoming QoS 2 packet id without the deliveries it
 * made. Nest; without the store they do nothing. */
void persist__group_begin(struct broker *b);
void persist__group_end(struct broker *b);

/* ---- sessions (session lock held) ---- */

/* s is attached to c (connected): its row, with c's will so that a crash still publishes it. */
void persist__session_online(struct broker *b, struct session *s, const struct conn *c);
/* s just went offline, or its delayed will went out: its row with its expiry and the will still waiting. */
void persist__session_offline(struct broker *b, struct session *s);
/* s ended: every row of its client id goes. */
void persist__session_del(struct broker *b, struct session *s);
void persist__sub_put(struct broker *b, struct worker *w, struct session *s, const uint8_t *filter, size_t len,
		      uint8_t options, uint32_t sub_id);
void persist__sub_del(struct broker *b, struct worker *w, struct session *s, const uint8_t *filter, size_t len);
/* An incoming QoS 2 packet id awaiting PUBREL (add) or released. */
void persist__qos2(struct broker *b, struct worker *w, struct session *s, uint16_t pid, bool add);

/* ---- retained messages (no lock) ---- */

/* m set (or, with an empty payload, cleared) the retained message of its topic. */
void persist__retain(struct broker *b, struct worker *w, const struct message *m);

/* ---- outgoing messages (session lock held; deliver.c) ---- */

/* Stores m for s as queued (pid 0) or in flight (pid, state), with the next seq of s, which it returns
 * (0 when it could not be written: the message then lives in memory only). In durable mode an in-flight one
 * waits in s->unsent: session__committed sends it once the row is committed. */
uint64_t persist__out_new(struct broker *b, struct worker *w, struct session *s, const struct message *m,
			  const struct delivery *d, uint16_t pid, uint8_t state);
/* A queued message f->seq got packet id f->pid (it moved into the window). Returns true when it is to wait in
 * s->unsent for that commit (durable mode). */
bool persist__out_sent(struct broker *b, struct session *s, const struct inflight *f);
/* f's PUBREC arrived: only its PUBREL is left. In durable mode the PUBREL waits for that commit
 * (session__rel_committed); returns true when it does. */
bool persist__out_released(struct broker *b, struct session *s, struct inflight *f);
void persist__out_del(struct broker *b, struct session *s, uint64_t seq);
/* Reads back at most max queued messages of s after s->mem_seq (s->fetching set by the caller):
 * session__fetched for each, then session__fetch_done. Returns false when the read could not start. */
bool persist__fetch(struct broker *b, struct session *s, unsigned max);

/* After a packet whose handling wrote to the store: when the store has fallen behind (PERSIST_BACKLOG changes
 * waiting), c is not read until everything enqueued so far is committed. Acknowledgements held for the commit
 * slow a QoS 1/2 publisher down by themselves in durable mode; this slows down the rest (QoS 0 to retained
 * topics, group mode), so the store's queue, and memory, stay bounded. Owner worker. */
#define PERSIST_BACKLOG 65536u
void persist__throttle(struct broker *b, struct worker *w, struct conn *c);

/* Closes c from any thread because the store could not keep its state (logged as "storage failure"): a
 * publisher resends what it has no acknowledgement for, a subscriber's session is resumed from what is kept. */
void persist__close_conn(struct conn *c);

/* ---- replies held for the commit ---- */

/* Queues on c the acknowledgement (PUBACK, PUBREC or PUBCOMP with reason) of a packet whose changes were just
 * enqueued by this worker: at once when nothing waits, else after the commit of everything enqueued so far
 * (and after the replies held before it, so that they keep their order). A failed commit turns a PUBACK or
 * PUBREC into MQTT 5's 0x97 (no room) or 0x80, and closes a 3.x client instead: it resends. */
int persist__ack(struct broker *b, struct worker *w, struct conn *c, uint8_t type, uint16_t pid, uint8_t reason,
		 const char *why, unsigned flags);
/* persist__ack flags. QOS2_IN: a PUBREC whose packet id awaits PUBREL in c's session; refused (and the id
 * forgotten) when the commit failed, or when the id was forgotten meanwhile (its first copy's commit failed).
 * RELEASED: a PUBCOMP for an id just released; when that commit failed the id is taken back and c is closed
 * (it sends PUBREL again), since the stored id would swallow a later message reusing it. */
#define PERSIST_ACK_QOS2_IN 1u
#define PERSIST_ACK_RELEASED 2u
/* The same for a whole packet of bytes (SUBACK, UNSUBACK), then(c, arg) once it is queued (retained messages
 * follow a SUBACK), and done(arg) in every case (to free arg). A failed commit closes the connection. */
typedef void (*persist_then)(struct broker *b, struct conn *c, void *arg);
int persist__reply(struct broker *b, struct worker *w, struct conn *c, const void *bytes, size_t len,
		   persist_then then, void (*done)(void *arg), void *arg);

#endif
