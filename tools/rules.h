/* rules: Mosquitto's checks of topics and UTF-8 strings given to its clients, and its topic matching. */
#ifndef MIDGE_TOOLS_RULES_H
#define MIDGE_TOOLS_RULES_H

#include <stdbool.h>

/* mosquitto_validate_utf8: well-formed UTF-8 of at most 65536 bytes without overlongs, surrogates,
 * non-characters or control characters (U+0000..U+001F, U+007F..U+009F). */
bool rules__utf8(const char *s);
/* mosquitto_pub_topic_check: no '+' or '#', at most 65535 bytes (an empty topic passes here). */
bool rules__pub_topic(const char *s);
/* mosquitto_sub_topic_check: '+' and '#' only as whole levels, '#' only last. */
bool rules__sub_topic(const char *s);
/* mosquitto_topic_matches_sub: does topic match filter sub ('$' topics not by leading wildcards)? */
bool rules__matches(const char *sub, const char *topic);

#endif
