/* The password-checking threads and the per-address back-off after failures. See authq.h. */
#include "authq.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
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

#define BACKOFF_FIRST_MS 100u   /* wait after the first failure from an address; doubles each time */
#define BACKOFF_MAX_MS 5000u    /* at most this long between two checks from one address */
#define DECAY_MS 60000u         /* failures halve after each minute without one */
#define ADDR_RUNNING_MAX 4      /* checks of one address queued to run at once; more wait their turn */
#define ADDR_WAITING_MAX 64     /* and at most this many behind them: more are refused as busy */
#define ADDRS_MAX 4096          /* addresses remembered; beyond, an idle one is forgotten */
#define NBUCKETS 1024

struct job {
	struct list node;
	struct conn *c;       /* reference */
	struct security *sec; /* reference */
	size_t dom;
	uint64_t not_before;  /* clock__ms(): the address's turn */
	struct addr_state *a; /* the address it counts against */
	char *username;
	char *password;       /* NUL-terminated copy; NULL when none was sent or it held a NUL (never matches) */
};

/* One source address: an IPv4 address, or an IPv6 /64 (one subscriber's share, which a guesser could
 * otherwise walk through). Lives while it has checks or failures to remember. */
struct addr_state {
	struct addr_state *next;
	uint32_t failures;
	uint64_t fail_ms;   /* when failures last grew or halved */
	uint64_t next_ms;   /* the next check from here runs no earlier (while failures > 0) */
	uint64_t fail_until; /* the back-off after the latest failure ends: a check made elsewhere waits for it */
	uint64_t last_ms;   /* last activity, to pick one to forget */
	uint32_t running;   /* its jobs on the ready or delayed lists, or being checked */
	uint32_t nwaiting;
	struct list waiting; /* its jobs beyond ADDR_RUNNING_MAX, in arrival order */
	char key[64];
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
	struct addr_state *buckets[NBUCKETS];
	size_t naddrs;
};

static uint64_t delay_after(uint32_t failures)
{
	if (failures == 0) return 0;
	uint64_t d = BACKOFF_FIRST_MS;
	for (uint32_t i = 1; i < failures && d < BACKOFF_MAX_MS; i++) d *= 2;
	return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* The key of peer "ip:port": the IPv4 address (also when mapped into IPv6), or the IPv6 /64 prefix. */
static void addr_key(const char *peer, char *out, size_t n)
{
	char ip[64];
	const char *colon = strrchr(peer, ':');
	size_t len = colon ? (size_t)(colon - peer) : strlen(peer);
	if (len >= sizeof(ip)) len = sizeof(ip) - 1;
	memcpy(ip, peer, len);
	ip[len] = 0;
	struct in6_addr a6;
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)n);
			return;
		}
		memset(&a6.s6_addr[8], 0, 8);
		char p[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &a6, p, sizeof(p));
		snprintf(out, n, "%s/64", p);
		return;
	}
	snprintf(out, n, "%s", ip);
}

/* Failures fade: halved for each DECAY_MS without a new one, so one mistyped password costs little for
 * long, while a success never wipes out a guesser's record. */
static void decay(struct addr_state *a, uint64_t now)
{
	while (a->failures && now - a->fail_ms >= DECAY_MS) {
		a->failures /= 2;
		a->fail_ms += DECAY_MS;
	}
}

static struct addr_state **slot(struct authq *q, const char *key)
{
	struct addr_state **p = &q->buckets[topic__hash((const uint8_t *)key, strlen(key)) % NBUCKETS];
	while (*p && strcmp((*p)->key, key)) p = &(*p)->next;
	return p;
}

static bool idle(struct addr_state *a, uint64_t now)
{
	decay(a, now);
	return a->running == 0 && a->nwaiting == 0;
}

static void forget(struct authq *q, struct addr_state **p)
{
	struct addr_state *a = *p;
	*p = a->next;
	free(a);
	q->naddrs--;
}

/* Forgets a if nothing about it is worth keeping. Lock held. */
static void maybe_forget(struct authq *q, struct addr_state *a, uint64_t now)
{
	if (idle(a, now) && a->failures == 0) forget(q, slot(q, a->key));
}

