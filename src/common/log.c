/* Logging to stdout, stderr, syslog or a file: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "midge/midge.h"

int log__open(struct logger *lg, unsigned types, unsigned dests, bool timestamp, const char *ts_format,
	      const char *path)
{
	if (!lg->lock_ready) {
		pthread_mutex_init(&lg->lock, NULL);
		lg->lock_ready = true;
	}
	pthread_mutex_lock(&lg->lock);
	if (lg->file) fclose(lg->file);
	lg->file = NULL;
	lg->types = types;
	lg->dests = dests;
	lg->timestamp = timestamp;
	snprintf(lg->ts_format, sizeof(lg->ts_format), "%s", ts_format ? ts_format : "");
	int rc = 0;
	if ((dests & LOG_DEST_FILE) && path) {
		lg->file = fopen(path, "a");
		if (!lg->file) rc = MIDGE_ERR_IO;
		else setvbuf(lg->file, NULL, _IOLBF, 0);
	}
	if (dests & LOG_DEST_SYSLOG) openlog("midge", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pthread_mutex_unlock(&lg->lock);
	return rc;
}

void log__close(struct logger *lg)
{
	if (lg->file) fclose(lg->file);
	lg->file = NULL;
	lg->dests = 0;
	lg->types = 0;
}

static int syslog_priority(unsigned type)
{
	if (type & LOG_T_ERR) return LOG_ERR;
	if (type & LOG_T_WARNING) return LOG_WARNING;
	if (type & LOG_T_NOTICE) return LOG_NOTICE;
	if (type & LOG_T_DEBUG) return LOG_DEBUG;
	return LOG_INFO;
}

void log__printf(struct logger *lg, unsigned type, const char *fmt, ...)
{
	unsigned dests = atomic_load_explicit(&lg->dests, memory_order_relaxed);
	if (!log__enabled(lg, type) || !dests) return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	/* The timestamp settings are read under the lock: a reload (SIGHUP) may be rewriting them. */
	pthread_mutex_lock(&lg->lock);
	char ts[80] = "";
	if (lg->timestamp) {
		time_t now = time(NULL);
		if (lg->ts_format[0]) {
			struct tm tm;
			localtime_r(&now, &tm);
			size_t n = strftime(ts, sizeof(ts) - 2, lg->ts_format, &tm);
			ts[n] = ':';
			ts[n + 1] = ' ';
			ts[n + 2] = 0;
		} else {
			snprintf(ts, sizeof(ts), "%lld: ", (long long)now);
		}
	}
	dests = lg->dests;
	if (dests & LOG_DEST_STDOUT) fprintf(stdout, "%s%s\n", ts, msg), fflush(stdout);
	if (dests & LOG_DEST_STDERR) fprintf(stderr, "%s%s\n", ts, msg);
	if ((dests & LOG_DEST_FILE) && lg->file) fprintf(lg->file, "%s%s\n", ts, msg);
	if (dests & LOG_DEST_SYSLOG) syslog(syslog_priority(type), "%s", msg);
	pthread_mutex_unlock(&lg->lock);
	/* Publishing may itself log (a drop, say): the guard keeps that from recursing. The payload is the
	 * whole line, timestamp included, as Mosquitto publishes it. */
	static _Thread_local bool in_topic;
	if ((dests & LOG_DEST_TOPIC) && lg->topic_fn && !in_topic) {
		char line[sizeof(ts) + sizeof(msg)];
		snprintf(line, sizeof(line), "%s%s", ts, msg);
		in_topic = true;
		lg->topic_fn(lg->topic_arg, type, line);
		in_topic = false;
	}
}
