/* The password-checking threads and the per-address back-off after failures. See authq.h. */
#include "authq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "common/clock.h"
#include "common/list.h"
#include "common/topic.h"
#include "conn.h"
#include "midge/midge.h"
#include "security.h"
#include "worker.h"

#define BACKOFF_FIRST_MS 100u  /* wait after the first failure from an address; doubles each time */
#define BACKOFF_MAX_MS 5000u   /* at most this long between two checks from one address */
#define BACKOFF_FORGET_MS 600000u /* an address quiet this long starts afresh */
#define BACKOFF_MAX_ADDRS 4096 /* addresses remembered; beyond, the quietest is forgotten */

struct job {
	struct list node;
	struct conn *c;       /* reference */
	struct security *sec; /* reference */
	size_t dom;
	uint64_t not_before;  /* clock__ms(): the address's turn */
	char addr[64];        /* source address without the port */
	char *username;
	char *password;       /* NUL-terminated copy; NULL when it held a NUL (it cannot match then) */
};

/* Failures from one source address. */
struct backoff {
	struct backoff *next;
	uint32_t failures;
	uint64_t next_ms; /* the next check from this address runs no earlier */
	uint64_t last_ms; /* last failure or reservation */
	char addr[64];
};

struct authq {
	struct broker *b;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct list ready;   /* jobs to run now, in arrival order */
	struct list delayed; /* jobs waiting for their address's turn, by not_before */
	bool stop;
	int nthreads;
	pthread_t *threads;
	struct backoff *buckets[1024];
	size_t naddrs;
};

static uint64_t delay_after(uint32_t failures)
{
	if (failures == 0) return 0;
	uint64_t d = BACKOFF_FIRST_MS;
	for (uint32_t i = 1; i < failures && d < BACKOFF_MAX_MS; i++) d *= 2;
	return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* The address part of "ip:port" (IPv6 addresses hold colons of their own: the port is after the last). */
static void addr_of(const char *peer, char *out, size_t n)
{
	const char *colon = strrchr(peer, ':');
	size_t len = colon ? (size_t)(colon - peer) : strlen(peer);
	if (len >= n) len = n - 1;
	memcpy(out, peer, len);
	out[len] = 0;
}

static struct backoff **slot(struct authq *q, const char *addr)
{
	struct backoff **p = &q->buckets[topic__hash((const uint8_t *)addr, strlen(addr)) % 1024];
	while (*p && strcmp((*p)->addr, addr)) p = &(*p)->next;
	return p;
}

static void forget(struct authq *q, struct backoff **p)
{
	struct backoff *e = *p;
	*p = e->next;
	free(e);
	q->naddrs--;
}

/* Makes room for one more address: drops those quiet long enough, or else the quietest. Lock held. */
static void make_room(struct authq *q, uint64_t now)
{
	struct backoff **quietest = NULL;
	for (size_t i = 0; i < 1024; i++) {
		for (struct backoff **p = &q->buckets[i]; *p;) {
			if (now - (*p)->last_ms > BACKOFF_FORGET_MS && (*p)->next_ms <= now) {
				forget(q, p);
				continue;
			}
			if (!quietest || (*p)->last_ms < (*quietest)->last_ms) quietest = p;
			p = &(*p)->next;
		}
	}
	if (q->naddrs >= BACKOFF_MAX_ADDRS && quietest) forget(q, quietest);
}

/* When a check from addr may run: now, or its turn after earlier failures (which it then reserves, so
 * parallel connections from one address queue up one delay apart). Lock held. */
static uint64_t reserve_turn(struct authq *q, const char *addr, uint64_t now)
{
	struct backoff *e = *slot(q, addr);
	if (!e || e->failures == 0) return now;
	if (now - e->last_ms > BACKOFF_FORGET_MS && e->next_ms <= now) {
		forget(q, slot(q, addr));
		return now;
	}
	uint64_t at = e->next_ms > now ? e->next_ms : now;
	e->next_ms = at + delay_after(e->failures);
	e->last_ms = now;
	return at;
}

/* Records the outcome of a check from addr; returns the address's failures so far. Lock held. */
static uint32_t record(struct authq *q, const char *addr, bool ok, uint64_t now)
{
	struct backoff **p = slot(q, addr);
	if (ok) {
		if (*p) forget(q, p);
		return 0;
	}
	if (!*p) {
		if (q->naddrs >= BACKOFF_MAX_ADDRS) {
			make_room(q, now);
			p = slot(q, addr);
		}
		struct backoff *e = calloc(1, sizeof(*e));
		if (!e) return 1;
		strcpy(e->addr, addr);
		*p = e;
		q->naddrs++;
	}
	struct backoff *e = *p;
	e->failures++;
	uint64_t at = now + delay_after(e->failures);
	if (e->next_ms < at) e->next_ms = at;
	e->last_ms = now;
	return e->failures;
}

static void job_free(struct job *j)
{
	if (j->password) {
		/* The password should not linger in freed memory. */
		volatile char *p = j->password;
		while (*p) *p++ = 0;
	}
	free(j->password);
	free(j->username);
	security__unref(j->sec);
	if (j->c) conn__unref(j->c);
	free(j);
}

static bool verify(const struct job *j)
{
	const struct sec_domain *d = j->dom < j->sec->ndomains ? &j->sec->dom[j->dom] : NULL;
	if (!d || !d->has_pw) return d != NULL;
	/* pw__verify spends as long on an unknown user or an impossible password as on a known one. */
	bool ok = pw__verify(&d->pw, j->username, j->password ? j->password : "");
	return ok && j->password;
}

/* Next job whose turn has come, waiting as needed; NULL when stopping. Lock held. */
static struct job *next_job(struct authq *q)
{
	for (;;) {
		if (q->stop) return NULL;
		if (!list__empty(&q->ready)) return list_entry(list__pop(&q->ready), struct job, node);
		if (!list__empty(&q->delayed)) {
			struct job *j = list_entry(q->delayed.next, struct job, node);
			uint64_t now = clock__ms();
			if (j->not_before <= now) {
				list__del(&j->node);
				return j;
			}
			/* clock__ms is CLOCK_MONOTONIC; the condition variable is set to the same clock. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t wait = j->not_before - now;
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&q->cond, &q->lock, &ts);
		} else {
			pthread_cond_wait(&q->cond, &q->lock);
		}
	}
}

static void *run(void *arg)
{
	struct authq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct job *j = next_job(q);
		if (!j) break;
		pthread_mutex_unlock(&q->lock);
		bool ok = verify(j);
		pthread_mutex_lock(&q->lock);
		uint32_t failures = record(q, j->addr, ok, clock__ms());
		pthread_mutex_unlock(&q->lock);
		struct conn *c = j->c;
		c->auth_failures = failures;
		atomic_store(&c->auth_state, ok ? AUTH_ALLOWED : AUTH_REFUSED);
		/* The worker sees auth_state once it pops c from its inbox. */
		worker__post(c->worker, c);
		job_free(j);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int authq__start(struct broker *b, int nthreads)
{
	struct authq *q = calloc(1, sizeof(*q));
	if (!q) return MIDGE_ERR_NOMEM;
	q->b = b;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	list__init(&q->ready);
	list__init(&q->delayed);
	q->threads = calloc((size_t)nthreads, sizeof(pthread_t));
	b->authq = q;
	if (!q->threads) return MIDGE_ERR_NOMEM;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&q->threads[i], NULL, run, q)) return MIDGE_ERR_IO;
		q->nthreads++;
	}
	return 0;
}

void authq__stop(struct broker *b)
{
	struct authq *q = b->authq;
	if (!q) return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->nthreads; i++) pthread_join(q->threads[i], NULL);
	struct list *lists[2] = {&q->ready, &q->delayed};
	for (int k = 0; k < 2; k++)
		while (!list__empty(lists[k])) job_free(list_entry(list__pop(lists[k]), struct job, node));
	for (size_t i = 0; i < 1024; i++)
		while (q->buckets[i]) forget(q, &q->buckets[i]);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q);
	b->authq = NULL;
}

