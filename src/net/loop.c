/* epoll event loop with eventfd wake-up and a timer wheel: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "midge/midge.h"

static void on_wakefd(struct loop_io *io, uint32_t events)
{
	struct loop *l = (struct loop *)((char *)io - offsetof(struct loop, wake_io));
	uint64_t v;
	/* Drain the counter; many wakes between two turns collapse into one call. */
	while (read(l->wakefd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
	}
	if (l->on_wake) l->on_wake(l->wake_arg);
}

int loop__init(struct loop *l, void (*on_wake)(void *arg), void *wake_arg)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->on_wake = on_wake;
	l->wake_arg = wake_arg;
	l->stop = false;
	timers__init(&l->timers, clock__ms());
	if (l->epfd < 0 || l->wakefd < 0) return MIDGE_ERR_IO;
	return loop__add(l, &l->wake_io, l->wakefd, EPOLLIN, on_wakefd);
}

void loop__fini(struct loop *l)
{
	if (l->epfd > 0) close(l->epfd);
	if (l->wakefd > 0) close(l->wakefd);
	l->epfd = l->wakefd = -1;
}

int loop__add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_cb cb)
{
	io->fd = fd;
	io->events = events;
	io->cb = cb;
	struct epoll_event ev = {.events = events, .data.ptr = io};
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) ? MIDGE_ERR_IO : 0;
}

int loop__mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	if (io->events == events) return 0;
	io->events = events;
	if (io->fd < 0) return 0; /* a connection without a socket of its own (MQTT-SN) is not watched */
	struct epoll_event ev = {.events = events, .data.ptr = io};
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) ? MIDGE_ERR_IO : 0;
}

void loop__del(struct loop *l, struct loop_io *io)
{
	if (io->fd >= 0) epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void loop__wake(struct loop *l)
{
	uint64_t one = 1;
	ssize_t r = write(l->wakefd, &one, sizeof(one));
	(void)r; /* EAGAIN means the counter is already non-zero: the loop will wake anyway */
}

void loop__run_once(struct loop *l)
{
	struct epoll_event evs[128];
	int n = epoll_wait(l->epfd, evs, 128, (int)TIMER_TICK_MS);
	for (int i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;
		io->cb(io, evs[i].events);
	}
	timers__run(&l->timers, clock__ms());
}
