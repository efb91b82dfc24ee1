/* The broker's life: set-up from the configuration, listeners and accept, signals, session expiry,
 * reload and shutdown. Runs in the main thread. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bridge.h"
#include "cluster.h"
#include "broker.h"
#include "common/clock.h"
#include "conn.h"
#include "message.h"
#include "midge/midge.h"
#include "net/listener.h"
#include "sn_gw.h"
#include "authq.h"
#include "guard.h"
#include "http/api/api.h"
#include "net/tls.h"
#include "persist.h"
#include "retain.h"
#include "security.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

/* Main-thread state that is not part of the shared context. */
struct runtime {
	struct broker *b;
	int sigfd;
	struct loop_io sig_io;
	struct timer expiry;
	bool stop;
};

static int open_log(struct broker *b)
{
	const struct config *cf = &b->conf;
	/* The configuration holds the logger's own LOG_DEST_* and LOG_T_* bits. */
	return log__open(&b->log, cf->log_type, cf->log_dest, cf->log_timestamp, cf->log_timestamp_format,
			 cf->log_file);
}

/* log_dest topic: each line goes to $SYS/broker/log/<class>, Mosquitto's topics. */
static void log_to_topic(void *arg, unsigned type, const char *line)
{
	struct broker *b = arg;
	const char *topic = type & LOG_T_ERR           ? "$SYS/broker/log/E"
			    : type & LOG_T_WARNING     ? "$SYS/broker/log/W"
			    : type & LOG_T_NOTICE      ? "$SYS/broker/log/N"
			    : type & LOG_T_INFO        ? "$SYS/broker/log/I"
			    : type & LOG_T_SUBSCRIBE   ? "$SYS/broker/log/M/subscribe"
			    : type & LOG_T_UNSUBSCRIBE ? "$SYS/broker/log/M/unsubscribe"
			    : type & LOG_T_WEBSOCKETS  ? "$SYS/broker/log/WS"
						     : "$SYS/broker/log/D";
	if (!b->subs || atomic_load(&b->shutting_down)) return;
	broker__publish_text(b, topic, line, strlen(line), false);
}

int broker__init(struct broker *b, char *err, size_t errlen)
{
	if (open_log(b)) {
		snprintf(err, errlen, "cannot open log file '%s': %s", b->conf.log_file, strerror(errno));
		return MIDGE_ERR_IO;
	}
	b->subs = subs__new();
	b->retained = retain__new();
	if (!b->subs || !b->retained || sessions__init(&b->sessions)) {
		snprintf(err, errlen, "out of memory");
		return MIDGE_ERR_NOMEM;
	}
	b->log.topic_arg = b;
	b->log.topic_fn = log_to_topic;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	b->nworkers = b->conf.threads > 0 ? b->conf.threads : (ncpu > 0 ? (int)ncpu : 1);
	b->workers = calloc((size_t)b->nworkers, sizeof(*b->workers));
	if (!b->workers) {
		snprintf(err, errlen, "out of memory");
		return MIDGE_ERR_NOMEM;
	}
	for (int i = 0; i < b->nworkers; i++) {
		if (worker__init(&b->workers[i], b, i)) {
			snprintf(err, errlen, "cannot create event loop: %s", strerror(errno));
			return MIDGE_ERR_IO;
		}
	}
	if (loop__init(&b->loop, NULL, NULL)) {
		snprintf(err, errlen, "cannot create event loop: %s", strerror(errno));
		return MIDGE_ERR_IO;
	}
	int rc = security__init(b, err, errlen);
	if (rc) return rc;
	b->start_ms = clock__ms();
	b->start_time = time(NULL);
	return 0;
}

/* A listening socket's loop registration and its listener. */
struct accept_io {
	struct loop_io io;
	struct listener_rt *l;
	struct timer resume; /* re-enables accepting after running out of descriptors */
	uint64_t last_log_ms;
};

static void on_accept(struct loop_io *io, uint32_t events);

static void on_accept_resume(struct timer *t)
{
	struct accept_io *aio = container_of(t, struct accept_io, resume);
	loop__mod(&aio->l->broker->loop, &aio->io, EPOLLIN);
}

/* Out of file descriptors: the pending connection stays readable on the listening socket, so stop
 * watching it for a moment instead of spinning, and say so at most once a second. */
