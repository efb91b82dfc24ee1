/* libFuzzer target: the password file parser (pw__parse_text) on arbitrary bytes, then lookups. Hashes are not
 * verified: a file's iteration count is the operator's choice and may be made arbitrarily slow. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/passwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_table t = {0};
	char err[256];
	if (pw__parse_text(&t, (const char *)data, size, "fuzz.pw", err, sizeof(err)) == 0) {
		for (size_t i = 0; i < t.count; i++) {
			const struct pw_entry *e = pw__find(&t, t.entries[i].username);
			if (!e) __builtin_trap(); /* every parsed user must be found again */
		}
		(void)pw__find(&t, "nobody");
	}
	pw__table_fini(&t);
	return 0;
}