/* Makes room for one more address: forgets idle ones without failures, or else the idle one quiet the
 * longest. False when every remembered address has checks pending. Lock held. */
static bool make_room(struct authq *q, uint64_t now)
{
	struct addr_state **quietest = NULL;
	for (size_t i = 0; i < NBUCKETS; i++) {
		for (struct addr_state **p = &q->buckets[i]; *p;) {
			if (!idle(*p, now)) {
				p = &(*p)->next;
				continue;
			}
			if ((*p)->failures == 0) {
				forget(q, p);
				continue;
			}
			if (!quietest || (*p)->last_ms < (*quietest)->last_ms) quietest = p;
			p = &(*p)->next;
		}
	}
	if (q->naddrs >= ADDRS_MAX && quietest) forget(q, quietest);
	return q->naddrs < ADDRS_MAX;
}

static struct addr_state *addr_get(struct authq *q, const char *key, uint64_t now)
{
	struct addr_state **p = slot(q, key);
	if (*p) return *p;
	if (q->naddrs >= ADDRS_MAX) {
		if (!make_room(q, now)) return NULL;
		p = slot(q, key);
	}
	struct addr_state *a = calloc(1, sizeof(*a));
	if (!a) return NULL;
	snprintf(a->key, sizeof(a->key), "%s", key);
	list__init(&a->waiting);
	a->fail_ms = now;
	*p = a;
	q->naddrs++;
	return a;
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

/* Hands the answer to the connection's worker. */
static void answer(struct job *j, int state, uint32_t failures)
{
	struct conn *c = j->c;
	c->auth_failures = failures;
	atomic_store(&c->auth_state, state);
	/* The worker sees auth_state once it pops c from its inbox. */
	worker__post(c->worker, c);
}

/* Queues j for its address's turn, or answers busy when that turn comes after the connection's CONNECT
 * timeout would have closed it anyway. Lock held; a->running counts j from here. */
static void schedule(struct authq *q, struct addr_state *a, struct job *j, uint64_t now)
{
	decay(a, now);
	uint64_t at = now;
	if (a->failures) {
		at = a->next_ms > now ? a->next_ms : now;
		a->next_ms = at + delay_after(a->failures);
	}
	a->last_ms = now;
	a->running++;
	j->not_before = at;
	if (at <= now) {
		list__add_tail(&q->ready, &j->node);
	} else {
		/* Sorted by turn: few addresses are ever waiting at once. */
		struct list *pos = q->delayed.prev;
		while (pos != &q->delayed && list_entry(pos, struct job, node)->not_before > at) pos = pos->prev;
		list__add_head(pos, &j->node); /* after pos */
	}
	pthread_cond_broadcast(&q->cond);
}

static bool verify(const struct job *j)
{
	const struct sec_domain *d = j->dom < j->sec->ndomains ? &j->sec->dom[j->dom] : NULL;
	if (!d) return false;
	if (!d->has_pw) return true;
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
			struct timespec ts = clock__abstime(j->not_before);
			pthread_cond_timedwait(&q->cond, &q->lock, &ts);
		} else {
			pthread_cond_wait(&q->cond, &q->lock);
		}
	}
}

/* The turn after a check: its outcome counted, the next waiting job of the address scheduled. Lock held. */
static uint32_t finish(struct authq *q, struct addr_state *a, bool checked, bool ok, uint64_t now)
{
	a->running--;
	decay(a, now);
	if (checked && !ok) {
		a->failures++;
		a->fail_ms = now;
		uint64_t at = now + delay_after(a->failures);
		if (a->next_ms < at) a->next_ms = at;
		a->fail_until = at;
	}
	uint32_t failures = a->failures;
	while (a->running < ADDR_RUNNING_MAX && a->nwaiting) {
		struct job *w = list_entry(list__pop(&a->waiting), struct job, node);
		a->nwaiting--;
		schedule(q, a, w, now);
	}
	maybe_forget(q, a, now);
	return failures;
}