static void pause_accept(struct broker *b, struct accept_io *aio)
{
	uint64_t now = clock__ms();
	if (now - aio->last_log_ms >= 1000) {
		aio->last_log_ms = now;
		log__printf(&b->log, LOG_T_ERR, "Out of file descriptors: cannot accept new connections on port %u.",
			    aio->l->conf->port);
	}
	loop__mod(&b->loop, &aio->io, 0);
	timer__arm(&b->loop.timers, &aio->resume, now + 100, on_accept_resume);
}

static void on_accept(struct loop_io *io, uint32_t events)
{
	struct listener_rt *l = container_of(io, struct accept_io, io)->l;
	struct broker *b = l->broker;
	for (int i = 0; i < 64; i++) {
		char addr[64];
		int fd = listener__accept(io->fd, addr, sizeof(addr));
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accept(b, container_of(io, struct accept_io, io));
			return;
		}
		int limit = l->conf->max_connections;
		if (limit >= 0 && atomic_load(&l->nconns) >= limit) {
			log__printf(&b->log, LOG_T_NOTICE, "Connection from %s refused: max_connections (%d) reached.", addr,
				    limit);
			close(fd);
			continue;
		}
		struct conn *c = conn__new(l, fd, addr);
		if (!c) {
			close(fd);
			continue;
		}
		atomic_fetch_add(&l->nconns, 1);
		atomic_fetch_add_explicit(&b->stats.sockets_total_ever, 1, memory_order_relaxed);
		if (b->conf.connection_messages) log__printf(&b->log, LOG_T_NOTICE, "New connection from %s on port %u.", addr, l->conf->port);
		worker__adopt(broker__pick_worker(b), c);
	}
}

/* Builds the TLS context of listener lc from cf. NULL with "FILE:LINE: listener on port N: why" in err. */
static struct tls_ctx *listener_tls(const struct config *cf, const struct listener_conf *lc, char *err, size_t errlen)
{
	const struct tls_settings s = {
	    .cafile = lc->cafile,
	    .capath = lc->capath,
	    .certfile = lc->certfile,
	    .keyfile = lc->keyfile,
	    .crlfile = lc->crlfile,
	    .ciphers = lc->ciphers,
	    .ciphers_tls13 = lc->ciphers_tls13,
	    .psk_hint = lc->psk_hint,
	    .psk_file = config__psk_file(cf, lc),
	    .min_version = lc->tls_version,
	    .require_certificate = lc->require_certificate,
	};
	char why[384];
	struct tls_ctx *x = tls__ctx_new(&s, TLS_ROLE_SERVER, why, sizeof(why));
	if (!x) snprintf(err, errlen, "%s:%d: listener on port %u: %s", lc->file ? lc->file : "?", lc->line, lc->port, why);
	return x;
}

int broker__check_files(const struct config *cf, char *err, size_t errlen)
{
	for (size_t i = 0; i < cf->nlisteners; i++) {
		const struct listener_conf *lc = &cf->listeners[i];
		if (lc->mqttsn) {
			int rc = sn_gw__check_files(lc, err, errlen);
			if (rc) return rc;
		}
		if (!config__listener_tls(lc)) continue;
		struct tls_ctx *x = listener_tls(cf, lc, err, errlen);
		if (!x) return MIDGE_ERR_INVAL;
		tls__ctx_unref(x);
	}
	int brc = bridge__check_files(cf, err, errlen);
	if (brc) return brc;
	const struct listener_conf **lc = calloc(cf->nlisteners + 1, sizeof(*lc));
	if (!lc) return MIDGE_ERR_NOMEM;
	for (size_t i = 0; i < cf->nlisteners; i++) lc[i] = &cf->listeners[i];
	struct security *s = NULL;
	int rc = security__load(cf, lc, cf->nlisteners, &s, err, errlen);
	free(lc);
	security__unref(s);
	return rc;
}

