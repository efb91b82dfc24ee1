/* Password checks off the workers' event loops: a few threads verify passwords (a $7$ hash costs about a
 * millisecond) and hand each answer back to the connection's worker. Failed checks make their source
 * address wait longer each time, so guessing passwords at line rate is impossible. */
#ifndef MIDGE_AUTHQ_H
#define MIDGE_AUTHQ_H

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
/* Stops the threads; checks not done yet are dropped with their references. */
void authq__stop(struct broker *b);
/* Queues a check of username/password (pwlen bytes) against domain dom of sec for c, whose source address
 * (c->addr) waits its turn after earlier failures; password NULL (none sent) never matches. Takes
 * references on c and sec. When done, sets c->auth_state to AUTH_ALLOWED or AUTH_REFUSED, c->auth_failures to the address's failures so far, and posts c to its worker.
 * Returns 0 or MIDGE_ERR_NOMEM. */
int authq__submit(struct broker *b, struct conn *c, struct security *sec, size_t dom, const char *username,
		  const uint8_t *password, size_t pwlen);

#endif
