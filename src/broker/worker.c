/* Worker threads: the epoll loop, reading and framing input, the inbox from other threads, closing. */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authq.h"
#include "broker.h"
#include "cluster.h"
#include "common/clock.h"
#include "conn.h"
#include "dispatch.h"
#include "message.h"
#include "midge/midge.h"
#include "persist.h"
#include "retained_send.h"
#include "security.h"
#include "session.h"

#define READ_CHUNK 16384

static void on_wake(void *arg);

/* A CONNECT is not complete yet: it waits for the connection it takes over, or for its password check. */
static bool connect_waiting(struct conn *c)
{
	return c->waiting_takeover || atomic_load(&c->auth_state) != AUTH_NONE;
}
static void on_conn_io(struct loop_io *io, uint32_t events);
static void drain_and_close(struct worker *w, struct conn *c);
static void resume_reading(struct worker *w, struct conn *c);
static bool over_cap(struct broker *b, struct conn *c);
static void flush_conn(struct worker *w, struct conn *c);

int worker__init(struct worker *w, struct broker *b, int id)
{
	memset(w, 0, sizeof(*w));
	w->broker = b;
	w->id = id;
	pthread_mutex_init(&w->inbox_lock, NULL);
	list__init(&w->inbox);
	list__init(&w->conns);
	list__init(&w->flush);
	list__init(&w->closing);
	list__init(&w->tasks);
	list__init(&w->retained);
	list__init(&w->retained_in);
	w->scratch = malloc(READ_CHUNK);
	if (!w->scratch) return MIDGE_ERR_NOMEM;
	return loop__init(&w->loop, on_wake, w);
}

/* Closes c telling an MQTT 5 client why (a DISCONNECT with reason), unless a reason is already set. */
static void close_rc(struct worker *w, struct conn *c, uint8_t rc, const char *reason)
{
	if (!c->disconnect_rc) c->disconnect_rc = rc;
	worker__close(w, c, reason);
}

static void on_conn_timer(struct timer *t)
{
	struct conn *c = container_of(t, struct conn, timer);
	struct worker *w = c->worker;
	if (c->state == CONN_OPEN) {
		worker__close(w, c, "no CONNECT in time");
		return;
	}
	/* Keepalive: 1.5 times the interval of silence, checked lazily so traffic never re-arms the timer. */
	uint64_t now = clock__ms();
	uint64_t deadline = c->keepalive ? c->last_rx_ms + (uint64_t)c->keepalive * 1500u : UINT64_MAX;
	if (now >= deadline) {
		close_rc(w, c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "exceeded timeout");
		return;
	}
	/* A transport with a probe of its own (WebSocket ping) uses it on a peer quiet for a while: every ping
	 * interval of silence, counted from the last input, so no time of the last probe needs keeping. */
	uint64_t ping_ms = (uint64_t)w->broker->conf.websockets_ping_interval * 1000u;
	if (c->tp.ops->ping && ping_ms && now >= c->last_rx_ms) {
		uint64_t quiet = (now - c->last_rx_ms) / ping_ms; /* whole intervals of silence */
		if (quiet) {
			bool want = c->tp.want_write;
			c->tp.ops->ping(&c->tp);
			if (c->tp.want_write != want) conn__update_events(c);
		}
		uint64_t next = c->last_rx_ms + (quiet + 1) * ping_ms;
		if (next < deadline) deadline = next;
	}
	if (deadline != UINT64_MAX) timer__arm(&w->loop.timers, &c->timer, deadline, on_conn_timer);
}

