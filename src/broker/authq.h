/* Password checks off the workers' event loops: a few threads verify passwords (a $7$ hash costs about a
 * millisecond) and hand each answer back to the connection's worker. Failed checks make their source
 * address (an IPv4 address, an IPv6 /64) wait longer each time, and fade by half each minute; at most a few
 * checks of one address are queued at once and a bounded number wait behind them, so guessing passwords
 * at line rate is impossible and a guesser cannot fill memory. */
#ifndef MIDGE_AUTHQ_H
#define MIDGE_AUTHQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct conn;
struct security;

/* What a connection's password check came to (conn.auth_state). */
enum auth_state {
	AUTH_NONE = 0,
	AUTH_PENDING,
	AUTH_ALLOWED,
	AUTH_REFUSED,
};

/* Starts nthreads checking threads for b (b->authq). 0 or MIDGE_ERR_*. */
int authq__start(struct broker *b, int nthreads);
/* Stops the threads; checks not done yet are dropped with their references. Call once no worker can
 * submit any more (workers halted), before the workers' inboxes are drained. */
void authq__stop(struct broker *b);
/* Queues a check of username/password (pwlen bytes) against domain dom of sec for c, whose source address
 * (c->addr) waits its turn after earlier failures; password NULL (none sent) never matches. Takes
 * references on c and sec. When done, sets c->auth_failures to the address's failures so far and
 * c->auth_state to AUTH_ALLOWED or AUTH_REFUSED, and posts c to its worker; nothing when c->auth_cancel
 * was set meanwhile (the connection closed). Returns 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_AGAIN when the
 * address has too many checks pending or its turn would come after connect_timeout (refuse as busy). */
int authq__submit(struct broker *b, struct conn *c, struct security *sec, size_t dom, const char *username,
		  const uint8_t *password, size_t pwlen);

/* A password check made elsewhere (the HTTP API's Basic credentials, on a worker) that counts against its
 * source address like one of the queue's: returns 0 when peer ("ip:port") may be checked now (then call
 * authq__check_end with the outcome), or the milliseconds until it may (its back-off after failures, or too
 * many checks of it at once). Any thread. */
uint64_t authq__check_begin(struct broker *b, const char *peer);
void authq__check_end(struct broker *b, const char *peer, bool ok);

#endif
