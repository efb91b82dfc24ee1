/* sysmon: the $SYS watcher of a run: its client on a worker of its own, and the waits for the broker's drop
 * counter before and after the load. */
#include "sysmon.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"

/* After an update's uptime, how long its drop counter may take to follow: both come from one pass of the
 * broker's $SYS timer, so a few milliseconds; past this the counter was not in that update (unchanged). */
#define SETTLE_NS 250000000u


int sysmon__start(struct sysmon *m, const struct bench *run, char *why, size_t whylen)
{
	/* b.o marks m as set up, for sysmon__stop. */
	pthread_mutex_init(&m->lock, NULL);
	m->w.ep = -1;
	m->b.o = run->o;
	m->b.addr = run->addr;
	m->b.addrlen = run->addrlen;
	m->b.tls = run->tls; /* borrowed: the run holds the reference */
	m->b.nclients = 1;
	atomic_store(&m->b.phase, PH_CONNECT);
	atomic_store(&m->b.measure_from, UINT64_MAX);
	if (bworker__init(&m->w, &m->b, 0, 1) || bclient__init(&m->w.clients[0], &m->w, ROLE_SYS, 0, "")) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	m->w.sysmon = m;
	m->w.connect_rate = 1;
	/* The worker's loop, like the load's: it connects its client at once and then mostly sleeps. */
	if (pthread_create(&m->w.thread, NULL, bworker__main, &m->w)) {
		snprintf(why, whylen, "cannot start a thread");
		return -1;
	}
	m->started = true;
	return 0;
}

/* The reason the watcher's client is gone, or NULL while it lives. */
static const char *failed(struct sysmon *m)
{
	if (!bstat_get(&m->w.st.failed) && !bstat_get(&m->w.st.lost_conn)) return NULL;
	return atomic_load(&m->w.has_error) ? m->w.first_error : "connection lost";
}

bool sysmon__baseline(struct sysmon *m, uint64_t deadline_ns, uint64_t *value, char *why, size_t whylen)
{
	if (!m->started) {
		snprintf(why, whylen, "not watched");
		return false;
	}
	for (;;) {
		pthread_mutex_lock(&m->lock);
		bool have = m->have;
		*value = m->value;
		pthread_mutex_unlock(&m->lock);
		if (have) return true;
		const char *f = failed(m);
		if (f) {
			snprintf(why, whylen, "the $SYS client failed: %.150s", f);
			return false;
		}
		if (bench__now_ns() >= deadline_ns) {
			/* $SYS off (sys_interval 0), not readable (ACL), or a broker without it. */
			snprintf(why, whylen, "no value of %s came", SYSMON_DROPPED);
			return false;
		}
		bench__sleep_ms(2);
	}
}

bool sysmon__final(struct sysmon *m, uint64_t after_ns, uint64_t deadline_ns, uint64_t *value, char *why,
		   size_t whylen)
{
	if (!m->started) {
		snprintf(why, whylen, "not watched");
		return false;
	}
	for (;;) {
		uint64_t now = bench__now_ns();
		pthread_mutex_lock(&m->lock);
		bool fresh = m->have && m->value_ns > after_ns;
		/* An update without the counter: Mosquitto publishes it only when it changed. */
		bool unchanged = m->have && m->tick_ns > after_ns && now >= m->tick_ns + SETTLE_NS;
		*value = m->value;
		pthread_mutex_unlock(&m->lock);
		if (fresh || unchanged) return true;
		const char *f = failed(m);
		if (f) {
			snprintf(why, whylen, "the $SYS client failed: %.150s", f);
			return false;
		}
		if (now >= deadline_ns) {
			snprintf(why, whylen, "no $SYS update within %.1f s after the load (sys_interval over --sys-wait?)",
				 m->b.o->sys_wait);
			return false;
		}
		bench__sleep_ms(5);
	}
}

/* The value of a $SYS counter: decimal digits, the whole payload. */
static bool number(const struct mqtt_str *s, uint64_t *out)
{
	if (!s->len || s->len > 20) return false;
	uint64_t v = 0;
	for (uint32_t i = 0; i < s->len; i++) {
		if (s->p[i] < '0' || s->p[i] > '9') return false;
		uint64_t d = (uint64_t)(s->p[i] - '0');
		if (v > (UINT64_MAX - d) / 10) return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool topic_is(const struct mqtt_str *t, const char *name)
{
	size_t n = strlen(name);
	return t->len == n && !memcmp(t->p, name, n);
}

void sysmon__publish(struct sysmon *m, const struct mqtt_publish *p, uint64_t now_ns)
{
	uint64_t v;
	if (topic_is(&p->topic, SYSMON_DROPPED)) {
		if (!number(&p->payload, &v)) return;
		pthread_mutex_lock(&m->lock);
		m->have = true;
		m->value = v;
		m->value_ns = now_ns;
		pthread_mutex_unlock(&m->lock);
	} else if (topic_is(&p->topic, SYSMON_TICK)) {
		pthread_mutex_lock(&m->lock);
		m->tick_ns = now_ns;
		pthread_mutex_unlock(&m->lock);
	}
}

void sysmon__stop(struct sysmon *m)
{
	if (m->started) {
		atomic_store(&m->b.phase, PH_STOP);
		pthread_join(m->w.thread, NULL);
	}
	if (m->b.o) {
		bworker__fini(&m->w);
		pthread_mutex_destroy(&m->lock);
	}
	memset(m, 0, sizeof *m);
}
