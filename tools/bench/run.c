/* run: sets up a benchmark (address, TLS context, clients spread over the threads), moves it through its
 * phases with a progress line each second, and turns what the threads saw into a struct bench_result. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "net/tls.h"
#include "sysmon.h"
#include "worker.h"

/* How long QoS 1/2 acknowledgements may take after publishing ends, then how long stragglers may. */
#define ACK_DRAIN_S 10.0
#define STRAGGLER_S 2.0
/* How long connecting may take beyond what --connect-rate needs. */
#define CONNECT_SLACK_S 20.0
/* How long the first value of the broker's drop counter may take ($SYS is retained: it comes with the
 * SUBACK), counted from when the watcher started; --sys-wait bounds it too. */
#define SYS_BASELINE_S 2.0

void bench__sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

uint64_t bench__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}


/* Sums of every worker's counters. */
struct totals {
	uint64_t sent, acked, inflight, all_sent, received, unique, connected, ready, failed, errors, pubs_done;
};

static struct totals totals(const struct bench *b)
{
	struct totals t = {0};
	for (uint32_t i = 0; i < b->nworkers; i++) {
		struct bstats *s = &b->workers[i].st;
		t.sent += bstat_get(&s->sent);
		t.acked += bstat_get(&s->acked);
		t.inflight += bstat_get(&s->inflight);
		t.all_sent += bstat_get(&s->all_sent);
		t.received += bstat_get(&s->all_received);
		t.unique += bstat_get(&s->unique);
		t.connected += bstat_get(&s->connected);
		t.ready += bstat_get(&s->ready);
		t.failed += bstat_get(&s->failed);
		t.errors += bstat_get(&s->errors) + bstat_get(&s->failed);
		t.pubs_done += bstat_get(&s->pubs_done);
	}
	return t;
}

/* The progress line: once a second on a terminal. */
struct progress {
	bool on;
	uint64_t start_ns, last_ns;
	struct totals last;
};

static void progress(struct progress *p, const struct bench *b)
{
	uint64_t now = bench__now_ns();
	if (!p->on || now - p->last_ns < 1000000000u) return;
	struct totals t = totals(b);
	double dt = (double)(now - p->last_ns) / 1e9;
	fprintf(stderr, "\r%6.1fs  out %9.0f/s  in %9.0f/s  conns %u/%u  errors %llu  inflight %llu   ",
		(double)(now - p->start_ns) / 1e9, (double)(t.all_sent - p->last.all_sent) / dt,
		(double)(t.received - p->last.received) / dt, (unsigned)t.connected, b->nclients,
		(unsigned long long)t.errors, (unsigned long long)t.inflight);
	fflush(stderr);
	p->last = t;
	p->last_ns = now;
}

