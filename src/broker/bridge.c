/* Bridges at run time: the remote side. Each bridge's libmidge client runs in its worker's loop (its socket and
 * wake-up descriptor watched there, its timers driven by a tick), so no bridge has a thread of its own or
 * blocks one. This file connects it (addresses, failover or round robin, restart_timeout and the backoff,
 * start_type automatic/lazy/once, idle_timeout), subscribes the in topics, and publishes the notifications;
 * bridge_link.c moves the messages. See bridge.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_int.h"
#include "broker.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "conn.h"
#include "midge/midge.h"
#include "session.h"
#include "worker.h"

#define TICK_MS 250u
#define LOCAL_RETRY_MS 1000u

static void set_state(struct bridge *br, enum bridge_state s)
{
	br->state = s;
	atomic_store_explicit(&br->stats.state, (int)s, memory_order_relaxed);
}

static void notify(struct bridge *br, bool up)
{
	const struct bridge_conf *bc = br->conf;
	if (!bc->notifications) return;
	broker__publish_text(br->b, br->state_topic, up ? "1" : "0", 1, true);
	if (up && !bc->notifications_local_only && br->mc)
		midge_client_publish(br->mc, br->state_topic, "1", 1, 1, true, NULL, NULL);
}

/* ---- the client's descriptors in the worker's loop ---- */

static void on_sock(struct loop_io *io, uint32_t events);
static void on_wake(struct loop_io *io, uint32_t events);

static void sync_io(struct bridge *br)
{
	struct loop *l = &br->w->loop;
	int fd = br->mc ? midge_client_socket(br->mc) : -1;
	uint32_t ev = EPOLLIN | (br->mc && midge_client_want_write(br->mc) ? EPOLLOUT : 0);
	/* A socket closed and a new one made may have the same number: after a connect or a disconnect the
	 * registration is always made again. */
	if (fd != br->sock_fd || br->rereg) {
		if (br->sock_fd >= 0) loop__del(l, &br->sock_io);
		br->sock_fd = -1;
		br->rereg = false;
		if (fd >= 0 && loop__add(l, &br->sock_io, fd, ev, on_sock) == 0) br->sock_fd = fd;
	} else if (fd >= 0) {
		loop__mod(l, &br->sock_io, ev);
	}
}

static void on_sock(struct loop_io *io, uint32_t events)
{
	struct bridge *br = container_of(io, struct bridge, sock_io);
	if (!br->mc) return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) midge_client_loop_read(br->mc);
	if (br->mc && (events & EPOLLOUT)) midge_client_loop_write(br->mc);
	sync_io(br);
}

static void on_wake(struct loop_io *io, uint32_t events)
{
	(void)events;
	struct bridge *br = container_of(io, struct bridge, wake_io);
	if (br->mc) midge_client_loop_misc(br->mc);
	sync_io(br);
}

/* ---- connecting ---- */

static void address_url(const struct bridge_address *a, bool tls, char *out, size_t n)
{
	bool v6 = strchr(a->host, ':') != NULL;
	const char *scheme = a->transport == BRIDGE_WS ? "ws" : a->transport == BRIDGE_WSS ? "wss" : tls ? "mqtts" : "mqtt";
	snprintf(out, n, "%s://%s%s%s:%u%s", scheme, v6 ? "[" : "", a->host, v6 ? "]" : "", a->port,
		 a->path ? a->path : "");
}

/* The delay before the next attempt: restart_timeout when set, else Mosquitto's "decorrelated jitter" between
 * the backoff's base and cap. */
uint64_t bridge__base_delay_ms(const struct bridge *br)
{
	const struct bridge_conf *bc = br->conf;
	return (uint64_t)(bc->restart_timeout ? bc->restart_timeout : bc->backoff_base) * 1000u;
}

void bridge__switch_to_first(struct bridge *br)
{
	br->switching = true;
	midge_client_disconnect(br->mc, 0, NULL);
}

