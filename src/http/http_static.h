/* HTTP responses of the web listener: small status responses, and files served from http_dir. */
#ifndef MIDGE_HTTP_STATIC_H
#define MIDGE_HTTP_STATIC_H

#include <stddef.h>

#include "common/buf.h"
#include "http_req.h"

#define HTTP_FILE_MAX (16u << 20) /* larger files are not served (403): responses are built in memory */

/* Appends a complete response with status (e.g. 400), its reason phrase, `Connection: close`, extra header
 * lines (each ending in CRLF; may be NULL) and a short text body naming the status. 0 or MIDGE_ERR_NOMEM. */
int http__status_response(struct buf *out, int status, const char *extra_headers);

/* Appends the response to a request that is not a WebSocket upgrade: the file the target names under dir for
 * GET and HEAD (the target's path, %-decoded, without query; "/" and directories mean index.html; no "..",
 * no NUL, no way out of dir through links; regular files only), else 404, 405 (other methods), 403, or 404
 * when dir is NULL. Returns the status sent, or MIDGE_ERR_NOMEM. */
int http__serve_file(struct buf *out, const char *dir, const struct http_request *req);

#endif
