/* A client's life: options and their defaults, creation, destruction, callbacks, connect, and the accessors. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/topic.h"
#include "common/utf8.h"
#include "conn.h"
#include "net/tls.h"
#include "proto/props.h"
#include "session.h"

void client__wake(struct midge_client *c)
{
	if (c->wake_pending) return;
	/* The loop's own thread comes round to the work anyway. */
	if (c->loop_depth && pthread_equal(c->loop_thread, pthread_self())) return;
	uint64_t one = 1;
	if (write(c->wake_fd, &one, sizeof one) == (ssize_t)sizeof one) c->wake_pending = true;
}

/* A copy of s[0..n) with a NUL after it, or NULL. */
static void *dup_bytes(const void *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d) return NULL;
	if (n) memcpy(d, s, n);
	d[n] = 0;
	return d;
}

static bool valid_utf8(const char *s)
{
	return !s || (strlen(s) <= 0xFFFF && utf8__valid((const uint8_t *)s, strlen(s)));
}

/* Properties p, when valid for packet type (will: the will's), copied into dst. False when invalid or no memory. */
static bool copy_props(struct midge_props *dst, const struct midge_props *p, uint8_t type, bool will)
{
	struct mqtt_str s = plist__span(p);
	if (props__validate(&s, type, will) != PROTO_OK) return false;
	return buf__append(&dst->b, s.p, s.len) == 0;
}

/* Checks o (options invalid: false) and copies it into c->o with the defaults filled in. */
static bool take_options(struct copts *d, const struct midge_client_options *o)
{
	d->version = o->version ? o->version : MQTT_V311;
	if (d->version != MQTT_V31 && d->version != MQTT_V311 && d->version != MQTT_V5) return false;
	bool v5 = d->version == MQTT_V5;
	if (v5 && o->bridge) return false; /* MQTT 5 has no bridge bit: No Local and Retain As Published instead */
	bool will = o->will_topic != NULL;
	if (will && !topic__valid_name((const uint8_t *)o->will_topic, strlen(o->will_topic))) return false;
	if (!will && (o->will_payload_len || o->will_qos || o->will_retain || o->will_props)) return false;
	if (o->will_qos > 2 || (!o->will_payload && o->will_payload_len) || o->will_payload_len > 0xFFFF) return false;
	if (!valid_utf8(o->client_id) || !valid_utf8(o->username)) return false;
	if ((!o->password && o->password_len) || o->password_len > 0xFFFF) return false;
	/* [MQTT-3.1.2-22]: before MQTT 5 a password needs a user name. */
	if (!v5 && o->password && !o->username) return false;
	if (v5 && o->connect_props && !copy_props(&d->connect_props, o->connect_props, MQTT_CONNECT, false))
		return false;
	if (v5 && o->will_props && !copy_props(&d->will_props, o->will_props, MQTT_CONNECT, true)) return false;

	d->client_id = dup_bytes(o->client_id ? o->client_id : "", o->client_id ? strlen(o->client_id) : 0);
	if (!d->client_id) return false;
	if (o->username && !(d->username = dup_bytes(o->username, strlen(o->username)))) return false;
	if (o->bind_address && !(d->bind_address = dup_bytes(o->bind_address, strlen(o->bind_address)))) return false;
	if (o->password) {
		d->has_password = true;
		d->password_len = o->password_len;
		if (!(d->password = dup_bytes(o->password, o->password_len))) return false;
	}
	if (will) {
		if (!(d->will_topic = dup_bytes(o->will_topic, strlen(o->will_topic)))) return false;
		if (!(d->will_payload = dup_bytes(o->will_payload, o->will_payload_len))) return false;
		d->will_payload_len = o->will_payload_len;
		d->will_qos = o->will_qos;
		d->will_retain = o->will_retain;
	}
	d->clean_start = o->clean_start;
	d->persistent = o->persistent;
	d->bridge = o->bridge;
	d->manual_ack = o->manual_ack;
	d->keepalive = o->no_keepalive ? 0 : o->keepalive ? o->keepalive : 60;
	d->session_expiry = o->session_expiry;
	d->max_inflight = o->max_inflight ? o->max_inflight : 20;
	d->max_queued = o->max_queued ? o->max_queued : 1000;
	d->reconnect = o->reconnect;
	d->reconnect_min_ms = o->reconnect_min_ms ? o->reconnect_min_ms : 1000;
	d->reconnect_max_ms = o->reconnect_max_ms ? o->reconnect_max_ms : 30000;
	if (d->reconnect_max_ms < d->reconnect_min_ms) d->reconnect_max_ms = d->reconnect_min_ms;
	d->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
	/* What the application asked the server for in its CONNECT properties binds this side too. */
	struct midge_prop p;
	if (midge_props_get(&d->connect_props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &p)) d->max_packet_in = p.value;
	if (midge_props_get(&d->connect_props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, &p))
		d->topic_alias_max_in = (uint16_t)p.value;
	return true;
}

