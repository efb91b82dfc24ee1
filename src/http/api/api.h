/* The broker's HTTP API, Prometheus metrics and dashboard, answered on the web listeners (docs/http-api.md):
 * routing, authentication and JSON errors in api.c; the answers in api_state.c (stats, listeners, metrics),
 * api_clients.c (clients, subscriptions, kick), api_retained.c and api_bridges.c; the dashboard's embedded files
 * in dashboard.c. */
#ifndef MIDGE_HTTP_API_H
#define MIDGE_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "http/http_req.h"

struct broker;
struct listener_rt;
struct jsonw;

/* The http_app serve function (net/ws.h) of listener l (ctx, a struct listener_rt): answers /api/... and
 * /metrics into out and returns the status (or MIDGE_ERR_NOMEM); on a listener without http_dir also every
 * other path, from the dashboard's embedded files (dashboard__serve). 0 for any other path of a listener with
 * http_dir: its files are served. peer is the client's "ip:port". Worker thread. */
int api__serve(void *ctx, const char *peer, const struct http_request *rq, const uint8_t *body, size_t body_len,
	       struct buf *out);

/* A request being answered, once it is known to be the API's and its caller is authenticated. */
struct api_req {
	struct broker *b;
	struct listener_rt *l;
	const char *peer;   /* the client's "ip:port" */
	const struct http_request *rq;
	struct buf *out;
	const char *rest;   /* the path after the route's prefix (raw, not decoded) */
	size_t rest_len;
	bool admin;         /* the API key: everything is allowed */
	const char *username; /* NULL = anonymous (or the API key) */
	size_t domain;      /* the listener's security domain */
};

/* A 200 response whose body is the JSON in body (emptied). Returns 200 or MIDGE_ERR_NOMEM. */
int api__send_json(struct api_req *r, struct buf *body);
/* An error response {"error": {"status": S, "message": M}} with extra header lines (or NULL). Returns status or
 * MIDGE_ERR_NOMEM. */
int api__error(struct buf *out, int status, const char *message, const char *extra);
/* The request's ?limit=N: dflt without one, N when it is a number from 1 to max, else 0 (answer 400). */
size_t api__limit(const struct api_req *r, size_t dflt, size_t max);
/* True when the caller may read (or write) topic by the ACL; the API key may do everything. */
bool api__may(const struct api_req *r, const char *topic, int access);

/* The answers (each returns the status or MIDGE_ERR_NOMEM). */
int api__stats(struct api_req *r);
int api__listeners(struct api_req *r);
int api__metrics(struct api_req *r);
int api__clients(struct api_req *r);
int api__client(struct api_req *r);      /* GET /api/v1/clients/{id} */
int api__kick(struct api_req *r);        /* DELETE /api/v1/clients/{id} */
int api__subscriptions(struct api_req *r);
int api__retained(struct api_req *r);
int api__bridges(struct api_req *r);     /* GET /api/v1/bridges */

/* Writes "bridges": {"total": N, "connected": M} into the object open in j (/api/v1/stats). Any thread. */
void api__bridges_summary(struct broker *b, struct jsonw *j);
/* Appends the midge_bridge_* metric families (one sample per bridge; nothing without bridges) to o. 0 or
 * MIDGE_ERR_NOMEM. */
int api__bridge_metrics(struct broker *b, struct buf *o);

/* One file of the dashboard, embedded in the binary at build time: web/ and the npm packages it uses, turned
 * into a generated source by cmake/embed_web.cmake. */
struct dashboard_file {
	const char *path; /* served at, e.g. "/app.js" */
	const char *type; /* Content-Type */
	const char *etag; /* "\"hash of the content\"", quotes included */
	const unsigned char *data;
	size_t len;
};
extern const struct dashboard_file dashboard__files[];
extern const size_t dashboard__nfiles;

/* The embedded file served at path[0..len) ("/" is /index.html; no query), or NULL. */
const struct dashboard_file *dashboard__find(const char *path, size_t len);
/* Answers rq from the embedded files into out: GET and HEAD of a file's path (the whole response, with
 * Cache-Control: no-cache and its ETag; HEAD without the body; 304 without it when If-None-Match names the
 * ETag), 405 with Allow for other methods, 404 for other paths. Returns the status, or MIDGE_ERR_NOMEM. */
int dashboard__serve(const struct http_request *rq, struct buf *out);

#endif
