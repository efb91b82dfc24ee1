/* libFuzzer target: an MQTT-SN predefined topic file, then a lookup of every entry by id and by topic. */
#include <stddef.h>
#include <stdint.h>

#include "broker/sn_predefined.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sn_predefs t = {0};
	char err[128];
	if (sn_predef__parse(&t, (const char *)data, size, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			if (sn_predef__by_id(&t, t.v[i].id) != &t.v[i]) __builtin_trap();
			if (sn_predef__by_topic(&t, (const uint8_t *)t.v[i].topic, t.v[i].len) != &t.v[i]) __builtin_trap();
			if (t.v[i].id == 0 || t.v[i].id == 0xFFFF || t.v[i].len == 0) __builtin_trap();
		}
	}
	sn_predef__fini(&t);
	return 0;
}