static uint64_t next_delay(struct bridge *br)
{
	const struct bridge_conf *bc = br->conf;
	if (bc->restart_timeout) return (uint64_t)bc->restart_timeout * 1000u;
	uint64_t base = (uint64_t)bc->backoff_base * 1000u, cap = (uint64_t)bc->backoff_cap * 1000u;
	uint64_t hi = br->backoff_ms ? br->backoff_ms * 3 : base;
	if (hi < base) hi = base;
	uint64_t d = base + (hi > base ? (uint64_t)rand() % (hi - base + 1) : 0);
	if (d > cap) d = cap;
	br->backoff_ms = d;
	return d;
}

static void connect_remote(struct bridge *br)
{
	const struct bridge_conf *bc = br->conf;
	const struct bridge_address *a = &bc->addresses[br->addr];
	char url[600];
	address_url(a, config__bridge_tls(bc, a), url, sizeof(url));
	atomic_store_explicit(&br->stats.address, (unsigned)br->addr, memory_order_relaxed);
	log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s connecting to %s (client id %s).", bc->name, url, br->remote_id);
	set_state(br, BRIDGE_CONNECTING);
	br->attempt_connected = false;
	int rc = midge_client_connect(br->mc, url);
	br->rereg = true;
	sync_io(br);
	if (rc) {
		log__printf(&br->b->log, LOG_T_WARNING, "Bridge %s: cannot connect to %s: %s.", bc->name, url, midge_strerror(rc));
		br->addr = (br->addr + 1) % bc->naddresses;
		set_state(br, BRIDGE_WAITING);
		br->retry_at_ms = clock__ms() + next_delay(br);
	}
}

static void on_connect(struct midge_client *c, void *ud, int rc, bool session_present, const struct midge_props *props)
{
	(void)c, (void)props;
	struct bridge *br = ud;
	const struct bridge_conf *bc = br->conf;
	if (rc) return; /* on_disconnect follows with the reason */
	if (!session_present) bridge_link__remote_fresh(br);
	set_state(br, BRIDGE_CONNECTED);
	br->attempt_connected = true;
	br->backoff_ms = 0;
	br->last_traffic_ms = clock__ms();
	br->probe_at_ms = br->last_traffic_ms + bridge__base_delay_ms(br);
	atomic_fetch_add_explicit(&br->stats.connects, 1, memory_order_relaxed);
	char addr[300];
	bridge__address(br->b, br->index, addr, sizeof(addr));
	log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s connected to %s.", bc->name, addr);
	/* In topics: subscribed on every connection, since a session the remote did not keep holds none. With
	 * MQTT 5 the bridge says itself that it wants neither its own messages back nor retain flags changed. */
	bool v5 = bc->protocol_version == MQTT_V5;
	for (size_t i = 0; i < bc->ntopics; i++) {
		const struct bridge_topic *t = &bc->topics[i];
		const char *f = t->remote_topic;
		if (t->direction == BRIDGE_OUT) {
			if (bc->attempt_unsubscribe) midge_client_unsubscribe(br->mc, &f, 1, NULL, NULL);
			continue;
		}
		uint8_t o = (uint8_t)(t->qos | (v5 ? MQTT_SUBOPT_NO_LOCAL | MQTT_SUBOPT_RAP : 0));
		midge_client_subscribe(br->mc, &f, &o, 1, NULL, NULL);
	}
	notify(br, true);
}

