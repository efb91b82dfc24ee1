/* rules: Mosquitto's rules for the topics and strings given on the command line (its UTF-8 check is
 * stricter than MQTT's: no control characters), and its topic matching, for -T. */
#include "rules.h"

#include <string.h>

/* mosquitto_validate_utf8: well-formed, no overlongs, surrogates, non-characters or control
 * characters (U+0000..U+001F, U+007F..U+009F). */
bool rules__utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str);
	if (len > 65536) return false;
	for (size_t i = 0; i < len; i++) {
		int n;
		long cp;
		if (s[i] <= 0x7F) {
			n = 1;
			cp = s[i];
		} else if ((s[i] & 0xE0) == 0xC0) {
			if (s[i] == 0xC0 || s[i] == 0xC1) return false;
			n = 2;
			cp = s[i] & 0x1F;
		} else if ((s[i] & 0xF0) == 0xE0) {
			n = 3;
			cp = s[i] & 0x0F;
		} else if ((s[i] & 0xF8) == 0xF0) {
			if (s[i] > 0xF4) return false;
			n = 4;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		for (int j = 0; j < n - 1; j++) {
			if (i + 1 >= len || (s[++i] & 0xC0) != 0x80) return false;
			cp = (cp << 6) | (s[i] & 0x3F);
		}
		if (cp >= 0xD800 && cp <= 0xDFFF) return false;
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
		if (cp >= 0xFDD0 && cp <= 0xFDEF) return false;
		if ((cp & 0xFFFF) == 0xFFFE || (cp & 0xFFFF) == 0xFFFF) return false;
		if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F)) return false;
	}
	return true;
}

/* mosquitto_pub_topic_check: no wildcards, at most 65535 bytes (an empty topic passes here). */
bool rules__pub_topic(const char *s)
{
	return strpbrk(s, "+#") == NULL && strlen(s) <= 65535;
}

/* mosquitto_sub_topic_check: '+' and '#' only as whole levels, '#' last. */
bool rules__sub_topic(const char *s)
{
	char prev = '\0';
	size_t len = 0;
	for (; *s; s++, len++) {
		if (*s == '+') {
			if ((prev != '\0' && prev != '/') || (s[1] != '\0' && s[1] != '/')) return false;
		} else if (*s == '#') {
			if ((prev != '\0' && prev != '/') || s[1] != '\0') return false;
		}
		prev = *s;
	}
	return len <= 65535;
}

/* mosquitto_topic_matches_sub. */
bool rules__matches(const char *sub, const char *topic)
{
	if ((sub[0] == '#' || sub[0] == '+') && topic[0] == '$') return false;
	for (;;) {
		const char *se = strchr(sub, '/'), *te = strchr(topic, '/');
		size_t sl = se ? (size_t)(se - sub) : strlen(sub), tl = te ? (size_t)(te - topic) : strlen(topic);
		if (sl == 1 && sub[0] == '#') return true;
		if (!(sl == 1 && sub[0] == '+') && (sl != tl || memcmp(sub, topic, sl))) return false;
		if (!se && !te) return true;
		if (!te) return se && !strcmp(se + 1, "#"); /* "a/#" matches "a" */
		if (!se) return false;
		sub = se + 1;
		topic = te + 1;
	}
}
