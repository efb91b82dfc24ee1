/* A hashed timer wheel with entries embedded in their owners: arming and cancelling are O(1),
 * and a tick only looks at the entries of its slot. */
#ifndef MIDGE_TIMER_H
#define MIDGE_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/list.h"

#define TIMER_TICK_MS 100u
#define TIMER_SLOTS 512u

struct timer;
typedef void (*timer_cb)(struct timer *t);

/* Embedded in its owner; zeroed = not armed. */
struct timer {
	struct list node;
	uint64_t expires_ms;
	timer_cb cb;
};

/* Owned by one thread (a loop); not thread-safe. A zeroed wheel must be set up with timers__init. */
struct timers {
	struct list slots[TIMER_SLOTS];
	uint64_t tick; /* last tick processed */
	uint64_t count;
};

void timers__init(struct timers *w, uint64_t now_ms);
/* Arms (or re-arms) t to fire cb at at_ms (rounded up to the next tick). */
void timer__arm(struct timers *w, struct timer *t, uint64_t at_ms, timer_cb cb);
/* Disarms t; harmless when not armed. */
void timer__cancel(struct timers *w, struct timer *t);
static inline bool timer__armed(const struct timer *t) { return list__linked(&t->node); }
/* Fires every timer due at now_ms. Callbacks may arm or cancel any timer. */
void timers__run(struct timers *w, uint64_t now_ms);

#endif
