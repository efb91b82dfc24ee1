/* The encryption guard: which messages it covers, which listeners are exposed, the start-up warning. */
#include "guard.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "message.h"
#include "security.h"

bool guard__encrypted(const struct listener_conf *l) { return config__listener_tls(l); }

bool guard__loopback_only(const struct listener_conf *l)
{
	if (l->bind_interface) return strcmp(l->bind_interface, "lo") == 0;
	const char *a = l->bind_address;
	if (!a) return false;
	if (!strcmp(a, "localhost")) return true;
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, a, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, a, &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
	return false;
}

void guard__init_listener(struct listener_rt *l)
{
	l->encrypted = guard__encrypted(l->conf);
	l->exposed = !l->encrypted && !guard__loopback_only(l->conf);
}

bool guard__marks(const struct listener_rt *from) { return from && from->encrypted && from->conf->encrypted_only; }

bool guard__keeps(struct broker *b, const struct message *m)
{
	return m->guarded || security__encrypted_topic(b, m->topic, m->topic_len);
}

/* "port 1883" or "port 1883 on 192.0.2.1" */
static void describe(const struct listener_conf *l, char *out, size_t n)
{
	snprintf(out, n, "port %u%s%s", l->port, l->bind_address ? " on " : "", l->bind_address ? l->bind_address : "");
}

bool guard__warn_unguarded(struct broker *b, const struct config *nc)
{
	const struct config *c = &b->conf; /* the listeners as they were opened */
	if (nc->nencrypted_topics) return false;
	char plain[256] = "", enc[256] = "";
	size_t np = 0, ne = 0;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];
		char d[96];
		describe(l, d, sizeof(d));
		if (guard__encrypted(l)) {
			if (l->encrypted_only) return false; /* a guard is configured */
			snprintf(enc + strlen(enc), sizeof(enc) - strlen(enc), "%s%s", ne++ ? ", " : "", d);
		} else if (!guard__loopback_only(l)) {
			snprintf(plain + strlen(plain), sizeof(plain) - strlen(plain), "%s%s", np++ ? ", " : "", d);
		}
	}
	if (!np || !ne) return false;
	log__printf(&b->log, LOG_T_WARNING,
		    "Warning: encryption guard off: messages published over TLS (%s) are readable on the network by "
		    "subscribers of the plain listener%s %s; set 'encrypted_only true' on the TLS listeners or "
		    "'encrypted_topic PATTERN' (see docs/security.md).",
		    enc, np > 1 ? "s" : "", plain);
	return true;
}
