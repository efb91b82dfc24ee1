/* The HTTP API's routing, authentication and errors (api.h, docs/http-api.md). */
#include "api.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "broker/authq.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/security.h"
#include "common/jsonw.h"
#include "http/http_static.h"
#include "midge/midge.h"

enum need {
	NEED_STATE, /* the broker's state: read access to $SYS */
	NEED_KICK,  /* write access to $CONTROL/midge/clients */
	NEED_LOGIN, /* only a login: the answer is filtered by the ACL */
};

struct route {
	const char *method;
	const char *path;
	bool prefix; /* path is a prefix that something must follow */
	int (*fn)(struct api_req *r);
	enum need need;
};

static const struct route routes[] = {
    {"GET", "/api/v1/stats", false, api__stats, NEED_STATE},
    {"GET", "/api/v1/listeners", false, api__listeners, NEED_STATE},
    {"GET", "/api/v1/clients", false, api__clients, NEED_STATE},
    {"GET", "/api/v1/clients/", true, api__client, NEED_STATE},
    {"DELETE", "/api/v1/clients/", true, api__kick, NEED_KICK},
    {"GET", "/api/v1/subscriptions", false, api__subscriptions, NEED_STATE},
    {"GET", "/api/v1/retained", false, api__retained, NEED_LOGIN},
    {"GET", "/api/v1/bridges", false, api__bridges, NEED_STATE},
    {"GET", "/metrics", false, api__metrics, NEED_STATE},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The topics whose ACL stands for the API's rights (docs/http-api.md). */
#define STATE_TOPIC "$SYS/broker/clients/connected"
#define KICK_TOPIC "$CONTROL/midge/clients"

int api__error(struct buf *out, int status, const char *message, const char *extra)
{
	struct buf body = {0};
	struct jsonw j;
	jsonw__init(&j, &body);
	jsonw__obj(&j, NULL);
	jsonw__obj(&j, "error");
	jsonw__i64(&j, "status", status);
	jsonw__cstr(&j, "message", message);
	jsonw__end(&j);
	jsonw__end(&j);
	int rc = jsonw__done(&j);
	if (!rc) rc = http__response_head(out, status, "application/json", buf__len(&body), extra);
	if (!rc) rc = buf__append(out, buf__head(&body), buf__len(&body));
	buf__fini(&body);
	return rc ? MIDGE_ERR_NOMEM : status;
}

int api__send_json(struct api_req *r, struct buf *body)
{
	int rc = http__response_head(r->out, 200, "application/json", buf__len(body), "Cache-Control: no-store\r\n");
	if (!rc) rc = buf__append(r->out, buf__head(body), buf__len(body));
	buf__fini(body);
	return rc ? MIDGE_ERR_NOMEM : 200;
}

size_t api__limit(const struct api_req *r, size_t dflt, size_t max)
{
	struct http_str v;
	if (!http__query(r->rq->target, "limit", &v)) return dflt;
	size_t n = 0;
	if (!v.len || v.len > 9) return 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9') return 0;
		n = n * 10 + (size_t)(v.p[i] - '0');
	}
	return n <= max ? n : 0;
}

bool api__may(const struct api_req *r, const char *topic, int access)
{
	return r->admin || security__allowed(r->b, r->domain, "", r->username, topic, strlen(topic), access);
}

/* "Scheme credentials" when the Authorization value v starts with scheme (case-insensitive) and a blank. */
static bool scheme(struct http_str v, const char *name, struct http_str *cred)
{
	size_t n = strlen(name);
	if (v.len <= n || strncasecmp(v.p, name, n) || v.p[n] != ' ') return false;
	*cred = (struct http_str){v.p + n + 1, v.len - n - 1};
	while (cred->len && cred->p[0] == ' ') cred->p++, cred->len--;
	return true;
}

/* Who is asking: 0 with r->admin / r->username set (user[] holds the name), or 401 / 429 written to out. A
 * password is checked here, on the worker: about a millisecond for a $7$ hash. */