int broker__start(struct broker *b, char *err, size_t errlen)
{
	/* The cluster watches the subscription tree from its first subscription on: before the store restores any. */
	int rc = cluster__start(b, err, errlen);
	if (rc) return rc;
	/* The stored state comes back before any client can connect. */
	rc = persist__open(b, err, errlen);
	if (rc) return rc;
	b->nlisteners = b->conf.nlisteners;
	b->listeners = calloc(b->nlisteners, sizeof(*b->listeners));
	if (!b->listeners) return MIDGE_ERR_NOMEM;
	for (size_t i = 0; i < b->nlisteners; i++) {
		struct listener_rt *l = &b->listeners[i];
		const struct listener_conf *lc = &b->conf.listeners[i];
		l->conf = lc;
		l->broker = b;
		guard__init_listener(l);
		/* Certificates and keys are read now, before the sockets open and privileges are dropped. */
		if (config__listener_tls(lc) && !(l->tls = listener_tls(&b->conf, lc, err, errlen))) return MIDGE_ERR_INVAL;
		if (lc->websockets) {
			l->websockets = true;
			l->app = (struct http_app){.serve = api__serve, .ctx = l};
			l->ws = (struct ws_settings){
			    .app = &l->app,
			    .max_head = b->conf.websockets_headers_size ? b->conf.websockets_headers_size : 4096,
			    .origins = (const char *const *)lc->origins,
			    .norigins = lc->norigins,
			    .http_dir = lc->http_dir,
			    /* A frame or message holds MQTT packets: no bigger than the largest packet taken. */
			    .max_message = b->conf.max_packet_size ? b->conf.max_packet_size + 5ull : 268435460ull,
			};
		}
		if (lc->mqttsn) {
			/* UDP, in a worker's loop rather than accepted here. */
			if ((rc = sn_gw__start(b, l, err, errlen))) return rc;
			continue;
		}
		char msg[256];
		int n = listener__open(lc->bind_address, lc->bind_interface, lc->port, lc->socket_domain,
				       b->conf.listen_backlog, l->fds, LISTENER_MAX_FDS, msg, sizeof(msg));
		if (n < 0) {
			snprintf(err, errlen, "%s", msg);
			return n;
		}
		l->nfds = n;
		for (int k = 0; k < n; k++) {
			struct accept_io *aio = calloc(1, sizeof(*aio));
			if (!aio) return MIDGE_ERR_NOMEM;
			aio->l = l;
			list__init(&aio->resume.node);
			l->accept[k] = aio;
			loop__add(&b->loop, &aio->io, l->fds[k], EPOLLIN, on_accept);
		}
		log__printf(&b->log, LOG_T_NOTICE, "Opening %s%slistener on port %u%s%s.", l->tls ? "TLS " : "",
			    l->websockets ? "websockets " : "", lc->port,
			    lc->bind_address ? " bound to " : "", lc->bind_address ? lc->bind_address : "");
	}
	guard__warn_unguarded(b, &b->conf);
	if ((rc = bridge__start_all(b, err, errlen))) return rc;
	/* Password checks run beside the workers, at most one thread per core, a few at most. */
	rc = authq__start(b, b->nworkers < 4 ? b->nworkers : 4);
	if (rc) {
		snprintf(err, errlen, "cannot start password checking threads");
		return rc;
	}
	for (int i = 0; i < b->nworkers; i++) {
		if (worker__start(&b->workers[i])) {
			snprintf(err, errlen, "cannot start worker thread");
			return MIDGE_ERR_NOMEM;
		}
		b->workers_started = i + 1;
	}
	bridge__wait_ready(b, 5000);
	return sys__start(b);
}

/* Offline sessions: publishes wills whose Will Delay Interval has run out and ends sessions whose
 * Session Expiry Interval (or persistent_client_expiration) has. */
