/* midge-bench: an MQTT load generator on Midge's codec and transports (scenarios pub, sub, conn, fanin,
 * fanout, p2p, shared); prints a human summary, or one JSON object with --json. */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>

#include "bench/options.h"
#include "bench/report.h"
#include "bench/run.h"

static const char usage[] =
    "midge-bench: an MQTT load generator\n"
    "Usage: midge-bench SCENARIO [options]\n"
    "Scenarios:\n"
    "  pub      -c publishers, no subscribers\n"
    "  sub      -S subscribers on -t FILTER, counting what others publish\n"
    "  conn     -c idle clients connected at --connect-rate, kept for -d seconds\n"
    "  fanin    -c publishers (topic bench/%i) -> 1 subscriber on bench/#\n"
    "  fanout   1 publisher -> -S subscribers on its topic\n"
    "  p2p      -c pairs: publisher i -> subscriber i on bench/%i\n"
    "  shared   -c publishers -> -S subscribers in $share/bench/bench/#\n"
    "Connection:\n"
    "  -h HOST (127.0.0.1)  -p PORT (1883)  -L mqtt[s]://HOST[:PORT] or ws[s]://HOST[:PORT][/PATH]\n"
    "  --cafile FILE  --insecure  -V 311|5  -k KEEPALIVE (60)  --clean (default) | --no-clean\n"
    "  -i PREFIX   client id prefix (bench-PID-)\n"
    "Load:\n"
    "  -q QOS (0)  -s BYTES payload (64, at least 24)  -t PATTERN topic, %i = index (bench/%i)\n"
    "  --filter F  subscribers' filter (from -t: bench/%i -> bench/#)\n"
    "  -r RATE  total messages/s over all publishers (0 = as fast as possible) | -I MS per publisher\n"
    "  -n COUNT per publisher | -d SECONDS (10)   --warmup SECONDS (0)   -w WINDOW QoS 1/2 inflight (100)\n"
    "  -c N publishers or clients  -S N subscribers  --connect-rate N/s (1000)  --threads N (2)\n"
    "Output:\n"
    "  --json  one JSON object on stdout at the end\n"
    "  --sys-wait SECONDS  wait this long after the load for the broker's $SYS drop counter (12)\n"
    "  --no-sys  do not read $SYS (drops_reported is then null)\n"
    "See midge-bench(1).\n";

int main(int argc, char **argv)
{
	struct bench_opts o;
	char err[256];
	int rc = bench_opts__parse(&o, argc, argv, err, sizeof err);
	if (rc == 1) {
		fputs(usage, stdout);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "Error: %s\nUse 'midge-bench --help' to see usage.\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Thousands of connections need as many descriptors as the hard limit allows. */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	static struct bench_result r; /* holds a histogram of 58 KiB */
	if (bench__run(&o, &r)) {
		fprintf(stderr, "Error: %s\n", r.first_error);
		return 1;
	}
	if (o.json) report__json(stdout, &o, &r);
	else report__human(stdout, &o, &r);
	return 0;
}
