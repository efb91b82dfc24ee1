/* HTTP responses of the web listener: small status responses, and files served from http_dir. */
#ifndef MIDGE_HTTP_STATIC_H
#define MIDGE_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "http_req.h"


/* Appends a response head: the status line, Server, Content-Type type, Content-Length len, `Connection: close`
 * and extra header lines (each ending in CRLF; may be NULL). 0, MIDGE_ERR_NOMEM, or MIDGE_ERR_INVAL when the
 * head would pass 512 bytes. */
int http__response_head(struct buf *out, int status, const char *type, size_t len, const char *extra);

/* Appends a complete response with status (e.g. 400), its reason phrase, `Connection: close`, extra header
 * lines (each ending in CRLF; may be NULL) and a short text body naming the status. 0 or MIDGE_ERR_NOMEM. */
int http__status_response(struct buf *out, int status, const char *extra_headers);

/* Appends the response to a request that is not a WebSocket upgrade: for the file the target names under dir
 * (the target's path, %-decoded, without query; "/" and directories mean index.html; no "..", no NUL, no way
 * out of dir through links; regular files only) its head, and for GET an open descriptor of it in *body_fd
 * with its size in *body_len, for the caller to send after the head and close (the file is not read into
 * memory); else 404, 405 (other methods) or 403 with a short body, and *body_fd = -1. Returns the status,
 * or MIDGE_ERR_NOMEM. */
int http__serve_file(struct buf *out, const char *dir, const struct http_request *req, int *body_fd,
		     uint64_t *body_len);

#endif
