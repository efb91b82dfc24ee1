/* snclient's topics: which kind of id a topic goes as, REGISTER, SUBSCRIBE and UNSUBSCRIBE. See snclient.h. */
#include <string.h>

#include "common/err.h"
#include "common/topic.h"
#include "midge/midge.h"
#include "snclient/exchange.h"

#define TOPIC_MAX 65000 /* what leaves room for the rest of a message in MQTT-SN's 65535 octets */

static int bad(struct snc *c, const char *why)
{
	return err__set(c->err, sizeof(c->err), MIDGE_ERR_INVAL, "%s", why);
}

int snc__topic_of(struct snc *c, struct snc_topic t, bool filter, struct sn_msg *m)
{
	if (!t.name) {
		if (t.predefined_id == 0 || t.predefined_id == 0xFFFF)
			return bad(c, "a predefined topic id must be 1 to 65534");
		m->topic_type = SN_TOPIC_PREDEFINED;
		m->topic_id = t.predefined_id;
		return 0;
	}
	size_t len = strlen(t.name);
	const uint8_t *p = (const uint8_t *)t.name;
	if (len > TOPIC_MAX) return bad(c, "topic too long");
	if (filter ? !topic__valid_filter(p, len) : !topic__valid_name(p, len))
		return bad(c, filter ? "invalid topic filter (empty, bad UTF-8, or misplaced '+' or '#')"
		                     : "invalid topic name (empty, bad UTF-8, or with a wildcard)");
	if (snc__is_short_topic(t.name, len)) {
		m->topic_type = SN_TOPIC_SHORT;
		m->topic_id = (uint16_t)(p[0] << 8 | p[1]);
		/* A SUBSCRIBE carries a short name as its two characters. */
		if (filter) m->text = (struct mqtt_str){p, 2};
		return 0;
	}
	/* A name the predefined table knows goes as its id: both sides know it, no REGISTER needed. */
	const struct sn_predef *pd = sn_predef__by_topic(&c->predefs, p, len);
	if (pd) {
		m->topic_type = SN_TOPIC_PREDEFINED;
		m->topic_id = pd->id;
		return 0;
	}
	m->topic_type = SN_TOPIC_NORMAL;
	if (filter) {
		m->text = (struct mqtt_str){p, (uint32_t)len};
		return 0;
	}
	return snc__register(c, t.name, &m->topic_id);
}

int snc__register(struct snc *c, const char *name, uint16_t *id)
{
	size_t len = name ? strlen(name) : 0;
	if (!len || len > TOPIC_MAX || !topic__valid_name((const uint8_t *)name, len))
		return bad(c, "invalid topic name (empty, bad UTF-8, or with a wildcard)");
	if (c->state != SNC_ACTIVE) return err__set(c->err, sizeof(c->err), MIDGE_ERR_CLOSED, "not connected");
	const struct snc_topic_entry *e = snc_reg__by_name(&c->reg, name, len);
	if (e) {
		if (id) *id = e->id;
		return 0;
	}
	uint16_t msg_id = snc__next_msg_id(c);
	struct sn_msg req = {.type = SN_REGISTER, .msg_id = msg_id, .text = {(const uint8_t *)name, (uint32_t)len}}, r;
	int rc =
	    snc__exchange(c, &req, &(struct snc_want){.type = {SN_REGACK}, .match_id = true, .msg_id = msg_id}, &r);
	if (rc) return rc;
	if (r.rc != SN_RC_ACCEPTED) return snc__refused(c, "registration refused", r.rc);
	rc = snc_reg__add(&c->reg, name, len, r.topic_id);
	if (rc == MIDGE_ERR_INVAL)
		return err__set(c->err, sizeof(c->err), MIDGE_ERR_PROTOCOL, "the gateway registered topic id %u",
		                r.topic_id);
	if (rc) return err__set(c->err, sizeof(c->err), rc, "out of memory");
	if (id) *id = r.topic_id;
	return 0;
}

/* SUBSCRIBE or UNSUBSCRIBE of t; *reply is the SUBACK or UNSUBACK. */
static int sub_exchange(struct snc *c, uint8_t type, struct snc_topic t, int qos, struct sn_msg *reply)
{
	if (c->state != SNC_ACTIVE) return err__set(c->err, sizeof(c->err), MIDGE_ERR_CLOSED, "not connected");
	struct sn_msg req = {.type = type, .qos = (int8_t)qos};
	int rc = snc__topic_of(c, t, true, &req);
	if (rc) return rc;
	req.msg_id = snc__next_msg_id(c);
	uint8_t want = type == SN_SUBSCRIBE ? SN_SUBACK : SN_UNSUBACK;
	return snc__exchange(c, &req, &(struct snc_want){.type = {want}, .match_id = true, .msg_id = req.msg_id},
	                     reply);
}

int snc__subscribe(struct snc *c, struct snc_topic t, int qos, int *granted)
{
	if (qos < 0 || qos > 2) return bad(c, "a subscription's QoS must be 0, 1 or 2");
	struct sn_msg r;
	int rc = sub_exchange(c, SN_SUBSCRIBE, t, qos, &r);
	if (rc) return rc;
	if (r.rc != SN_RC_ACCEPTED) return snc__refused(c, "subscription refused", r.rc);
	/* A plain name's SUBACK carries the id its PUBLISHes will come with; a wildcard's is 0, and the gateway
	 * REGISTERs each matching topic before its first PUBLISH. */
	if (t.name && r.topic_id != 0 && r.topic_id != 0xFFFF) {
		size_t len = strlen(t.name);
		bool plain = !snc__is_short_topic(t.name, len) && !strpbrk(t.name, "+#") &&
		             !sn_predef__by_topic(&c->predefs, (const uint8_t *)t.name, len);
		if (plain && snc_reg__add(&c->reg, t.name, len, r.topic_id))
			return err__set(c->err, sizeof(c->err), MIDGE_ERR_NOMEM, "out of memory");
	}
	if (granted) *granted = r.qos;
	return 0;
}

int snc__unsubscribe(struct snc *c, struct snc_topic t)
{
	struct sn_msg r;
	return sub_exchange(c, SN_UNSUBSCRIBE, t, 0, &r);
}