int authq__submit(struct broker *b, struct conn *c, struct security *sec, size_t dom, const char *username,
		  const uint8_t *password, size_t pwlen)
{
	struct authq *q = b->authq;
	struct job *j = calloc(1, sizeof(*j));
	if (!j) return MIDGE_ERR_NOMEM;
	j->username = strdup(username);
	/* None at all, or a NUL inside (it can never match a password file's text): it stays NULL and fails. */
	bool nul = !password || memchr(password, 0, pwlen) != NULL;
	if (!nul && (j->password = malloc(pwlen + 1))) {
		memcpy(j->password, password, pwlen);
		j->password[pwlen] = 0;
	}
	if (!j->username || (!nul && !j->password)) {
		job_free(j);
		return MIDGE_ERR_NOMEM;
	}
	j->c = conn__ref(c);
	j->sec = security__ref(sec);
	j->dom = dom;
	addr_of(c->addr, j->addr, sizeof(j->addr));
	atomic_store(&c->auth_state, AUTH_PENDING);
	pthread_mutex_lock(&q->lock);
	uint64_t now = clock__ms();
	j->not_before = reserve_turn(q, j->addr, now);
	if (j->not_before <= now) {
		list__add_tail(&q->ready, &j->node);
	} else {
		/* Sorted by turn: few addresses are ever waiting at once. */
		struct list *pos = q->delayed.prev;
		while (pos != &q->delayed && list_entry(pos, struct job, node)->not_before > j->not_before) pos = pos->prev;
		list__add_head(pos, &j->node); /* after pos */
	}
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}
