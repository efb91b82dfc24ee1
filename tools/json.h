/* json: the JSON that mosquitto_sub prints for -F %j / %J, byte for byte: a parser that accepts what
 * cJSON 1.7 accepts and a printer that writes what cJSON_Print / cJSON_PrintUnformatted write. */
#ifndef MIDGE_TOOLS_JSON_H
#define MIDGE_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* One value. Objects and arrays keep their children in order (duplicate keys stay, as in cJSON). */
struct json {
	enum json_type type;
	double number;
	char *string; /* JSON_STRING: NUL-terminated (printing stops at an embedded NUL, as cJSON does) */
	char *key;    /* the member name when the value is in an object, else NULL */
	struct json *child, *last, *next;
};

/* Parses text[0..len) as cJSON_ParseWithOpts(text, &end, true) would and, like mosquitto_sub, succeeds
 * only when the whole text was consumed (leading UTF-8 BOM and whitespace, bytes <= 32, are skipped;
 * a NUL anywhere fails). Returns a new tree the caller frees with json__free, or NULL. */
struct json *json__parse(const char *text, size_t len);
void json__free(struct json *j);

/* Builders for the %j / %J envelope; each returns NULL when out of memory (value is then not used). */
struct json *json__new(enum json_type type);
struct json *json__new_number(double n);
/* A string of s[0..len): copied, and cut at the first NUL as cJSON_CreateString would. */
struct json *json__new_string(const char *s, size_t len);
/* Appends item to an object under key (copied), or to an array when key is NULL. Takes ownership of
 * item (freed on failure). Returns 0 or -1 (out of memory). */
int json__add(struct json *parent, const char *key, struct json *item);

/* Writes j to out as cJSON_Print (pretty: tabs and newlines) or cJSON_PrintUnformatted. */
void json__print(FILE *out, const struct json *j, bool pretty);

#endif
