/* report: a run's results as the human summary or the one JSON object bench/compare reads (its field
 * names are an interface: keep them). */
#ifndef MIDGE_BENCH_REPORT_H
#define MIDGE_BENCH_REPORT_H

#include <stdio.h>

#include "options.h"
#include "run.h"

void report__json(FILE *out, const struct bench_opts *o, const struct bench_result *r);
void report__human(FILE *out, const struct bench_opts *o, const struct bench_result *r);

#endif
