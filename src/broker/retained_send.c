/* Retained messages after a SUBSCRIBE, in chunks paced by the subscriber (retained_send.h). */
#include "retained_send.h"

#include "broker.h"
#include "common/clock.h"
#include "conn.h"
#include "message.h"
#include "retain.h"
#include "session.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

/* A chunk: at most this many messages, and this many tree nodes visited (a filter matching little of a big
 * tree must not hold a turn either). A few hundred microseconds of work. */
#define CHUNK_MSGS 512u
#define CHUNK_STEPS 8192u
/* Output below which the connection takes more: enough to keep the socket busy until the next turn, and well
 * under the output cap (max_output_bytes), past which QoS 0 messages would be dropped. Checked before each
 * message; messages are taken from the cursor GROUP at a time. */
#define LOW_WATER (64u * 1024u)
#define GROUP 32u

static uint64_t low_water(const struct broker *b)
{
	uint64_t cap = b->conf.max_output_bytes;
	return cap && cap / 4 < LOW_WATER ? cap / 4 : LOW_WATER;
}

/* Sends in progress per connection at most: a client subscribing over and over cannot pile them up. */
#define MAX_PER_CONN 16u

struct retained_send {
	struct list node;
	struct conn *c; /* reference */
	struct retain_cursor *k;
	uint8_t qos;
	uint32_t sub_id;
	struct message *held[GROUP]; /* taken from the cursor, each with a reference; [next, nheld) not sent yet */
	size_t next, nheld;
	size_t len;
	uint8_t filter[];
};

/* Messages to take in one chunk: at QoS 1/2 no more than half the queue limit, so the window's overflow
 * waits in the queue instead of being dropped. */
static size_t chunk_size(const struct broker *b, uint8_t qos)
{
	uint32_t q = b->conf.max_queued_messages;
	if (qos == 0 || q == 0 || q / 2 >= CHUNK_MSGS) return CHUNK_MSGS;
	return q / 2 ? q / 2 : 1;
}

static void send_free(struct broker *b, struct retained_send *rs)
{
	if (list__linked(&rs->node)) list__del(&rs->node);
	while (rs->next < rs->nheld) msg__unref(rs->held[rs->next++]);
	retain__cursor_free(b->retained, rs->k);
	conn__unref(rs->c);
	free(rs);
}

/* Delivers rs's next chunk while the output stays under the low-water mark (checked before each message: a
 * small max_output_bytes holds only a few); messages taken from the cursor and not yet sent wait in rs.
 * Returns true when every message is sent. */
static bool chunk(struct broker *b, struct worker *w, struct retained_send *rs)
{
	struct conn *c = rs->c;
	size_t left = chunk_size(b, rs->qos), steps = CHUNK_STEPS;
	uint64_t now = clock__ms(), low = low_water(b);
	for (;;) {
		if (rs->next == rs->nheld) {
			rs->next = rs->nheld = 0;
			if (!left || !steps || retain__cursor_done(rs->k)) break;
			rs->nheld = retain__cursor_next(b->retained, rs->k, rs->held, left < GROUP ? left : GROUP, &steps);
			left -= rs->nheld;
			continue;
		}
		if (conn__out_bytes(c) >= low) break;
		struct message *m = rs->held[rs->next++];
		uint8_t q = m->qos < rs->qos ? m->qos : rs->qos;
		struct delivery d = {.qos = b->conf.upgrade_outgoing_qos ? rs->qos : q, .retain = true,
				     .nsubids = rs->sub_id ? 1 : 0, .subids = &rs->sub_id};
		if (!msg__expired(m, now) && c->session) session__deliver(b, w, c->session, m, &d);
		msg__unref(m);
	}
	return rs->next == rs->nheld && retain__cursor_done(rs->k);
}

