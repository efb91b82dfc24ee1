/* libmidge: an MQTT 3.1 / 3.1.1 / 5.0 client library on Midge's codec.
 *
 * Two ways to drive a client:
 *  - its own thread: midge_client_start() runs the network loop in a thread of the library and calls
 *    the callbacks from that thread;
 *  - the caller's event loop: watch midge_client_socket() (and midge_client_want_write()) and call
 *    midge_client_loop_read/_write/_misc(), or call midge_client_loop() which polls by itself.
 * Callbacks always run in the thread that drives the loop, never with a library lock held, so they may
 * call any function of this header (except midge_client_destroy on their own client).
 *
 * Thread rules: publish, subscribe, unsubscribe, ack, disconnect, midge_client_wait and the property
 * functions on objects the caller owns may be called from any thread at any time. The loop functions
 * must be called from one thread at a time, and not while midge_client_start()'s thread runs.
 *
 * Errors: every int-returning call returns 0 (MIDGE_OK) or a negative enum midge_err; midge_strerror()
 * names it (on_log says more: "connect to 127.0.0.1 port 1883: Connection refused"). Where a result can be a
 * broker's answer it is that positive MQTT code instead. Ownership: the library copies every string, payload
 * and property list it is given; what it hands to callbacks is valid only during the callback. */
#ifndef MIDGE_CLIENT_H
#define MIDGE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/midge.h"
#include "midge/mqtt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- MQTT 5 properties ---- */

/* A list of MQTT 5 properties in the order added (user properties may repeat). Identifiers are
 * enum mqtt_prop_id of midge/mqtt.h (MQTT 5.0 table 2-4). */
struct midge_props;

/* A new empty list, or NULL when out of memory. Free with midge_props_free (NULL is ignored). */
MIDGE_API struct midge_props *midge_props_new(void);
MIDGE_API void midge_props_free(struct midge_props *p);
/* Append one property. Each returns 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_INVAL when id is unknown, not of
 * that type (byte, two-byte, four-byte or variable integers all go through add_int), or a value is out
 * of range. Strings are NUL-terminated UTF-8; binary data is (data, len). */
MIDGE_API int midge_props_add_int(struct midge_props *p, uint8_t id, uint32_t value);
MIDGE_API int midge_props_add_string(struct midge_props *p, uint8_t id, const char *value);
MIDGE_API int midge_props_add_binary(struct midge_props *p, uint8_t id, const void *data, size_t len);
MIDGE_API int midge_props_add_user(struct midge_props *p, const char *name, const char *value);

/* One property read back. Strings and binaries point into the list (not NUL-terminated). */
struct midge_prop {
	uint8_t id;
	uint32_t value;       /* integer properties */
	const char *str;      /* UTF-8 string, binary data, or the name of a user property */
	size_t len;
	const char *str2;     /* the value of a user property */
	size_t len2;
};
/* Iterates p: *pos starts at 0; returns true with *out filled while properties remain. p may be NULL. */
MIDGE_API bool midge_props_next(const struct midge_props *p, size_t *pos, struct midge_prop *out);
/* The first property with this id: true with *out filled, false when absent. */
MIDGE_API bool midge_props_get(const struct midge_props *p, uint8_t id, struct midge_prop *out);
/* Number of properties in p (0 for NULL). */
MIDGE_API size_t midge_props_count(const struct midge_props *p);

/* ---- the client ---- */

struct midge_client;

/* A received application message, valid during the on_message callback only. */
struct midge_message {
	const char *topic; /* NUL-terminated (MQTT topics cannot contain U+0000) */
	size_t topic_len;
	const void *payload;
	size_t payload_len;
	uint8_t qos;
	bool retain;
	bool dup;
	uint16_t mid;                    /* packet identifier; 0 for QoS 0 */
	const struct midge_props *props; /* MQTT 5 properties, or NULL */
};