static void on_disconnect(struct midge_client *c, void *ud, int reason, const struct midge_props *props)
{
	(void)c, (void)props;
	struct bridge *br = ud;
	const struct bridge_conf *bc = br->conf;
	bool was_up = br->state == BRIDGE_CONNECTED;
	bridge_link__remote_gone(br);
	char why[200] = "";
	midge_client_error_text(br->mc, why, sizeof(why));
	if (!br->local_up) { /* the bridge let go itself: its local side is down (bridge__local_ready restarts) */
		br->idling = false;
		set_state(br, BRIDGE_WAITING);
		br->retry_at_ms = UINT64_MAX;
	} else if (br->switching) { /* the first address is back (bridge_probe.c) */
		br->switching = false;
		br->addr = 0;
		set_state(br, BRIDGE_WAITING);
		br->retry_at_ms = 0;
	} else if (br->idling) { /* lazy: idle_timeout passed, the bridge let go itself */
		br->idling = false;
		set_state(br, BRIDGE_IDLE);
		log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s idle: disconnected until %u messages wait.", bc->name,
			    bc->threshold);
	} else if (bc->start_type == BRIDGE_START_ONCE) {
		set_state(br, BRIDGE_STOPPED);
		log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s (start_type once) ended: %s.", bc->name,
			    why[0] ? why : midge_strerror(reason < 0 ? reason : MIDGE_ERR_CLOSED));
	} else {
		/* round_robin moves on after any end; otherwise a lost connection goes back to the first (main)
		 * address and a failed attempt tries the next. */
		if (bc->round_robin || !br->attempt_connected) br->addr = (br->addr + 1) % bc->naddresses;
		else br->addr = 0;
		set_state(br, BRIDGE_WAITING);
		uint64_t d = next_delay(br);
		br->retry_at_ms = clock__ms() + d;
		log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s %s (%s); next attempt in %llu ms.", bc->name,
			    was_up ? "disconnected" : "connection failed",
			    why[0] ? why : reason > 0 ? "refused by the remote broker" : midge_strerror(reason),
			    (unsigned long long)d);
	}
	br->rereg = true;
	if (was_up) notify(br, false);
}

static void on_message(struct midge_client *c, void *ud, const struct midge_message *m)
{
	(void)c;
	struct bridge *br = ud;
	br->last_traffic_ms = clock__ms();
	bridge_link__from_remote(br, m);
}

static void on_published(struct midge_client *c, void *ud, uint16_t mid, int reason, const struct midge_props *props)
{
	(void)c, (void)props;
	bridge_link__remote_done(ud, mid, reason);
}

static void on_log(struct midge_client *c, void *ud, int level, const char *line)
{
	(void)c;
	struct bridge *br = ud;
	if (level == MIDGE_LOG_DEBUG) return;
	log__printf(&br->b->log, level == MIDGE_LOG_ERROR ? LOG_T_ERR : level == MIDGE_LOG_WARNING ? LOG_T_WARNING : LOG_T_INFO,
		    "Bridge %s: %s", br->conf->name, line);
}

static int tls_version_name(int v, const char **out)
{
	*out = v == 11 ? "tlsv1.1" : v == 13 ? "tlsv1.3" : v == 12 ? "tlsv1.2" : NULL;
	return 0;
}

/* The remote client, made once at start-up (before privileges are dropped, so its TLS files are read as the
 * listeners' are) and kept until the broker stops: what it holds outlives its connections. 0, or an error with
 * err filled. */
