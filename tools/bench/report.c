/* report: human and JSON output of a run's results. */
#include "report.h"

#include "sysmon.h"

static double us(uint64_t ns) { return (double)ns / 1000.0; }

static double offered(const struct bench_opts *o)
{
	return o->interval_ms ? (double)o->publishers * 1000.0 / o->interval_ms : o->rate;
}

void report__json(FILE *out, const struct bench_opts *o, const struct bench_result *r)
{
	const struct hist *h = &r->hist;
	/* Not known is null, never 0: a broker that was not asked did not say it dropped nothing. */
	char drops[24] = "null";
	if (r->drops_known) snprintf(drops, sizeof drops, "%llu", (unsigned long long)r->drops_reported);
	fprintf(out,
		"{\"scenario\":\"%s\",\"version\":%u,\"qos\":%u,\"payload\":%u,\"publishers\":%u,\"subscribers\":%u,"
		"\"threads\":%u,\"offered_rate\":%.1f,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
		"\"sent\":%llu,\"acked\":%llu,\"received\":%llu,\"expected\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
		"\"reordered\":%llu,\"rate_out\":%.1f,\"rate_in\":%.1f,"
		"\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f},"
		"\"connect\":{\"clients\":%u,\"connected\":%u,\"failed\":%u,\"per_second\":%.1f},"
		"\"errors\":%llu,\"drops_reported\":%s,\"recv_first_ns\":%llu,\"recv_last_ns\":%llu}\n",
		bench_opts__scenario_name(o->scenario), o->version == 5 ? 5u : 311u, o->qos, o->payload,
		o->scenario == SC_CONN ? 0 : o->publishers, o->subscribers, o->threads, offered(o), r->duration_s,
		o->warmup, (unsigned long long)r->sent, (unsigned long long)r->acked, (unsigned long long)r->received,
		(unsigned long long)r->expected, (unsigned long long)r->lost, (unsigned long long)r->duplicated,
		(unsigned long long)r->reordered, r->rate_out, r->rate_in, us(hist__quantile(h, 0.50)),
		us(hist__quantile(h, 0.99)), us(hist__quantile(h, 0.999)), us(h->count ? h->max : 0),
		hist__mean(h) / 1000.0, r->clients, r->connected, r->failed, r->connect_per_second,
		(unsigned long long)r->errors, drops, (unsigned long long)r->recv_first_ns,
		(unsigned long long)r->recv_last_ns);
}

void report__human(FILE *out, const struct bench_opts *o, const struct bench_result *r)
{
	const struct hist *h = &r->hist;
	fprintf(out, "scenario %s, MQTT %s, QoS %u, %u-byte payloads, %u publishers, %u subscribers, %u threads\n",
		bench_opts__scenario_name(o->scenario), o->version == 5 ? "5" : "3.1.1", o->qos, o->payload,
		o->scenario == SC_CONN ? 0 : o->publishers, o->subscribers, o->threads);
	fprintf(out, "connections: %u of %u connected, %u failed, %.0f connects/s\n", r->connected, r->clients,
		r->failed, r->connect_per_second);
	if (o->scenario == SC_CONN) {
		fprintf(out, "idle for %.1f s; errors %llu\n", r->duration_s, (unsigned long long)r->errors);
		return;
	}
	double off = offered(o);
	if (off > 0) fprintf(out, "offered:  %.0f msg/s\n", off);
	else fprintf(out, "offered:  as fast as the window and the socket allow\n");
	fprintf(out, "sent:     %llu in %.2f s (%.0f msg/s)", (unsigned long long)r->sent, r->duration_s, r->rate_out);
	if (o->qos) fprintf(out, ", %llu acknowledged", (unsigned long long)r->acked);
	fprintf(out, "\nreceived: %llu of %llu expected (%.0f msg/s); lost %llu, duplicated %llu, reordered %llu\n",
		(unsigned long long)r->received, (unsigned long long)r->expected, r->rate_in,
		(unsigned long long)r->lost, (unsigned long long)r->duplicated, (unsigned long long)r->reordered);
	if (h->count)
		fprintf(out, "latency:  p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us, mean %.1f us\n",
			us(hist__quantile(h, 0.50)), us(hist__quantile(h, 0.99)), us(hist__quantile(h, 0.999)),
			us(h->max), hist__mean(h) / 1000.0);
	if (r->drops_known)
		fprintf(out, "dropped:  %llu by the broker's own count (%s)\n", (unsigned long long)r->drops_reported,
			SYSMON_DROPPED);
	else fprintf(out, "dropped:  not known (%s)\n", r->drops_why);
	if (r->foreign) fprintf(out, "foreign:  %llu messages without a midge-bench header (not counted)\n",
				(unsigned long long)r->foreign);
	fprintf(out, "errors:   %llu", (unsigned long long)r->errors);
	if (r->first_error[0]) fprintf(out, " (first: %s)", r->first_error);
	fputc('\n', out);
}
