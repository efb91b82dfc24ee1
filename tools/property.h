/* property: the -D option of midge-pub, midge-sub and midge-rr (MQTT 5 properties by Mosquitto's names:
 * "-D publish user-property k v"), parsed and checked as Mosquitto 2.0's clients do. */
#ifndef MIDGE_TOOLS_PROPERTY_H
#define MIDGE_TOOLS_PROPERTY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "opts.h"

/* Parses "command identifier value" (or "command user-property name value") at argv[*i] onto o->props,
 * leaving *i at its last word. Prints Mosquitto's message to err and returns -1 when it is invalid. */
int property__parse(struct tool_opts *o, int argc, char *const argv[], int *i, FILE *err);

/* mosquitto_property_check_command: may property id go in a packet of command (enum opt_cmd)? */
bool property__allowed(int cmd, uint8_t id);

/* mosquitto_property_check_all over o's properties of one command: NULL when they are valid, else the
 * reason ("Duplicate property in property list", ...). */
const char *property__check(const struct tool_opts *o, int cmd);

/* The command's name in "Error in <name> properties: ..." (CONNECT, PUBLISH, ..., Will). */
const char *property__command_label(int cmd);

/* A new zeroed entry at the end of o->props, or NULL (out of memory, reported to err). */
struct opt_prop *property__append(struct tool_opts *o, FILE *err);

#endif