static int resolve(struct bench *b, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", b->o->port);
	int rc = getaddrinfo(b->o->host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%.100s: %.100s", b->o->host, gai_strerror(rc));
		return -1;
	}
	memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
	b->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* The subscription filter of subscriber i. */
static void sub_filter(const struct bench_opts *o, uint32_t i, char *out, size_t len)
{
	if (o->scenario == SC_FANOUT) bench_opts__topic(o, 0, out, len);
	else if (o->scenario == SC_P2P) bench_opts__topic(o, i, out, len);
	else if (o->scenario == SC_SHARED) snprintf(out, len, "$share/bench/%.242s", o->filter);
	else snprintf(out, len, "%s", o->filter);
}

/* Spreads subscribers, then publishers (or idle clients), round-robin over the workers. */
static int make_clients(struct bench *b)
{
	const struct bench_opts *o = b->o;
	uint32_t nsub = o->subscribers, npub = o->scenario == SC_CONN ? 0 : o->publishers;
	uint32_t nidle = o->scenario == SC_CONN ? o->publishers : 0;
	b->nclients = nsub + npub + nidle;
	uint32_t per[64] = {0};
	for (uint32_t k = 0; k < b->nclients; k++) per[k % b->nworkers]++;
	for (uint32_t i = 0; i < b->nworkers; i++) {
		if (bworker__init(&b->workers[i], b, i, per[i])) return -1;
		b->workers[i].connect_rate = (double)o->connect_rate / b->nworkers;
	}
	uint32_t fill[64] = {0};
	char topic[256];
	for (uint32_t k = 0; k < b->nclients; k++) {
		struct bworker *w = &b->workers[k % b->nworkers];
		struct bclient *c = &w->clients[fill[k % b->nworkers]++];
		int rc;
		if (k < nsub) {
			sub_filter(o, k, topic, sizeof topic);
			rc = bclient__init(c, w, ROLE_SUB, k, topic);
		} else if (k < nsub + npub) {
			bench_opts__topic(o, k - nsub, topic, sizeof topic);
			rc = bclient__init(c, w, ROLE_PUB, k - nsub, topic);
		} else {
			rc = bclient__init(c, w, ROLE_IDLE, k - nsub - npub, "");
		}
		if (rc) return -1;
	}
	return 0;
}

/* Publishers by index, across workers (valid until the workers are freed). */
static struct bclient **publishers(struct bench *b, uint32_t n)
{
	struct bclient **p = calloc(n ? n : 1, sizeof *p);
	if (!p) return NULL;
	for (uint32_t i = 0; i < b->nworkers; i++)
		for (uint32_t j = 0; j < b->workers[i].nclients; j++) {
			struct bclient *c = &b->workers[i].clients[j];
			if (c->role == ROLE_PUB && c->idx < n) p[c->idx] = c;
		}
	return p;
}

/* Whether subscriber s should get publisher p's messages. */
static bool routed(const struct bench_opts *o, uint32_t s, uint32_t p)
{
	switch (o->scenario) {
	case SC_FANOUT: return p == 0;
	case SC_P2P: return p == s;
	default: return true;
	}
}

/* Counts expected, lost, duplicated and reordered from the streams, once the threads are done. */
static int account(struct bench *b, struct bench_result *r)
{
	const struct bench_opts *o = b->o;
	uint32_t np = o->scenario == SC_CONN ? 0 : o->publishers;
	struct bclient **pub = publishers(b, np);
	if (!pub) return -1;
	struct track *group = NULL;
	if (o->scenario == SC_SHARED && !(group = calloc(np ? np : 1, sizeof *group))) {
		free(pub);
		return -1;
	}
	for (uint32_t i = 0; i < b->nworkers; i++) {
		for (uint32_t j = 0; j < b->workers[i].nclients; j++) {
			struct bclient *c = &b->workers[i].clients[j];
			if (c->role != ROLE_SUB) continue;
			if (o->scenario == SC_SUB) {
				/* Publishers elsewhere: what is missing between the first and last number seen is lost. */
				for (uint32_t p = 0; p < c->streams.n; p++) {
					struct track *t = &c->streams.t[p];
					if (!t->distinct) continue;
					uint64_t span = t->max_seq - t->min_seq + 1;
					r->expected += span;
					r->lost += span - t->distinct;
					r->duplicated += t->dup;
					r->reordered += t->reordered;
				}
				continue;
			}
			for (uint32_t p = 0; p < np; p++) {
				struct track *t = p < c->streams.n ? &c->streams.t[p] : NULL;
				if (group) {
					if (t && track__merge(&group[p], t)) return -1;
					continue;
				}
				if (!routed(o, c->idx, p)) continue;
				uint64_t m = pub[p] ? pub[p]->measured : 0, f = pub[p] ? pub[p]->first_measured : 0;
				uint64_t got = t ? track__count(t, f, f + m) : 0;
				r->expected += m;
				r->lost += m - got;
				if (t) r->duplicated += t->dup, r->reordered += t->reordered;
			}
		}
	}
	if (group) {
		for (uint32_t p = 0; p < np; p++) {
			uint64_t m = pub[p] ? pub[p]->measured : 0, f = pub[p] ? pub[p]->first_measured : 0;
			r->expected += m;
			r->lost += m - track__count(&group[p], f, f + m);
			r->duplicated += group[p].dup;
			r->reordered += group[p].reordered;
			track__fini(&group[p]);
		}
		free(group);
	}
	free(pub);
	return 0;
}

/* True once every worker has seen the drain phase with nothing left in its publishers' output buffers. */
static bool all_written(struct bench *b)
{
	for (uint32_t i = 0; i < b->nworkers; i++)
		if (bstat_get(&b->workers[i].st.unwritten) != 1) return false;
	return true;
}

/* What the receivers should have by now, as far as the running counters tell. */
static uint64_t expected_now(const struct bench_opts *o, const struct totals *t)
{
	switch (o->scenario) {
	case SC_FANOUT: return t->sent * o->subscribers;
	case SC_FANIN:
	case SC_P2P:
	case SC_SHARED: return t->sent;
	default: return 0;
	}
}

static void fill_error(struct bench *b, struct bench_result *r)
{
	for (uint32_t i = 0; i < b->nworkers && !r->first_error[0]; i++)
		if (atomic_load(&b->workers[i].has_error))
			snprintf(r->first_error, sizeof r->first_error, "%s", b->workers[i].first_error);
}

int bench__run(const struct bench_opts *o, struct bench_result *r)
{
	memset(r, 0, sizeof *r);
	struct bench b = {.o = o, .nworkers = o->threads};
	int status = -1;
	uint32_t started = 0;
	struct progress pg = {.on = isatty(2)}; /* stderr: --json keeps stdout to itself */
	struct sysmon sm = {0};
	uint64_t sys_t0 = 0, drops_base = 0, load_end = 0;
	uint64_t from = 0, pub_end = 0; /* set before any status 0 reaches stop: up here for the gotos */
	bool have_base = false;
	if (resolve(&b, r->first_error, sizeof r->first_error)) return -1;
	if (o->transport == BT_TLS || o->transport == BT_WSS) {
		/* Without --cafile the system's CAs are trusted (as mosquitto_pub does for mqtts://); --insecure
		 * without one verifies nothing, for a broker with a self-signed certificate. */
		struct tls_settings ts = {.cafile = o->cafile, .use_os_certs = !o->cafile && !o->insecure};
		char err[256];
		if (!(b.tls = tls__ctx_new(&ts, TLS_ROLE_CLIENT, err, sizeof err))) {
			snprintf(r->first_error, sizeof r->first_error, "%s", err);
			return -1;
		}
	}
	b.pub_rate = o->interval_ms ? 1000.0 / o->interval_ms : o->publishers ? o->rate / o->publishers : 0;
	if (!(b.workers = calloc(b.nworkers, sizeof *b.workers))) goto out;
	for (uint32_t i = 0; i < b.nworkers; i++) b.workers[i].ep = -1;
	if (make_clients(&b)) {
		snprintf(r->first_error, sizeof r->first_error, "out of memory");
		goto out;
	}
	atomic_store(&b.measure_from, UINT64_MAX);
	/* The watcher connects alongside the load's clients, so its wait for the first value overlaps theirs. */
	if (o->no_sys) {
		snprintf(r->drops_why, sizeof r->drops_why, "not read: --no-sys");
	} else {
		sys_t0 = bench__now_ns();
		if (sysmon__start(&sm, &b, r->drops_why, sizeof r->drops_why)) sysmon__stop(&sm);
	}
	for (; started < b.nworkers; started++)
		if (pthread_create(&b.workers[started].thread, NULL, bworker__main, &b.workers[started])) {
			snprintf(r->first_error, sizeof r->first_error, "cannot start a thread");
			goto stop;
		}

	/* Connect everyone (subscriptions included) before anything is published. */
	uint64_t t_conn = bench__now_ns();
	pg.start_ns = pg.last_ns = t_conn;
	double limit = (double)b.nclients / o->connect_rate + CONNECT_SLACK_S;
	struct totals t;
	for (;;) {
		t = totals(&b);
		if (t.ready + t.failed >= b.nclients) break;
		if ((double)(bench__now_ns() - t_conn) / 1e9 > limit) {
			snprintf(r->first_error, sizeof r->first_error, "%llu of %u clients not connected after %.0f s",
				 (unsigned long long)(b.nclients - t.ready), b.nclients, limit);
			goto stop;
		}
		progress(&pg, &b);
		bench__sleep_ms(2);
	}
	uint64_t last_conn = 0;
	for (uint32_t i = 0; i < b.nworkers; i++)
		if (bstat_get(&b.workers[i].st.last_connect_ns) > last_conn) last_conn = bstat_get(&b.workers[i].st.last_connect_ns);
	r->clients = b.nclients;
	r->connected = (uint32_t)t.ready;
	r->failed = (uint32_t)t.failed;
	r->connect_per_second = last_conn > t_conn ? (double)t.ready / ((double)(last_conn - t_conn) / 1e9) : 0;
	if (t.failed && (o->scenario != SC_CONN || !t.ready)) {
		fill_error(&b, r);
		char why[256];
		snprintf(why, sizeof why, "%s", r->first_error);
		snprintf(r->first_error, sizeof r->first_error, "%llu of %u clients failed to connect: %.180s",
			 (unsigned long long)t.failed, b.nclients, why);
		goto stop;
	}

	/* The counter's value before any of this run's messages: the latest the watcher has. */
	if (sm.started) {
		double wait = o->sys_wait < SYS_BASELINE_S ? o->sys_wait : SYS_BASELINE_S;
		have_base = sysmon__baseline(&sm, sys_t0 + (uint64_t)(wait * 1e9), &drops_base, r->drops_why,
					     sizeof r->drops_why);
	}

	/* Publish: warm-up, then measured, until the duration ends or every publisher sent its count. */
	uint64_t t0 = bench__now_ns();
	from = t0 + (uint64_t)(o->warmup * 1e9);
	uint64_t until = o->count ? 0 : from + (uint64_t)(o->duration * 1e9);
	atomic_store(&b.start, t0);
	atomic_store(&b.publish_until, until);
	atomic_store(&b.measure_from, from);
	atomic_store(&b.phase, PH_RUN);
	uint32_t npub = o->scenario == SC_CONN || o->scenario == SC_SUB ? 0 : o->publishers;
	uint64_t stall_sent = 0, stall_ns = t0;
	for (;;) {
		uint64_t now = bench__now_ns();
		t = totals(&b);
		if (npub ? t.pubs_done >= npub : (now >= from + (uint64_t)(o->duration * 1e9))) break;
		if (t.all_sent != stall_sent) stall_sent = t.all_sent, stall_ns = now;
		if (o->count && now - stall_ns > 30000000000u) break; /* a count that can never be reached */
		progress(&pg, &b);
		bench__sleep_ms(2);
	}
	pub_end = bench__now_ns();
	atomic_store(&b.phase, PH_DRAIN);

	/* Drain: every message written to its socket (an unpaced publisher's buffer may still hold some when
	 * publishing ends; they count as sent), every QoS 1/2 message acknowledged (bounded), then stragglers for
	 * a little while. */
	uint64_t d0 = bench__now_ns();
	while (!all_written(&b) && (double)(bench__now_ns() - d0) / 1e9 < ACK_DRAIN_S) {
		progress(&pg, &b);
		bench__sleep_ms(2);
	}
	d0 = bench__now_ns();
	while (o->qos && (t = totals(&b)).inflight && (double)(bench__now_ns() - d0) / 1e9 < ACK_DRAIN_S) {
		progress(&pg, &b);
		bench__sleep_ms(2);
	}
	d0 = bench__now_ns();
	while ((t = totals(&b)).unique < expected_now(o, &t) && (double)(bench__now_ns() - d0) / 1e9 < STRAGGLER_S) {
		progress(&pg, &b);
		bench__sleep_ms(2);
	}
	/* Every message of the run has reached the broker by now (acknowledged, or waited for). */
	load_end = bench__now_ns();
	status = 0;
stop:
	atomic_store(&b.phase, PH_STOP);
	for (uint32_t i = 0; i < started; i++) pthread_join(b.workers[i].thread, NULL);
	if (pg.on) fputc('\n', stderr);
	if (status == 0 && have_base) {
		/* The broker's next $SYS update after the load, read once the load's clients are gone. */
		uint64_t end;
		if (sysmon__final(&sm, load_end, bench__now_ns() + (uint64_t)(o->sys_wait * 1e9), &end, r->drops_why,
				  sizeof r->drops_why)) {
			/* A counter that went back (the broker restarted meanwhile) says nothing about this run. */
			r->drops_known = end >= drops_base;
			if (r->drops_known) r->drops_reported = end - drops_base;
			else snprintf(r->drops_why, sizeof r->drops_why, "the broker's counter went back from %llu to %llu",
				      (unsigned long long)drops_base, (unsigned long long)end);
		}
	}
	sysmon__stop(&sm);
	if (status == 0) {
		t = totals(&b);
		r->sent = t.sent;
		r->acked = t.acked;
		uint64_t last_send = 0, last_recv = 0;
		for (uint32_t i = 0; i < b.nworkers; i++) {
			struct bworker *w = &b.workers[i];
			hist__merge(&r->hist, &w->hist);
			r->received += bstat_get(&w->st.received);
			r->foreign += bstat_get(&w->st.foreign);
			r->errors += bstat_get(&w->st.errors);
			if (bstat_get(&w->st.last_send_ns) > last_send) last_send = bstat_get(&w->st.last_send_ns);
			if (bstat_get(&w->st.last_recv_ns) > last_recv) last_recv = bstat_get(&w->st.last_recv_ns);
			uint64_t fr = bstat_get(&w->st.first_recv_ns);
			if (fr && (!r->recv_first_ns || fr < r->recv_first_ns)) r->recv_first_ns = fr;
		}
		/* Publishing time: the duration asked for, or (count mode) until the last publisher finished. */
		double span = o->count ? (double)((last_send > from ? last_send : pub_end) - from) / 1e9 : o->duration;
		if (o->scenario == SC_SUB || o->scenario == SC_CONN) span = o->duration;
		r->duration_s = span;
		r->recv_last_ns = last_recv;
		r->rate_out = span > 0 ? (double)r->sent / span : 0;
		double rspan = last_recv > from ? (double)(last_recv - from) / 1e9 : 0;
		if (rspan < span) rspan = span;
		r->rate_in = rspan > 0 ? (double)r->received / rspan : 0;
		if (account(&b, r)) {
			snprintf(r->first_error, sizeof r->first_error, "out of memory");
			status = -1;
		}
		fill_error(&b, r);
	}
out:
	if (b.workers)
		for (uint32_t i = 0; i < b.nworkers; i++) bworker__fini(&b.workers[i]);
	free(b.workers);
	tls__ctx_unref(b.tls);
	return status;
}
