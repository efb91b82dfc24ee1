/* Monotonic and wall clocks in the units the broker uses. */
#ifndef MIDGE_CLOCK_H
#define MIDGE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (never jumps with wall-clock changes). */
static inline uint64_t clock__ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Seconds since the epoch, for logs and $SYS. */
static inline time_t clock__wall(void) { return time(NULL); }

#endif
