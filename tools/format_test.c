/* Unit tests of the -F format engine and the JSON printer: expected bytes are what mosquitto_sub 2.0.11
 * printed for the same messages and format strings. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "format.h"
#include "json.h"
#include "midge/mqtt.h"

static char *out_buf;
static size_t out_len;

/* Prints m with format f (or -v / plain when f is NULL) and returns what was written. */
static const char *fmt(const char *f, const struct fmt_message *m, bool verbose, bool eol, bool pretty)
{
	static char *last;
	free(last);
	FILE *out = open_memstream(&out_buf, &out_len);
	FILE *err = fopen("/dev/null", "w");
	struct fmt_options o = {f, verbose, eol, pretty, false};
	struct timespec now = {1700000000, 123456789};
	fmt__print(out, err, &o, m, &now);
	fclose(out);
	fclose(err);
	last = out_buf;
	return last;
}

static void check_format_strings(void)
{
	char buf[64];
	CHECK(fmt__check("%t %p %q %r %l %m %x %X %j %J %I %U %A %C %D %E %F %P %R %S %%", buf, sizeof(buf)) == NULL);
	CHECK(fmt__check("%-10t %010p %.3t %5.2t @Y-@m-@d @N @@ \\n\\t\\\\\\0\\a\\e\\r\\v", buf, sizeof(buf)) == NULL);
	CHECK(!strcmp(fmt__check("%", buf, sizeof(buf)), "Error: Incomplete format specifier."));
	CHECK(!strcmp(fmt__check("%-", buf, sizeof(buf)), "Error: Incomplete format specifier."));
	CHECK(!strcmp(fmt__check("%10", buf, sizeof(buf)), "Error: Incomplete format specifier."));
	CHECK(!strcmp(fmt__check("%10.", buf, sizeof(buf)), "Error: Incomplete format specifier."));
	CHECK(!strcmp(fmt__check("%10.2", buf, sizeof(buf)), "Error: Incomplete format specifier."));
	CHECK(!strcmp(fmt__check("ab@", buf, sizeof(buf)), "Error: Incomplete format specifier."));
	CHECK(!strcmp(fmt__check("%z", buf, sizeof(buf)), "Error: Invalid format specifier 'z'."));
	CHECK(!strcmp(fmt__check("%0-5t", buf, sizeof(buf)), "Error: Invalid format specifier '-'."));
	CHECK(!strcmp(fmt__check("\\", buf, sizeof(buf)), "Error: Incomplete escape specifier."));
	CHECK(!strcmp(fmt__check("\\z", buf, sizeof(buf)), "Error: Invalid escape specifier 'z'."));
}

static void check_fields(void)
{
	struct fmt_message m = {"y/abc", "hello", 5, 1, false, 1, NULL, 0};
	CHECK(!strcmp(fmt("%p|%10p|%-10p|%010p|%3p|%x|%10x|%-10x|%010x|%3X|%.2p|%5.2t|%-8t|%08t|%.1t|%l|%05l|"
	                  "%-5l|%m|%5q|%-3r|%A|%5A|%05E|%C|%5C|%D|%P|%R|%S|%5S|%05S",
	                  &m, false, true, false),
	              "hello|     hello|hello     |00000hello|hel|68656c6c6f|      6865|6865      |0000006865| 68|"
	              "hello|   y/|y/abc   |   y/abc|y|5|00005|5    |1|1|0||     |00000||     |||||     |00000\n"));
	/* A left-aligned payload without a width is followed by as many spaces as it is long. */
	CHECK(!strcmp(fmt("[%-p][%-x][%-0p][%-t][%-.2t][%-l][%-3X]", &m, false, true, false),
	              "[hello     ][68656c6c6f     ][hello     ][y/abc][y/][5][68 ]\n"));
	CHECK(!strcmp(fmt("%%|@@|\\\\|\\t|\\e", &m, false, false, false), "%|@|\\|\t|\033"));
	/* \0 writes a NUL byte. */
	fmt("a\\0b", &m, false, false, false);
	CHECK(out_len == 3 && !memcmp(out_buf, "a\0b", 3));
}

static void check_time(void)
{
	struct fmt_message m = {"t", "x", 1, 0, false, 0, NULL, 0};
	CHECK(!strcmp(fmt("%I|%U|@Y-@m-@dT@H:@M:@S.@N|%25I|%.4I", &m, false, true, false),
	              "2023-11-14T22:13:20+0000|1700000000.123456789|2023-11-14T22:13:20.123456789|"
	              " 2023-11-14T22:13:20+0000|2023\n"));
}

static void check_properties(void)
{
	struct midge_prop p[] = {
	    {MQTT_PROP_USER_PROPERTY, 0, "k", 1, "v", 1},
	    {MQTT_PROP_USER_PROPERTY, 0, "k2", 2, "v2", 2},
	    {MQTT_PROP_CONTENT_TYPE, 0, "text/plain", 10, NULL, 0},
	    {MQTT_PROP_CORRELATION_DATA, 0, "abc", 3, NULL, 0},
	    {MQTT_PROP_RESPONSE_TOPIC, 0, "r/t", 3, NULL, 0},
	    {MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1, NULL, 0, NULL, 0},
	    {MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 30, NULL, 0, NULL, 0},
	    {MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 7, NULL, 0, NULL, 0},
	};
	struct fmt_message m = {"y/abc", "hello", 5, 1, false, 1, p, 8};
	CHECK(!strcmp(fmt("%A|%5A|%05E|%-4E|%C|%5C|%.2C|%D|%P|%R|%-6R|%S|%5S|%05S|%F|%3F", &m, false, true, false),
	              "|     |00030|30  |text/plain|text/plain|te|abc|k:v k2:v2|r/t|r/t   |7|    7|00007|1|  1\n"));
	struct fmt_message j = {"y/a", "hello \"w\"", 9, 0, false, 0, p, 7};
	CHECK(!strcmp(
	    fmt("%j", &j, false, true, false),
	    "{\"tst\":\"2023-11-14T22:13:20.123456Z+0000\",\"topic\":\"y/a\",\"qos\":0,\"retain\":0,"
	    "\"payloadlen\":9,\"properties\":{\"user-properties\":{\"k\":\"v\",\"k2\":\"v2\"},"
	    "\"content-type\":\"text/plain\",\"correlation-data\":\"abc\",\"response-topic\":\"r/t\","
	    "\"payload-format-indicator\":1,\"message-expiry-interval\":30},\"payload\":\"hello \\\"w\\\"\"}\n"));
}