void retained__send(struct broker *b, struct worker *w, struct conn *c, const uint8_t *filter, size_t len,
		    uint8_t qos, uint32_t sub_id)
{
	struct retained_send *rs = malloc(sizeof(*rs) + len);
	struct retain_cursor *k = rs ? retain__cursor_new(b->retained, filter, len) : NULL;
	if (!k) { /* a retained message not sent is better than a failed subscription */
		free(rs);
		return;
	}
	*rs = (struct retained_send){.c = conn__ref(c), .k = k, .qos = qos, .sub_id = sub_id, .len = len};
	memcpy(rs->filter, filter, len);
	list__init(&rs->node);
	if (chunk(b, w, rs)) {
		send_free(b, rs);
		return;
	}
	struct worker *owner = c->worker;
	pthread_mutex_lock(&owner->inbox_lock);
	list__add_tail(&owner->retained_in, &rs->node);
	pthread_mutex_unlock(&owner->inbox_lock);
	atomic_store_explicit(&owner->retained_posted, true, memory_order_release);
	/* Its loop picks the send up at the end of a turn; one is due anyway for the chunk just delivered. */
	worker__post(owner, c);
}

/* True when rs's connection can take a chunk now. */
static bool ready(struct broker *b, struct retained_send *rs)
{
	struct conn *c = rs->c;
	if (conn__out_bytes(c) >= low_water(b)) return false;
	return rs->qos == 0 || !c->session || session__has_room(b, c->session);
}

/* Takes in a new send: it replaces one of the same filter to the same connection (a repeated SUBSCRIBE sends
 * them all again), and beyond MAX_PER_CONN the rest of its messages are not sent (logged). */
static void admit(struct broker *b, struct worker *w, struct retained_send *rs)
{
	unsigned same_conn = 0;
	struct list *n, *next;
	for (n = w->retained.next; n != &w->retained; n = next) {
		next = n->next;
		struct retained_send *o = list_entry(n, struct retained_send, node);
		if (o->c != rs->c) continue;
		if (o->len == rs->len && memcmp(o->filter, rs->filter, rs->len) == 0) send_free(b, o);
		else same_conn++;
	}
	list__add_tail(&w->retained, &rs->node);
	if (same_conn < MAX_PER_CONN) return;
	log__printf(&b->log, LOG_T_WARNING,
		    "Client %s has %u retained-message sends in progress: the rest of those matching %.*s are not sent.",
		    rs->c->client_id, same_conn + 1, (int)rs->len, (const char *)rs->filter);
	send_free(b, rs);
}

bool retained__run(struct worker *w)
{
	struct broker *b = w->broker;
	/* Every turn runs this: the inbox lock only when a send was posted (the flag is set after the append). */
	if (atomic_exchange_explicit(&w->retained_posted, false, memory_order_acquire)) {
		struct list in;
		list__init(&in);
		pthread_mutex_lock(&w->inbox_lock);
		list__splice_tail(&in, &w->retained_in);
		pthread_mutex_unlock(&w->inbox_lock);
		struct list *i;
		while ((i = list__pop(&in))) admit(b, w, list_entry(i, struct retained_send, node));
	}
	if (list__empty(&w->retained)) return false;
	bool again = false;
	struct list *n, *next;
	for (n = w->retained.next; n != &w->retained; n = next) {
		next = n->next;
		struct retained_send *rs = list_entry(n, struct retained_send, node);
		struct conn *c = rs->c;
		if (c->state == CONN_CLOSED || !c->session) {
			send_free(b, rs);
			continue;
		}
		if (c->state != CONN_ACTIVE || !ready(b, rs)) continue;
		if (chunk(b, w, rs)) {
			send_free(b, rs);
			continue;
		}
		conn__schedule(c, w);
		again = true;
	}
	return again;
}

void retained__drop(struct worker *w)
{
	list__splice_tail(&w->retained, &w->retained_in);
	while (!list__empty(&w->retained))
		send_free(w->broker, list_entry(w->retained.next, struct retained_send, node));
}
