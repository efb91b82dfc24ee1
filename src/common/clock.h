/* Monotonic and wall clocks in the units the broker uses. */
#ifndef MIDGE_CLOCK_H
#define MIDGE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (never jumps with wall-clock changes). */
static inline uint64_t clock__ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Initialises a condition variable whose timed waits run on clock__ms's clock, so a wait neither stretches
 * nor shrinks when the wall clock is set. */
static inline void clock__cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

/* A deadline in clock__ms() milliseconds as the absolute time pthread_cond_timedwait wants for a condition
 * made by clock__cond_init. */
static inline struct timespec clock__abstime(uint64_t deadline_ms)
{
	return (struct timespec){.tv_sec = (time_t)(deadline_ms / 1000), .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
}

/* Milliseconds since the epoch on the wall clock: for deadlines that must outlive the process (the store). */
static inline uint64_t clock__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Seconds since the epoch, for logs and $SYS. */
static inline time_t clock__wall(void) { return time(NULL); }

#endif