static void check_json(void)
{
	struct midge_prop p[] = {{MQTT_PROP_USER_PROPERTY, 0, "k", 1, "v", 1}};
	const char *pl = "{\"a\":[1,2.5,{\"b\":null}],\"c\":\"\\u00e9\\n\"}";
	struct fmt_message m = {"y/a", pl, strlen(pl), 0, false, 0, p, 1};
	CHECK(!strcmp(
	    fmt("%J", &m, false, true, true),
	    "{\n\t\"tst\":\t\"2023-11-14T22:13:20.123456Z+0000\",\n\t\"topic\":\t\"y/a\",\n\t\"qos\":\t0,\n"
	    "\t\"retain\":\t0,\n\t\"payloadlen\":\t39,\n\t\"properties\":\t{\n\t\t\"user-properties\":\t{\n"
	    "\t\t\t\"k\":\t\"v\"\n\t\t}\n\t},\n\t\"payload\":\t{\n\t\t\"a\":\t[1, 2.5, {\n\t\t\t\t\"b\":\tnull\n"
	    "\t\t\t}],\n\t\t\"c\":\t\"\xc3\xa9\\n\"\n\t}\n}\n"));
	/* Numbers as cJSON prints them. */
	const char *nums = "[1e300,3.0,-0.0,2147483648,2147483647,-2147483648,-2147483649,1.5e9,0.1,1e-7,"
	                   "123456789012345678,1e400,01,1.,-1e-400,0.30000000000000004,100000000000000000000]";
	struct fmt_message n = {"z", nums, strlen(nums), 1, true, 3, NULL, 0};
	CHECK(!strcmp(fmt("%J", &n, false, false, false),
	              "{\"tst\":\"2023-11-14T22:13:20.123456Z+0000\",\"topic\":\"z\",\"qos\":1,\"retain\":1,"
	              "\"payloadlen\":158,\"mid\":3,\"payload\":[1e+300,3,-0,2147483648,2147483647,-2147483648,"
	              "-2147483649,1500000000,0.1,1e-07,1.2345678901234568e+17,null,1,1,-0,0.3,1e+20]}"));
	/* Binary payloads in %j stop at a NUL; control characters are escaped. */
	struct fmt_message b = {"y/a",
	                        "a\x01"
	                        "b\0c",
	                        5,
	                        0,
	                        false,
	                        0,
	                        NULL,
	                        0};
	CHECK(!strcmp(fmt("%j", &b, false, false, false),
	              "{\"tst\":\"2023-11-14T22:13:20.123456Z+0000\",\"topic\":\"y/a\",\"qos\":0,\"retain\":0,"
	              "\"payloadlen\":5,\"payload\":\"a\\u0001b\"}"));
	/* Empty payloads are null; an invalid %J payload prints nothing for the field. */
	struct fmt_message e = {"y/a", "", 0, 0, false, 0, NULL, 0};
	CHECK(strstr(fmt("%J", &e, false, false, false), "\"payload\":null}") != NULL);
	struct fmt_message bad = {"y/a", "[1,]", 4, 0, false, 0, NULL, 0};
	CHECK(!strcmp(fmt("<%J>", &bad, false, true, false), "<>\n"));
	struct fmt_message pretty_empty = {
	    "y/a", "{\"a\":{},\"b\":[],\"c\":[{}],\"d\":[[1,{\"x\":[]}]]}", 43, 0, false, 0, NULL, 0};
	CHECK(strstr(fmt("%J", &pretty_empty, false, false, true),
	             "\"payload\":\t{\n\t\t\"a\":\t{\n\t\t},\n\t\t\"b\":\t[],\n\t\t\"c\":\t[{\n\t\t\t}],\n\t\t\"d\":\t["
	             "[1, {\n"
	             "\t\t\t\t\t\"x\":\t[]\n\t\t\t\t}]]\n\t}\n}") != NULL);
}

static void check_plain(void)
{
	struct fmt_message m = {"a/b", "xy", 2, 0, false, 0, NULL, 0};
	struct fmt_message e = {"a/b", "", 0, 0, false, 0, NULL, 0};
	CHECK(!strcmp(fmt(NULL, &m, false, true, false), "xy\n"));
	CHECK(!strcmp(fmt(NULL, &m, true, true, false), "a/b xy\n"));
	CHECK(!strcmp(fmt(NULL, &m, true, false, false), "a/b xy"));
	CHECK(!strcmp(fmt(NULL, &e, true, true, false), "a/b (null)\n"));
	CHECK(!strcmp(fmt(NULL, &e, true, false, false), ""));
	CHECK(!strcmp(fmt(NULL, &e, false, true, false), ""));
	CHECK(!strcmp(fmt("%t", &e, true, false, false), "a/b"));
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	check_format_strings();
	check_fields();
	check_time();
	check_properties();
	check_json();
	check_plain();
	fmt(NULL, &(struct fmt_message){"t", "", 0, 0, false, 0, NULL, 0}, false, false, false);
	free(out_buf);
	CHECK_DONE();
}
