/* Mosquitto-compatible acl_file: the parser and the access decision (Mosquitto 2.0's security_default.c). */
#include "auth/acl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "midge/midge.h"


static void rules_fini(struct acl_rules *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->v[i].topic);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

void acl__fini(struct acl *a)
{
	for (size_t i = 0; i < a->nusers; i++) {
		free(a->users[i].username);
		rules_fini(&a->users[i].rules);
	}
	free(a->users);
	rules_fini(&a->patterns);
	memset(a, 0, sizeof(*a));
}

static int rules_add(struct acl_rules *r, const char *topic, int access)
{
	if (r->count == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		struct acl_rule *nv = realloc(r->v, ncap * sizeof(*nv));
		if (!nv) return MIDGE_ERR_NOMEM;
		r->v = nv;
		r->cap = ncap;
	}
	char *t = strdup(topic);
	if (!t) return MIDGE_ERR_NOMEM;
	r->v[r->count++] = (struct acl_rule){.topic = t, .access = access};
	return 0;
}

/* The rule list of username (NULL = anonymous), created when missing. */
static struct acl_rules *user_rules(struct acl *a, const char *username)
{
	for (size_t i = 0; i < a->nusers; i++) {
		const char *u = a->users[i].username;
		if ((!u && !username) || (u && username && strcmp(u, username) == 0)) return &a->users[i].rules;
	}
	struct acl_user *nu = realloc(a->users, (a->nusers + 1) * sizeof(*nu));
	if (!nu) return NULL;
	a->users = nu;
	struct acl_user *u = &a->users[a->nusers];
	memset(u, 0, sizeof(*u));
	if (username && !(u->username = strdup(username))) return NULL;
	a->nusers++;
	return &u->rules;
}

/* A valid subscription filter: '+' and '#' take whole levels, '#' only the last. */
static bool filter_valid(const char *f)
{
	if (!*f) return false;
	for (const char *p = f; *p; p++) {
		if (*p == '+' || *p == '#') {
			if (p > f && p[-1] != '/') return false;
			if (p[1] && p[1] != '/') return false;
			if (*p == '#' && p[1]) return false;
		}
	}
	return true;
}

static bool space(char c)
{
	return c == ' ' || c == '\t';
}

static char *next_word(char **s)
{
	char *p = *s;
	while (space(*p))
		p++;
	if (!*p) return NULL;
	char *w = p;
	while (*p && !space(*p))
		p++;
	if (*p) *p++ = '\0';
	*s = p;
	return w;
}

static int parse_line(struct acl *a, char *line, char **user, const char *name, int lineno, char *err, size_t errlen)
{
	char *e = line + strlen(line);
	while (e > line && (space(e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	char *rest = line;
	while (space(*rest))
		rest++;
	if (*rest == '#' || *rest == '\0') return 0;
	char *kw = next_word(&rest);

	if (strcmp(kw, "user") == 0) {
		while (space(*rest))
			rest++;
		if (!*rest)
			return err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: missing username after \"user\"", name,
			            lineno);
		char *u = strdup(rest); /* the rest of the line: a username may contain spaces */
		if (!u) return err__set(err, errlen, MIDGE_ERR_NOMEM, "%s:%d: out of memory", name, lineno);
		free(*user);
		*user = u;
		return 0;
	}
	if (strcmp(kw, "topic") != 0 && strcmp(kw, "pattern") != 0)
		return err__set(err, errlen, MIDGE_ERR_INVAL,
		            "%s:%d: unknown keyword \"%s\" (expected user, topic or pattern)", name, lineno, kw);

	char *first = next_word(&rest);
	if (!first) return err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: missing topic after \"%s\"", name, lineno, kw);
	while (space(*rest))
		rest++;
	const char *topic;
	int access;
	if (!*rest) {
		/* One word: it is the topic, with readwrite access (Mosquitto's rule, even for "deny"). */
		topic = first;
		access = ACL_READ | ACL_WRITE;
	} else {
		topic = rest; /* the rest of the line: a topic may contain spaces */
		if (strcmp(first, "read") == 0)
			access = ACL_READ;
		else if (strcmp(first, "write") == 0)
			access = ACL_WRITE;
		else if (strcmp(first, "readwrite") == 0)
			access = ACL_READ | ACL_WRITE;
		else if (strcmp(first, "deny") == 0)
			access = 0;
		else
			return err__set(err, errlen, MIDGE_ERR_INVAL,
			            "%s:%d: invalid access type \"%s\" (expected read, write, readwrite or deny)", name,
			            lineno, first);
	}
	if (!filter_valid(topic))
		return err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: invalid topic \"%s\"", name, lineno, topic);

	struct acl_rules *r = kw[0] == 'p' ? &a->patterns : user_rules(a, *user);
	if (!r || rules_add(r, topic, access))
		return err__set(err, errlen, MIDGE_ERR_NOMEM, "%s:%d: out of memory", name, lineno);
	return 0;
}

