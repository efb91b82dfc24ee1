/* The broker's configuration: Mosquitto-compatible file syntax, defaults, and validation. */
#ifndef MIDGE_CONFIG_H
#define MIDGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

/* One `listener` block (or the default listener made by `port`). Strings are owned (malloc'd). */
struct listener_conf {
	uint16_t port;
	char *bind_address;   /* NULL = all addresses */
	char *bind_interface; /* NULL = any interface */
	int socket_domain;    /* AF_UNSPEC, AF_INET or AF_INET6 */
	int max_connections;  /* -1 = unlimited */
	const char *file;     /* where it was declared, for messages (points into config's file names) */
	int line;
	bool is_default;      /* the default listener, made by `port`, `bind_address` or a
	                       * listener option before any `listener` line (Mosquitto's rules) */
	bool allow_zero_length_clientid; /* used when per_listener_settings is true; default true */
	char *server_reference; /* Midge: MQTT 5 clients are sent there (CONNACK 0x9C); NULL = serve them */
	/* Security, used when per_listener_settings is true (see the config__ accessors below). */
	int allow_anonymous;  /* -1 = not set */
	char *password_file;  /* NULL = none */
	char *acl_file;       /* NULL = none */
	bool encrypted_only;  /* Midge: messages published through it are guarded (guard.h); TLS listeners only */
	/* WebSockets (`protocol websockets`) */
	bool websockets;
	char *http_dir;         /* files served on the listener; NULL = none */
	char **origins;         /* `websockets_origin`: allowed Origin values; none = any */
	size_t norigins;
	/* TLS, Mosquitto's listener options (NULL = unset). The listener is TLS when certfile or
	 * psk_hint is set (config__listener_tls). */
	char *cafile;
	char *capath;
	char *certfile;
	char *keyfile;
	char *crlfile;
	char *ciphers;       /* TLS 1.2 and below */
	char *ciphers_tls13; /* `ciphers_tls1.3` */
	char *psk_hint;
	char *psk_file;      /* used when per_listener_settings is true (config__psk_file) */
	int tls_version;     /* minimum protocol: 11, 12 or 13 (tlsv1.1 ...); 0 = default, TLS 1.2 */
	bool require_certificate;
	bool use_identity_as_username; /* the certificate's CN (or the PSK identity) is the user name */
	bool use_subject_as_username;  /* the certificate's subject (RFC 2253) is the user name */
	/* MQTT-SN (`protocol mqttsn`): a UDP gateway (sn_gw.h); the options below are for such a listener only */
	bool mqttsn;
	bool mqttsn_opts;                 /* an mqttsn_* option was given (refused on other listeners) */
	int mqttsn_opts_line;             /* the first of them, for that message */
	uint8_t mqttsn_gateway_id;        /* GwId of ADVERTISE and GWINFO; default 1 */
	uint16_t mqttsn_advertise_interval; /* seconds between ADVERTISEs; 0 = none (default) */
	char *mqttsn_advertise_address;   /* where they go, "host[:port]"; NULL = 255.255.255.255, the port */
	char *mqttsn_predefined_file;     /* `ID TOPIC` lines (sn_predefined.h); NULL = none */
	char *mqttsn_username;            /* the identity its clients have for ACLs; NULL = anonymous */
	uint16_t mqttsn_retry_interval;   /* Tretry, seconds; default 10 */
	uint8_t mqttsn_retries;           /* Nretry; default 5 */
};

/* Bridges: Mosquitto's `connection` sections (config_bridge.c; docs/bridges.md). Parsed and checked now;
 * the runtime that connects them comes with libmidge's bridge support. Strings are owned (malloc'd). */

/* Which way a bridge topic's messages travel. */
enum bridge_direction { BRIDGE_OUT, BRIDGE_IN, BRIDGE_BOTH };

/* One `topic PATTERN [in|out|both] [QOS] [LOCAL-PREFIX] [REMOTE-PREFIX]` line. A prefix written `""` is no prefix.
 * local_topic and remote_topic are the filters used on each side (prefix + pattern), computed once here. */
struct bridge_topic {
	char *pattern;       /* the topic filter; NULL when written `""` (both prefixes are then set: the
	                      * local_prefix topic is mapped to the remote_prefix topic, no wildcard) */
	enum bridge_direction direction; /* default BRIDGE_OUT */
	uint8_t qos;         /* 0..2, default 0: the QoS of both subscriptions */
	char *local_prefix;  /* NULL = none; a topic name, no wildcards */
	char *remote_prefix; /* NULL = none; a topic name, no wildcards */
	char *local_topic;   /* local_prefix + pattern: subscribed locally for out/both, never NULL */
	char *remote_topic;  /* remote_prefix + pattern: subscribed remotely for in/both, never NULL */
	int line;            /* where it was written, in the bridge's file */
};

