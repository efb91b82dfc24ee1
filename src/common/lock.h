/* A mutex in four bytes, for the locks every connection and session carries (pthread_mutex_t takes 40 on x86-64,
 * and a broker holds one per client several times over). Uncontended it is one atomic compare-and-swap; a waiter
 * spins briefly, then sleeps in the kernel (futex). It is the three-state mutex of Drepper's "Futexes Are Tricky":
 * 0 unlocked, 1 locked, 2 locked with (maybe) waiters. Not recursive; no condition variables; a zeroed lock is an
 * unlocked one and needs no destroy. */
#ifndef MIDGE_LOCK_H
#define MIDGE_LOCK_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

struct lock {
	atomic_int v;
};

#define LOCK_SPINS 200

static inline void lock__pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline void lock__futex(atomic_int *v, int op, int val)
{
	syscall(SYS_futex, (int *)v, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static inline void lock__acquire(struct lock *l)
{
	int c = 0;
	if (atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire, memory_order_relaxed)) return;
	/* Held by another thread, which on another core is likely done within a microsecond (these locks guard a
	 * list append or an acknowledgement): look again a little while before going to sleep, which costs two
	 * context switches. */
	for (int i = 0; i < LOCK_SPINS; i++) {
		lock__pause();
		c = atomic_load_explicit(&l->v, memory_order_relaxed);
		if (c == 0) {
			if (atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire, memory_order_relaxed))
				return;
		} else if (c == 2) {
			break; /* others sleep on it already: no point being first in line by spinning */
		}
	}
	/* Contended: mark it so (2) and sleep until an unlock finds it free. */
	if (c != 2) c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
	while (c != 0) {
		lock__futex(&l->v, FUTEX_WAIT, 2);
		c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
	}
}

static inline void lock__release(struct lock *l)
{
	/* From 1 nobody waits; from 2 someone may: free it and wake one. */
	if (atomic_fetch_sub_explicit(&l->v, 1, memory_order_release) != 1) {
		atomic_store_explicit(&l->v, 0, memory_order_release);
		lock__futex(&l->v, FUTEX_WAKE, 1);
	}
}

#endif