/* Callbacks; any may be NULL. userdata is what midge_client_set_callbacks was given. */
struct midge_callbacks {
	/* CONNACK received. rc is the 3.x return code or the MQTT 5 reason code (0 = accepted);
	 * session_present as the broker said; props the CONNACK properties (MQTT 5) or NULL. A refusal is
	 * followed by on_disconnect with the same code. */
	void (*on_connect)(struct midge_client *c, void *userdata, int rc, bool session_present,
			   const struct midge_props *props);
	/* The connection, or a connection attempt, ended. reason: 0 after midge_client_disconnect, the MQTT 5
	 * reason of a DISCONNECT from the broker (props its properties), the code of a refusing CONNACK, or a
	 * negative MIDGE_ERR_* (MIDGE_ERR_CLOSED when the broker closed the socket, MIDGE_ERR_IO when it could
	 * not be reached, MIDGE_ERR_TIMEOUT for the connect timeout or a missing PINGRESP). With reconnect on,
	 * the library tries again afterwards. */
	void (*on_disconnect)(struct midge_client *c, void *userdata, int reason, const struct midge_props *props);
	/* A message. An incoming QoS 2 message is delivered at its PUBLISH, once: its packet id is remembered
	 * until PUBREL, so a resent PUBLISH is acknowledged again but not delivered again. With manual_ack the
	 * QoS 1/2 ones wait for midge_client_ack(c, m->mid, m->qos). */
	void (*on_message)(struct midge_client *c, void *userdata, const struct midge_message *m);
	/* A publish completed: QoS 0 once written to the socket, QoS 1 at PUBACK, QoS 2 at PUBCOMP.
	 * reason: 0, or the MQTT 5 reason code (>= 0x80: the broker refused it; a queued message the next
	 * connection's CONNACK limits forbid is dropped with 0x95, 0x9A or 0x9B). A QoS 0 message not yet written
	 * when its connection ends is lost without a call. */
	void (*on_publish)(struct midge_client *c, void *userdata, uint16_t mid, int reason,
			   const struct midge_props *props);
	/* SUBACK: one granted QoS or reason code per filter, in order. */
	void (*on_subscribe)(struct midge_client *c, void *userdata, uint16_t mid, const uint8_t *codes, size_t n,
			     const struct midge_props *props);
	/* UNSUBACK: MQTT 5 reason codes per filter (n is 0 for 3.x). */
	void (*on_unsubscribe)(struct midge_client *c, void *userdata, uint16_t mid, const uint8_t *codes, size_t n,
			       const struct midge_props *props);
	/* A log line of the library (level: MIDGE_LOG_*). */
	void (*on_log)(struct midge_client *c, void *userdata, int level, const char *line);
};

enum midge_log_level { MIDGE_LOG_ERROR = 1, MIDGE_LOG_WARNING = 2, MIDGE_LOG_INFO = 4, MIDGE_LOG_DEBUG = 8 };