/* How an address is reached: plain MQTT over TCP (TLS when the bridge has bridge_cafile, bridge_capath or
 * bridge_psk), or MQTT over WebSockets (Midge's addition: `ws://` plain, `wss://` always TLS). */
enum bridge_transport { BRIDGE_TCP, BRIDGE_WS, BRIDGE_WSS };

/* One remote address of `address`/`addresses`: `host[:port]`, `[v6]:port`, or `ws[s]://host[:port][/path]`. */
struct bridge_address {
	char *host;     /* name or address; an IPv6 literal without brackets */
	uint16_t port;  /* 1883 when not given, even with TLS (as Mosquitto); ws:// 80, wss:// 443 */
	enum bridge_transport transport;
	char *path;     /* WebSocket request path, "/mqtt" when the URL has none; NULL for BRIDGE_TCP */
};

/* How a bridge starts (`start_type`). */
enum bridge_start { BRIDGE_START_AUTOMATIC, BRIDGE_START_LAZY, BRIDGE_START_ONCE };

/* One `connection NAME` section with Mosquitto's defaults (config_bridge.c sets them). */
struct bridge_conf {
	char *name;           /* unique among the bridges */
	const char *file;     /* where `connection` was written (points into config's file names) */
	int line;
	struct bridge_address *addresses; /* `address`/`addresses`, at least one; the first is the main one */
	size_t naddresses;
	bool round_robin;     /* false (default): return to the first address when it is back */
	struct bridge_topic *topics; /* at least one */
	size_t ntopics;
	uint8_t protocol_version; /* 3 (mqttv31), 4 (mqttv311, the default) or 5 (mqttv50) */
	bool cleansession;        /* the remote session; default false */
	int local_cleansession;   /* -1 = as cleansession (default), else 0 or 1 */
	uint16_t keepalive;       /* `keepalive_interval` seconds, 5..65535, default 60 */
	char *remote_clientid;    /* NULL = "<hostname>.<name>" (config__bridge_remote_clientid) */
	char *remote_username;    /* NULL = none */
	char *remote_password;    /* NULL = none; needs remote_username before MQTT 5 */
	char *local_clientid;     /* NULL = "local.<remote client id>" (config__bridge_local_clientid) */
	char *local_username;     /* the identity of the bridge's local side for ACLs; NULL = none */
	char *local_password;     /* NULL = none */
	bool try_private;         /* tell the remote it is a bridge (protocol level | 0x80); default true */
	bool notifications;       /* publish the connection state ("1"/"0", retained); default true */
	bool notifications_local_only; /* only locally, not also as the remote will; default false */
	char *notification_topic; /* NULL = "$SYS/broker/connection/<remote client id>/state" */
	uint32_t restart_timeout; /* seconds between attempts, constant; 0 (default) = backoff below */
	uint32_t backoff_base;    /* "decorrelated jitter" backoff from base to cap seconds; default 5 */
	uint32_t backoff_cap;     /* default 30; cap >= base */
	enum bridge_start start_type; /* default BRIDGE_START_AUTOMATIC */
	uint32_t idle_timeout;    /* lazy: seconds idle before stopping, >= 1, default 60 */
	uint32_t threshold;       /* lazy: messages queued before starting, >= 1, default 10 */
	uint32_t max_packet_size; /* `bridge_max_packet_size` bytes sent to the remote; 0 = no limit (default) */
	bool outgoing_retain;     /* false: clear the retain flag of messages sent out; default true */
	bool attempt_unsubscribe; /* UNSUBSCRIBE out-only topics remotely on connect; default true */
	char *bind_address;       /* `bridge_bind_address`: local address to connect from; NULL = any */
	/* TLS (NULL/false/0 = unset). Used on BRIDGE_TCP addresses when cafile, capath or psk is set (as
	 * Mosquitto), and always on BRIDGE_WSS; config__bridge_tls says which. Certificates or PSK, not both. */
	char *cafile;
	char *capath;
	char *certfile;           /* with keyfile, both or neither */
	char *keyfile;
	bool insecure;            /* do not check the remote certificate's host name */
	int tls_version;          /* minimum: 11, 12 or 13 (tlsv1.1 ...); 0 = default, TLS 1.2 */
	char *alpn;
	char *ciphers;            /* TLS 1.2 and below */
	char *ciphers_tls13;      /* `bridge_ciphers_tls1.3` */
	char *identity;           /* `bridge_identity`, with psk */
	char *psk;                /* `bridge_psk`: the key in hexadecimal */
};