static int create_client(struct bridge *br, char *err, size_t errlen)
{
	const struct bridge_conf *bc = br->conf;
	struct broker *b = br->b;
	/* The local broker's Receive Maximum for the bridge's local side (handle_connect.c gives every client the
	 * same): what the remote may send unacknowledged. */
	uint32_t mi = b->conf.max_inflight_messages;
	uint16_t window = mi && mi < 65535 ? (uint16_t)mi : 65535;
	struct midge_props *cp = NULL;
	if (bc->protocol_version == MQTT_V5) {
		/* What the remote may send unacknowledged is what the local broker takes unacknowledged. */
		cp = midge_props_new();
		if (!cp || midge_props_add_int(cp, MQTT_PROP_RECEIVE_MAXIMUM, window)) {
			midge_props_free(cp);
			return MIDGE_ERR_NOMEM;
		}
	}
	bool notify_remote = bc->notifications && !bc->notifications_local_only;
	struct midge_client_options o = {
	    .client_id = br->remote_id,
	    .version = bc->protocol_version,
	    .clean_start = bc->cleansession,
	    .persistent = !bc->cleansession,
	    .keepalive = bc->keepalive,
	    .session_expiry = bc->cleansession ? 0 : 0xFFFFFFFFu,
	    .username = bc->remote_username,
	    .password = bc->remote_password,
	    .password_len = bc->remote_password ? strlen(bc->remote_password) : 0,
	    .will_topic = notify_remote ? br->state_topic : NULL,
	    .will_payload = notify_remote ? "0" : NULL,
	    .will_payload_len = notify_remote ? 1 : 0,
	    .will_qos = notify_remote ? 1 : 0,
	    .will_retain = notify_remote,
	    .connect_props = cp,
	    /* Mosquitto's bridges keep max_inflight_messages (20) in flight; the local window bounds the rest. */
	    .max_inflight = b->conf.max_inflight_messages && b->conf.max_inflight_messages < 1000
	                        ? (uint16_t)b->conf.max_inflight_messages
	                        : 100,
	    .max_queued = BRIDGE_LOCAL_WINDOW + 2 * BRIDGE_QOS0_SLACK, /* QoS 0 beyond the slack waits in the broker */
	    .reconnect = false,
	    .bind_address = bc->bind_address,
	    .bridge = bc->try_private && bc->protocol_version != MQTT_V5,
	    .manual_ack = true,
	};
	br->mc = midge_client_new(&o);
	midge_props_free(cp);
	if (!br->mc) {
		snprintf(err, errlen, "%s:%d: bridge '%s': the remote client's settings were refused (client id, user "
			 "name, password or will)", bc->file, bc->line, bc->name);
		return MIDGE_ERR_INVAL;
	}
	struct midge_callbacks cb = {.on_connect = on_connect,
	                             .on_disconnect = on_disconnect,
	                             .on_message = on_message,
	                             .on_publish = on_published,
	                             .on_log = on_log};
	midge_client_set_callbacks(br->mc, &cb, br);
	bool tls = false;
	for (size_t i = 0; i < bc->naddresses; i++) tls = tls || config__bridge_tls(bc, &bc->addresses[i]);
	if (tls) {
		struct midge_tls_options t = {
		    .cafile = bc->cafile,
		    .capath = bc->capath,
		    .certfile = bc->certfile,
		    .keyfile = bc->keyfile,
		    .insecure = bc->insecure,
		    .ciphers = bc->ciphers,
		    .ciphers_tls13 = bc->ciphers_tls13,
		    .alpn = bc->alpn,
		    .psk = bc->psk,
		    .psk_identity = bc->identity,
		};
		tls_version_name(bc->tls_version, &t.tls_version);
		int rc = midge_client_set_tls(br->mc, &t);
		if (rc) {
			char why[300] = "";
			midge_client_error_text(br->mc, why, sizeof(why));
			snprintf(err, errlen, "%s:%d: bridge '%s': %s", bc->file, bc->line, bc->name,
				 why[0] ? why : midge_strerror(rc));
			midge_client_destroy(br->mc);
			br->mc = NULL;
			return rc;
		}
	}
	if (!br->w) return 0; /* --test-config: only the settings are checked */
	if (loop__add(&br->w->loop, &br->wake_io, midge_client_wakeup_fd(br->mc), EPOLLIN, on_wake)) {
		snprintf(err, errlen, "bridge '%s': cannot watch its client", bc->name);
		midge_client_destroy(br->mc);
		br->mc = NULL;
		return MIDGE_ERR_IO;
	}
	br->sock_fd = -1;
	return 0;
}

static void destroy_client(struct bridge *br)
{
	if (!br->mc) return;
	struct loop *l = &br->w->loop;
	if (br->sock_fd >= 0) loop__del(l, &br->sock_io);
	loop__del(l, &br->wake_io);
	br->sock_fd = -1;
	midge_client_destroy(br->mc);
	br->mc = NULL;
}

void bridge__local_ready(struct bridge *br)
{
	if (br->conf->notifications) broker__publish_text(br->b, br->state_topic, "0", 1, true);
	if (br->state == BRIDGE_CONNECTED || br->state == BRIDGE_CONNECTING) return;
	if (br->conf->start_type == BRIDGE_START_LAZY) set_state(br, BRIDGE_IDLE);
	else if (br->conf->start_type == BRIDGE_START_ONCE && br->once_done) set_state(br, BRIDGE_STOPPED);
	else connect_remote(br);
	if (br->conf->start_type == BRIDGE_START_ONCE) br->once_done = true;
}