/* Starts the keepalive check for an accepted CONNECT (called by handle__connect via worker). */
void worker__arm_keepalive(struct worker *w, struct conn *c)
{
	timer__cancel(&w->loop.timers, &c->timer);
	uint64_t at = c->keepalive ? c->last_rx_ms + (uint64_t)c->keepalive * 1500u : UINT64_MAX;
	uint64_t ping_ms = (uint64_t)w->broker->conf.websockets_ping_interval * 1000u;
	if (c->tp.ops->ping && ping_ms && c->last_rx_ms + ping_ms < at) at = c->last_rx_ms + ping_ms;
	if (at != UINT64_MAX) timer__arm(&w->loop.timers, &c->timer, at, on_conn_timer);
}

static void register_conn(struct worker *w, struct conn *c)
{
	c->worker = w;
	/* A transport without a descriptor (MQTT-SN) has its input pushed by worker__feed. */
	if (c->tp.fd < 0) c->io.fd = -1;
	else if (loop__add(&w->loop, &c->io, c->tp.fd, EPOLLIN, on_conn_io)) {
		c->state = CONN_OPEN;
		list__add_tail(&w->conns, &c->node);
		w->nconns++;
		worker__close(w, c, "cannot watch socket");
		return;
	}
	c->state = CONN_OPEN;
	c->last_rx_ms = clock__ms();
	list__add_tail(&w->conns, &c->node);
	w->nconns++;
	timer__arm(&w->loop.timers, &c->timer, c->last_rx_ms + (uint64_t)w->broker->conf.connect_timeout * 1000u,
		   on_conn_timer);
}

void worker__add_local(struct worker *w, struct conn *c) { register_conn(w, c); }

static void on_wake(void *arg)
{
	struct worker *w = arg;
	struct list local;
	list__init(&local);
	pthread_mutex_lock(&w->inbox_lock);
	list__splice_tail(&local, &w->inbox);
	pthread_mutex_unlock(&w->inbox_lock);

	/* Entries stay marked pending until popped, so a post meanwhile cannot link them into the
	 * inbox while they are still on this local list; work it asked for is done below anyway. */
	for (;;) {
		pthread_mutex_lock(&w->inbox_lock);
		struct list *node = list__pop(&local);
		struct conn *c = node ? list_entry(node, struct conn, pending_node) : NULL;
		bool is_new = c && c->adopting;
		if (c) {
			c->pending = false;
			c->adopting = false;
		}
		pthread_mutex_unlock(&w->inbox_lock);
		if (!c) break;
		if (is_new) {
			register_conn(w, c); /* the inbox carried the worker's own reference */
			continue;
		}
		/* The store caught up: read again. Not exclusive of the rest: posts merge, a flush may be asked too. */
		if (atomic_exchange(&c->store_resume, false)) {
			c->store_paused = false;
			if (c->state == CONN_ACTIVE && !connect_waiting(c) && !over_cap(w->broker, c)) resume_reading(w, c);
		}
		int kick = atomic_load(&c->kick);
		if (kick == KICK_ADMIN) {
			close_rc(w, c, MQTT_RC_ADMINISTRATIVE_ACTION, "disconnected through the HTTP API");
		} else if (kick == KICK_CLUSTER) {
			close_rc(w, c, MQTT_RC_SESSION_TAKEN_OVER, "connected on another node of the cluster");
		} else if (kick) {
			drain_and_close(w, c);
		} else if (atomic_load(&c->store_failed)) {
			close_rc(w, c, MQTT_RC_UNSPECIFIED, "storage failure");
		} else if (atomic_load(&c->auth_state) >= AUTH_ALLOWED) {
			int r = handle__connect_authed(w, c);
			if (r) worker__close(w, c, dispatch__reason(r));
			else if (!connect_waiting(c)) resume_reading(w, c);
		} else if (atomic_exchange(&c->takeover_ready, false)) {
			int r = handle__connect_resume(w, c);
			if (r) worker__close(w, c, dispatch__reason(r));
			else if (!connect_waiting(c)) resume_reading(w, c);
		} else if (c->state != CONN_CLOSED && !list__linked(&c->flush_node)) {
			list__add_tail(&w->flush, &c->flush_node);
		}
		conn__unref(c);
	}
}

