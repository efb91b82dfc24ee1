/* One epoll event loop per thread, with a cross-thread wake-up (eventfd) and a timer wheel. */
#ifndef MIDGE_LOOP_H
#define MIDGE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "timer.h"

struct loop_io;
typedef void (*loop_io_cb)(struct loop_io *io, uint32_t events);

/* A watched file descriptor, embedded in its owner (find the owner with container_of). */
struct loop_io {
	int fd;
	uint32_t events;
	loop_io_cb cb;
};

struct loop {
	int epfd;
	int wakefd;
	struct loop_io wake_io;
	void (*on_wake)(void *arg); /* called in the loop's thread after loop__wake from anywhere */
	void *wake_arg;
	struct timers timers;
	bool stop;
};

/* Creates the epoll and eventfd descriptors. Returns 0 or MIDGE_ERR_IO. A zeroed loop after a failed
 * init is safe to fini. */
int loop__init(struct loop *l, void (*on_wake)(void *arg), void *wake_arg);
void loop__fini(struct loop *l);
/* Watches fd for events (EPOLLIN/EPOLLOUT); io must outlive the registration. 0 or MIDGE_ERR_IO. */
int loop__add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_cb cb);
int loop__mod(struct loop *l, struct loop_io *io, uint32_t events);
void loop__del(struct loop *l, struct loop_io *io);
/* Thread-safe: makes the loop call on_wake soon. */
void loop__wake(struct loop *l);
/* Waits up to one timer tick for events, dispatches them and runs due timers. */
void loop__run_once(struct loop *l);

#endif
