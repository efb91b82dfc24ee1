/* run: one benchmark run: the shared context every thread reads (struct bench), the phases the main thread
 * moves it through, and the results it collects when the threads are done. */
#ifndef MIDGE_BENCH_RUN_H
#define MIDGE_BENCH_RUN_H

#include <netdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hist.h"
#include "options.h"

struct tls_ctx;
struct bworker;

enum bench_phase {
	PH_CONNECT, /* clients connect (at --connect-rate) and subscribe */
	PH_RUN,     /* publishers publish (warm-up, then measured) */
	PH_DRAIN,   /* no new messages; acknowledgements and stragglers still come in */
	PH_STOP,    /* threads disconnect their clients and return */
};

/* The run's context. Written by the main thread before the threads start, except the atomics, which the
 * main thread sets as phases change; the threads only read it. */
struct bench {
	const struct bench_opts *o;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct tls_ctx *tls; /* mqtts:// and wss://; one reference */
	double pub_rate;     /* messages/s offered per publisher, 0 = unlimited */
	uint32_t nclients;
	_Atomic int phase;              /* enum bench_phase */
	_Atomic uint64_t start;         /* CLOCK_MONOTONIC ns: publishing starts (rate buckets count from it) */
	_Atomic uint64_t measure_from;  /* CLOCK_MONOTONIC ns: messages sent from then on are measured */
	_Atomic uint64_t publish_until; /* ns; 0 in count mode */
	struct bworker *workers;
	uint32_t nworkers;
};

/* What a run found; filled by bench__run for report.c. Latencies in microseconds. */
struct bench_result {
	uint64_t sent, acked, received, expected, lost, duplicated, reordered, foreign;
	double duration_s; /* measured publishing time */
	double rate_out, rate_in;
	/* CLOCK_MONOTONIC ns of the first and last measured message received, 0 when none: several runs on one
	 * machine (a cluster's nodes, each with its midge-bench) give one delivery span. */
	uint64_t recv_first_ns, recv_last_ns;
	struct hist hist; /* nanoseconds */
	uint32_t clients, connected, failed;
	double connect_per_second;
	uint64_t errors;
	/* What the broker's $SYS drop counter grew by over the run, warm-up included (sysmon.h), when
	 * drops_known; otherwise drops_why says why it is not known (--no-sys, no $SYS value, ...). */
	bool drops_known;
	uint64_t drops_reported;
	char drops_why[200];
	char first_error[256];
};

/* Nanoseconds on CLOCK_MONOTONIC, the clock of payload send times. */
uint64_t bench__now_ns(void);
/* Sleeps ms milliseconds (the polling waits of the run and of its $SYS watcher). */
void bench__sleep_ms(unsigned ms);

/* Runs the benchmark o describes, printing progress on stderr when it is a terminal (and not --json).
 * Returns 0 with r filled when the run completed (losses included), or -1 with a one-line reason in
 * r->first_error when it could not (no connection, a client refused, ...). */
int bench__run(const struct bench_opts *o, struct bench_result *r);

#endif
