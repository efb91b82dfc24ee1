/* worker: one load-generator thread: its epoll loop, connect pacing, publisher pacing and batched flushes. */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "client.h"
#include "common/clock.h"
#include "run.h"

#define MAX_EVENTS 256
/* Backlog a rate-limited publisher may catch up after a stall: beyond it, missed messages are not sent, so
 * a broker that pushes back shows as an achieved rate below the offered one instead of as bursts. */
#define CATCH_UP_S 0.05
/* A paced publisher sends what is due once per tick, not on every wake-up of its thread: a thread that also
 * receives wakes thousands of times a second, and sending one or two messages each time would make the load a
 * stream of tiny writes (a syscall and a wake-up per message on both sides) whose cost depends on how busy the
 * bench happens to be. One tick's messages go in one write, as from a device batching its readings. */
#define TICK_NS 1000000u
/* Messages one unlimited publisher adds per turn at most, so that receivers in the same thread get a turn. */
#define BATCH_MAX 512

int bworker__init(struct bworker *w, struct bench *b, uint32_t idx, uint32_t nclients)
{
	w->b = b;
	w->idx = idx;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->scratch = malloc(WORKER_SCRATCH);
	w->clients = calloc(nclients ? nclients : 1, sizeof *w->clients);
	w->nclients = nclients;
	return w->ep >= 0 && w->scratch && w->clients ? 0 : -1;
}

void bworker__note_error(struct bworker *w, const char *reason)
{
	if (atomic_exchange(&w->error_claimed, 1)) return;
	snprintf(w->first_error, sizeof w->first_error, "%s", reason);
	atomic_store(&w->has_error, 1); /* the main thread may read the text before joining */
}

void bworker__fini(struct bworker *w)
{
	/* After a failed init too: clients may be missing. */
	for (uint32_t i = 0; w->clients && i < w->nclients; i++) bclient__fini(&w->clients[i]);
	free(w->clients);
	free(w->scratch);
	if (w->ep >= 0) close(w->ep);
	w->clients = NULL;
	w->scratch = NULL;
	w->ep = -1;
}

/* Starts the connects that are due at this worker's share of --connect-rate. */
static void connect_due(struct bworker *w, uint64_t now_ns)
{
	if (w->next_connect >= w->nclients) return;
	double dt = w->last_tick_ns ? (double)(now_ns - w->last_tick_ns) / 1e9 : 0;
	w->connect_tokens += dt * w->connect_rate;
	/* At least one at once; the bucket holds at most 10 ms worth, so connects come evenly. */
	double cap = w->connect_rate * 0.01 > 1 ? w->connect_rate * 0.01 : 1;
	if (w->connect_tokens > cap) w->connect_tokens = cap;
	if (!w->last_tick_ns) w->connect_tokens = 1;
	while (w->connect_tokens >= 1 && w->next_connect < w->nclients) {
		bclient__connect(&w->clients[w->next_connect++]);
		w->connect_tokens -= 1;
	}
}

/* Fills each ready publisher's output with the messages due now. Returns true when some unlimited publisher
 * could send more at once (the loop then does not sleep). */