static void expire_sessions(struct broker *b)
{
	if (atomic_load(&b->stats.offline_deadlines) <= 0) return;
	uint64_t now = clock__ms();
	struct session *ended[64], *wills[64];
	size_t n = 0, nw = 0;
	lock__acquire(&b->sessions.lock);
	for (size_t i = 0; i < b->sessions.nbuckets && n < 64 && nw < 64; i++) {
		for (struct session *s = b->sessions.buckets[i]; s && n < 64 && nw < 64;) {
			struct session *next = s->hash_next;
			lock__acquire(&s->lock);
			bool offline = !s->conn && !s->clean;
			bool expired = offline && s->expire_at_ms && now >= s->expire_at_ms;
			bool will_due = offline && !expired && s->will && now >= s->will_at_ms;
			if (expired) {
				/* Its will goes out below (session__end): not also from another node of the cluster. */
				if (s->will && b->cluster) cluster__will_gone(b->cluster, s->client_id);
				s->expire_at_ms = 0; /* ends now; session__end publishes a will still waiting */
				session__track_locked(b, s);
				persist__session_del(b, s); /* before a new session of this id may be stored */
			}
			lock__release(&s->lock);
			if (expired) {
				ended[n++] = session__ref(s);
				sessions__remove_locked(&b->sessions, s);
				atomic_fetch_sub(&b->stats.clients_persistent_offline, 1);
				atomic_fetch_add(&b->stats.clients_expired, 1);
			} else if (will_due) {
				wills[nw++] = session__ref(s);
			}
			s = next;
		}
	}
	lock__release(&b->sessions.lock);
	for (size_t i = 0; i < nw; i++) {
		struct session *s = wills[i];
		lock__acquire(&s->lock);
		struct message *will = s->conn ? NULL : s->will; /* unless it came back meanwhile */
		uint32_t will_expiry = s->will_expiry;
		bool will_retain = s->will_retain;
		char *will_user = NULL;
		size_t will_domain = s->will_domain;
		if (will) {
			if (b->cluster) cluster__will_gone(b->cluster, s->client_id); /* this node sends it */
			s->will = NULL;
			will_user = s->will_user;
			s->will_user = NULL;
			persist__session_offline(b, s); /* without it: once out, a restart must not send it again */
		}
		session__track_locked(b, s);
		lock__release(&s->lock);
		if (will) {
			worker__publish_will(b, NULL, will, will_expiry, will_retain, s, will_user, will_domain);
			msg__unref(will);
			free(will_user);
		}
		session__unref(s);
	}
	for (size_t i = 0; i < n; i++) {
		log__printf(&b->log, LOG_T_NOTICE, "Expiring client %s, its session has been offline too long.",
			    ended[i]->client_id);
		session__end(b, ended[i]); /* publishes a will still waiting */
		session__unref(ended[i]);
	}
}

static void on_expiry_timer(struct timer *t)
{
	struct runtime *rt = container_of(t, struct runtime, expiry);
	struct broker *b = rt->b;
	expire_sessions(b);
	timer__arm(&b->loop.timers, t, clock__ms() + 1000, on_expiry_timer);
}

static void on_signal(struct loop_io *io, uint32_t events)
{
	struct runtime *rt = container_of(io, struct runtime, sig_io);
	struct broker *b = rt->b;
	struct signalfd_siginfo si;
	while (read(rt->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log__printf(&b->log, LOG_T_NOTICE, "Reloading config (SIGHUP).");
			broker__reload(b);
		} else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			log__printf(&b->log, LOG_T_NOTICE, "midge version %s terminating", MIDGE_VERSION);
			rt->stop = true;
		}
	}
}

void broker__run(struct broker *b)
{
	struct runtime st = {.b = b};
	struct runtime *rt = &st;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	rt->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (rt->sigfd >= 0) loop__add(&b->loop, &rt->sig_io, rt->sigfd, EPOLLIN, on_signal);
	list__init(&rt->expiry.node);
	timer__arm(&b->loop.timers, &rt->expiry, clock__ms() + 1000, on_expiry_timer);
	log__printf(&b->log, LOG_T_NOTICE, "midge version %s running", MIDGE_VERSION);
	while (!rt->stop) loop__run_once(&b->loop);
	timer__cancel(&b->loop.timers, &rt->expiry);
	if (rt->sigfd >= 0) {
		loop__del(&b->loop, &rt->sig_io);
		close(rt->sigfd);
	}
}