/* Links c into w's inbox unless it is there already, with a reference for the inbox; a new connection
 * (adopting) brings the worker's own reference instead. */
static void inbox_push(struct worker *w, struct conn *c, bool adopting)
{
	bool wake = false;
	pthread_mutex_lock(&w->inbox_lock);
	if (adopting) c->adopting = true;
	if (!c->pending) {
		c->pending = true;
		if (!adopting) conn__ref(c);
		wake = list__empty(&w->inbox);
		list__add_tail(&w->inbox, &c->pending_node);
	}
	pthread_mutex_unlock(&w->inbox_lock);
	/* One wake-up per batch: later posts find the inbox non-empty and the wake still pending. */
	if (wake) loop__wake(&w->loop);
}

void worker__post(struct worker *w, struct conn *c) { inbox_push(w, c, false); }

void worker__adopt(struct worker *w, struct conn *c)
{
	c->worker = w;
	inbox_push(w, c, true);
}

static bool over_cap(struct broker *b, struct conn *c)
{
	return b->conf.max_output_bytes && conn__out_bytes(c) >= b->conf.max_output_bytes;
}

/* Handles every whole packet in c's input buffer, unless its output is over the cap: a client that
 * does not read its acks does not get more requests served (input waits, memory stays bounded). */
static void process_input(struct worker *w, struct conn *c)
{
	struct broker *b = w->broker;
	uint64_t now = 0; /* read once per batch: the packets of one read arrived together */
	while (buf__len(&c->in) > 0 && c->state != CONN_CLOSED) {
		if (connect_waiting(c)) return; /* the rest waits for the CONNECT to complete */
		if (over_cap(b, c)) {
			c->read_paused = true;
			c->writable_wait = true; /* output is queued: wait for the socket to take it */
			conn__update_events(c);
			return;
		}
		/* Judge the first byte at once: a stream that does not start with CONNECT (an HTTP request,
		 * say) is closed without waiting for the rest of a packet that will never come. */
		uint8_t first = buf__head(&c->in)[0];
		if (c->state == CONN_OPEN && first == 0x16 && c->listener && !config__listener_tls(c->listener->conf)) {
			log__printf(&b->log, LOG_T_NOTICE, "TLS handshake received on plain listener port %u from %s.",
				    c->listener->conf->port, c->addr);
			worker__close(w, c, "TLS handshake on a plain listener");
			return;
		}
		if ((c->state == CONN_OPEN && first >> 4 != MQTT_CONNECT) || first >> 4 == 0 ||
		    !proto__valid_flags(first >> 4, first & 15)) {
			close_rc(w, c, MQTT_RC_MALFORMED_PACKET, c->state == CONN_OPEN ? "protocol error" : "malformed packet");
			return;
		}
		struct mqtt_frame f;
		int r = proto__frame(buf__head(&c->in), buf__len(&c->in), b->conf.max_packet_size, &f);
		if (r == PROTO_NEED_MORE) break;
		if (r != PROTO_OK) {
			if (r == PROTO_TOO_LARGE) close_rc(w, c, MQTT_RC_PACKET_TOO_LARGE, "packet too large");
			else close_rc(w, c, MQTT_RC_MALFORMED_PACKET, "malformed packet");
			return;
		}
		/* Keepalive counts whole packets, not bytes: a client dribbling a packet it never finishes is
		 * still closed [MQTT-3.1.2-22]. */
		if (!now) now = clock__ms();
		c->last_rx_ms = now;
		r = dispatch__packet(w, c, &f);
		if (r) {
			close_rc(w, c, dispatch__err_reason(r), dispatch__reason(r));
			return;
		}
		buf__consume(&c->in, f.total_len);
		persist__throttle(b, w, c);
		if (c->store_paused) return; /* the rest waits for the store to catch up */
	}
	/* A buffer of its own that held a cut packet goes once it is handled (the scratch one stays lent until
	 * read_input settles it). */
	if (!c->in_borrowed && buf__len(&c->in) == 0) buf__fini(&c->in);
}

