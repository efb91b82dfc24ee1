/* libFuzzer target: the acl_file parser (acl__parse_text) on arbitrary bytes, then access and subscription
 * checks for a few clients, with topics and filters taken from the file's own lines too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void probe(const struct acl *a, const char *t)
{
	static const char *users[] = {NULL, "alice", "bob smith", "%u", "a+b"};
	static const char *ids[] = {"c1", "alice", "+", "#"};
	for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
		for (size_t c = 0; c < sizeof(ids) / sizeof(ids[0]); c++) {
			(void)acl__check(a, ids[c], users[u], t, ACL_READ);
			(void)acl__check(a, ids[c], users[u], t, ACL_WRITE);
			(void)acl__check_subscribe(a, ids[c], users[u], t);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acl a = {0};
	char err[256];
	if (acl__parse_text(&a, (const char *)data, size, "fuzz.acl", err, sizeof(err)) == 0) {
		static const char *fixed[] = {"a/b", "$SYS/broker/uptime", "public/x", "#", "+/+", "a/#", ""};
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) probe(&a, fixed[i]);
		/* Each rule's own topic, as a topic and as a filter. */
		for (size_t i = 0; i < a.nusers; i++)
			for (size_t k = 0; k < a.users[i].rules.count && k < 8; k++) probe(&a, a.users[i].rules.v[k].topic);
		for (size_t k = 0; k < a.patterns.count && k < 8; k++) probe(&a, a.patterns.v[k].topic);
	}
	acl__fini(&a);
	return 0;
}
