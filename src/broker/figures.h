/* The broker's figures read at one moment, for every place that shows them: $SYS (sys.c), the HTTP API's
 * /api/v1/stats and /metrics (src/http/api). */
#ifndef MIDGE_FIGURES_H
#define MIDGE_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct broker;

struct figures {
	uint64_t uptime_s;
	int64_t now;                /* wall clock, seconds since the epoch */
	int connected, offline;     /* clients connected; persistent sessions offline */
	int connected_max;          /* the most connected at once since start */
	uint64_t expired;           /* persistent sessions ended by their expiry */
	uint64_t clients_ever;      /* CONNECTs accepted */
	uint64_t sockets_ever;      /* connections accepted */
	uint64_t msgs_received, msgs_sent;      /* MQTT packets of every kind */
	uint64_t pub_received, pub_sent, pub_dropped, pub_withheld;
	uint64_t bytes_received, bytes_sent;
	size_t subscriptions, retained;
	size_t heap, heap_max;      /* bytes allocated (malloc's count), and the most seen */
	bool store_on;              /* persistence: store and store_failing are set */
	bool store_failing;
	struct store_stats store;
};

/* Reads b's figures into f. Any thread; each figure is read atomically, the whole is not one snapshot. */
void figures__read(struct broker *b, struct figures *f);

/* Counts one more connected client in b's figures (after clients_connected grew), keeping the maximum. */
void figures__connected(struct broker *b);

#endif