int acl__parse_text(struct acl *a, const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	char *user = NULL, *line = NULL;
	int rc = 0, lineno = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		lineno++;
		char *nline = realloc(line, ll + 1);
		if (!nline) {
			rc = err__set(err, errlen, MIDGE_ERR_NOMEM, "%s:%d: out of memory", name, lineno);
			break;
		}
		line = nline;
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = nl ? nl + 1 : end;
		if (strlen(line) != ll) {
			rc = err__set(err, errlen, MIDGE_ERR_INVAL, "%s:%d: NUL byte in line", name, lineno);
			break;
		}
		if ((rc = parse_line(a, line, &user, name, lineno, err, errlen))) break;
	}
	free(line);
	free(user);
	if (rc) acl__fini(a);
	return rc;
}

int acl__parse_file(struct acl *a, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = file__read_all_err(path, &buf, &len, err, errlen);
	if (rc) return rc;
	rc = acl__parse_text(a, buf ? buf : "", len, path, err, errlen);
	free(buf);
	return rc;
}

/* Length of the level starting at s (up to '/' or the end). */
static size_t level_len(const char *s)
{
	return strcspn(s, "/");
}

/* Does rule (a filter, with %c / %u levels substituted when patterns) match topic, a topic name? A %c or %u is
 * substituted only when it is a whole level, as Mosquitto 2.0's mosquitto_topic_matches_sub_with_pattern;
 * elsewhere it is literal text. A substituted level must equal the whole client id / username. */
static bool rule_matches(const char *rule, const char *topic, const char *client_id, const char *username,
                         bool patterns)
{
	if ((rule[0] == '$') != (topic[0] == '$')) return false;
	const char *r = rule, *t = topic;
	for (;;) {
		size_t rl = level_len(r), tl = level_len(t);
		if (rl == 1 && r[0] == '#') return true; /* also matches the parent: "a/#" matches "a" */
		if (rl == 1 && r[0] == '+') {
			/* any one level */
		} else if (patterns && rl == 2 && r[0] == '%' && (r[1] == 'c' || r[1] == 'u')) {
			const char *v = r[1] == 'c' ? client_id : username;
			if (!v || !*v || strlen(v) != tl || memcmp(v, t, tl) != 0) return false;
		} else if (rl != tl || memcmp(r, t, rl) != 0) {
			return false;
		}
		r += rl;
		t += tl;
		if (!*r && !*t) return true;
		if (!*t) return strcmp(r, "/#") == 0; /* "a/b/#" matches "a/b" */
		if (!*r) return false;
		r++;
		t++;
	}
}

/* -1 deny, 1 allow, 0 no decision. Deny rules are looked at first: Mosquitto moves them to the front. */
static int check_list(const struct acl_rules *rs, const char *client_id, const char *username, const char *topic,
                      int access, bool patterns)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < rs->count; i++) {
			const struct acl_rule *ru = &rs->v[i];
			/* Mosquitto skips every pattern holding "%u" for an anonymous client, deny ones too. */
			if (patterns && !username && strstr(ru->topic, "%u")) continue;
			if (pass == 0 && ru->access == 0 &&
			    rule_matches(ru->topic, topic, client_id, username, patterns))
				return -1;
			if (pass == 1 && (ru->access & access) &&
			    rule_matches(ru->topic, topic, client_id, username, patterns))
				return 1;
		}
	}
	return 0;
}

