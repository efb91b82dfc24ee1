/* Logging with Mosquitto's log_type classes and log_dest destinations; safe from any thread. */
#ifndef MIDGE_LOG_H
#define MIDGE_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

/* Classes: Mosquitto's log_type names. */
enum {
	LOG_T_ERR = 1 << 0,
	LOG_T_WARNING = 1 << 1,
	LOG_T_NOTICE = 1 << 2,
	LOG_T_INFO = 1 << 3,
	LOG_T_SUBSCRIBE = 1 << 4,
	LOG_T_UNSUBSCRIBE = 1 << 5,
	LOG_T_WEBSOCKETS = 1 << 6,
	LOG_T_DEBUG = 1 << 7,
	LOG_T_ALL = 0xff,
};

/* Destinations: Mosquitto's log_dest names. */
enum {
	LOG_DEST_NONE = 0,
	LOG_DEST_STDOUT = 1 << 0,
	LOG_DEST_STDERR = 1 << 1,
	LOG_DEST_SYSLOG = 1 << 2,
	LOG_DEST_FILE = 1 << 3,
	LOG_DEST_TOPIC = 1 << 4,
	LOG_DEST_DLT = 1 << 5,
};

/* Publishes a log line as an MQTT message (log_dest topic); set by the broker. */
typedef void (*log_topic_fn)(void *arg, unsigned type, const char *line);

/* A zeroed logger logs nothing. The logger owns file (opened by log__open). */
struct logger {
	pthread_mutex_t lock;
	bool lock_ready; /* set by the first log__open, from the main thread before any other starts */
	_Atomic unsigned types; /* read without the lock on every call: a reload may change them */
	_Atomic unsigned dests;
	bool timestamp;
	char ts_format[64]; /* strftime format; empty = seconds since the epoch, as Mosquitto */
	FILE *file;
	log_topic_fn topic_fn; /* called for LOG_DEST_TOPIC, outside the lock; never re-entered per thread */
	void *topic_arg;
};

/* Sets up lg; opens path for appending when dests has LOG_DEST_FILE. Returns 0 or MIDGE_ERR_IO.
 * Re-callable (SIGHUP): the previous file is closed. */
int log__open(struct logger *lg, unsigned types, unsigned dests, bool timestamp, const char *ts_format,
	      const char *path);
void log__close(struct logger *lg);
/* Writes one line when type is enabled. */
void log__printf(struct logger *lg, unsigned type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline bool log__enabled(const struct logger *lg, unsigned type)
{
	return (atomic_load_explicit(&lg->types, memory_order_relaxed) & type) != 0;
}

#endif