/* Everything fixed at creation. Zero means the default given. Strings and property lists are copied. */
struct midge_client_options {
	const char *client_id;      /* NULL or "": none (3.1.1 needs clean_start; MQTT 5 gets one assigned) */
	int version;                /* MQTT_V31, MQTT_V311 (default) or MQTT_V5 */
	bool clean_start;           /* clean session (3.x) / clean start (5) on the first connection */
	bool persistent;            /* after the first connection, reconnect with clean start off */
	uint16_t keepalive;         /* seconds; default 60; set no_keepalive for 0 */
	bool no_keepalive;
	uint32_t session_expiry;    /* MQTT 5 Session Expiry Interval */
	const char *username;
	const void *password;       /* binary allowed */
	size_t password_len;
	const char *will_topic;     /* NULL = no will */
	const void *will_payload;
	size_t will_payload_len;
	uint8_t will_qos;
	bool will_retain;
	const struct midge_props *will_props;    /* MQTT 5 will properties */
	const struct midge_props *connect_props; /* MQTT 5 CONNECT properties */
	uint16_t max_inflight;      /* unacknowledged QoS 1/2 publishes at once; default 20 (and at most
	                             * the broker's Receive Maximum) */
	size_t max_queued;          /* publishes not yet sent (while disconnected or past the window, any QoS);
	                             * default 1000; past it publish returns MIDGE_ERR_AGAIN */
	bool reconnect;             /* reconnect after a lost connection */
	unsigned reconnect_min_ms;  /* first delay, doubled each failure up to max, with +-25 % jitter;
	                             * defaults 1000 and 30000 */
	unsigned reconnect_max_ms;
	unsigned connect_timeout_ms; /* TCP connect plus CONNACK; default 10000 */
	const char *bind_address;    /* local address (numeric or a name) the socket is bound to before
	                              * connecting, to choose the interface; NULL = any */
	bool bridge;                 /* MQTT 3.1 / 3.1.1: say this client is a bridge, as Mosquitto's bridges do
	                              * (try_private): 0x80 is set in the CONNECT's protocol level (0x83, 0x84), so a
	                              * broker that knows the bit does not send the bridge its own messages back and
	                              * keeps their retain flags; one that does not refuses the connection (CONNACK 1).
	                              * Invalid with MQTT_V5 (midge_client_new returns NULL): an MQTT 5 bridge asks
	                              * for the same with the subscription options No Local and Retain As Published. */
	bool manual_ack;             /* incoming QoS 1/2 messages are acknowledged (PUBACK, PUBREC) when the
	                              * application calls midge_client_ack, not when they arrive: for one that must
	                              * first make a message safe (a bridge forwarding it, a store committing it) */
};

/* A new client, not connected. NULL when out of memory or options are invalid (bad version or QoS, bridge
 * with MQTT_V5,
 * a will without a topic or with an invalid one, strings that are not UTF-8, before MQTT 5 a password
 * without a user name, MQTT 5 properties not valid in a CONNECT or a will). With MQTT 5, a Maximum Packet
 * Size in connect_props also bounds what this client accepts, and a Topic Alias Maximum lets the broker use
 * aliases towards it; this client never sends aliases. */
MIDGE_API struct midge_client *midge_client_new(const struct midge_client_options *o);
/* Stops the library's thread if running, closes the connection without DISCONNECT (the will is sent by
 * the broker) and frees everything. NULL is ignored. */
MIDGE_API void midge_client_destroy(struct midge_client *c);
MIDGE_API void midge_client_set_callbacks(struct midge_client *c, const struct midge_callbacks *cb, void *userdata);

/* TLS settings, named after mosquitto_pub's options. Any field may be zero/NULL. */
struct midge_tls_options {
	const char *cafile;        /* PEM file of the CAs the server's certificate is verified against (--cafile) */
	const char *capath;        /* directory of CA certificates named by hash (c_rehash) (--capath) */
	bool use_os_certs;         /* trust the system's CAs too (--tls-use-os-certs); they are trusted anyway when
	                            * none of cafile, capath and psk is given */
	const char *certfile;      /* this client's certificate (chain), PEM, for servers that ask for one (--cert) */
	const char *keyfile;       /* its private key, PEM, not encrypted (--key); both or neither */
	bool insecure;             /* do not check that the server's certificate names the host of the URL
	                            * (--insecure); the certificate is still verified */
	const char *tls_version;   /* the oldest version accepted: "tlsv1.3", "tlsv1.2" (the default) or "tlsv1.1" */
	const char *ciphers;       /* OpenSSL cipher list for TLS 1.2 and older (--ciphers) */
	const char *ciphers_tls13; /* TLS 1.3 ciphersuites, e.g. "TLS_AES_256_GCM_SHA384" */
	const char *alpn;          /* the protocol offered by ALPN, e.g. "mqtt" (--tls-alpn); NULL: none */
	const char *psk;           /* a pre-shared key in hexadecimal, no "0x" (--psk), with psk_identity: TLS-PSK
	                            * (TLS 1.2 or 1.3) instead of, or besides, certificates */
	const char *psk_identity;  /* (--psk-identity) */
};

