/* A minimal unit-test harness: CHECK records a failure and carries on; CHECK_DONE ends main. */
#ifndef MIDGE_CHECK_H
#define MIDGE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		check_count++;                                                           \
		if (!(cond)) {                                                           \
			check_failures++;                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                        \
	} while (0)
#define CHECK_EQ(a, b) CHECK((a) == (b))
#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
/* Ends a test program: prints a summary and returns non-zero when any check failed. */
#define CHECK_DONE()                                                                             \
	do {                                                                                     \
		fprintf(stderr, "%s: %d checks, %d failed\n", __FILE__, check_count, check_failures); \
		return check_failures ? 1 : 0;                                                  \
	} while (0)

#endif
