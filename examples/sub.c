/* sub: subscribes with libmidge and prints "topic payload" for each message, until COUNT messages (default: run
 * until interrupted). The network loop runs in the library's own thread and calls on_message from there.
 *
 *   cc examples/sub.c $(pkg-config --cflags --libs midge) -o sub
 *   ./sub mqtt://127.0.0.1:1883 'sensors/#' 1 10
 *
 * Arguments: URL, topic filter, QoS (default 1), COUNT. */
#define _POSIX_C_SOURCE 200809L /* sigwait and pthread_sigmask under a strict -std=c17 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <midge/client.h>

struct state {
	const char *filter;
	uint8_t qos;
	long left; /* messages still to print; < 0: no limit */
	pthread_mutex_t lock;
	pthread_cond_t done;
};

/* After each (re)connection: a session the broker no longer has holds no subscription, so make it again. */
static void on_connect(struct midge_client *c, void *ud, int rc, bool session_present, const struct midge_props *p)
{
	struct state *s = ud;
	(void)p;
	if (rc != 0) {
		fprintf(stderr, "sub: the broker refused the connection (code %d)\n", rc);
		return;
	}
	if (!session_present) midge_client_subscribe(c, &s->filter, &s->qos, 1, NULL, NULL);
}

static void on_message(struct midge_client *c, void *ud, const struct midge_message *m)
{
	struct state *s = ud;
	(void)c;
	/* The message is only valid during this call: print (or copy) it now. */
	printf("%s %.*s\n", m->topic, (int)m->payload_len, (const char *)m->payload);
	fflush(stdout);
	pthread_mutex_lock(&s->lock);
	if (s->left > 0 && --s->left == 0) pthread_cond_signal(&s->done);
	pthread_mutex_unlock(&s->lock);
}

static void on_disconnect(struct midge_client *c, void *ud, int reason, const struct midge_props *p)
{
	(void)c, (void)ud, (void)p;
	if (reason == 0) return; /* our own midge_client_disconnect */
	/* < 0: the library's error; > 0: the broker's MQTT 5 reason code or CONNACK refusal. */
	if (reason < 0)
		fprintf(stderr, "sub: disconnected: %s; reconnecting\n", midge_strerror(reason));
	else
		fprintf(stderr, "sub: disconnected by the broker (reason 0x%02x); reconnecting\n", reason);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s URL FILTER [QOS] [COUNT]\n", argv[0]);
		return 2;
	}
	struct state s = {
	    .filter = argv[2], .qos = (uint8_t)(argc > 3 ? atoi(argv[3]) : 1), .left = argc > 4 ? atol(argv[4]) : -1};
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.done, NULL);

	/* Stop on Ctrl-C: the signal is taken by sigwait below, never by the library's thread. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* Reconnect with backoff after a lost connection; the callbacks above subscribe again as needed. */
	struct midge_client_options o = {.clean_start = true, .reconnect = true};
	struct midge_client *c = midge_client_new(&o);
	if (!c) return 1;
	struct midge_callbacks cb = {
	    .on_connect = on_connect, .on_message = on_message, .on_disconnect = on_disconnect};
	midge_client_set_callbacks(c, &cb, &s);
	int rc = midge_client_connect(c, argv[1]);
	if (rc == 0) rc = midge_client_start(c);
	if (rc == 0) rc = midge_client_wait(c, MIDGE_WAIT_CONNECTED, 10000);
	if (rc != 0) {
		fprintf(stderr, "sub: cannot connect to %s: %s\n", argv[1], rc < 0 ? midge_strerror(rc) : "refused");
		midge_client_destroy(c);
		return 1;
	}
	if (s.left > 0) {
		pthread_mutex_lock(&s.lock);
		while (s.left > 0)
			pthread_cond_wait(&s.done, &s.lock);
		pthread_mutex_unlock(&s.lock);
	} else {
		int sig;
		sigwait(&sigs, &sig);
	}
	midge_client_disconnect(c, 0, NULL);
	midge_client_stop(c, true, 2000); /* lets the thread write the DISCONNECT before it ends */
	midge_client_destroy(c);
	return 0;
}
