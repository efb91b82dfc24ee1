/* libFuzzer target: config__parse on arbitrary bytes, then config__validate and config__fini. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "broker/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* include_dir reads directories: keep the fuzzer off the filesystem. */
	if (memmem(data, size, "include_dir", 11)) return 0;
	struct config c;
	char err[256];
	config__defaults(&c);
	if (config__parse(&c, "fuzz.conf", (const char *)data, size, err, sizeof(err)) == 0) {
		config__validate(&c, err, sizeof(err));
		(void)config__user(&c);
		for (size_t i = 0; i < c.nlisteners; i++)
			(void)config__allow_zero_length_clientid(&c, &c.listeners[i]);
	}
	config__fini(&c);
	return 0;
}