static int authenticate(struct api_req *r, char *user, size_t usize)
{
	struct broker *b = r->b;
	const char *key = b->conf.http_api_key;
	const struct http_str *h = http__header(r->rq, "Authorization");
	/* A page's own script (X-Requested-With) shows its login form; a browser's dialog would get in its way. */
	const char *challenge = http__header(r->rq, "X-Requested-With") ? NULL : "WWW-Authenticate: Basic realm=\"midge\"\r\n";
	struct security *sec = security__get(b);
	const struct sec_domain *d = r->domain < sec->ndomains ? &sec->dom[r->domain] : NULL;
	int st = 401;
	const char *why = "authentication required";
	struct http_str cred;
	if (!d) {
		why = "no security settings";
	} else if (!h) {
		if (d->allow_anonymous && !key) st = 0;
	} else if (scheme(*h, "Bearer", &cred)) {
		if (key && strlen(key) == cred.len && !CRYPTO_memcmp(key, cred.p, cred.len)) {
			r->admin = true;
			st = 0;
		} else why = "wrong API key";
	} else if (scheme(*h, "Basic", &cred) && cred.len % 4 == 0 && cred.len / 4 * 3 < usize) {
		int n = EVP_DecodeBlock((unsigned char *)user, (const unsigned char *)cred.p, (int)cred.len);
		if (n >= 0) {
			/* EVP_DecodeBlock counts the bytes the padding stands for. */
			if (cred.len && cred.p[cred.len - 1] == '=') n--;
			if (cred.len > 1 && cred.p[cred.len - 2] == '=') n--;
			user[n] = 0;
		}
		char *colon = n > 0 ? memchr(user, ':', (size_t)n) : NULL;
		uint64_t wait = 0;
		if (colon && !memchr(user, 0, (size_t)n)) {
			*colon = 0;
			/* As for CONNECT: a username is let in without a check when no password_file applies. A check
			 * counts against the address as CONNECT's do (authq.h): a guesser waits longer each time. */
			if (!d->has_pw) {
				r->username = user;
				st = 0;
			} else if ((wait = authq__check_begin(b, r->peer))) {
				st = 429;
				why = "too many failed logins from this address, try later";
			} else {
				bool ok = pw__verify(&d->pw, user, colon + 1);
				authq__check_end(b, r->peer, ok);
				if (ok) {
					r->username = user;
					st = 0;
				} else why = "wrong username or password";
			}
		} else why = "malformed Basic credentials";
		if (st == 429) {
			security__unref(sec);
			char extra[48];
			snprintf(extra, sizeof(extra), "Retry-After: %llu\r\n", (unsigned long long)(wait + 999) / 1000);
			log__printf(&b->log, LOG_T_NOTICE, "HTTP API request from %s refused on port %u: %s.", r->peer,
				    r->l->conf->port, why);
			return api__error(r->out, 429, why, extra);
		}
	} else why = "unsupported Authorization scheme (Basic or Bearer)";
	security__unref(sec);
	if (st) {
		log__printf(&b->log, LOG_T_NOTICE, "HTTP API request from %s refused on port %u: %s.", r->peer,
			    r->l->conf->port, why);
		return api__error(r->out, 401, why, challenge);
	}
	return 0;
}

int api__serve(void *ctx, const char *peer, const struct http_request *rq, const uint8_t *body, size_t body_len,
	       struct buf *out)
{
	(void)body;
	(void)body_len;
	struct listener_rt *l = ctx;
	const char *q = memchr(rq->target.p, '?', rq->target.len);
	size_t plen = q ? (size_t)(q - rq->target.p) : rq->target.len;
	const char *path = rq->target.p;
	bool api = plen >= 5 && !memcmp(path, "/api/", 5);
	if (!api && !(plen == 8 && !memcmp(path, "/metrics", 8))) {
		/* A listener's own http_dir replaces the embedded dashboard. */
		if (l->conf->http_dir) return 0;
		return dashboard__serve(rq, out);
	}

	const struct route *hit = NULL;
	char allow[64] = "";
	for (size_t i = 0; i < NROUTES; i++) {
		const struct route *rt = &routes[i];
		size_t n = strlen(rt->path);
		bool match = rt->prefix ? plen > n && !memcmp(path, rt->path, n) : plen == n && !memcmp(path, rt->path, n);
		if (!match) continue;
		if (http__method_is(rq, rt->method)) hit = rt;
		else if (strlen(allow) + strlen(rt->method) + 2 < sizeof(allow))
			strcat(strcat(allow, *allow ? ", " : ""), rt->method);
	}
	if (!hit && *allow) {
		char extra[96];
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
		return api__error(out, 405, "method not allowed", extra);
	}
	if (!hit) return api__error(out, 404, "no such API path", NULL);

	struct api_req r = {.b = l->broker, .l = l, .peer = peer, .rq = rq, .out = out,
			    .domain = security__domain(l->broker, l)};
	size_t n = strlen(hit->path);
	r.rest = path + n;
	r.rest_len = plen - n;
	char user[512];
	int st = authenticate(&r, user, sizeof(user));
	if (st) return st;
	if (hit->need == NEED_STATE && !api__may(&r, STATE_TOPIC, ACL_READ))
		return api__error(out, 403, "the ACL does not let this user read $SYS", NULL);
	if (hit->need == NEED_KICK && !api__may(&r, KICK_TOPIC, ACL_WRITE))
		return api__error(out, 403, "the ACL does not let this user write " KICK_TOPIC, NULL);
	return hit->fn(&r);
}
