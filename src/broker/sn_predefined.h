/* MQTT-SN predefined topic ids (issue 8): the file `mqttsn_predefined_file` names, "ID TOPIC" lines that give
 * topics ids both the gateway and its clients know in advance (TopicIdType 1). Pure: parsing and lookups. */
#ifndef MIDGE_SN_PREDEFINED_H
#define MIDGE_SN_PREDEFINED_H

#include <stddef.h>
#include <stdint.h>

struct sn_predef {
	uint16_t id;  /* 1 .. 65534: 0 and 0xFFFF are reserved by MQTT-SN */
	char *topic;  /* a topic name (no wildcards), NUL-terminated, owned by the table */
	size_t len;
};

/* A zeroed table is a valid empty one. Small by nature: lookups walk it. */
struct sn_predefs {
	struct sn_predef *v;
	size_t n;
};

/* Parses len bytes of text (need not be NUL-terminated) into t, which must be empty. A line is a decimal id,
 * blanks, and the topic name (the rest of the line, without trailing blanks); blank lines and lines starting
 * with '#' are skipped. An id or a topic may appear once. Returns 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_INVAL with
 * "line N: message" in err (errlen bytes); on error t is left empty. */
int sn_predef__parse(struct sn_predefs *t, const char *text, size_t len, char *err, size_t errlen);
/* The entry with that id or topic, or NULL. Pointers live as long as t. */
const struct sn_predef *sn_predef__by_id(const struct sn_predefs *t, uint16_t id);
const struct sn_predef *sn_predef__by_topic(const struct sn_predefs *t, const uint8_t *topic, size_t len);
/* Frees every entry; t is then empty. */
void sn_predef__fini(struct sn_predefs *t);

#endif
