/* format: prints received messages exactly as mosquitto_sub 2.0 does (payload, -v, -F, -N, --pretty),
 * including its quirks: widths that cut payloads, %x widths counted in bytes, blanks for absent
 * properties, and the JSON of %j / %J as cJSON prints it. */
#include "format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "midge/mqtt.h"

static bool valid_specifier(char c)
{
	return c != '\0' && strchr("%ACDEFIlmPpqRSrtjJUxX", c) != NULL;
}

const char *fmt__check(const char *s, char *buf, size_t bufsize)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i == len - 1) return "Error: Incomplete format specifier.";
			if (s[i + 1] == '0' || s[i + 1] == '-') {
				i++;
				if (i == len - 1) return "Error: Incomplete format specifier.";
			}
			while (s[i + 1] >= '0' && s[i + 1] <= '9') {
				i++;
				if (i == len - 1) return "Error: Incomplete format specifier.";
			}
			if (s[i + 1] == '.') {
				i++;
				if (i == len - 1) return "Error: Incomplete format specifier.";
				while (s[i + 1] >= '0' && s[i + 1] <= '9') {
					i++;
					if (i == len - 1) return "Error: Incomplete format specifier.";
				}
			}
			if (!valid_specifier(s[i + 1])) {
				snprintf(buf, bufsize, "Error: Invalid format specifier '%c'.", s[i + 1]);
				return buf;
			}
			i++;
		} else if (s[i] == '@') {
			if (i == len - 1) return "Error: Incomplete format specifier.";
			i++;
		} else if (s[i] == '\\') {
			if (i == len - 1) return "Error: Incomplete escape specifier.";
			if (!strchr("\\0aenrtv", s[i + 1])) {
				snprintf(buf, bufsize, "Error: Invalid escape specifier '%c'.", s[i + 1]);
				return buf;
			}
			i++;
		}
	}
	return NULL;
}

/* ---- properties ---- */

static const struct midge_prop *prop_find(const struct fmt_message *m, uint8_t id)
{
	for (size_t i = 0; i < m->nprops; i++)
		if (m->props[i].id == id) return &m->props[i];
	return NULL;
}

/* ---- field printers (mosquitto's formatted_print_* helpers) ---- */

static void print_blank(FILE *out, char pad, int width)
{
	for (int i = 0; i < width; i++)
		fputc(pad, out);
}

static void print_int(FILE *out, int value, char align, char pad, int width)
{
	if (width == 0)
		fprintf(out, "%d", value);
	else if (align == '-')
		fprintf(out, "%-*d", width, value);
	else if (pad == '0')
		fprintf(out, "%0*d", width, value);
	else
		fprintf(out, "%*d", width, value);
}

/* s[0..len) as the C string mosquitto holds (cut at a NUL). */
static void print_str(FILE *out, const char *s, size_t len, char align, int width, int precision)
{
	const char *nul = memchr(s, 0, len);
	int n = (int)(nul ? (size_t)(nul - s) : len);
	if (precision >= 0 && precision < n) n = precision;
	if (width == 0 && precision == -1)
		fwrite(s, 1, (size_t)n, out);
	else if (align == '-')
		fprintf(out, "%-*.*s", width, n, s);
	else
		fprintf(out, "%*.*s", width, n, s);
}

/* The payload raw (hex 0), lower-case hex (1) or upper-case hex (2). A width both pads and cuts:
 * at most width bytes are shown, and for hex only half of those. */
static void print_payload(FILE *out, const unsigned char *p, size_t len, int hex, char align, char pad, int width)
{
	long n = (long)len;
	long padlen;
	if (width > 0) {
		if (n > width) n = width;
		if (hex > 0) {
			n /= 2;
			padlen = width - n * 2;
		} else {
			padlen = width - n;
		}
	} else {
		padlen = width - n;
	}
	if (align != '-')
		for (long i = 0; i < padlen; i++)
			fputc(pad, out);
	if (hex == 0)
		fwrite(p, 1, (size_t)n, out);
	else
		for (long i = 0; i < n; i++)
			fprintf(out, hex == 1 ? "%02x" : "%02X", p[i]);
	/* mosquitto prints printf("%*s", padlen, ""): a negative padlen (no width) still gives spaces */
	if (align == '-')
		for (long i = 0; i < (padlen < 0 ? -padlen : padlen); i++)
			fputc(' ', out);
}

