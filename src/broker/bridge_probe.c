/* A bridge that is not round_robin and runs on a later address checks now and then whether its first (main)
 * address is back, with a plain TCP connect in its worker's loop, and goes back to it when it is (as
 * Mosquitto's bridges do). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge_int.h"
#include "broker.h"
#include "common/log.h"
#include "worker.h"

void bridge_probe__stop(struct bridge *br)
{
	if (br->probe_fd < 0) return;
	loop__del(&br->w->loop, &br->probe_io);
	close(br->probe_fd);
	br->probe_fd = -1;
}

static void on_probe(struct loop_io *io, uint32_t events)
{
	(void)events;
	struct bridge *br = container_of(io, struct bridge, probe_io);
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(br->probe_fd, SOL_SOCKET, SO_ERROR, &err, &len)) err = errno;
	bridge_probe__stop(br);
	if (err || br->state != BRIDGE_CONNECTED || br->addr == 0) return;
	const struct bridge_address *a = &br->conf->addresses[0];
	log__printf(&br->b->log, LOG_T_NOTICE, "Bridge %s: its first address %s:%u answers again; moving back to it.",
		    br->conf->name, a->host, a->port);
	bridge__switch_to_first(br);
}

/* A non-blocking connect to the first address, watched for its outcome. */
static void start(struct bridge *br)
{
	const struct bridge_address *a = &br->conf->addresses[0];
	char port[8];
	snprintf(port, sizeof(port), "%u", a->port);
	/* Numeric addresses only here: a name would be resolved on the worker's thread. A bridge whose first
	 * address is a name is checked when its connection ends instead. */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *ai = NULL;
	if (getaddrinfo(a->host, port, &hints, &ai) || !ai) return;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) return;
	if (loop__add(&br->w->loop, &br->probe_io, fd, EPOLLOUT, on_probe)) {
		close(fd);
		return;
	}
	br->probe_fd = fd;
}

void bridge_probe__tick(struct bridge *br, uint64_t now)
{
	if (br->conf->round_robin || br->state != BRIDGE_CONNECTED || br->addr == 0) {
		bridge_probe__stop(br);
		return;
	}
	if (br->probe_fd >= 0) {
		/* One interval is all a probe gets: a silent address is not back. */
		if (now >= br->probe_at_ms) bridge_probe__stop(br);
		return;
	}
	if (now < br->probe_at_ms) return;
	br->probe_at_ms = now + bridge__base_delay_ms(br);
	start(br);
}
