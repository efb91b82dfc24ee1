/* What persist.c and persist_load.c share: messages as store rows and back. Not for the rest of the broker. */
#ifndef MIDGE_PERSIST_INT_H
#define MIDGE_PERSIST_INT_H

#include <stdbool.h>
#include <stdint.h>

struct message;
struct store_msg;

/* A message published through an encrypted_only listener keeps that mark across a restart (guard.h): the bit
 * rides in the row's qos byte, which the store keeps as it is given. */
#define PERSIST_GUARDED 0x80

/* Monotonic deadlines (clock__ms) as wall-clock ones and back: a row must mean the same after a reboot.
 * 0 stays 0 (never). */
uint64_t persist__to_wall(uint64_t mono_ms);
uint64_t persist__to_mono(uint64_t wall_ms);
/* m as a row, pointing into m. */
void persist__row(const struct message *m, struct store_msg *out);
/* A new message (one reference) from a row; deadline: its expiry_ms is a wall-clock deadline (else no expiry
 * is set: a will's is an interval). NULL when out of memory. */
struct message *persist__message(const struct store_msg *r, bool deadline);

#endif
