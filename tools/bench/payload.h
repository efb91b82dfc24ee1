/* payload: the header every midge-bench message carries at the front of its payload, so a receiver can
 * tell who sent it, in which order and when. Pure; the caller owns every byte given. */
#ifndef MIDGE_BENCH_PAYLOAD_H
#define MIDGE_BENCH_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Layout, little-endian (both ends run on this machine; the byte order only has to be fixed):
 *   0  u16 magic 0x424D ("MB"), so messages from anyone else are told apart and not counted
 *   2  u8  flags (PAYLOAD_WARMUP: sent during the warm-up, not measured)
 *   3  u8  reserved, 0
 *   4  u32 publisher index
 *   8  u64 sequence number of that publisher, from 0
 *  16  u64 send time, CLOCK_MONOTONIC nanoseconds (sender and receiver share the machine's clock)
 *  24  padding up to the payload size */
#define PAYLOAD_HEADER 24
#define PAYLOAD_MAGIC 0x424Du
#define PAYLOAD_WARMUP 0x01u

struct payload_hdr {
	uint8_t flags;
	uint32_t publisher;
	uint64_t seq;
	uint64_t sent_ns;
};

/* Writes h into out[0..PAYLOAD_HEADER). */
void payload__write(uint8_t *out, const struct payload_hdr *h);
/* Reads the header of a payload of len bytes into h. False when it is too short or lacks the magic. */
bool payload__read(const uint8_t *p, size_t len, struct payload_hdr *h);

#endif