/* ---- JSON (%j, %J) ---- */

static int add_number(struct json *o, const char *key, double v)
{
	return json__add(o, key, json__new_number(v));
}

/* The "properties" object of mosquitto_sub's json_print_properties, in the order received. */
static int json_properties(struct json *root, const struct fmt_message *m)
{
	struct json *props = json__new(JSON_OBJECT);
	struct json *user = NULL;
	uint16_t i16 = 0; /* mosquitto reads %A's value through the wrong id and prints what is left here */
	if (json__add(root, "properties", props)) return -1;
	for (size_t i = 0; i < m->nprops; i++) {
		const struct midge_prop *p = &m->props[i];
		struct json *v = NULL;
		const char *name = NULL;
		switch (p->id) {
		case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR:
			name = "payload-format-indicator";
			v = json__new_number(p->value);
			break;
		case MQTT_PROP_MESSAGE_EXPIRY_INTERVAL:
			name = "message-expiry-interval";
			v = json__new_number(p->value);
			break;
		case MQTT_PROP_CONTENT_TYPE:
			name = "content-type";
			v = json__new_string(p->str, p->len);
			break;
		case MQTT_PROP_RESPONSE_TOPIC:
			name = "response-topic";
			v = json__new_string(p->str, p->len);
			break;
		case MQTT_PROP_CORRELATION_DATA:
			name = "correlation-data";
			i16 = (uint16_t)p->len;
			v = json__new_string(p->str, p->len);
			break;
		case MQTT_PROP_SUBSCRIPTION_IDENTIFIER:
			name = "subscription-identifier";
			v = json__new_number(p->value);
			break;
		case MQTT_PROP_TOPIC_ALIAS:
			name = "topic-alias";
			v = json__new_number(i16);
			break;
		case MQTT_PROP_USER_PROPERTY: {
			if (!user) {
				user = json__new(JSON_OBJECT);
				if (json__add(props, "user-properties", user)) return -1;
			}
			char *key = strndup(p->str, p->len);
			int rc = key ? json__add(user, key, json__new_string(p->str2, p->len2)) : -1;
			free(key);
			if (rc) return -1;
			continue;
		}
		default:
			continue;
		}
		if (json__add(props, name, v)) return -1;
	}
	return 0;
}

/* mosquitto's "tst": local time with microseconds, then a 'Z' and the zone offset. */
static void json_time(char *buf, size_t size, const struct tm *ti, long ns)
{
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S.000000Z%z", ti);
	size_t dot = strlen("2020-05-06T21:48:00.");
	if (strlen(buf) > dot + 6) {
		char us[16];
		snprintf(us, sizeof(us), "%06d", (int)(ns / 1000));
		memcpy(buf + dot, us, 6);
	}
}

/* Prints the %j (escaped) or %J (payload is JSON) object. Returns 0, -1 out of memory, or -2 when the
 * payload is not valid JSON. */