static bool publish_due(struct bworker *w, uint64_t now_ns)
{
	const struct bench *b = w->b;
	const struct bench_opts *o = b->o;
	uint64_t from = atomic_load_explicit(&b->measure_from, memory_order_relaxed);
	uint64_t until = atomic_load_explicit(&b->publish_until, memory_order_relaxed);
	bool measured = now_ns >= from;
	bool eager = false;
	for (uint32_t i = 0; i < w->nclients; i++) {
		struct bclient *c = &w->clients[i];
		if (c->role != ROLE_PUB || c->state != BC_READY || c->done) continue;
		if ((until && now_ns >= until) || (o->count && c->measured >= o->count)) {
			c->done = true;
			bstat_add(&w->st.pubs_done, 1);
			continue;
		}
		uint64_t n;
		if (b->pub_rate > 0) {
			/* The bucket fills from the start of publishing, not from when this thread first noticed it. */
			if (!c->last_refill_ns) {
				uint64_t start = atomic_load_explicit(&b->start, memory_order_relaxed);
				c->last_refill_ns = start < now_ns ? start : now_ns;
				c->tokens = 1;
			}
			if (now_ns - c->last_refill_ns < TICK_NS && c->tokens < b->pub_rate * TICK_NS / 1e9) continue;
			c->tokens += (double)(now_ns - c->last_refill_ns) * b->pub_rate / 1e9;
			c->last_refill_ns = now_ns;
			double cap = b->pub_rate * CATCH_UP_S > 1 ? b->pub_rate * CATCH_UP_S : 1;
			if (c->tokens > cap) c->tokens = cap;
			n = (uint64_t)c->tokens;
		} else {
			n = BATCH_MAX;
		}
		if (o->qos) {
			uint32_t room = c->window > c->inflight ? c->window - c->inflight : 0;
			if (n > room) n = room;
		}
		uint32_t fits = bclient__room(c);
		if (n > fits) n = fits;
		if (o->count && measured && n > o->count - c->measured) n = o->count - c->measured;
		uint32_t sent = bclient__publish(c, (uint32_t)n, now_ns, measured);
		if (b->pub_rate > 0) c->tokens -= sent;
		else if (sent == n && n > 0) eager = true;
	}
	return eager;
}

static void flush_dirty(struct bworker *w)
{
	while (w->dirty) {
		struct bclient *c = w->dirty;
		w->dirty = c->next_dirty;
		c->dirty = false;
		bclient__flush(c);
	}
}

/* Keeps idle clients alive: a PINGREQ once half the keepalive has passed without output. */
static void keepalive(struct bworker *w, uint64_t now_ms)
{
	uint16_t ka = w->b->o->keepalive;
	if (!ka || now_ms - w->last_ping_ms < 1000) return;
	w->last_ping_ms = now_ms;
	for (uint32_t i = 0; i < w->nclients; i++) {
		struct bclient *c = &w->clients[i];
		if (c->state == BC_READY && now_ms - c->last_out_ms >= (uint64_t)ka * 500) bclient__ping(c);
	}
}

/* Publishers whose output is not all written to their socket yet (an unpaced QoS 0 publisher's buffer, full
 * while the broker reads slowly): their messages count as sent but have not left. */
static uint64_t unwritten(const struct bworker *w)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < w->nclients; i++) {
		const struct bclient *c = &w->clients[i];
		if (c->role == ROLE_PUB && c->state != BC_DEAD && buf__len(&c->out)) n++;
	}
	return n;
}

void *bworker__main(void *arg)
{
	struct bworker *w = arg;
	struct bench *b = w->b;
	struct epoll_event ev[MAX_EVENTS];
	int timeout = 0;
	for (;;) {
		int phase = atomic_load(&b->phase);
		if (phase == PH_STOP) break;
		int n = epoll_wait(w->ep, ev, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			bworker__note_error(w, "epoll_wait failed");
			break;
		}
		for (int i = 0; i < n; i++) bclient__event(ev[i].data.ptr, ev[i].events);
		uint64_t now = bench__now_ns();
		bool busy = false;
		connect_due(w, now);
		w->last_tick_ns = now;
		if (phase == PH_RUN) busy = publish_due(w, now);
		flush_dirty(w);
		if (phase == PH_DRAIN) bstat_set(&w->st.unwritten, unwritten(w) + 1);
		keepalive(w, now / 1000000u);
		/* Sleep no longer than a millisecond while something is paced (connects, publishers), 10 ms otherwise
		 * so phase changes are seen soon. */
		bool paced = w->next_connect < w->nclients || (phase == PH_RUN && b->pub_rate > 0);
		timeout = busy ? 0 : paced ? 1 : 10;
	}
	for (uint32_t i = 0; i < w->nclients; i++) bclient__close(&w->clients[i]);
	return NULL;
}
