/* English descriptions of enum midge_err for logs and tools. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

#include "midge/midge.h"

const char *midge_strerror(int err)
{
	switch (err) {
	case MIDGE_OK: return "success";
	case MIDGE_ERR_NOMEM: return "out of memory";
	case MIDGE_ERR_INVAL: return "invalid argument";
	case MIDGE_ERR_IO: return "I/O error";
	case MIDGE_ERR_CLOSED: return "connection closed";
	case MIDGE_ERR_MALFORMED: return "malformed packet";
	case MIDGE_ERR_PROTOCOL: return "protocol error";
	case MIDGE_ERR_TOO_LARGE: return "packet too large";
	case MIDGE_ERR_NOT_FOUND: return "not found";
	case MIDGE_ERR_EXISTS: return "already exists";
	case MIDGE_ERR_AGAIN: return "try again";
	case MIDGE_ERR_TIMEOUT: return "timed out";
	case MIDGE_ERR_NOT_SUPPORTED: return "not supported";
	case MIDGE_ERR_TLS: return "TLS error";
	}
	return "unknown error";
}

int err__line(char *err, size_t errlen, int line, const char *fmt, ...)
{
	if (err && errlen) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(err, errlen, "line %d: %s", line, msg);
	}
	return MIDGE_ERR_INVAL;
}

int err__set(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}
