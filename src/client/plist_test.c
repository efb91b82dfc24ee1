/* Unit tests of struct midge_props: adding each property type, the refusals, iteration, lookup and views. */
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "client/plist.h"
#include "proto/props.h"

static void test_add_and_read(void)
{
	struct midge_props *p = midge_props_new();
	CHECK(p != NULL);
	CHECK_EQ(midge_props_count(p), 0u);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1), 0);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 0xFFFFFFFFu), 0);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_RECEIVE_MAXIMUM, 65535), 0);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 268435455), 0);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_CONTENT_TYPE, "text/plain; charset=\xc3\xa9"), 0);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_RESPONSE_TOPIC, ""), 0);
	static const uint8_t corr[] = {0, 1, 0xFF, 0x80};
	CHECK_EQ(midge_props_add_binary(p, MQTT_PROP_CORRELATION_DATA, corr, sizeof corr), 0);
	CHECK_EQ(midge_props_add_binary(p, MQTT_PROP_AUTHENTICATION_DATA, NULL, 0), 0);
	CHECK_EQ(midge_props_add_user(p, "k", "v1"), 0);
	CHECK_EQ(midge_props_add_user(p, "k", "v2"), 0); /* user properties repeat, in order */
	CHECK_EQ(midge_props_add_user(p, "", ""), 0);
	CHECK_EQ(midge_props_count(p), 11u);

	size_t pos = 0;
	struct midge_prop pr;
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_PAYLOAD_FORMAT_INDICATOR && pr.value == 1);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_MESSAGE_EXPIRY_INTERVAL && pr.value == 0xFFFFFFFFu);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_RECEIVE_MAXIMUM && pr.value == 65535);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER && pr.value == 268435455);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_CONTENT_TYPE && pr.len == 22 &&
	      memcmp(pr.str, "text/plain; charset=\xc3\xa9", 22) == 0);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_RESPONSE_TOPIC && pr.len == 0);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_CORRELATION_DATA && pr.len == 4 &&
	      memcmp(pr.str, corr, 4) == 0);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_AUTHENTICATION_DATA && pr.len == 0);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_USER_PROPERTY && pr.len == 1 && pr.len2 == 2 &&
	      memcmp(pr.str, "k", 1) == 0 && memcmp(pr.str2, "v1", 2) == 0);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_USER_PROPERTY && memcmp(pr.str2, "v2", 2) == 0);
	CHECK(midge_props_next(p, &pos, &pr) && pr.id == MQTT_PROP_USER_PROPERTY && pr.len == 0 && pr.len2 == 0);
	CHECK(!midge_props_next(p, &pos, &pr));
	CHECK(!midge_props_next(p, &pos, &pr)); /* stays at the end */

	CHECK(midge_props_get(p, MQTT_PROP_USER_PROPERTY, &pr) && memcmp(pr.str2, "v1", 2) == 0); /* the first */
	CHECK(midge_props_get(p, MQTT_PROP_RECEIVE_MAXIMUM, NULL));
	CHECK(!midge_props_get(p, MQTT_PROP_TOPIC_ALIAS, &pr));

	/* What a packet carries is exactly these bytes, and they are valid MQTT 5 properties. */
	struct mqtt_str span = plist__span(p);
	CHECK(span.len > 0);
	struct midge_props view;
	plist__view(&view, span);
	CHECK_EQ(midge_props_count(&view), 11u);
	CHECK(plist__has(&view, MQTT_PROP_CORRELATION_DATA));
	CHECK(!plist__has(&view, MQTT_PROP_SERVER_KEEP_ALIVE));
	midge_props_free(p);
}

static void test_refusals(void)
{
	struct midge_props *p = midge_props_new();
	/* unknown ids, wrong types */
	CHECK_EQ(midge_props_add_int(p, 0, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, 0x04, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, 0x7F, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_CONTENT_TYPE, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_USER_PROPERTY, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_CORRELATION_DATA, "x"), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_RECEIVE_MAXIMUM, "x"), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_USER_PROPERTY, "x"), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_binary(p, MQTT_PROP_CONTENT_TYPE, "x", 1), MIDGE_ERR_INVAL);
	/* values out of the type's range or the spec's */
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_MAXIMUM_QOS, 256), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 2), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_REQUEST_PROBLEM_INFORMATION, 2), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, 65536), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_RECEIVE_MAXIMUM, 0), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_MAXIMUM_PACKET_SIZE, 0), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 0), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_int(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 268435456), MIDGE_ERR_INVAL);
	/* strings: NULL, not UTF-8, too long; binaries: too long, NULL with a length */
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_CONTENT_TYPE, NULL), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_CONTENT_TYPE, "\xff"), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_CONTENT_TYPE, "\xed\xa0\x80"), MIDGE_ERR_INVAL); /* surrogate */
	CHECK_EQ(midge_props_add_user(p, "\xc0\x80", "v"), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_user(p, "k", NULL), MIDGE_ERR_INVAL);
	char *big = malloc(70000);
	memset(big, 'a', 69999);
	big[69999] = 0;
	CHECK_EQ(midge_props_add_string(p, MQTT_PROP_CONTENT_TYPE, big), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_user(p, "k", big), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_binary(p, MQTT_PROP_CORRELATION_DATA, big, 65536), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_binary(p, MQTT_PROP_CORRELATION_DATA, big, 65535), 0);
	CHECK_EQ(midge_props_add_binary(p, MQTT_PROP_CORRELATION_DATA, NULL, 1), MIDGE_ERR_INVAL);
	free(big);
	CHECK_EQ(midge_props_count(p), 1u); /* a refusal leaves the list as it was */
	/* NULL lists */
	CHECK_EQ(midge_props_add_int(NULL, MQTT_PROP_RECEIVE_MAXIMUM, 1), MIDGE_ERR_INVAL);
	CHECK_EQ(midge_props_add_user(NULL, "a", "b"), MIDGE_ERR_INVAL);
	size_t pos = 0;
	struct midge_prop pr;
	CHECK(!midge_props_next(NULL, &pos, &pr));
	CHECK(!midge_props_get(NULL, MQTT_PROP_RECEIVE_MAXIMUM, &pr));
	CHECK_EQ(midge_props_count(NULL), 0u);
	midge_props_free(p);
	midge_props_free(NULL);
}

/* Every integer property accepts the edges of its type, and the bytes are what props__validate accepts. */
static void test_int_edges(void)
{
	for (unsigned id = 1; id <= MQTT_PROP_MAX_ID; id++) {
		const struct mqtt_prop_info *in = props__info((uint8_t)id);
		if (!in || in->type > MQTT_PROP_T_VARINT) continue;
		uint32_t max = in->type == MQTT_PROP_T_BYTE  ? 0xFF
		               : in->type == MQTT_PROP_T_U16 ? 0xFFFF
		               : in->type == MQTT_PROP_T_U32 ? 0xFFFFFFFFu
		                                             : 268435455u;
		if (props__check_value((uint8_t)id, max) != PROTO_OK) max = 1; /* the 0/1 flags */
		struct midge_props *p = midge_props_new();
		CHECK_EQ(midge_props_add_int(p, (uint8_t)id, max), 0);
		struct midge_prop pr;
		CHECK(midge_props_get(p, (uint8_t)id, &pr) && pr.value == max);
		if (in->type != MQTT_PROP_T_U32)
			CHECK_EQ(midge_props_add_int(p, (uint8_t)id, max + 1), MIDGE_ERR_INVAL);
		midge_props_free(p);
	}
}

int main(void)
{
	test_add_and_read();
	test_refusals();
	test_int_edges();
	CHECK_DONE();
}