/* Everything the config file can set. config__defaults gives Mosquitto's defaults.
 * Owns every string and the listeners array; config__fini frees them. */
struct config {
	struct listener_conf *listeners;
	size_t nlisteners;

	int threads; /* 0 = one per core */
	bool allow_zero_length_clientid;
	uint16_t max_keepalive;
	uint32_t max_packet_size;    /* 0 = protocol maximum */
	uint32_t message_size_limit; /* 0 = no limit */
	uint32_t max_inflight_messages; /* 0 = no limit (`max_inflight_messages 65535` is stored as 0) */
	uint32_t max_queued_messages; /* 0 = no limit */
	uint64_t max_queued_bytes;    /* 0 = no limit */
	bool queue_qos0_messages;
	bool retain_available;
	uint32_t sys_interval;               /* seconds; 0 = no $SYS */
	int64_t persistent_client_expiration; /* seconds; 0 = never */
	bool upgrade_outgoing_qos;
	unsigned log_dest;
	char *log_file; /* the path of `log_dest file PATH` */
	unsigned log_type;
	bool log_timestamp;
	char *log_timestamp_format;
	bool connection_messages;
	char *pid_file;
	char *user; /* NULL = the default, "mosquitto"; read it with config__user() */
	bool per_listener_settings;
	/* Security when per_listener_settings is false (see the config__ accessors below). */
	int allow_anonymous; /* -1 = not set: false once a config file defines a listener (Mosquitto 2) */
	char *password_file;
	char *acl_file;
	char *http_api_key; /* a Bearer token that may do everything the HTTP API offers; NULL = none */
	/* The cluster (cluster.h, docs/cluster.md): the NATS servers' URLs, comma-separated (`cluster_nats_url`, one or
	 * more, nats:// or tls://); NULL = a single node. The node's name (`cluster_node_name`), NULL = the host name. */
	char *cluster_nats_url;
	char *cluster_node_name;
	/* How the node proves itself to NATS (cluster_conn.c), each NULL = not given: user and password, a token, or a
	 * credentials file (JWT and NKey seed); TLS with a CA file to check the servers by, and a client certificate and
	 * its key. The files were readable when the configuration was loaded. Secrets: never logged. */
	char *cluster_nats_user;
	char *cluster_nats_password;
	char *cluster_nats_token;
	char *cluster_nats_creds;
	char *cluster_nats_cafile;
	char *cluster_nats_certfile;
	char *cluster_nats_keyfile;
	/* Where the last of user, password, token and creds, and the last of the TLS files, were given (file points into
	 * files): config__validate's messages name them. */
	const char *cluster_nats_auth_file, *cluster_nats_tls_file;
	int cluster_nats_auth_line, cluster_nats_tls_line;
	/* `cluster_node_timeout`: seconds without a heartbeat after which another node counts as dead and its
	 * clients' wills are published (cluster_wills.c); default 5. */
	uint32_t cluster_node_timeout;
	uint64_t websockets_headers_size; /* largest WebSocket handshake request head; 0 = the default, 4096 */
	uint32_t websockets_ping_interval; /* Midge: seconds of quiet before a WebSocket ping; 0 = never; default 30 */
	/* Midge's encryption guard (guard.h): `encrypted_topic` filters, owned */
	char **encrypted_topics;
	size_t nencrypted_topics;
	char *psk_file; /* `psk_file` without per_listener_settings: for every PSK listener */
	/* Midge's own options, not Mosquitto's */
	int listen_backlog;      /* `listen_backlog`, default 1024 */
	uint32_t connect_timeout; /* `connect_timeout` seconds before a silent socket is closed; default 10 */
	uint64_t max_output_bytes; /* `max_output_bytes` per-connection output cap; default 16 MiB */
	char *response_information; /* `response_information`: sent to MQTT 5 clients that ask; NULL = none */
	/* Durable storage (persist.h) */
	bool persistence;            /* `persistence`, default false as Mosquitto */
	bool retained_persistence;   /* `retained_persistence`, default true: retained messages are stored */
	char *persistence_location;  /* directory of the store; NULL = the current directory */
	char *persistence_file;      /* its file name; NULL = "midge.db" */
	bool persistence_group;      /* Midge: `persistence_sync group` (commits on a timer, acks at once) */
	uint32_t persistence_group_ms; /* Midge: `persistence_group_interval`, ms; default 50 */
	uint64_t persistence_max_size; /* Midge: `persistence_max_size` bytes the store may grow to; 0 = no limit */
	bool persistence_move_corrupt; /* Midge: `persistence_corrupt move_aside` */
	/* MQTT 5 */
	uint8_t max_qos;          /* `max_qos`, default 2 */
	uint16_t max_topic_alias; /* `max_topic_alias`: aliases a client may use, default 10 */
	uint16_t max_topic_alias_broker; /* `max_topic_alias_broker`: aliases the broker gives a client, default 10 */

