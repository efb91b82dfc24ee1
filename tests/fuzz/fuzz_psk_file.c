/* libFuzzer target: psk__parse on arbitrary bytes, then a lookup of every identity and psk__fini. */
#include <stddef.h>
#include <stdint.h>

#include "net/psk_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psk_table t = {0};
	char err[128];
	if (psk__parse(&t, (const char *)data, size, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < t.n; i++)
			if (psk__find(&t, t.v[i].identity) != &t.v[i]) __builtin_trap();
	}
	psk__fini(&t);
	return 0;
}
