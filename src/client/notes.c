/* Callbacks waiting to run, and the library's log lines: see notes.h. */
#include "notes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

void notes__add(struct midge_client *c, const struct note *n)
{
	struct notes *ns = &c->notes;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		struct note *v = realloc(ns->v, cap * sizeof(*v));
		if (!v) {
			free(n->line);
			return;
		}
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n++] = *n;
	/* Another thread (connect, publish) may have queued it: the loop must come round to run it. */
	client__wake(c);
}

void notes__log(struct midge_client *c, int level, const char *fmt, ...)
{
	if (!c->cb.on_log) return;
	char *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	notes__add(c, &(struct note){.kind = NOTE_LOG, .rc = level, .line = line});
}

static void run_one(struct midge_client *c, const struct midge_callbacks *cb, void *ud, struct note *n)
{
	struct midge_props view;
	const struct midge_props *props = NULL;
	if (n->has_props) {
		plist__view(&view, n->props);
		props = &view;
	}
	switch (n->kind) {
	case NOTE_CONNECT:
		if (cb->on_connect) cb->on_connect(c, ud, n->rc, n->session_present, props);
		break;
	case NOTE_DISCONNECT:
		if (cb->on_disconnect) cb->on_disconnect(c, ud, n->rc, props);
		break;
	case NOTE_MESSAGE:
		n->msg.props = props;
		if (cb->on_message) cb->on_message(c, ud, &n->msg);
		break;
	case NOTE_PUBLISH:
		if (cb->on_publish) cb->on_publish(c, ud, n->mid, n->rc, props);
		break;
	case NOTE_SUBSCRIBE:
		if (cb->on_subscribe) cb->on_subscribe(c, ud, n->mid, n->codes.p, n->codes.len, props);
		break;
	case NOTE_UNSUBSCRIBE:
		if (cb->on_unsubscribe) cb->on_unsubscribe(c, ud, n->mid, n->codes.p, n->codes.len, props);
		break;
	case NOTE_LOG:
		if (cb->on_log) cb->on_log(c, ud, n->rc, n->line);
		break;
	}
	free(n->line);
}

void notes__run(struct midge_client *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->notes.n == 0) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/* Take the whole batch, so callbacks that queue more (through publish, say) do not move it under us. */
	struct notes mine = c->notes;
	c->notes = c->notes_spare;
	c->notes_spare = (struct notes){0};
	c->notes_running = true;
	struct midge_callbacks cb = c->cb;
	void *ud = c->userdata;
	pthread_mutex_unlock(&c->lock);

	for (size_t i = 0; i < mine.n; i++)
		run_one(c, &cb, ud, &mine.v[i]);

	mine.n = 0;
	pthread_mutex_lock(&c->lock);
	if (!c->notes_spare.v)
		c->notes_spare = mine;
	else
		free(mine.v);
	c->notes_running = false;
	pthread_cond_broadcast(&c->cond); /* what a wait saw happen has now been told to the callbacks too */
	pthread_mutex_unlock(&c->lock);
}

void notes__fini(struct notes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i].line);
	free(ns->v);
	*ns = (struct notes){0};
}
