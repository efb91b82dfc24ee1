/* Unit tests for idset: small and bitmap forms agree with a reference array. */
#include <stdlib.h>

#include "../../tests/unit/check.h"
#include "common/idset.h"

int main(void)
{
	struct idset s = {0};
	CHECK(s.small == NULL); /* nothing allocated until used */
	CHECK_EQ(idset__add(&s, 7), 1);
	CHECK(s.small != NULL && s.cap == 4);
	CHECK_EQ(idset__add(&s, 7), 0);
	CHECK(idset__has(&s, 7));
	CHECK(!idset__has(&s, 8));
	CHECK(idset__remove(&s, 7));
	CHECK(!idset__remove(&s, 7));
	CHECK_EQ(idset__count(&s), 0u);
	for (uint16_t id = 100; id < 130; id++) CHECK_EQ(idset__add(&s, id), 1); /* 4, 8, 16, 32: still small */
	CHECK(s.bits == NULL && s.cap == 32 && idset__count(&s) == 30);
	for (uint16_t id = 100; id < 130; id++) CHECK(idset__has(&s, id) && idset__remove(&s, id));

	/* Grow past the small array into the bitmap, and keep agreeing with a plain reference. */
	static unsigned char ref[65536];
	srand(1);
	for (int i = 0; i < 200000; i++) {
		uint16_t id = (uint16_t)(rand() % (i < 1000 ? 64 : 65536));
		if (rand() % 3) {
			int r = idset__add(&s, id);
			CHECK_EQ(r, ref[id] ? 0 : 1);
			ref[id] = 1;
		} else {
			CHECK_EQ(idset__remove(&s, id), ref[id] != 0);
			ref[id] = 0;
		}
	}
	uint32_t n = 0;
	for (uint32_t id = 0; id < 65536; id++) {
		n += ref[id];
		if (idset__has(&s, (uint16_t)id) != (ref[id] != 0)) CHECK(0);
	}
	CHECK_EQ(idset__count(&s), n);
	CHECK(s.bits != NULL);
	/* All 65536 ids fit. */
	for (uint32_t id = 0; id < 65536; id++) idset__add(&s, (uint16_t)id);
	CHECK_EQ(idset__count(&s), 65536u);
	idset__fini(&s);
	CHECK_EQ(idset__count(&s), 0u);
	CHECK_DONE();
}