/* Input waiting while the connection is paused is bounded like a socket's receive buffer: past it the datagram is
 * dropped, as a full socket would, and the sender's retry brings it again. */
bool worker__can_feed(const struct conn *c) { return c->state != CONN_CLOSED && buf__len(&c->in) <= READ_CHUNK * 4; }

int worker__feed(struct worker *w, struct conn *c, const void *p, size_t n)
{
	if (c->state == CONN_CLOSED) return MIDGE_ERR_CLOSED;
	if (!worker__can_feed(c)) return MIDGE_ERR_AGAIN;
	if (buf__append(&c->in, p, n)) return MIDGE_ERR_NOMEM;
	atomic_fetch_add_explicit(&w->stats.bytes_received, (uint64_t)n, memory_order_relaxed);
	if (!c->read_paused && !c->store_paused) process_input(w, c);
	return 0;
}

/* Decoded input the transport holds (TLS) is not announced by epoll again: it must be read now,
 * unless reading is paused. */
static bool has_pending(struct conn *c)
{
	return c->tp.ops->pending && c->state != CONN_CLOSED && !c->read_paused && !connect_waiting(c) &&
	       c->tp.ops->pending(&c->tp) > 0;
}

/* After input was handled: a connection keeps no input buffer of its own unless a packet is incomplete (or input
 * waits while reading is paused). Reads land in the worker's scratch buffer when nothing is kept, so an idle
 * connection costs no buffer at all, and the common case (whole packets per read) copies nothing. */
static int settle_input(struct conn *c)
{
	if (!c->in_borrowed) {
		if (buf__len(&c->in) == 0) buf__fini(&c->in);
		return 0;
	}
	struct buf rest = c->in;
	c->in = (struct buf){0};
	c->in_borrowed = false;
	return buf__len(&rest) ? buf__append(&c->in, buf__head(&rest), buf__len(&rest)) : 0;
}

/* Reads what the socket has, then handles the whole packets in it. Returns true when bytes came. */
static bool read_input(struct worker *w, struct conn *c)
{
	do {
		if (c->in.cap == 0) {
			c->in = (struct buf){.data = w->scratch, .cap = READ_CHUNK};
			c->in_borrowed = true;
		} else if (buf__reserve(&c->in, READ_CHUNK)) {
			worker__close(w, c, "out of memory");
			return false;
		}
		bool want_write = c->tp.want_write;
		ssize_t n = c->tp.ops->read(&c->tp, buf__tail(&c->in), buf__space(&c->in));
		if (c->tp.want_write != want_write) conn__update_events(c); /* TLS: watch EPOLLOUT, or stop */
		if (n == 0) {
			worker__close(w, c, "closed by client");
			return false;
		}
		if (n < 0) {
			settle_input(c); /* nothing read: gives the scratch buffer back */
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
			/* The transport's reason (a refused TLS handshake) dies with it: keep a copy for the log. */
			char why[192];
			snprintf(why, sizeof(why), "%s", c->tp.error ? c->tp.error : "socket error");
			worker__close(w, c, why);
			return false;
		}
		buf__produce(&c->in, (size_t)n);
		atomic_fetch_add_explicit(&w->stats.bytes_received, (uint64_t)n, memory_order_relaxed);
		process_input(w, c);
		if (c->state != CONN_CLOSED && settle_input(c)) {
			worker__close(w, c, "out of memory");
			return false;
		}
	} while (has_pending(c));
	return true;
}

/* A newer connection takes over this one's session: first handle what this client had already sent
 * (its acks, say, so they are not resent to the new connection), at most 1 MiB, then close. */
