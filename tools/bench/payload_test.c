/* Tests of the benchmark payload header: round trip, byte layout, refusals. */
#include "check.h"
#include "payload.h"

int main(void)
{
	uint8_t buf[64] = {0};
	struct payload_hdr h = {.flags = PAYLOAD_WARMUP, .publisher = 0x01020304u, .seq = 0x1122334455667788u,
				.sent_ns = 0xA1A2A3A4A5A6A7A8u};
	payload__write(buf, &h);
	static const uint8_t want[PAYLOAD_HEADER] = {0x4D, 0x42, 0x01, 0x00, 0x04, 0x03, 0x02, 0x01,
						     0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
						     0xA8, 0xA7, 0xA6, 0xA5, 0xA4, 0xA3, 0xA2, 0xA1};
	CHECK_MEM(buf, want, PAYLOAD_HEADER);
	struct payload_hdr g;
	CHECK(payload__read(buf, sizeof buf, &g));
	CHECK_EQ(g.flags, PAYLOAD_WARMUP);
	CHECK_EQ(g.publisher, h.publisher);
	CHECK_EQ(g.seq, h.seq);
	CHECK_EQ(g.sent_ns, h.sent_ns);
	/* Exactly the header is enough; one byte less is not. */
	CHECK(payload__read(buf, PAYLOAD_HEADER, &g));
	CHECK(!payload__read(buf, PAYLOAD_HEADER - 1, &g));
	/* A payload from anyone else (no magic) is not ours. */
	buf[0] = 'h';
	CHECK(!payload__read(buf, sizeof buf, &g));
	/* Zero values round-trip too. */
	struct payload_hdr z = {0};
	payload__write(buf, &z);
	CHECK(payload__read(buf, PAYLOAD_HEADER, &g));
	CHECK_EQ(g.seq, 0);
	CHECK_EQ(g.publisher, 0);
	CHECK_EQ(g.flags, 0);
	CHECK_DONE();
}
