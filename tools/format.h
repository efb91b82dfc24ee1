/* format: how midge-sub and midge-rr print a received message, as mosquitto_sub 2.0 does: the payload
 * alone, "topic payload" with -v, or a -F format string (%-parameters with flags, width and precision,
 * @strftime sequences, \escapes, %j / %J JSON), with or without the end of line (-N). */
#ifndef MIDGE_TOOLS_FORMAT_H
#define MIDGE_TOOLS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "midge/client.h" /* struct midge_prop only: the format engine does not call the library */

/* A received message as the printer needs it. */
struct fmt_message {
	const char *topic;
	const void *payload;
	size_t payload_len;
	int qos;
	bool retain;
	int mid;
	const struct midge_prop *props; /* MQTT 5 properties in the order received; NULL when none */
	size_t nprops;
};

struct fmt_options {
	const char *format; /* -F, or NULL */
	bool verbose;       /* -v */
	bool eol;           /* false with -N */
	bool pretty;        /* --pretty */
	bool quiet;         /* --quiet: no error messages */
};

/* Checks a -F format string as mosquitto_sub does when parsing options. Returns NULL when it is valid,
 * else the error line to print (in buf, which holds at least 64 bytes), e.g.
 * "Error: Invalid format specifier 'z'.". */
const char *fmt__check(const char *format, char *buf, size_t bufsize);

/* Prints m to out according to o, with now as the time of reception (local time zone). Errors (a %J
 * payload that is not JSON) go to err unless o->quiet. Flushes out. */
void fmt__print(FILE *out, FILE *err, const struct fmt_options *o, const struct fmt_message *m,
                const struct timespec *now);

#endif