static void *run(void *arg)
{
	struct authq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct job *j = next_job(q);
		if (!j) break;
		pthread_mutex_unlock(&q->lock);
		/* A connection closed meanwhile (its CONNECT timer, the client) wants no answer: no PBKDF2 for it,
		 * and no failure counted. */
		bool cancelled = atomic_load(&j->c->auth_cancel);
		bool ok = !cancelled && verify(j);
		pthread_mutex_lock(&q->lock);
		uint32_t failures = finish(q, j->a, !cancelled, ok, clock__ms());
		pthread_mutex_unlock(&q->lock);
		if (!cancelled) answer(j, ok ? AUTH_ALLOWED : AUTH_REFUSED, failures);
		job_free(j);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

uint64_t authq__check_begin(struct broker *b, const char *peer)
{
	struct authq *q = b->authq;
	if (!q) return 0;
	char key[64];
	addr_key(peer, key, sizeof(key));
	uint64_t now = clock__ms(), wait = 0;
	pthread_mutex_lock(&q->lock);
	struct addr_state *a = addr_get(q, key, now);
	if (!a) {
		wait = BACKOFF_FIRST_MS; /* every slot is busy with addresses that have checks running */
	} else {
		decay(a, now);
		a->last_ms = now;
		/* Only a failure's back-off: the queue's spacing of its own checks (next_ms) is for checks that wait,
		 * and one made elsewhere cannot wait, so it would be refused after every CONNECT. */
		if (a->failures && a->fail_until > now) wait = a->fail_until - now;
		else if (a->running >= ADDR_RUNNING_MAX) wait = BACKOFF_FIRST_MS;
		else a->running++;
		if (wait) maybe_forget(q, a, now);
	}
	pthread_mutex_unlock(&q->lock);
	return wait;
}

void authq__check_end(struct broker *b, const char *peer, bool ok)
{
	struct authq *q = b->authq;
	if (!q) return;
	char key[64];
	addr_key(peer, key, sizeof(key));
	pthread_mutex_lock(&q->lock);
	struct addr_state *a = *slot(q, key);
	if (a) finish(q, a, true, ok, clock__ms());
	pthread_mutex_unlock(&q->lock);
}

int authq__start(struct broker *b, int nthreads)
{
	struct authq *q = calloc(1, sizeof(*q));
	if (!q) return MIDGE_ERR_NOMEM;
	q->b = b;
	pthread_mutex_init(&q->lock, NULL);
	clock__cond_init(&q->cond);
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
	for (size_t i = 0; i < NBUCKETS; i++) {
		while (q->buckets[i]) {
			struct addr_state *a = q->buckets[i];
			while (!list__empty(&a->waiting)) job_free(list_entry(list__pop(&a->waiting), struct job, node));
			forget(q, &q->buckets[i]);
		}
	}
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
	j->sec = security__ref(sec);
	j->dom = dom;
	char key[64];
	addr_key(c->addr, key, sizeof(key));
	uint64_t now = clock__ms();
	/* A turn later than this would come after the CONNECT timer closed the connection. */
	uint64_t horizon = now + (uint64_t)b->conf.connect_timeout * 1000u;
	int rc = 0;
	pthread_mutex_lock(&q->lock);
	struct addr_state *a = q->stop ? NULL : addr_get(q, key, now);
	if (!a) {
		rc = MIDGE_ERR_AGAIN;
	} else {
		decay(a, now);
		bool late = a->failures && a->next_ms > horizon;
		if (late || (a->running >= ADDR_RUNNING_MAX && a->nwaiting >= ADDR_WAITING_MAX)) {
			rc = MIDGE_ERR_AGAIN;
		} else {
			j->c = conn__ref(c);
			j->a = a;
			atomic_store(&c->auth_state, AUTH_PENDING);
			if (a->running < ADDR_RUNNING_MAX) {
				schedule(q, a, j, now);
			} else {
				list__add_tail(&a->waiting, &j->node);
				a->nwaiting++;
			}
		}
		if (rc) maybe_forget(q, a, now);
	}
	pthread_mutex_unlock(&q->lock);
	if (rc) job_free(j);
	return rc;
}