/* The local side was closed (taken over by a client with its id, or by the HTTP API): the remote connection ends
 * too, from the next turn on (this may run inside one of the client's callbacks), so that the remote sends again
 * what the bridge had not acknowledged; it comes back once the local side has. What the remote client holds
 * for the remote stays: the local session sends it again with the same packet ids, which the link knows. */
static void on_lost(struct worker_task *t)
{
	struct bridge *br = container_of(t, struct bridge, lost_task);
	if (br->state == BRIDGE_CONNECTED || br->state == BRIDGE_CONNECTING) midge_client_disconnect(br->mc, 0, NULL);
	if (br->state != BRIDGE_STOPPED) set_state(br, BRIDGE_WAITING);
	br->retry_at_ms = UINT64_MAX; /* bridge__local_ready starts it */
	br->local_retry_at_ms = clock__ms() + LOCAL_RETRY_MS;
}

void bridge__local_lost(struct bridge *br)
{
	if (atomic_load(&br->b->shutting_down)) return;
	log__printf(&br->b->log, LOG_T_WARNING, "Bridge %s: its local connection was closed; restarting the bridge.",
		    br->conf->name);
	br->lost_task.run = on_lost;
	worker__defer(br->w, &br->lost_task);
}

static void on_tick(struct timer *t)
{
	struct bridge *br = container_of(t, struct bridge, tick);
	const struct bridge_conf *bc = br->conf;
	uint64_t now = clock__ms();
	if (!br->conn && now >= br->local_retry_at_ms) {
		int rc = bridge_link__open(br);
		if (rc && rc != MIDGE_ERR_CLOSED)
			log__printf(&br->b->log, LOG_T_ERR, "Bridge %s: cannot open its local side: %s.", bc->name, midge_strerror(rc));
		if (!br->conn) br->local_retry_at_ms = now + LOCAL_RETRY_MS;
	}
	if (br->mc) {
		midge_client_loop_misc(br->mc);
		if (!br->local_up) {
			/* nothing starts before the local side is up */
		} else if (br->state == BRIDGE_WAITING && now >= br->retry_at_ms) {
			connect_remote(br);
		} else if (br->state == BRIDGE_IDLE && br->out_pending >= bc->threshold) {
			connect_remote(br);
		} else if (br->state == BRIDGE_CONNECTED && bc->start_type == BRIDGE_START_LAZY && !br->out_pending &&
			   now >= br->last_traffic_ms + (uint64_t)bc->idle_timeout * 1000u) {
			br->idling = true;
			midge_client_disconnect(br->mc, 0, NULL);
		}
		bridge_probe__tick(br, now);
		sync_io(br);
	}
	timer__arm(&br->w->loop.timers, &br->tick, now + TICK_MS, on_tick);
}

/* ---- the broker's view ---- */

int bridge__start_all(struct broker *b, char *err, size_t errlen)
{
	size_t n = b->conf.nbridges;
	if (!n) return 0;
	b->bridges = calloc(n, sizeof(*b->bridges));
	if (!b->bridges) return err__set(err, errlen, MIDGE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct bridge *br = calloc(1, sizeof(*br));
		if (!br) return err__set(err, errlen, MIDGE_ERR_NOMEM, "out of memory");
		b->bridges[i] = br;
		b->nbridges = i + 1;
		br->b = b;
		br->index = i;
		br->conf = &b->conf.bridges[i];
		/* After the MQTT-SN gateways' workers, so that bridges and gateways spread. */
		br->w = &b->workers[(i + b->nlisteners) % (size_t)b->nworkers];
		br->sock_fd = -1;
		br->probe_fd = -1;
		list__init(&br->backlog);
		char tmp[300];
		snprintf(br->remote_id, sizeof(br->remote_id), "%s", config__bridge_remote_clientid(br->conf, tmp, sizeof(tmp)));
		snprintf(br->local_id, sizeof(br->local_id), "%s", config__bridge_local_clientid(br->conf, tmp, sizeof(tmp)));
		const char *nt = br->conf->notification_topic;
		char def[400];
		snprintf(def, sizeof(def), "$SYS/broker/connection/%s/state", br->remote_id);
		if (!(br->state_topic = strdup(nt ? nt : def))) return err__set(err, errlen, MIDGE_ERR_NOMEM, "out of memory");
		set_state(br, BRIDGE_WAITING);
		br->retry_at_ms = UINT64_MAX;
		int rc = create_client(br, err, errlen);
		if (rc) return rc;
		/* The workers do not run yet: arming a timer in one's loop is still safe from here. Everything else
		 * happens in the worker's thread. */
		timer__arm(&br->w->loop.timers, &br->tick, clock__ms(), on_tick);
	}
	return 0;
}

