/* pub: publishes one message with libmidge and waits until the broker has it.
 *
 *   cc examples/pub.c $(pkg-config --cflags --libs midge) -o pub
 *   ./pub mqtt://127.0.0.1:1883 sensors/kitchen/temp 21.5 1
 *
 * Arguments: URL, topic, message, and the QoS (0, 1 or 2; default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <midge/client.h>

/* The library says why things fail (e.g. "connect to 127.0.0.1 port 1883: Connection refused") through on_log. */
static void on_log(struct midge_client *c, void *ud, int level, const char *line)
{
	(void)c, (void)ud;
	if (level <= MIDGE_LOG_WARNING) fprintf(stderr, "pub: %s\n", line);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s URL TOPIC MESSAGE [QOS]\n", argv[0]);
		return 2;
	}
	const char *url = argv[1], *topic = argv[2], *message = argv[3];
	int qos = argc > 4 ? atoi(argv[4]) : 1;

	/* Options left at zero take their defaults: MQTT 3.1.1, keepalive 60 s, no reconnect. */
	struct midge_client_options o = {.clean_start = true, .connect_timeout_ms = 5000};
	struct midge_client *c = midge_client_new(&o);
	if (!c) {
		fprintf(stderr, "pub: cannot create the client\n");
		return 1;
	}
	struct midge_callbacks cb = {.on_log = on_log};
	midge_client_set_callbacks(c, &cb, NULL);
	/* No midge_client_start here: midge_client_wait runs the network loop itself while it waits. */
	int rc = midge_client_connect(c, url);
	if (rc == 0) rc = midge_client_wait(c, MIDGE_WAIT_CONNECTED, 5000);
	if (rc != 0) {
		/* < 0: a library error (connection refused, timeout, ...); > 0: the broker's CONNACK refusal. */
		fprintf(stderr, "pub: cannot connect to %s: %s\n", url,
		        rc < 0 ? midge_strerror(rc) : "refused by the broker");
		midge_client_destroy(c);
		return 1;
	}
	uint16_t mid;
	rc = midge_client_publish(c, topic, message, strlen(message), (uint8_t)qos, false, NULL, &mid);
	/* QoS 1 and 2: wait for PUBACK / PUBCOMP. QoS 0 needs no answer; disconnecting flushes it. */
	if (rc == 0) rc = midge_client_wait(c, MIDGE_WAIT_PUBLISHED, 5000);
	if (rc != 0)
		fprintf(stderr, "pub: publish failed: %s\n", midge_strerror(rc));
	else
		printf("published message %u to %s\n", mid, topic);

	/* A clean DISCONNECT (so the broker drops any will), written once what is queued has gone. */
	midge_client_disconnect(c, 0, NULL);
	midge_client_wait(c, MIDGE_WAIT_DISCONNECTED, 2000);
	midge_client_destroy(c);
	return rc == 0 ? 0 : 1;
}