/* Sets the TLS settings of the connections to "mqtts://" (and "wss://") URLs made from now on (one being made or up keeps
 * those it started with); NULL goes back to the defaults: the server verified against the system's CAs,
 * nothing more. Files are read here, so a typo or a bad key shows now. Strings are copied. Returns 0,
 * MIDGE_ERR_INVAL (an unknown tls_version, certfile without keyfile or the reverse, psk without
 * psk_identity or the reverse), MIDGE_ERR_TLS (a file that cannot be read or loaded, a cipher list or key
 * OpenSSL refuses: midge_client_error_text says which and why) or MIDGE_ERR_NOMEM. Any thread. */
MIDGE_API int midge_client_set_tls(struct midge_client *c, const struct midge_tls_options *tls);

/* Starts connecting to url: "mqtt://[user[:password]@]host[:port]" (port 1883) or "host[:port]"; an IPv6
 * address in brackets; user and password percent-decoded, taking the place of the options'. "mqtts://" and
 * "ssl://" connect over TLS (port 8883) with midge_client_set_tls's settings; the host named is the one the
 * server's certificate must be for, and goes as SNI.
 * MQTT over WebSocket: "ws://[user[:password]@]host[:port][/path]" (port 80) and, over TLS as for mqtts://,
 * "wss://..." (port 443). The path (with any query, sent as written: visible ASCII only, no fragment) defaults
 * to "/mqtt", as MQTT.js and Paho do; "/" is sent as "/". The upgrade asks for the subprotocol "mqtt" and
 * requires the server to answer with it; then MQTT goes in masked binary frames. A refused or invalid upgrade
 * ends the attempt with MIDGE_ERR_PROTOCOL ("WebSocket handshake refused: HTTP 404 Not Found"), a server that
 * closes without answering with MIDGE_ERR_CLOSED; a WebSocket protocol error of the server's (a text or masked
 * frame) ends the connection with MIDGE_ERR_PROTOCOL, and its close frame with MIDGE_ERR_CLOSED ("WebSocket
 * closed by server: 1000"), the reason in on_log and midge_client_error_text.
 * The host is resolved here (blocking); the TCP connect, the TLS and WebSocket handshakes and the CONNECT go
 * on in the loop (all within connect_timeout_ms), and their result comes through on_connect / on_disconnect
 * (or midge_client_wait): a refused TLS handshake ends the attempt with MIDGE_ERR_TLS, its reason in on_log and
 * midge_client_error_text. Returns 0, MIDGE_ERR_INVAL (bad URL), MIDGE_ERR_IO (name resolution failed),
 * MIDGE_ERR_TLS (TLS default settings could not be made), or MIDGE_ERR_EXISTS while a connection is up or
 * being made (disconnect first; during a reconnect backoff it is allowed and replaces the URL). */
MIDGE_API int midge_client_connect(struct midge_client *c, const char *url);
/* Why the last connection or attempt ended, or midge_client_set_tls failed, in words (e.g. "TLS handshake
 * failed: certificate verify failed", "connect to 127.0.0.1 port 1883: Connection refused"): copied into
 * buf (len bytes, NUL-terminated, cut if need be). Returns the length of the whole text, 0 when there is
 * none. Any thread. */
MIDGE_API size_t midge_client_error_text(const struct midge_client *c, char *buf, size_t len);

/* Runs the network loop in a thread of the library (all signals blocked in it). 0, MIDGE_ERR_EXISTS (it
 * runs already), MIDGE_ERR_INVAL (another thread is inside a loop function) or MIDGE_ERR_NOMEM. */
MIDGE_API int midge_client_start(struct midge_client *c);
/* Stops and joins that thread. With flush it first waits, at most timeout_ms, until nothing is left to send or
 * to be acknowledged: returns 0, MIDGE_ERR_TIMEOUT, or the error that ended the connection when no reconnect
 * follows. The connection stays open (drive the loop yourself, or disconnect). From one of the thread's
 * callbacks it only asks the thread to end (a later start or destroy joins it). */
