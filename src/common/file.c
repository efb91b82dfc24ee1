/* Reading a whole file: see file.h. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "midge/midge.h"

int file__read_all(const char *path, char **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) return errno;
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(f);
		return EISDIR;
	}
	char *data = NULL;
	size_t len = 0, cap = 0;
	int e = 0;
	for (;;) {
		if (cap - len < 4096) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *p = realloc(data, ncap);
			if (!p) {
				e = ENOMEM;
				break;
			}
			data = p;
			cap = ncap;
		}
		size_t got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) e = errno ? errno : EIO;
			break;
		}
	}
	fclose(f);
	if (e) {
		free(data);
		return e;
	}
	*out = data;
	*outlen = len;
	return 0;
}

int file__read_all_err(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	int e = file__read_all(path, out, len);
	if (!e) return 0;
	if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(e));
	return e == ENOMEM ? MIDGE_ERR_NOMEM : MIDGE_ERR_IO;
}
