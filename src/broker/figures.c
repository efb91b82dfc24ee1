/* The broker's figures read at one moment (figures.h). */
#include "figures.h"

#include <malloc.h>
#include <time.h>

#include "broker.h"
#include "common/clock.h"
#include "retain.h"
#include "subs.h"
#include "worker.h"

void figures__connected(struct broker *b)
{
	int n = atomic_load(&b->stats.clients_connected);
	int max = atomic_load(&b->stats.clients_max);
	while (n > max && !atomic_compare_exchange_weak(&b->stats.clients_max, &max, n)) {
	}
}

void figures__read(struct broker *b, struct figures *f)
{
	*f = (struct figures){0};
	f->uptime_s = (clock__ms() - b->start_ms) / 1000;
	f->now = (int64_t)time(NULL);
	f->connected = atomic_load(&b->stats.clients_connected);
	f->offline = atomic_load(&b->stats.clients_persistent_offline);
	f->connected_max = atomic_load(&b->stats.clients_max);
	if (f->connected > f->connected_max) f->connected_max = f->connected;
	f->expired = atomic_load(&b->stats.clients_expired);
	f->clients_ever = atomic_load(&b->stats.clients_total_ever);
	f->sockets_ever = atomic_load(&b->stats.sockets_total_ever);
	f->msgs_received = BROKER_STAT(b, msgs_received);
	f->msgs_sent = BROKER_STAT(b, msgs_sent);
	f->pub_received = BROKER_STAT(b, pub_received);
	f->pub_sent = BROKER_STAT(b, pub_sent);
	f->pub_dropped = atomic_load(&b->stats.pub_dropped);
	f->pub_withheld = atomic_load(&b->stats.guard_withheld);
	f->bytes_received = BROKER_STAT(b, bytes_received);
	f->bytes_sent = BROKER_STAT(b, bytes_sent);
	f->subscriptions = subs__count(b->subs);
	f->retained = retain__count(b->retained);
	struct mallinfo2 mi = mallinfo2();
	f->heap = mi.uordblks + mi.hblkhd;
	size_t max = atomic_load(&b->stats.heap_max);
	while (f->heap > max && !atomic_compare_exchange_weak(&b->stats.heap_max, &max, f->heap)) {
	}
	f->heap_max = f->heap > max ? f->heap : max;
	if (b->store) {
		f->store_on = true;
		store__stats(b->store, &f->store);
		f->store_failing = atomic_load(&b->store_failing);
	}
}