	/* Bridges (`connection` sections), in file order */
	struct bridge_conf *bridges;
	size_t nbridges;

	char **files; /* every file read, for listener_conf.file */
	size_t nfiles;
	/* Non-fatal "FILE:LINE: message" notes (deprecated or ignored options) for the broker to log
	 * once logging is up. Owned. */
	char **warnings;
	size_t nwarnings;
};

/* Fills c with defaults (no listeners). c need not be initialised. */
void config__defaults(struct config *c);
/* Reads path (and any include_dir) into c, which holds defaults or earlier values.
 * On error returns MIDGE_ERR_INVAL and writes "FILE:LINE: message" into err (errlen bytes),
 * or MIDGE_ERR_NOMEM; c then holds what was read before the error and config__fini frees it.
 * Call config__validate once every file is read. */
int config__load(struct config *c, const char *path, char *err, size_t errlen);
/* Parses config text from memory (len bytes, need not be NUL-terminated); name is used in
 * messages. A relative include_dir is relative to the current directory, as in Mosquitto.
 * Same contract as config__load. Used by the fuzzer and unit tests. */
int config__parse(struct config *c, const char *name, const char *text, size_t len, char *err, size_t errlen);
/* Frees everything c owns; c is then as after config__defaults without listeners. */
void config__fini(struct config *c);
/* Cross-option checks to run once every file is read: duplicate listeners (same port, address
 * and overlapping socket_domain); TLS listeners: certfile and keyfile together, require_certificate
 * with cafile or capath, psk_hint with a psk_file; bridges: an address and a topic each, complete TLS or PSK
 * settings, distinct local client ids; the cluster's NATS options: cluster_nats_certfile with cluster_nats_keyfile,
 * one way of authenticating to NATS. Files are not opened here (broker__start does). Returns 0, or
 * MIDGE_ERR_INVAL with "FILE:LINE: message" in err. */
int config__validate(const struct config *c, char *err, size_t errlen);
/* The user to drop privileges to: c->user, or "mosquitto" when unset. Never NULL. */
const char *config__user(const struct config *c);
/* True when l is a TLS listener: certfile (with keyfile) or psk_hint is set. */
bool config__listener_tls(const struct listener_conf *l);
/* The psk_file that applies to listener l (per_listener_settings aware), or NULL. Owned by c. */
const char *config__psk_file(const struct config *c, const struct listener_conf *l);
/* True when connections of bridge b to address a use TLS: wss://, or a TCP address with bridge_cafile,
 * bridge_capath or bridge_psk set (Mosquitto's rule). */
bool config__bridge_tls(const struct bridge_conf *b, const struct bridge_address *a);
/* The client id bridge b uses on the remote broker: remote_clientid, or "<hostname>.<name>" written into
 * buf (len bytes) as Mosquitto makes it. Never NULL; points into b or buf. */
const char *config__bridge_remote_clientid(const struct bridge_conf *b, char *buf, size_t len);
/* The client id of b's local side: local_clientid, or "local.<remote client id>" written into buf. */
const char *config__bridge_local_clientid(const struct bridge_conf *b, char *buf, size_t len);
/* allow_zero_length_clientid as it applies to clients of listener l (per_listener_settings aware). */
bool config__allow_zero_length_clientid(const struct config *c, const struct listener_conf *l);
/* The security options that apply to clients of listener l: its own under per_listener_settings, the
 * global ones otherwise. allow_anonymous unset is false, as Mosquitto 2 (main.c sets it true for the
 * loopback-only listeners made without a config file). Paths are NULL when not configured. */
bool config__allow_anonymous(const struct config *c, const struct listener_conf *l);
const char *config__password_file(const struct config *c, const struct listener_conf *l);
const char *config__acl_file(const struct config *c, const struct listener_conf *l);

#endif