static void drain_and_close(struct worker *w, struct conn *c)
{
	for (int i = 0; i < 64 && c->state == CONN_ACTIVE && !c->read_paused; i++)
		if (!read_input(w, c)) break;
	close_rc(w, c, MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
}

/* Reading resumes after a pause (output cap, takeover): handle what is buffered, watch the socket. */
static void resume_reading(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CLOSED || !c->read_paused) return;
	c->read_paused = false;
	conn__update_events(c);
	process_input(w, c);
	if (has_pending(c)) read_input(w, c);
}

static void on_conn_io(struct loop_io *io, uint32_t events)
{
	struct conn *c = container_of(io, struct conn, io);
	struct worker *w = c->worker;
	if (c->state == CONN_CLOSED) return;
	/* A TLS read that waited for the socket to be writable goes on at EPOLLOUT. */
	if ((events & EPOLLIN) || ((events & EPOLLOUT) && c->tp.want_write)) read_input(w, c);
	else if (events & (EPOLLERR | EPOLLHUP)) worker__close(w, c, "socket error");
	if (c->acked) {
		c->acked = false;
		if (c->state != CONN_CLOSED && list__linked(&c->flush_node)) {
			list__del(&c->flush_node);
			flush_conn(w, c);
		}
	}
	if (c->state != CONN_CLOSED && (events & EPOLLOUT) && !list__linked(&c->flush_node))
		list__add_tail(&w->flush, &c->flush_node);
}

void worker__publish_will(struct broker *b, struct worker *w, struct message *will, uint32_t expiry, bool retain,
			  struct session *from, const char *username, size_t domain)
{
	/* The ACL as it stands when the will goes out, for the client it belongs to. */
	if (from && security__has_acl(b)) {
		bool ok = security__allowed(b, domain, from->client_id, username, (const char *)will->topic,
					    will->topic_len, ACL_WRITE);
		if (!ok) {
			log__printf(&b->log, LOG_T_NOTICE, "Will of client %s not published: not authorised on '%.*s'.",
				    from->client_id, (int)will->topic_len, (const char *)will->topic);
			return;
		}
	}
	/* Nobody else holds the will yet, so it may still be stamped: its expiry counts from now. */
	will->retain = retain;
	will->expiry_ms = expiry ? clock__ms() + (uint64_t)expiry * 1000u : 0;
	broker__publish(b, w, will, from);
}