static void free_options(struct copts *o)
{
	free(o->client_id);
	free(o->username);
	free(o->bind_address);
	free(o->password);
	free(o->will_topic);
	free(o->will_payload);
	buf__fini(&o->will_props.b);
	buf__fini(&o->connect_props.b);
}

/* Frees everything of c; the thread is not running. Also for a half-made c. */
static void client_free(struct midge_client *c)
{
	conn__close_socket(c);
	if (c->wake_fd >= 0) close(c->wake_fd);
	tls__ctx_unref(c->tls);
	session__fini(c);
	notes__fini(&c->notes);
	notes__fini(&c->notes_spare);
	if (c->ai) freeaddrinfo(c->ai);
	url__fini(&c->url);
	free(c->client_id);
	free_options(&c->o);
	buf__fini(&c->out);
	buf__fini(&c->in);
	free(c->q0);
	free(c->topic_buf);
	if (c->aliases)
		for (size_t i = 0; i <= c->o.topic_alias_max_in; i++)
			buf__fini(&c->aliases[i]);
	free(c->aliases);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct midge_client *midge_client_new(const struct midge_client_options *o)
{
	static const struct midge_client_options defaults = {0};
	if (!o) o = &defaults;
	struct midge_client *c = calloc(1, sizeof(*c));
	if (!c) return NULL;
	c->sock = -1;
	c->wake_fd = -1;
	list__init(&c->items);
	c->next_send = &c->items;
	pthread_mutex_init(&c->lock, NULL);
	clock__cond_init(&c->cond); /* waits must not stretch when the wall clock jumps */
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0 || !take_options(&c->o, o)) goto fail;
	c->client_id = strdup(c->o.client_id);
	if (!c->client_id) goto fail;
	c->state = CS_IDLE;
	c->clean_next = c->o.clean_start;
	c->last_outcome = MIDGE_ERR_CLOSED;
	c->rng = clock__ms() ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ull;
	if (!c->rng) c->rng = 1;
	return c;
fail:
	client_free(c);
	return NULL;
}

void midge_client_destroy(struct midge_client *c)
{
	if (!c) return;
	pthread_mutex_lock(&c->lock);
	bool joinable = c->thread_joinable;
	c->stop_req = true;
	if (joinable) client__wake(c);
	pthread_mutex_unlock(&c->lock);
	if (joinable) pthread_join(c->thread, NULL);
	client_free(c);
}

void midge_client_set_callbacks(struct midge_client *c, const struct midge_callbacks *cb, void *userdata)
{
	if (!c) return;
	pthread_mutex_lock(&c->lock);
	c->cb = cb ? *cb : (struct midge_callbacks){0};
	c->userdata = userdata;
	pthread_mutex_unlock(&c->lock);
}

/* Records why a call failed for midge_client_error_text and on_log. Lock held. */
static void call_failed(struct midge_client *c, const char *why)
{
	snprintf(c->last_error, sizeof c->last_error, "%s", why);
	notes__log(c, MIDGE_LOG_ERROR, "%s", why);
}

/* Builds the client context of tls (NULL: the defaults); NULL with err written when it cannot be. */
static struct tls_ctx *tls_context(const struct midge_tls_options *tls, int *rc, char *err, size_t errlen)
{
	static const struct midge_tls_options none = {0};
	if (!tls) tls = &none;
	int version = tls->tls_version ? tls__parse_version(tls->tls_version) : 12;
	if (!version || !tls->certfile != !tls->keyfile || !tls->psk != !tls->psk_identity) {
		*rc = MIDGE_ERR_INVAL;
		snprintf(err, errlen, "TLS settings: %s", !version ? "tls_version must be tlsv1.3, tlsv1.2 or tlsv1.1"
		         : !tls->certfile != !tls->keyfile ? "certfile and keyfile go together"
		                                            : "psk and psk_identity go together");
		return NULL;
	}
	struct tls_settings s = {
	    .cafile = tls->cafile,
	    .capath = tls->capath,
	    .certfile = tls->certfile,
	    .keyfile = tls->keyfile,
	    .ciphers = tls->ciphers,
	    .ciphers_tls13 = tls->ciphers_tls13,
	    .min_version = version,
	    /* With nothing else to verify the server against, the system's CAs: never an unverified server. */
	    .use_os_certs = tls->use_os_certs || (!tls->cafile && !tls->capath && !tls->psk),
	    .alpn = tls->alpn,
	    .psk = tls->psk,
	    .psk_identity = tls->psk_identity,
	};
	char why[192];
	struct tls_ctx *x = tls__ctx_new(&s, TLS_ROLE_CLIENT, why, sizeof why);
	if (!x) {
		*rc = strcmp(why, "out of memory") ? MIDGE_ERR_TLS : MIDGE_ERR_NOMEM;
		snprintf(err, errlen, "TLS settings: %s", why);
	}
	return x;
}

