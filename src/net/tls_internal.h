/* Internal to src/net/tls*.c: the context's layout, shared by the builder (tls_ctx.c) and the
 * transport (tls.c). Not for use elsewhere. */
#ifndef MIDGE_TLS_INTERNAL_H
#define MIDGE_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "psk_file.h"

struct tls_ctx {
	SSL_CTX *ssl;         /* its app data points back here (the PSK callback finds the table) */
	atomic_uint refs;
	struct psk_table psk; /* server with psk_hint: identities and keys */
	struct psk_entry client_psk; /* client with psk: the one identity and key it offers */
};

#endif