MIDGE_API int midge_client_stop(struct midge_client *c, bool flush, unsigned timeout_ms);

/* ---- driving from the caller's loop ---- */
/* The socket to watch for reading (and for writing while midge_client_want_write), or -1 when not
 * connected. It changes across reconnects: read it again after each call. */
MIDGE_API int midge_client_socket(const struct midge_client *c);
MIDGE_API bool midge_client_want_write(const struct midge_client *c);
/* A descriptor that becomes readable when another thread queued work (publish from another thread):
 * watch it too and call midge_client_loop_misc. Stable for the client's life. */
MIDGE_API int midge_client_wakeup_fd(const struct midge_client *c);
/* The loop functions return 0 or the error that ended the connection during the call, and MIDGE_ERR_INVAL
 * when called while another thread drives the loop or from one of this client's callbacks. */
MIDGE_API int midge_client_loop_read(struct midge_client *c);
MIDGE_API int midge_client_loop_write(struct midge_client *c);
/* Timers: keepalive PINGREQ, connect timeout, reconnect backoff. Call at least once a second. */
MIDGE_API int midge_client_loop_misc(struct midge_client *c);
/* One step: waits up to timeout_ms (negative: until something happens) for the socket and the wake-up fd,
 * then reads, writes and runs the timers. Returns 0, or the error that ended the connection (the client
 * reconnects later if set to), or MIDGE_ERR_CLOSED when there is no connection and none is coming (before
 * connect, after disconnect or a final failure). */
MIDGE_API int midge_client_loop(struct midge_client *c, int timeout_ms);

/* ---- operations (any thread) ---- */

/* Publishes payload[0..len) to topic. Messages go out in the order published; QoS 1/2 ones at most
 * max_inflight (and the broker's Receive Maximum) unacknowledged at once. They are kept until
 * acknowledged: after a reconnect that finds the session (Session Present), those unacknowledged are sent
 * again with DUP and their packet ids (PUBREL for QoS 2 past PUBREC); when the broker kept no session they
 * are sent as new messages (and a QoS 2 message past PUBREC is complete). While disconnected, messages wait
 * in the offline queue. Properties are ignored before MQTT 5. *mid (may be NULL) gets the message id for
 * on_publish. Returns 0, MIDGE_ERR_INVAL (bad topic, QoS or properties, or a Topic Alias or Subscription
 * Identifier among them), MIDGE_ERR_AGAIN (queue full), MIDGE_ERR_TOO_LARGE (over the broker's Maximum
 * Packet Size, or MQTT's), MIDGE_ERR_NOT_SUPPORTED (the connected broker's Maximum QoS or Retain Available
 * forbid it) or MIDGE_ERR_NOMEM. */
MIDGE_API int midge_client_publish(struct midge_client *c, const char *topic, const void *payload, size_t len,
				   uint8_t qos, bool retain, const struct midge_props *props, uint16_t *mid);
/* Subscribes to n filters, each with its options byte (QoS in bits 0-1, MQTT 5 MQTT_SUBOPT_* above).
 * Sent when connected (queued until then, and sent again after a reconnect until answered), in order with
 * the publishes. 0, MIDGE_ERR_INVAL (bad filter or options), MIDGE_ERR_AGAIN (no packet id free) or
 * MIDGE_ERR_NOMEM. A session the broker did not keep (on_connect's session_present false) holds no
 * subscriptions: subscribe again there. */
MIDGE_API int midge_client_subscribe(struct midge_client *c, const char *const *filters, const uint8_t *options,
				     size_t n, const struct midge_props *props, uint16_t *mid);
MIDGE_API int midge_client_unsubscribe(struct midge_client *c, const char *const *filters, size_t n,
				       const struct midge_props *props, uint16_t *mid);