static int json_print(FILE *out, const struct fmt_message *m, const struct tm *ti, long ns, bool escaped, bool pretty)
{
	char tst[100];
	int rc = -1;
	struct json *root = json__new(JSON_OBJECT);
	if (!root) return -1;
	json_time(tst, sizeof(tst), ti, ns);
	if (json__add(root, "tst", json__new_string(tst, strlen(tst))) ||
	    json__add(root, "topic", json__new_string(m->topic, strlen(m->topic))) || add_number(root, "qos", m->qos) ||
	    add_number(root, "retain", m->retain) || add_number(root, "payloadlen", (double)m->payload_len))
		goto out;
	if (m->qos > 0 && add_number(root, "mid", m->mid)) goto out;
	if (m->nprops && json_properties(root, m)) goto out;
	struct json *payload;
	if (m->payload_len == 0) {
		payload = json__new(JSON_NULL);
	} else if (escaped) {
		payload = json__new_string(m->payload, m->payload_len);
	} else {
		payload = json__parse(m->payload, m->payload_len);
		if (!payload) {
			rc = -2;
			goto out;
		}
	}
	if (json__add(root, "payload", payload)) goto out;
	json__print(out, root, pretty);
	rc = 0;
out:
	json__free(root);
	return rc;
}

/* ---- the format string ---- */

struct spec {
	char align; /* '-' or 0 */
	char pad;   /* '0' or ' ' */
	int width;
	int precision; /* -1: none */
};

static void print_percent(FILE *out, FILE *err, const struct fmt_options *o, const struct fmt_message *m,
                          const struct tm *ti, long ns, char c, const struct spec *s)
{
	const struct midge_prop *p;
	char buf[100];
	switch (c) {
	case '%':
		fputc('%', out);
		break;
	case 'A':
		if ((p = prop_find(m, MQTT_PROP_TOPIC_ALIAS)))
			print_int(out, (uint16_t)p->value, s->align, s->pad, s->width);
		else
			print_blank(out, s->pad, s->width);
		break;
	case 'C':
		if ((p = prop_find(m, MQTT_PROP_CONTENT_TYPE)))
			print_str(out, p->str, p->len, s->align, s->width, s->precision);
		else
			print_blank(out, ' ', s->width);
		break;
	case 'D':
		if ((p = prop_find(m, MQTT_PROP_CORRELATION_DATA))) fwrite(p->str, 1, p->len, out);
		break;
	case 'E':
		if ((p = prop_find(m, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL)))
			print_int(out, (int)p->value, s->align, s->pad, s->width);
		else
			print_blank(out, s->pad, s->width);
		break;
	case 'F':
		if ((p = prop_find(m, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR)))
			print_int(out, (uint8_t)p->value, s->align, s->pad, s->width);
		else
			print_blank(out, s->pad, s->width);
		break;
	case 'I':
		if (strftime(buf, sizeof(buf), "%FT%T%z", ti) != 0)
			print_str(out, buf, strlen(buf), s->align, s->width, s->precision);
		else
			print_blank(out, ' ', s->width);
		break;
	case 'j':
	case 'J': {
		int rc = json_print(out, m, ti, ns, c == 'j', o->pretty);
		if (rc == -1 && !o->quiet)
			fprintf(err, "Error: Out of memory.\n");
		else if (rc == -2 && !o->quiet)
			fprintf(err, "Error: Message payload is not valid JSON on topic %s.\n", m->topic);
		break;
	}
	case 'l':
		print_int(out, (int)m->payload_len, s->align, s->pad, s->width);
		break;
	case 'm':
		print_int(out, m->mid, s->align, s->pad, s->width);
		break;
	case 'P': {
		bool first = true;
		for (size_t i = 0; i < m->nprops; i++) {
			p = &m->props[i];
			if (p->id != MQTT_PROP_USER_PROPERTY) continue;
			if (!first) fputc(' ', out);
			first = false;
			print_str(out, p->str, p->len, 0, 0, -1);
			fputc(':', out);
			print_str(out, p->str2, p->len2, 0, 0, -1);
		}
		break;
	}
	case 'p':
		print_payload(out, m->payload, m->payload_len, 0, s->align, s->pad, s->width);
		break;
	case 'q':
		fputc(m->qos + '0', out);
		break;
	case 'R':
		if ((p = prop_find(m, MQTT_PROP_RESPONSE_TOPIC)))
			print_str(out, p->str, p->len, s->align, s->width, s->precision);
		break;
	case 'r':
		fputc(m->retain ? '1' : '0', out);
		break;
	case 'S':
		if ((p = prop_find(m, MQTT_PROP_SUBSCRIPTION_IDENTIFIER)))
			print_int(out, (int)p->value, s->align, s->pad, s->width);
		else
			print_blank(out, s->pad, s->width);
		break;
	case 't':
		print_str(out, m->topic, strlen(m->topic), s->align, s->width, s->precision);
		break;
	case 'U':
		if (strftime(buf, sizeof(buf), "%s", ti) != 0) fprintf(out, "%s.%09ld", buf, ns);
		break;
	case 'x':
		print_payload(out, m->payload, m->payload_len, 1, s->align, s->pad, s->width);
		break;
	case 'X':
		print_payload(out, m->payload, m->payload_len, 2, s->align, s->pad, s->width);
		break;
	}
}

