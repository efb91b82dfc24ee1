/* Retained messages sent after a SUBSCRIBE: a first chunk at once, the rest paced by the subscriber.
 *
 * A '#' over a million retained topics must neither stall the other clients of the subscriber's worker while
 * the tree is walked, nor go past the subscriber's output cap or queue limit (which would drop most of them).
 * So the walk is a retain cursor (retain.h) moved on in chunks from the subscriber's worker, each turn of its
 * loop, while the connection can take more: output under a low-water mark, and at QoS 1/2 an open window with
 * nothing queued. */
#ifndef MIDGE_RETAINED_SEND_H
#define MIDGE_RETAINED_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct worker;
struct conn;

/* Sends c the retained messages matching filter (valid, not shared) with the retain flag [MQTT-3.3.1-8, -9],
 * at most qos, with sub_id (0: none), leaving out expired ones [MQTT-3.3.2-5]. Any thread (w: the calling
 * worker, NULL off the workers); what does not fit in a first chunk continues from c's worker. */
void retained__send(struct broker *b, struct worker *w, struct conn *c, const uint8_t *filter, size_t len,
		    uint8_t qos, uint32_t sub_id);
/* w's thread, each loop turn after its flushes: continues the sends whose connections can take more, ends
 * those whose connections closed. Returns true when one could take more at once (the caller turns again
 * without sleeping; otherwise its output draining or an acknowledgement wakes the loop). */
bool retained__run(struct worker *w);
/* Ends every send of w (shutdown, after its thread stopped). */
void retained__drop(struct worker *w);

#endif
