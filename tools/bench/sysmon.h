/* sysmon: the broker's own count of dropped messages, read from $SYS around a run, so that midge-bench can
 * report what the broker says it dropped next to what the subscribers found lost. One extra client of the
 * load generator (same code, transport and connection options as the others, but a clean session of its
 * own) subscribes to $SYS/broker/publish/messages/dropped and $SYS/broker/uptime on a thread of its own,
 * which mostly sleeps: it reads a few small messages per sys_interval and nothing else. */
#ifndef MIDGE_BENCH_SYSMON_H
#define MIDGE_BENCH_SYSMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "run.h"
#include "worker.h"

#define SYSMON_DROPPED "$SYS/broker/publish/messages/dropped"
/* Every $SYS update starts with the uptime (Midge and Mosquitto alike), and Mosquitto publishes the drop
 * counter only when it changed: the uptime tells that an update happened when the counter did not come. */
#define SYSMON_TICK "$SYS/broker/uptime"

struct sysmon {
	/* The watcher's own context and worker: its life is not the load's phases (it keeps reading after the
	 * load's workers stopped), and its counters and errors stay out of the run's. */
	struct bench b;
	struct bworker w;
	bool started;         /* the thread runs */
	pthread_mutex_t lock; /* guards what follows: written by the watcher's thread, read by the main one */
	bool have;            /* a value of the drop counter arrived */
	uint64_t value;       /* the last value */
	uint64_t value_ns;    /* when it arrived (CLOCK_MONOTONIC ns) */
	uint64_t tick_ns;     /* when the last uptime arrived */
};

/* Starts watching the broker run describes (address, TLS context, options; run's TLS context must outlive
 * m). m must be zeroed before; a zeroed one is safe to sysmon__stop whether this succeeded or not. 0, or -1
 * (out of memory, no thread) with the reason in why. */
int sysmon__start(struct sysmon *m, const struct bench *run, char *why, size_t whylen);

/* Waits until a value of the drop counter has arrived, the watcher's client failed, or deadline_ns passed.
 * True with *value the latest one (the wait ends at the first); false with the reason in why. */
bool sysmon__baseline(struct sysmon *m, uint64_t deadline_ns, uint64_t *value, char *why, size_t whylen);

/* Waits for the counter as the broker saw it after after_ns: a value that arrived since then, or an update
 * (uptime) since then without one (Mosquitto's unchanged counter: the last value stands). Gives up at
 * deadline_ns, or when the client failed. True with *value; false with the reason in why. */
bool sysmon__final(struct sysmon *m, uint64_t after_ns, uint64_t deadline_ns, uint64_t *value, char *why,
		   size_t whylen);

/* The watcher's client got a PUBLISH (its thread): records a drop counter or an uptime; anything else, or
 * a payload that is not a number, is ignored. */
void sysmon__publish(struct sysmon *m, const struct mqtt_publish *p, uint64_t now_ns);

/* Disconnects, joins the thread and frees what m holds; m is zeroed again. */
void sysmon__stop(struct sysmon *m);

#endif
