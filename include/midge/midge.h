/* Public API of libmidge: error codes shared by every module and the version; the client API is in
 * midge/client.h. */
#ifndef MIDGE_H
#define MIDGE_H

#define MIDGE_VERSION "0.1.0"

/* Marks the functions libmidge exports: it is built with hidden visibility, so nothing else leaves it. */
#if defined(__GNUC__)
#define MIDGE_API __attribute__((visibility("default")))
#else
#define MIDGE_API
#endif

/* One error enum for the whole code base: 0 is success, failures are negative. */
enum midge_err {
	MIDGE_OK = 0,
	MIDGE_ERR_NOMEM = -1,
	MIDGE_ERR_INVAL = -2,
	MIDGE_ERR_IO = -3,
	MIDGE_ERR_CLOSED = -4,
	MIDGE_ERR_MALFORMED = -5,
	MIDGE_ERR_PROTOCOL = -6,
	MIDGE_ERR_TOO_LARGE = -7,
	MIDGE_ERR_NOT_FOUND = -8,
	MIDGE_ERR_EXISTS = -9,
	MIDGE_ERR_AGAIN = -10,
	MIDGE_ERR_TIMEOUT = -11,
	MIDGE_ERR_NOT_SUPPORTED = -12,
	MIDGE_ERR_TLS = -13, /* a TLS handshake or session failed, or TLS settings were refused */
};

/* Returns a static English description of err; never NULL. */
MIDGE_API const char *midge_strerror(int err);

#endif