/* Sends DISCONNECT (MQTT 5 reason and properties) once the packets already written to the connection's
 * buffer are sent, then closes; no reconnect follows (until midge_client_connect). Before CONNACK it just
 * closes; during a reconnect backoff it cancels the reconnect. MIDGE_ERR_CLOSED when there is no connection
 * at all. Unsent and unacknowledged messages stay queued for a later connect. */
MIDGE_API int midge_client_disconnect(struct midge_client *c, uint8_t reason, const struct midge_props *props);
/* With manual_ack: acknowledges the incoming message on_message delivered with packet id mid and QoS qos (1 or
 * 2): PUBACK for QoS 1, PUBREC for QoS 2 (whose PUBREL the library answers with PUBCOMP). Until then the broker
 * counts the message as in flight, against its limit (MQTT 5: the Receive Maximum of connect_props; Mosquitto:
 * max_inflight_messages): a client that does not acknowledge stops receiving QoS 1/2 messages. Call it from
 * on_message or later, from any thread (from another thread it wakes the loop, as publish does); the
 * acknowledgements go out in the order given.
 *  - QoS 2: the packet id is remembered from PUBLISH to PUBREL as without manual_ack, so the broker's resend
 *    (DUP, after a reconnect) is not delivered again: it gets no answer while the application has not
 *    acknowledged it (this call answers it), PUBREC once it has. Given while disconnected, the acknowledgement
 *    is recorded and nothing is sent: the broker's resend after the reconnect gets PUBREC.
 *  - QoS 1: counts only on the connection the message came on. Given after that connection ended, or once
 *    midge_client_disconnect was called, it is dropped (and 0 returned): the broker sends the message again on
 *    the next connection of the session, on_message delivers it again, and it is acknowledged then: at least
 *    once. An id that no QoS 1 message of this connection waits with is dropped the same way.
 * Returns 0, MIDGE_ERR_INVAL (manual_ack off, qos not 1 or 2, or mid 0), MIDGE_ERR_NOT_FOUND (QoS 2: no message
 * with that id waits for its acknowledgement: acknowledged already, released, never delivered, or forgotten
 * because the broker kept no session) or MIDGE_ERR_NOMEM (nothing changed: try again). */
MIDGE_API int midge_client_ack(struct midge_client *c, uint16_t mid, uint8_t qos);

/* ---- blocking conveniences (not from a callback) ---- */

/* Waits at most timeout_ms (negative: no limit; then MIDGE_ERR_TIMEOUT) for:
 *  - MIDGE_WAIT_CONNECTED: the outcome of the connection attempt under way (or the next one, during a
 *    reconnect backoff): 0 once connected (at once if connected), the positive code of a refusing CONNACK,
 *    or the MIDGE_ERR_* that ended the attempt. Without a connection or attempt, the reason the last one
 *    ended (MIDGE_ERR_CLOSED when none or after midge_client_disconnect).
 *  - MIDGE_WAIT_PUBLISHED: every QoS 1/2 publish acknowledged: 0. Across reconnects when reconnect is on;
 *    otherwise the reason the connection ended, when it ends first.
 *  - MIDGE_WAIT_DISCONNECTED: no connection up or being made: the reason the last one ended (as
 *    on_disconnect: 0 after midge_client_disconnect).
 * When it returns, the callbacks of what it waited for have run. Works in both modes: without the
 * library's thread it drives the loop itself (in the external-loop mode call it from the loop's thread). */
enum midge_wait { MIDGE_WAIT_CONNECTED = 1, MIDGE_WAIT_PUBLISHED = 2, MIDGE_WAIT_DISCONNECTED = 3 };
MIDGE_API int midge_client_wait(struct midge_client *c, enum midge_wait what, int timeout_ms);

/* True between an accepted CONNACK and the end of that connection. */
MIDGE_API bool midge_client_connected(const struct midge_client *c);

#ifdef __cplusplus
}
#endif

#endif
