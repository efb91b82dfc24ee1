/* The MQTT-SN 1.2 gateway: a `protocol mqttsn` listener's UDP sockets, inside the broker (an aggregating gateway
 * with no hop of its own). Its clients are broker clients like any other. See docs/mqtt-sn.md and sn_int.h. */
#ifndef MIDGE_SN_GW_H
#define MIDGE_SN_GW_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct listener_rt;
struct listener_conf;
struct sn_gw;

/* What the gateway saw, for $SYS; written by the gateway's worker, read by any thread. */
struct sn_gw_stats {
	atomic_uint_fast64_t received;   /* datagrams */
	atomic_uint_fast64_t sent;
	atomic_uint_fast64_t malformed;  /* dropped: the codec refused them */
	atomic_uint_fast64_t unknown;    /* dropped: a type MQTT-SN 1.2 does not define */
	atomic_uint_fast64_t unexpected; /* dropped: a type the gateway never takes, or one out of turn */
	atomic_uint_fast64_t congested;  /* refused: no room (clients, half-open CONNECTs, input waiting) */
	atomic_uint_fast64_t retries;    /* messages sent again for want of an answer */
	atomic_uint_fast64_t lost;       /* clients taken as lost (no answer after Nretry, slept too long) */
	atomic_uint_fast64_t qos_minus1; /* connectionless PUBLISHes routed */
};

/* Opens l's UDP sockets, reads its predefined topic file and puts the gateway in one worker's loop. Called by
 * broker__start before the workers run. Returns 0 or MIDGE_ERR_* with a message in err. */
int sn_gw__start(struct broker *b, struct listener_rt *l, char *err, size_t errlen);
/* Reads the files lc names (the predefined topics) as sn_gw__start would, for --test-config. 0 or MIDGE_ERR_* with
 * "FILE: line N: message" in err. */
int sn_gw__check_files(const struct listener_conf *lc, char *err, size_t errlen);
/* After the workers stopped and closed their connections: closes the sockets and frees g. NULL is ignored. */
void sn_gw__free(struct sn_gw *g);
/* Its counters (borrowed). */
const struct sn_gw_stats *sn_gw__stats(const struct sn_gw *g);
/* MQTT-SN clients connected through it. Any thread (approximate). */
size_t sn_gw__clients(const struct sn_gw *g);

#endif
