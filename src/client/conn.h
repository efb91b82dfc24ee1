/* The connection of a client: name resolution, the nonblocking TCP connect over the host's addresses, the TLS
 * handshake of mqtts:// and wss://, the WebSocket upgrade of ws:// and wss://, the CONNECT packet, the end of a connection or attempt, and the reconnect schedule with its backoff. */
#ifndef MIDGE_CLIENT_CONN_H
#define MIDGE_CLIENT_CONN_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct midge_client;

/* Resolves host:port for a TCP connect. 0 with *ai set (the caller frees it with freeaddrinfo), or MIDGE_ERR_IO
 * with why written to err. Blocks while the resolver works; takes no lock. */
int conn__resolve(const char *host, uint16_t port, struct addrinfo **ai, char *err, size_t errlen);
/* Starts an attempt on the addresses in c->ai: state CS_TCP, the connect timeout running. An address that fails
 * at once gives way to the next; when none is left the attempt ends (conn__end). Lock held. */
void conn__start(struct midge_client *c);
/* CS_TCP: sees whether the TCP connect finished. Up: CONNECT is buffered and the state is CS_CONNACK, or over TLS
 * the handshake starts (CS_TLS), or over WebSocket the upgrade (CS_WS); failed: the next address is tried, or the attempt ends. Still under way: nothing
 * changes. Lock held. */
void conn__check_tcp(struct midge_client *c);
/* CS_TLS: advances the TLS handshake. Done: CONNECT is buffered and the state is CS_CONNACK (or the WebSocket
 * upgrade starts: CS_WS); refused or failed: the attempt ends with MIDGE_ERR_TLS and the reason in errtext. Lock
 * held. */
void conn__check_tls(struct midge_client *c);
/* CS_WS: advances the WebSocket upgrade. Done: CONNECT is buffered and the state is CS_CONNACK; refused or failed:
 * the attempt ends with ws_client__error's code (MIDGE_ERR_PROTOCOL for a refusal) and the reason in errtext. Lock
 * held. */
void conn__check_ws(struct midge_client *c);
/* Closes the socket and its transport (TLS: a close_notify if the socket takes it), leaving sock -1. Lock held,
 * or the client is being freed. */
void conn__close_socket(struct midge_client *c);
/* Ends the connection or attempt with reason, which on_disconnect gets: 0 for the application's disconnect,
 * MIDGE_ERR_* (c->errtext may say more), a refusing CONNACK code or the reason of the server's DISCONNECT
 * (> 0; props its properties when has_props). Closes the socket, forgets the unwritten output (the session keeps
 * its items), records the outcome for waits, and moves to CS_BACKOFF when a reconnect is due, else CS_IDLE.
 * Does nothing in CS_IDLE or CS_BACKOFF. Lock held. */
void conn__end(struct midge_client *c, int reason, bool has_props, struct mqtt_str props);
/* Ends the connection for a fault of the server or of the link (err): an MQTT 5 client first tells the server
 * why with a DISCONNECT, written straight away if the socket takes it. Lock held. */
void conn__abort(struct midge_client *c, int err);
/* CS_BACKOFF and its time has come: resolves the host again, without the lock, and starts an attempt unless
 * midge_client_connect or _disconnect changed things meanwhile. Loop thread, lock held. */
void conn__reconnect(struct midge_client *c);

#endif
