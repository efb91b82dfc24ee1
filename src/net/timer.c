/* Hashed timer wheel: see timer.h. */
#include "timer.h"

void timers__init(struct timers *w, uint64_t now_ms)
{
	for (unsigned i = 0; i < TIMER_SLOTS; i++) list__init(&w->slots[i]);
	w->tick = now_ms / TIMER_TICK_MS;
	w->count = 0;
}

void timer__arm(struct timers *w, struct timer *t, uint64_t at_ms, timer_cb cb)
{
	if (timer__armed(t)) timer__cancel(w, t);
	uint64_t tick = (at_ms + TIMER_TICK_MS - 1) / TIMER_TICK_MS;
	/* A timer due now or in the past goes into the next slot to be processed, never a passed one. */
	if (tick <= w->tick) tick = w->tick + 1;
	t->expires_ms = at_ms;
	t->cb = cb;
	list__add_tail(&w->slots[tick % TIMER_SLOTS], &t->node);
	w->count++;
}

void timer__cancel(struct timers *w, struct timer *t)
{
	if (!timer__armed(t)) return;
	list__del(&t->node);
	w->count--;
}

void timers__run(struct timers *w, uint64_t now_ms)
{
	uint64_t now_tick = now_ms / TIMER_TICK_MS;
	/* After a long stall, one pass over every slot is enough: each slot holds all its due entries. */
	if (now_tick > w->tick + TIMER_SLOTS) w->tick = now_tick - TIMER_SLOTS;
	while (w->tick < now_tick) {
		w->tick++;
		struct list *slot = &w->slots[w->tick % TIMER_SLOTS];
		struct list due;
		list__init(&due);
		struct list *pos, *n;
		list_for_each_safe(pos, n, slot)
		{
			struct timer *t = list_entry(pos, struct timer, node);
			/* Entries more than one wheel turn away stay for a later turn. */
			if (t->expires_ms <= now_ms) {
				list__del(pos);
				list__add_tail(&due, pos);
			}
		}
		while (!list__empty(&due)) {
			struct timer *t = list_entry(list__pop(&due), struct timer, node);
			w->count--;
			t->cb(t);
		}
	}
}
