/* The HTTP API's clients and subscriptions: /api/v1/clients[/{id}] (GET, DELETE) and /api/v1/subscriptions
 * (api.h). Sessions are read under the session table's lock and each session's own, as a CONNECT would take
 * them; a connection attached to a session stays alive while its session's lock is held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "broker/broker.h"
#include "broker/conn.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "common/jsonw.h"
#include "common/topic.h"
#include "midge/midge.h"
#include "midge/mqtt.h"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 100000

static const char *protocol_name(const struct conn *c)
{
	if (c->listener && c->listener->conf->mqttsn) return "mqttsn";
	return c->version == MQTT_V5 ? "mqttv5" : c->version == MQTT_V31 ? "mqttv31" : "mqttv311";
}

static void subscription(struct jsonw *j, const struct sess_sub *ss, const struct session *owner)
{
	const uint8_t *group, *real;
	size_t glen, rlen;
	int share = topic__parse_share((const uint8_t *)ss->filter, ss->len, &group, &glen, &real, &rlen);
	jsonw__obj(j, NULL);
	if (owner) jsonw__str(j, "client", owner->client_id, owner->id_len);
	jsonw__str(j, "filter", share > 0 ? (const char *)real : ss->filter, share > 0 ? rlen : ss->len);
	jsonw__u64(j, "qos", ss->options & 3);
	jsonw__str(j, "share", share > 0 ? (const char *)group : NULL, share > 0 ? glen : 0);
	jsonw__end(j);
}

/* One client as JSON. Session lock held. */
static void client(struct jsonw *j, struct session *s, bool with_subs)
{
	struct conn *c = s->conn;
	size_t nsubs = 0;
	for (const struct list *p = s->subs.next; p != &s->subs; p = p->next) nsubs++;
	jsonw__obj(j, NULL);
	jsonw__str(j, "id", s->client_id, s->id_len);
	jsonw__bool(j, "connected", c != NULL);
	jsonw__cstr(j, "address", c ? c->addr : NULL);
	if (c) {
		jsonw__cstr(j, "protocol", protocol_name(c));
		if (c->listener) jsonw__u64(j, "listener", c->listener->conf->port);
		else jsonw__null(j, "listener");
		jsonw__u64(j, "keepalive", c->keepalive);
	} else {
		jsonw__null(j, "protocol");
		jsonw__null(j, "listener");
		jsonw__null(j, "keepalive");
	}
	lock__acquire(&s->id_lock);
	jsonw__cstr(j, "username", s->username);
	lock__release(&s->id_lock);
	jsonw__bool(j, "clean", s->clean);
	if (s->expiry_interval == UINT32_MAX) jsonw__null(j, "expiry_interval"); /* never */
	else jsonw__u64(j, "expiry_interval", s->expiry_interval);
	jsonw__u64(j, "subscriptions", nsubs);
	jsonw__u64(j, "inflight", s->inflight_count);
	jsonw__u64(j, "queued", s->queued_count + s->spilled);
	if (with_subs) {
		jsonw__arr(j, "subscriptions_list");
		for (const struct list *p = s->subs.next; p != &s->subs; p = p->next)
			subscription(j, list_entry(p, struct sess_sub, node), NULL);
		jsonw__end(j);
	}
	jsonw__end(j);
}

static int finish(struct api_req *r, struct jsonw *j, struct buf *body)
{
	if (jsonw__done(j)) {
		buf__fini(body);
		return MIDGE_ERR_NOMEM;
	}
	return api__send_json(r, body);
}

/* Lists every session (clients: true) or every subscription, at most limit items. */
static int list_all(struct api_req *r, bool clients)
{
	size_t limit = api__limit(r, DEFAULT_LIMIT, MAX_LIMIT);
	if (!limit) return api__error(r->out, 400, "limit must be a number from 1 to 100000", NULL);
	struct broker *b = r->b;
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__arr(&j, clients ? "clients" : "subscriptions");
	size_t n = 0;
	bool truncated = false;
	lock__acquire(&b->sessions.lock);
	for (size_t i = 0; i < b->sessions.nbuckets && !truncated; i++) {
		for (struct session *s = b->sessions.buckets[i]; s && !truncated; s = s->hash_next) {
			lock__acquire(&s->lock);
			if (clients) {
				if (n < limit) client(&j, s, false), n++;
				else truncated = true;
			} else {
				for (const struct list *p = s->subs.next; p != &s->subs; p = p->next) {
					if (n == limit) {
						truncated = true;
						break;
					}
					subscription(&j, list_entry(p, struct sess_sub, node), s);
					n++;
				}
			}
			lock__release(&s->lock);
		}
	}
	lock__release(&b->sessions.lock);
	jsonw__end(&j);
	jsonw__bool(&j, "truncated", truncated);
	jsonw__end(&j);
	return finish(r, &j, &body);
}

int api__clients(struct api_req *r) { return list_all(r, true); }
int api__subscriptions(struct api_req *r) { return list_all(r, false); }

/* The client id that the rest of the path names (%-decoded into id), or -1. */
static long client_id(const struct api_req *r, char *id, size_t n)
{
	return memchr(r->rest, '/', r->rest_len) ? -1 : http__pct_decode(r->rest, r->rest_len, id, n);
}

int api__client(struct api_req *r)
{
	char id[65536 + 1];
	long len = client_id(r, id, sizeof(id));
	if (len <= 0) return api__error(r->out, 404, "no client with that id", NULL);
	struct broker *b = r->b;
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	lock__acquire(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, id, (size_t)len);
	if (s) {
		lock__acquire(&s->lock);
		client(&j, s, true);
		lock__release(&s->lock);
	}
	lock__release(&b->sessions.lock);
	if (!s) {
		buf__fini(&body);
		return api__error(r->out, 404, "no client with that id", NULL);
	}
	return finish(r, &j, &body);
}

int api__kick(struct api_req *r)
{
	char id[65536 + 1];
	long len = client_id(r, id, sizeof(id));
	if (len <= 0) return api__error(r->out, 404, "no client with that id", NULL);
	struct broker *b = r->b;
	struct conn *c = NULL;
	bool found = false;
	lock__acquire(&b->sessions.lock);
	struct session *s = sessions__find_locked(&b->sessions, id, (size_t)len);
	if (s) {
		found = true;
		lock__acquire(&s->lock);
		if (s->conn) c = conn__ref(s->conn);
		lock__release(&s->lock);
	}
	lock__release(&b->sessions.lock);
	if (!found) return api__error(r->out, 404, "no client with that id", NULL);
	if (!c) return api__error(r->out, 409, "the client is not connected", NULL);
	/* Its worker closes it (the will is published: this is not the client's own DISCONNECT). */
	atomic_store(&c->kick, KICK_ADMIN);
	worker__post(c->worker, c);
	conn__unref(c);
	log__printf(&b->log, LOG_T_NOTICE, "Client %s disconnected through the HTTP API (%s).", id,
		    r->admin ? "API key" : r->username ? r->username : "anonymous");
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__str(&j, "disconnected", id, (size_t)len);
	jsonw__end(&j);
	return finish(r, &j, &body);
}