int midge_client_set_tls(struct midge_client *c, const struct midge_tls_options *tls)
{
	if (!c) return MIDGE_ERR_INVAL;
	int rc = 0;
	char err[sizeof c->last_error];
	/* Reading the files can take a while: not under the lock. */
	struct tls_ctx *x = tls_context(tls, &rc, err, sizeof err);
	pthread_mutex_lock(&c->lock);
	if (x) {
		tls__ctx_unref(c->tls); /* a connection made with it holds its own reference */
		c->tls = x;
		c->tls_insecure = tls && tls->insecure;
	} else {
		call_failed(c, err);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

size_t midge_client_error_text(const struct midge_client *c, char *buf, size_t len)
{
	if (!c) return 0;
	struct midge_client *m = (struct midge_client *)c; /* the lock is not part of its value */
	pthread_mutex_lock(&m->lock);
	size_t n = strlen(m->last_error);
	if (buf && len) snprintf(buf, len, "%s", m->last_error);
	pthread_mutex_unlock(&m->lock);
	return n;
}

int midge_client_connect(struct midge_client *c, const char *url)
{
	if (!c) return MIDGE_ERR_INVAL;
	struct url u;
	int rc = url__parse(url, &u);
	if (rc) return rc;
	struct addrinfo *ai = NULL;
	char err[sizeof c->errtext];
	rc = conn__resolve(u.host, u.port, &ai, err, sizeof err);
	pthread_mutex_lock(&c->lock);
	bool need_tls = !rc && u.tls && !c->tls;
	pthread_mutex_unlock(&c->lock);
	struct tls_ctx *x = need_tls ? tls_context(NULL, &rc, err, sizeof err) : NULL;
	pthread_mutex_lock(&c->lock);
	if (x && !c->tls) c->tls = tls__ctx_ref(x);
	tls__ctx_unref(x);
	if (!rc && c->state != CS_IDLE && c->state != CS_BACKOFF) rc = MIDGE_ERR_EXISTS;
	if (rc) {
		if (rc != MIDGE_ERR_EXISTS) call_failed(c, err);
		pthread_mutex_unlock(&c->lock);
		if (ai) freeaddrinfo(ai);
		url__fini(&u);
		return rc;
	}
	url__fini(&c->url);
	c->url = u;
	c->have_url = true;
	c->url_gen++;
	if (c->ai) freeaddrinfo(c->ai);
	c->ai = ai;
	c->user_stop = false;
	c->failures = 0;
	conn__start(c);
	client__wake(c); /* the loop must watch the new socket */
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Accessors take the lock of a client given as const: the lock is not part of its value. */
static struct midge_client *locked(const struct midge_client *c)
{
	struct midge_client *m = (struct midge_client *)c;
	pthread_mutex_lock(&m->lock);
	return m;
}

int midge_client_socket(const struct midge_client *c)
{
	if (!c) return -1;
	struct midge_client *m = locked(c);
	int s = m->sock;
	pthread_mutex_unlock(&m->lock);
	return s;
}

bool midge_client_want_write(const struct midge_client *c)
{
	if (!c) return false;
	struct midge_client *m = locked(c);
	bool w = client__want_write(m);
	pthread_mutex_unlock(&m->lock);
	return w;
}

int midge_client_wakeup_fd(const struct midge_client *c)
{
	return c ? c->wake_fd : -1;
}

bool midge_client_connected(const struct midge_client *c)
{
	if (!c) return false;
	struct midge_client *m = locked(c);
	bool up = m->state == CS_CONNECTED;
	pthread_mutex_unlock(&m->lock);
	return up;
}