void worker__close(struct worker *w, struct conn *c, const char *reason)
{
	struct broker *b = w->broker;
	if (c->state == CONN_CLOSED) return;
	bool was_active = c->state == CONN_ACTIVE;
	/* MQTT 5: the broker says why it closes, after CONNACK and unless the client said goodbye. */
	if (was_active && c->disconnect_rc && !c->clean_disconnect)
		conn__queue_disconnect(c, c->disconnect_rc, c->disconnect_why);
	/* From here on other workers' deliveries are refused (QoS 1/2 wait in the session): the client sees
	 * the socket close before the session is detached below, and must not have lost them into it. */
	conn__close_output(c);
	/* A password check still queued for it is skipped when its turn comes. */
	if (atomic_load(&c->auth_state) == AUTH_PENDING) atomic_store(&c->auth_cancel, true);
	if (c->state != CONN_NEW) conn__flush(c); /* last words: a refusing CONNACK, say */
	c->state = CONN_CLOSED;
	timer__cancel(&w->loop.timers, &c->timer);
	loop__del(&w->loop, &c->io);
	c->tp.ops->close(&c->tp);
	c->io.fd = -1;
	/* Others may hold the connection a while yet (a queued password check): not its input buffer. The worker's
	 * scratch buffer, when the input is in it, is only given back. */
	if (c->in_borrowed) c->in = (struct buf){0};
	else buf__fini(&c->in);
	c->in_borrowed = false;
	if (list__linked(&c->node)) {
		list__del(&c->node);
		w->nconns--;
	}
	if (list__linked(&c->flush_node)) list__del(&c->flush_node);
	if (c->listener) atomic_fetch_sub(&c->listener->nconns, 1);

	struct conn *successor = NULL;
	bool shutting = atomic_load(&b->shutting_down);
	/* The session's new row and the will's deliveries are kept together. */
	persist__group_begin(b);
	if (c->session) {
		struct session *s = c->session;
		bool ended = false, attached;
		uint64_t now = clock__ms();
		struct list taken;
		list__init(&taken);
		lock__acquire(&b->sessions.lock);
		lock__acquire(&s->lock);
		attached = s->conn == c;
		if (attached) {
			s->conn = NULL;
			atomic_store(&s->online, false);
			if (c->expiry_changed) {
				s->expiry_interval = c->session_expiry;
				s->clean = c->session_expiry == 0;
			}
			s->expire_at_ms = session__expire_at(b, s, now);
			/* Its client is on another node now (cluster.h): the session ends here at the next scan. */
			if (atomic_load(&s->cluster_moved)) s->expire_at_ms = now ? now : 1;
			successor = c->successor;
			c->successor = NULL;
			/* Unacknowledged messages of shared subscriptions go to the other members (4.8.2). */
			if (!shutting) session__take_shared_locked(b, s, &taken);
			/* A will with a delay waits in the session: a reconnect within the delay cancels it. */
			if (was_active && c->will && !shutting && c->will_delay && !s->clean) {
				s->will = c->will;
				free(s->will_user);
				s->will_user = c->username ? strdup(c->username) : NULL;
				s->will_domain = (uint32_t)security__domain(b, c->listener);
				s->will_expiry = c->will_expiry;
				s->will_retain = c->will_retain;
				s->will_at_ms = now + (uint64_t)c->will_delay * 1000u;
				c->will = NULL;
			}
			/* Its will is this node's to publish or drop now, unless it waits in the session for its delay or the
			 * broker stops: then the other nodes publish it should this node go first. */
			if (b->cluster && !c->internal && !s->will && !(shutting && c->will))
				cluster__will_gone(b->cluster, s->client_id);
			session__track_locked(b, s);
			/* Before the table lets go of a clean one: a new session of this client id may be stored next. */
			if (s->clean) persist__session_del(b, s);
			else persist__session_offline(b, s);
		}
		lock__release(&s->lock);
		if (attached && s->clean) {
			sessions__remove_locked(&b->sessions, s);
			ended = true;
		} else if (attached) {
			atomic_fetch_add(&b->stats.clients_persistent_offline, 1);
		}
		lock__release(&b->sessions.lock);
		if (!list__empty(&taken)) session__give_shared(b, w, s, &taken);
		if (ended) session__end(b, s);
	}
	if (was_active) atomic_fetch_sub(&b->stats.clients_connected, 1);

	/* The connection taking over the session may attach now (its worker completes its CONNECT). */
	if (successor) {
		atomic_store(&successor->takeover_ready, true);
		worker__post(successor->worker, successor);
		conn__unref(successor);
	}

	/* A will belongs to an accepted connection: one still waiting in CONNECT leaves none. A DISCONNECT
	 * dropped it unless it asked for it (MQTT 5 reason 0x04). */
	if (was_active && c->will && !shutting)
		worker__publish_will(b, w, c->will, c->will_expiry, c->will_retain, c->session, c->username,
				     security__domain(b, c->listener));
	msg__unref(c->will);
	c->will = NULL;
	persist__group_end(b);

	if (was_active && b->conf.connection_messages) {
		if (c->clean_disconnect) log__printf(&b->log, LOG_T_NOTICE, "Client %s disconnected.", c->client_id);
		else log__printf(&b->log, LOG_T_NOTICE, "Client %s closed its connection (%s).", c->client_id, reason);
	} else if (!was_active) {
		log__printf(&b->log, LOG_T_INFO, "Connection from %s closed before CONNECT completed (%s).", c->addr,
			    reason);
	}
	/* Freed after this loop turn: events for it may still be in the current epoll batch. */
	list__add_tail(&w->closing, &c->node);
}

