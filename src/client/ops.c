/* What an application asks of a client from any thread: publish, subscribe, unsubscribe, disconnect. Each checks
 * and encodes its packet without the lock, then hands it to the session under the lock and wakes the loop. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "common/clock.h"
#include "common/topic.h"
#include "proto/props.h"
#include "session.h"

/* The property span of p for a packet of type, checked as a server would; empty (ignored) before MQTT 5.
 * 0 or MIDGE_ERR_INVAL. */
static int props_for(const struct midge_client *c, const struct midge_props *p, uint8_t type, struct mqtt_str *out)
{
	*out = (struct mqtt_str){0};
	if (c->o.version != MQTT_V5 || !p) return 0;
	struct mqtt_str s = plist__span(p);
	if (props__validate(&s, type, false) != PROTO_OK) return MIDGE_ERR_INVAL;
	*out = s;
	return 0;
}

/* Hands it to the session (0, the session owns it) or frees it and returns the error. */
static int submit(struct midge_client *c, struct item *it, uint16_t *mid)
{
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	bool publish = it->kind == MQTT_PUBLISH;
	if (publish && c->state == CS_CONNECTED) {
		/* Limits of the connection we have; a queued message meets those of the connection it goes on. */
		if (c->server_max_packet && buf__len(&it->pkt) > c->server_max_packet)
			rc = MIDGE_ERR_TOO_LARGE;
		else if (it->qos > c->server_max_qos || (it->retain && !c->server_retain))
			rc = MIDGE_ERR_NOT_SUPPORTED;
	}
	uint16_t m = 0;
	if (!rc) rc = session__add(c, it, &m);
	if (!rc) client__wake(c);
	pthread_mutex_unlock(&c->lock);
	if (rc)
		session__free_item(it);
	else if (mid)
		*mid = m;
	return rc;
}

int midge_client_publish(struct midge_client *c, const char *topic, const void *payload, size_t len, uint8_t qos,
                         bool retain, const struct midge_props *props, uint16_t *mid)
{
	if (!c || !topic || qos > 2 || (!payload && len)) return MIDGE_ERR_INVAL;
	size_t tlen = strlen(topic);
	if (!topic__valid_name((const uint8_t *)topic, tlen)) return MIDGE_ERR_INVAL;
	struct mqtt_str ps;
	if (props_for(c, props, MQTT_PUBLISH, &ps)) return MIDGE_ERR_INVAL;
	/* This client never sends topic aliases, and a Subscription Identifier is the server's to send. */
	if (ps.len &&
	    (plist__has(props, MQTT_PROP_TOPIC_ALIAS) || plist__has(props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER)))
		return MIDGE_ERR_INVAL;
	size_t overhead = 2 + tlen + 2 + 4 + ps.len;
	if (len > MQTT_MAX_REMAINING - overhead) return MIDGE_ERR_TOO_LARGE;
	int rc;
	struct item *it = session__new_publish((uint8_t)c->o.version, topic, tlen, payload, len, qos, retain, ps, &rc);
	if (!it) return rc;
	return submit(c, it, mid);
}

/* Spans of n filters, each a valid topic filter; NULL with *rc set otherwise. The caller frees the array. */
static struct mqtt_str *filter_spans(const char *const *filters, size_t n, int *rc)
{
	*rc = MIDGE_ERR_INVAL;
	if (!filters || n == 0 || n > 0xFFFF) return NULL;
	struct mqtt_str *v = calloc(n, sizeof(*v));
	if (!v) {
		*rc = MIDGE_ERR_NOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = filters[i] ? strlen(filters[i]) : 0;
		if (!filters[i] || len > 0xFFFF || !topic__valid_filter((const uint8_t *)filters[i], len)) {
			free(v);
			return NULL;
		}
		v[i] = (struct mqtt_str){(const uint8_t *)filters[i], (uint32_t)len};
	}
	*rc = 0;
	return v;
}

/* An options byte the version allows: QoS 0-2; MQTT 5 also No Local, Retain As Published, Retain Handling 0-2. */
static bool valid_options(int version, uint8_t o)
{
	if ((o & MQTT_SUBOPT_QOS) > 2) return false;
	if (version != MQTT_V5) return (o & ~MQTT_SUBOPT_QOS) == 0;
	return (o & 0xC0) == 0 && MQTT_SUBOPT_RH(o) != 3;
}

static int sub_or_unsub(struct midge_client *c, uint8_t kind, const char *const *filters, const uint8_t *options,
                        size_t n, const struct midge_props *props, uint16_t *mid)
{
	if (!c) return MIDGE_ERR_INVAL;
	if (kind == MQTT_SUBSCRIBE) {
		if (!options) return MIDGE_ERR_INVAL;
		for (size_t i = 0; i < n; i++)
			if (!valid_options(c->o.version, options[i])) return MIDGE_ERR_INVAL;
	}
	struct mqtt_str ps;
	if (props_for(c, props, kind, &ps)) return MIDGE_ERR_INVAL;
	int rc;
	struct mqtt_str *spans = filter_spans(filters, n, &rc);
	if (!spans) return rc;
	struct item *it = session__new_subscribe((uint8_t)c->o.version, kind, spans, options, n, ps, &rc);
	free(spans);
	if (!it) return rc;
	return submit(c, it, mid);
}

int midge_client_subscribe(struct midge_client *c, const char *const *filters, const uint8_t *options, size_t n,
                           const struct midge_props *props, uint16_t *mid)
{
	return sub_or_unsub(c, MQTT_SUBSCRIBE, filters, options, n, props, mid);
}

int midge_client_unsubscribe(struct midge_client *c, const char *const *filters, size_t n,
                             const struct midge_props *props, uint16_t *mid)
{
	return sub_or_unsub(c, MQTT_UNSUBSCRIBE, filters, NULL, n, props, mid);
}

int midge_client_disconnect(struct midge_client *c, uint8_t reason, const struct midge_props *props)
{
	if (!c) return MIDGE_ERR_INVAL;
	struct mqtt_str ps;
	if (props_for(c, props, MQTT_DISCONNECT, &ps)) return MIDGE_ERR_INVAL;
	struct buf pkt = {0};
	struct mqtt_disconnect d = {.reason = c->o.version == MQTT_V5 ? reason : 0, .props = ps};
	int rc = proto__encode_disconnect(&pkt, (uint8_t)c->o.version, &d);
	if (rc) return rc;
	pthread_mutex_lock(&c->lock);
	switch (c->state) {
	case CS_CONNECTED:
		c->user_stop = true;
		if (c->disconnecting) break;
		rc = buf__append(&c->out, buf__head(&pkt), buf__len(&pkt));
		if (rc) break;
		c->disconnecting = true; /* nothing more goes out; the loop closes once this is written */
		c->deadline = clock__ms() + c->o.connect_timeout_ms;
		client__wake(c);
		break;
	case CS_TCP:
	case CS_TLS:
	case CS_WS:
	case CS_CONNACK: /* nothing to say DISCONNECT to yet: the loop just closes */
		c->user_stop = true;
		c->disc_req = true;
		client__wake(c);
		break;
	case CS_BACKOFF: /* the connection has ended already (and was reported): only the reconnect goes */
		c->user_stop = true;
		c->state = CS_IDLE;
		c->last_end = 0;
		pthread_cond_broadcast(&c->cond);
		break;
	case CS_IDLE:
		rc = MIDGE_ERR_CLOSED;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	buf__fini(&pkt);
	return rc;
}
