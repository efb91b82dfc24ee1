/* Reading a whole file, for the configuration, password and ACL readers. */
#ifndef MIDGE_FILE_H
#define MIDGE_FILE_H

#include <stddef.h>

/* Reads the file at path into a new malloc'd buffer (*out, owned by the caller; *len bytes, not
 * NUL-terminated). Returns 0, or an errno value (EISDIR for a directory, ENOMEM). */
int file__read_all(const char *path, char **out, size_t *len);
/* The same, answering in MIDGE_ERR_* terms: 0, or MIDGE_ERR_NOMEM / MIDGE_ERR_IO with "PATH: reason" in err. */
int file__read_all_err(const char *path, char **out, size_t *len, char *err, size_t errlen);

#endif