/* After a flush: refills from the session queue and resumes reading once output is under the cap. */
static void after_flush(struct worker *w, struct conn *c)
{
	struct broker *b = w->broker;
	if (c->session && atomic_load_explicit(&c->need_pump, memory_order_relaxed) && !over_cap(b, c)) {
		atomic_store_explicit(&c->need_pump, false, memory_order_relaxed);
		if (session__pump(b, w, c->session, c)) atomic_store_explicit(&c->need_pump, true, memory_order_relaxed);
	}
	if (c->read_paused && !c->store_paused && !connect_waiting(c) && !over_cap(b, c)) resume_reading(w, c);
}

/* Writes c's output; closes it on a write error, else refills and resumes reading as after_flush does. */
static void flush_conn(struct worker *w, struct conn *c)
{
	if (conn__flush(c)) worker__close(w, c, "write error");
	else after_flush(w, c);
}

static void flush_all(struct worker *w)
{
	struct list *n;
	/* Connections scheduled while this runs (by pumping, say) are flushed in the same pass. */
	while ((n = list__pop(&w->flush))) {
		struct conn *c = list_entry(n, struct conn, flush_node);
		if (c->state != CONN_CLOSED) flush_conn(w, c);
	}
}

void worker__defer(struct worker *w, struct worker_task *t)
{
	if (!list__linked(&t->node)) list__add_tail(&w->tasks, &t->node);
}

void worker__undefer(struct worker *w, struct worker_task *t)
{
	(void)w;
	if (list__linked(&t->node)) list__del(&t->node);
}

/* Runs the tasks deferred so far; one deferred again while they run waits for the next round (end_of_turn). */
static void run_tasks(struct worker *w)
{
	struct list now, *n;
	list__init(&now);
	list__splice_tail(&now, &w->tasks);
	while ((n = list__pop(&now))) {
		struct worker_task *t = list_entry(n, struct worker_task, node);
		t->run(t);
	}
}

static void end_of_turn(struct worker *w)
{
	/* A flush may defer more work (a bridge answering what it was written), which may flush again: a few rounds
	 * here, the rest next turn. */
	flush_all(w);
	for (int i = 0; i < 8 && !list__empty(&w->tasks); i++) {
		run_tasks(w);
		flush_all(w);
	}
	if (!list__empty(&w->tasks)) loop__wake(&w->loop);
	/* A retained-message chunk went out: the next turn sends another unless the output is still full
	 * (then its draining wakes the loop) or, at QoS 1/2, the window is (an acknowledgement does). */
	if (retained__run(w)) {
		flush_all(w);
		loop__wake(&w->loop);
	}
	struct list *n;
	while ((n = list__pop(&w->closing))) conn__unref(list_entry(n, struct conn, node));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		loop__run_once(&w->loop);
		end_of_turn(w);
	}
	return NULL;
}

int worker__start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) ? MIDGE_ERR_NOMEM : 0;
}

void worker__halt(struct worker *w)
{
	atomic_store_explicit(&w->stop, true, memory_order_release);
	loop__wake(&w->loop);
	pthread_join(w->thread, NULL);
}

void worker__drain(struct worker *w)
{
	on_wake(w); /* adopt or release what is still in the inbox */
	retained__drop(w);
	struct list *n;
	while ((n = w->conns.next) != &w->conns) close_rc(w, list_entry(n, struct conn, node), MQTT_RC_SERVER_SHUTTING_DOWN, "broker shutting down");
	end_of_turn(w);
}

void worker__fini(struct worker *w)
{
	loop__fini(&w->loop);
	free(w->recv);
	w->recv = NULL;
	free(w->scratch);
	w->scratch = NULL;
	pthread_mutex_destroy(&w->inbox_lock);
}