static bool same_str(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

/* New handshakes of each TLS listener use a context built from the new configuration (certificates
 * renewed, a new CRL); connections keep the context they were made with. Listeners are matched by
 * port and bind address; on any error the old context stays. */
static void reload_tls(struct broker *b, const struct config *nc)
{
	for (size_t i = 0; i < b->nlisteners; i++) {
		struct listener_rt *l = &b->listeners[i];
		if (!l->tls) continue;
		const struct listener_conf *n = NULL;
		for (size_t k = 0; k < nc->nlisteners && !n; k++) {
			const struct listener_conf *m = &nc->listeners[k];
			if (m->port == l->conf->port && same_str(m->bind_address, l->conf->bind_address)) n = m;
		}
		if (!n || !config__listener_tls(n)) {
			log__printf(&b->log, LOG_T_WARNING,
				    "TLS listener on port %u is not a TLS listener in the new configuration; it keeps its "
				    "certificates until a restart.",
				    l->conf->port);
			continue;
		}
		char err[512];
		struct tls_ctx *x = listener_tls(nc, n, err, sizeof(err));
		if (!x) {
			log__printf(&b->log, LOG_T_ERR, "Error reloading TLS, the listener keeps its certificates: %s", err);
			continue;
		}
		tls__ctx_unref(l->tls);
		l->tls = x;
		log__printf(&b->log, LOG_T_NOTICE, "Reloaded TLS certificates of the listener on port %u.", l->conf->port);
	}
}

void broker__reload(struct broker *b)
{
	if (!b->config_path) return;
	struct config nc;
	config__defaults(&nc);
	char err[512];
	if (config__load(&nc, b->config_path, err, sizeof(err)) || config__validate(&nc, err, sizeof(err))) {
		log__printf(&b->log, LOG_T_ERR, "Error in configuration, not reloaded: %s", err);
		config__fini(&nc);
		return;
	}
	reload_tls(b, &nc);
	/* Limits and log settings change in place; listeners and threads need a restart. */
	struct config *c = &b->conf;
	c->max_inflight_messages = nc.max_inflight_messages;
	c->max_queued_messages = nc.max_queued_messages;
	c->max_queued_bytes = nc.max_queued_bytes;
	c->queue_qos0_messages = nc.queue_qos0_messages;
	c->message_size_limit = nc.message_size_limit;
	c->max_packet_size = nc.max_packet_size;
	c->max_keepalive = nc.max_keepalive;
	c->allow_zero_length_clientid = nc.allow_zero_length_clientid;
	c->persistent_client_expiration = nc.persistent_client_expiration;
	c->upgrade_outgoing_qos = nc.upgrade_outgoing_qos;
	c->connection_messages = nc.connection_messages;
	c->max_output_bytes = nc.max_output_bytes;
	c->log_type = nc.log_type;
	c->log_dest = nc.log_dest;
	c->log_timestamp = nc.log_timestamp;
	char *tmp = c->log_file;
	c->log_file = nc.log_file;
	nc.log_file = tmp;
	tmp = c->log_timestamp_format;
	c->log_timestamp_format = nc.log_timestamp_format;
	nc.log_timestamp_format = tmp;
	if (open_log(b)) fprintf(stderr, "midge: cannot reopen log file after reload\n");
	security__reload(b, &nc);
	guard__warn_unguarded(b, &nc);
	config__fini(&nc);
}

void broker__fini(struct broker *b)
{
	atomic_store(&b->shutting_down, true);
	sys__stop(b);
	for (int i = 0; i < b->workers_started; i++) worker__halt(&b->workers[i]);
	/* Replies and sends waiting for a commit are posted to the workers first, so the drain releases them; those
	 * that go on to wait for the cluster's stream (persist.c) are released by cluster__stop. */
	persist__flush(b);
	/* No worker publishes any more; what NATS still delivers goes to the halted workers' inboxes, which the drain
	 * below empties. */
	cluster__stop(b);
	/* No worker submits a password check any more; the checking threads may still post answers to the
	 * halted workers' inboxes, which the drain below empties. */
	authq__stop(b);
	for (int i = 0; i < b->workers_started; i++) worker__drain(&b->workers[i]);
	/* Everything the drain changed (sessions gone offline) is committed before the store closes; anything its
	 * callbacks still post is released by a second drain. */
	if (b->store) {
		persist__close(b);
		for (int i = 0; i < b->workers_started; i++) worker__drain(&b->workers[i]);
	}
	/* Their remote connections close without DISCONNECT: remote brokers publish the notification wills. */
	bridge__free_all(b);
	for (int i = 0; b->workers && i < b->nworkers; i++) worker__fini(&b->workers[i]);
	for (size_t i = 0; i < b->nlisteners; i++) {
		for (int k = 0; k < b->listeners[i].nfds; k++) {
			close(b->listeners[i].fds[k]);
			if (b->listeners[i].accept[k]) timer__cancel(&b->loop.timers, &b->listeners[i].accept[k]->resume);
			free(b->listeners[i].accept[k]);
		}
		tls__ctx_unref(b->listeners[i].tls);
		sn_gw__free(b->listeners[i].sn);
	}
	free(b->listeners);
	b->listeners = NULL;
	if (b->sessions.buckets) sessions__fini(&b->sessions);
	subs__free(b->subs);
	retain__free(b->retained);
	free(b->workers);
	b->workers = NULL;
	loop__fini(&b->loop);
	log__close(&b->log);
	security__fini(b);
	config__fini(&b->conf);
}
