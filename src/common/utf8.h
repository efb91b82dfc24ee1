/* UTF-8 validation by the MQTT rules: well-formed, no U+0000, no surrogates, no overlongs. */
#ifndef MIDGE_UTF8_H
#define MIDGE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when p[0..len) is well-formed UTF-8 per RFC 3629 with no U+0000 and no UTF-16 surrogates
 * (U+D800..U+DFFF), as MQTT 3.1.1 section 1.5.3 and 5.0 section 1.5.4 require. */
bool utf8__valid(const uint8_t *p, size_t len);

#endif