enum acl_result acl__check(const struct acl *a, const char *client_id, const char *username, const char *topic,
                           int access)
{
	if (access == ACL_SUBSCRIBE) return ACL_ALLOW;
	if (!a || !topic || !*topic || (access != ACL_READ && access != ACL_WRITE)) return ACL_DENY;
	if (strpbrk(topic, "+#")) return ACL_DENY; /* a topic name never holds wildcards */

	for (size_t i = 0; i < a->nusers; i++) {
		const char *u = a->users[i].username;
		if ((!u && !username) || (u && username && strcmp(u, username) == 0)) {
			int d = check_list(&a->users[i].rules, client_id, username, topic, access, false);
			if (d) return d > 0 ? ACL_ALLOW : ACL_DENY;
			break;
		}
	}
	if (!a->patterns.count) return ACL_DENY;
	/* A client id or username with wildcards could make a pattern grant more than its own subtree. */
	if ((username && strpbrk(username, "+#")) || !client_id || strpbrk(client_id, "+#")) return ACL_DENY;
	return check_list(&a->patterns, client_id, username, topic, access, true) > 0 ? ACL_ALLOW : ACL_DENY;
}

/* How rule relates to filter, a subscription filter: *overlaps when some topic name matches both, *covers when
 * every topic name the filter matches also matches the rule. Same substitution rules as rule_matches. */
static void rule_vs_filter(const char *rule, const char *filter, const char *client_id, const char *username,
                           bool patterns, bool *overlaps, bool *covers)
{
	*overlaps = *covers = false;
	/* Leading wildcards never reach $ topics, on either side. */
	if ((rule[0] == '$') != (filter[0] == '$')) return;
	const char *r = rule, *f = filter;
	bool cover = true;
	for (;;) {
		size_t rl = level_len(r), fl = level_len(f);
		if (rl == 1 && r[0] == '#') {
			*overlaps = true;
			*covers = cover;
			return;
		}
		if (fl == 1 && f[0] == '#') {
			*overlaps = true; /* a rule of fixed depth still matches some of what "#" takes */
			return;
		}
		bool fwild = fl == 1 && f[0] == '+';
		if (rl == 1 && r[0] == '+') {
			/* any one level */
		} else if (patterns && rl == 2 && r[0] == '%' && (r[1] == 'c' || r[1] == 'u')) {
			const char *v = r[1] == 'c' ? client_id : username;
			if (!v || !*v) return;
			if (fwild) cover = false;
			else if (strlen(v) != fl || memcmp(v, f, fl) != 0) return;
		} else if (fwild) {
			cover = false;
		} else if (rl != fl || memcmp(r, f, rl) != 0) {
			return;
		}
		r += rl;
		f += fl;
		if (!*r && !*f) {
			*overlaps = true;
			*covers = cover;
			return;
		}
		if (!*f) { /* "a/#" as a rule matches "a" */
			if (strcmp(r, "/#") == 0) *overlaps = true, *covers = cover;
			return;
		}
		if (!*r) { /* "a/#" as a filter matches "a" */
			if (strcmp(f, "/#") == 0) *overlaps = true;
			return;
		}
		r++;
		f++;
	}
}

/* -1 deny (a deny rule covers the filter), 1 allow (a READ rule overlaps it), 0 no decision. */
static int check_list_sub(const struct acl_rules *rs, const char *client_id, const char *username, const char *filter,
                          bool patterns)
{
	int d = 0;
	for (size_t i = 0; i < rs->count; i++) {
		const struct acl_rule *ru = &rs->v[i];
		if (patterns && !username && strstr(ru->topic, "%u")) continue;
		bool overlaps, covers;
		rule_vs_filter(ru->topic, filter, client_id, username, patterns, &overlaps, &covers);
		if (ru->access == 0 && covers) return -1;
		if ((ru->access & ACL_READ) && overlaps) d = 1;
	}
	return d;
}

enum acl_result acl__check_subscribe(const struct acl *a, const char *client_id, const char *username,
                                     const char *filter)
{
	if (!a || !filter || !*filter) return ACL_DENY;
	for (size_t i = 0; i < a->nusers; i++) {
		const char *u = a->users[i].username;
		if ((!u && !username) || (u && username && strcmp(u, username) == 0)) {
			int d = check_list_sub(&a->users[i].rules, client_id, username, filter, false);
			if (d) return d > 0 ? ACL_ALLOW : ACL_DENY;
			break;
		}
	}
	if (!a->patterns.count) return ACL_DENY;
	if ((username && strpbrk(username, "+#")) || !client_id || strpbrk(client_id, "+#")) return ACL_DENY;
	return check_list_sub(&a->patterns, client_id, username, filter, true) > 0 ? ACL_ALLOW : ACL_DENY;
}
