/* Error messages for functions that answer with a code and a message buffer. */
#ifndef MIDGE_ERR_H
#define MIDGE_ERR_H

#include <stddef.h>

/* Writes the printf-style message into err (errlen bytes; nothing when err is NULL or errlen 0) and
 * returns code, so a failing path reads `return err__set(err, errlen, MIDGE_ERR_INVAL, "...", ...);`. */
int err__set(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same as "line N: message", returning MIDGE_ERR_INVAL: a line-by-line reader's refusal. */
int err__line(char *err, size_t errlen, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