int bridge__check_files(const struct config *cf, char *err, size_t errlen)
{
	for (size_t i = 0; i < cf->nbridges; i++) {
		struct broker tmp = {0};
		struct bridge br = {.b = &tmp, .conf = &cf->bridges[i], .sock_fd = -1, .probe_fd = -1};
		tmp.conf.max_inflight_messages = cf->max_inflight_messages;
		snprintf(br.remote_id, sizeof(br.remote_id), "check");
		br.state_topic = "check";
		int rc = create_client(&br, err, errlen);
		midge_client_destroy(br.mc);
		if (rc) return rc;
	}
	return 0;
}

void bridge__free_all(struct broker *b)
{
	for (size_t i = 0; i < b->nbridges; i++) {
		struct bridge *br = b->bridges[i];
		if (!br) continue;
		timer__cancel(&br->w->loop.timers, &br->tick);
		worker__undefer(br->w, &br->lost_task);
		bridge_probe__stop(br);
		destroy_client(br);
		bridge_link__fini(br);
		free(br->state_topic);
		free(br);
	}
	free(b->bridges);
	b->bridges = NULL;
	b->nbridges = 0;
}

void bridge__wait_ready(struct broker *b, unsigned timeout_ms)
{
	uint64_t end = clock__ms() + timeout_ms;
	for (size_t i = 0; i < b->nbridges; i++) {
		while (!atomic_load(&b->bridges[i]->subscribed) && clock__ms() < end) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		if (!atomic_load(&b->bridges[i]->subscribed))
			log__printf(&b->log, LOG_T_WARNING, "Bridge %s: its local subscriptions are not in place yet.",
				    b->bridges[i]->conf->name);
	}
}

size_t bridge__count(const struct broker *b) { return b->nbridges; }
const char *bridge__name(const struct broker *b, size_t i) { return b->bridges[i]->conf->name; }
const struct bridge_stats *bridge__stats(const struct broker *b, size_t i) { return &b->bridges[i]->stats; }

uint64_t bridge__queued(struct broker *b, size_t i)
{
	struct bridge *br = b->bridges[i];
	uint64_t n = atomic_load_explicit(&br->stats.waiting, memory_order_relaxed);
	/* The local session's queue, found by its client id: the bridge's connection is its worker's. */
	lock__acquire(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, br->local_id, strlen(br->local_id));
	if (s) {
		lock__acquire(&s->lock);
		n += s->queued_count + s->spilled;
		lock__release(&s->lock);
	}
	lock__release(&b->sessions.lock);
	return n;
}

void bridge__address(const struct broker *b, size_t i, char *out, size_t n)
{
	const struct bridge *br = b->bridges[i];
	unsigned k = atomic_load_explicit(&br->stats.address, memory_order_relaxed);
	const struct bridge_address *a = &br->conf->addresses[k < br->conf->naddresses ? k : 0];
	address_url(a, config__bridge_tls(br->conf, a), out, n);
}

const char *bridge__state_name(int state)
{
	switch (state) {
	case BRIDGE_CONNECTED: return "connected";
	case BRIDGE_CONNECTING: return "connecting";
	case BRIDGE_WAITING: return "waiting";
	case BRIDGE_IDLE: return "idle";
	default: return "stopped";
	}
}