static void print_escape(FILE *out, char c)
{
	switch (c) {
	case '\\':
		fputc('\\', out);
		break;
	case '0':
		fputc('\0', out);
		break;
	case 'a':
		fputc('\a', out);
		break;
	case 'e':
		fputc('\033', out);
		break;
	case 'n':
		fputc('\n', out);
		break;
	case 'r':
		fputc('\r', out);
		break;
	case 't':
		fputc('\t', out);
		break;
	case 'v':
		fputc('\v', out);
		break;
	}
}

static void print_formatted(FILE *out, FILE *err, const struct fmt_options *o, const struct fmt_message *m,
                            const struct tm *ti, long ns)
{
	const char *f = o->format;
	size_t len = strlen(f);
	for (size_t i = 0; i < len; i++) {
		if (f[i] == '%') {
			struct spec s = {0, ' ', 0, -1};
			if (i >= len - 1) continue;
			i++;
			if (f[i] == '-') {
				s.align = '-';
				if (i < len - 1) i++;
			}
			if (f[i] == '0') {
				s.pad = '0';
				if (i < len - 1) i++;
			}
			while (i < len - 1 && f[i] >= '0' && f[i] <= '9') {
				s.width = s.width * 10 + (f[i] - '0');
				i++;
			}
			if (f[i] == '.' && i < len - 1) {
				i++;
				s.precision = 0;
				while (i < len - 1 && f[i] >= '0' && f[i] <= '9') {
					s.precision = s.precision * 10 + (f[i] - '0');
					i++;
				}
			}
			print_percent(out, err, o, m, ti, ns, f[i], &s);
		} else if (f[i] == '@') {
			if (i >= len - 1) continue;
			i++;
			if (f[i] == '@') {
				fputc('@', out);
			} else if (f[i] == 'N') {
				fprintf(out, "%09ld", ns);
			} else {
				char spec[3] = {'%', f[i], '\0'};
				char buf[100];
				if (strftime(buf, sizeof(buf), spec, ti) != 0) fputs(buf, out);
			}
		} else if (f[i] == '\\') {
			if (i >= len - 1) continue;
			i++;
			print_escape(out, f[i]);
		} else {
			fputc(f[i], out);
		}
	}
	if (o->eol) fputc('\n', out);
}

void fmt__print(FILE *out, FILE *err, const struct fmt_options *o, const struct fmt_message *m,
                const struct timespec *now)
{
	struct tm ti;
	time_t t = now->tv_sec;
	localtime_r(&t, &ti);
	if (o->format) {
		print_formatted(out, err, o, m, &ti, now->tv_nsec);
	} else if (o->verbose) {
		if (m->payload_len) {
			fprintf(out, "%s ", m->topic);
			fwrite(m->payload, 1, m->payload_len, out);
			if (o->eol) fputc('\n', out);
		} else if (o->eol) {
			fprintf(out, "%s (null)\n", m->topic);
		}
	} else if (m->payload_len) {
		fwrite(m->payload, 1, m->payload_len, out);
		if (o->eol) fputc('\n', out);
	}
	fflush(out);
}
