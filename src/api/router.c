#include "api/router.h"

#include <assert.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ratelimit.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/json_canonical.h"
#include "util/strcopy.h"

enum role_bits { PUBLIC = 0, ADMIN = 1, POS = 2, READONLY = 4 };

enum body_kind { NO_BODY, JSON_BODY, OPTIONAL_JSON_BODY, RAW_BODY };

struct route {
	const char *method;
	const char *pattern; /* "{}" matches one segment */
	unsigned roles;
	enum body_kind body;
	handler_fn *fn;
};

static const struct route routes[] = {
	{"GET", "/v1/health", PUBLIC, NO_BODY, h_health},
	{"GET", "/metrics", ADMIN | READONLY, NO_BODY, h_metrics},
	{"GET", "/v1/program", ADMIN | READONLY, NO_BODY, h_program_get},
	{"PUT", "/v1/program", ADMIN, RAW_BODY, h_program_put},
	{"POST", "/v1/partners", ADMIN, JSON_BODY, h_partner_create},
	{"GET", "/v1/partners", ADMIN | READONLY, NO_BODY, h_partners_list},
	{"PATCH", "/v1/partners/{}", ADMIN, JSON_BODY, h_partner_update},
	{"POST", "/v1/keys", ADMIN, JSON_BODY, h_key_create},
	{"GET", "/v1/keys", ADMIN, NO_BODY, h_keys_list},
	{"DELETE", "/v1/keys/{}", ADMIN, NO_BODY, h_key_revoke},
	{"GET", "/v1/audit", ADMIN, NO_BODY, h_audit_list},
	{"GET", "/v1/reports/summary", ADMIN | READONLY, NO_BODY, h_summary},
	{"GET", "/v1/reports/settlement", ADMIN | READONLY, NO_BODY, h_settlement},
	{"GET", "/v1/reports/charity", ADMIN | READONLY, NO_BODY, h_charity_report},
	{"POST", "/v1/members/{}/donations", ADMIN | POS, JSON_BODY, h_donation_create},
	{"POST", "/v1/admin/clock", ADMIN, JSON_BODY, h_clock_set},
	{"POST", "/v1/admin/jobs/run", ADMIN, OPTIONAL_JSON_BODY, h_jobs_run},
	{"POST", "/v1/members", ADMIN | POS, JSON_BODY, h_member_create},
	{"GET", "/v1/members", ADMIN | POS, NO_BODY, h_member_find},
	{"GET", "/v1/members/{}", ADMIN | POS, NO_BODY, h_member_get},
	{"GET", "/v1/members/{}/balance", ADMIN | POS, NO_BODY, h_member_balance},
	{"GET", "/v1/members/{}/history", ADMIN | POS, NO_BODY, h_member_history},
	{"PATCH", "/v1/members/{}", ADMIN | POS, JSON_BODY, h_member_update},
	{"DELETE", "/v1/members/{}", ADMIN, NO_BODY, h_member_erase},
	{"GET", "/v1/members/{}/export", ADMIN, NO_BODY, h_member_export},
	{"POST", "/v1/members/{}/cards", ADMIN | POS, JSON_BODY, h_card_replace},
	{"POST", "/v1/members/{}/adjustments", ADMIN, JSON_BODY, h_adjustment_create},
	{"POST", "/v1/members/{}/events", ADMIN | POS, JSON_BODY, h_event_create},
	{"POST", "/v1/gift-certificates", ADMIN | POS, JSON_BODY, h_certificate_issue},
	{"GET", "/v1/gift-certificates/{}", ADMIN | POS, NO_BODY, h_certificate_get},
	{"POST", "/v1/coupons", ADMIN, JSON_BODY, h_coupon_create},
	{"POST", "/v1/coupons/batch", ADMIN, JSON_BODY, h_coupon_batch},
	{"GET", "/v1/coupons/{}", ADMIN | POS, NO_BODY, h_coupon_get},
	{"POST", "/v1/purchases/quote", ADMIN | POS, JSON_BODY, h_purchase_quote},
	{"POST", "/v1/purchases", ADMIN | POS, JSON_BODY, h_purchase_commit},
	{"GET", "/v1/purchases/{}", ADMIN | POS, NO_BODY, h_purchase_get},
	{"POST", "/v1/purchases/{}/refunds", ADMIN | POS, JSON_BODY, h_refund_create},
	{"POST", "/v1/purchases/{}/confirm", ADMIN | POS, OPTIONAL_JSON_BODY, h_purchase_confirm},
	{"POST", "/v1/purchases/{}/cancel", ADMIN | POS, OPTIONAL_JSON_BODY, h_purchase_cancel},
};

#define MAX_SEGMENTS 8

/* A URL path cut into its segments: "/v1/members/42" → v1, members, 42. */
struct segments {
	char buf[512];
	const char *seg[MAX_SEGMENTS];
	size_t n;
};

static bool split_path(const char *url, struct segments *s)
{
	size_t len = strlen(url);
	if (url[0] != '/' || len >= sizeof s->buf)
		return false;
	memcpy(s->buf, url, len + 1);
	s->n = 0;
	for (char *p = s->buf; *p == '/';) {
		*p++ = '\0';
		if (s->n == MAX_SEGMENTS)
			return false;
		s->seg[s->n++] = p;
		p = strchrnul(p, '/');
	}
	return true;
}

/* Does the path match pattern? Its {} segments go to params. */
static bool match(const char *pattern, const struct segments *u, const char **params,
		  size_t *n_params)
{
	size_t i = 0;
	*n_params = 0;
	for (const char *p = pattern; *p == '/'; i++) {
		p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (i == u->n)
			return false;
		if (len == 2 && p[0] == '{') {
			if (!u->seg[i][0] || *n_params == MAX_PATH_PARAMS)
				return false;
			params[(*n_params)++] = u->seg[i];
		} else if (strlen(u->seg[i]) != len || strncmp(p, u->seg[i], len) != 0) {
			return false;
		}
		p = end;
	}
	return i == u->n;
}

static unsigned role_bit(const char *role)
{
	if (strcmp(role, "admin") == 0)
		return ADMIN;
	if (strcmp(role, "pos") == 0)
		return POS;
	return strcmp(role, "readonly") == 0 ? READONLY : 0;
}

static const struct sockaddr *client_address(const struct request *req)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return info ? info->client_addr : NULL;
}

/* Guessing keys is slowed down per client address (api/ratelimit.h). */
static int authenticate(struct request *req, struct response *res, unsigned roles,
			struct kp_why *why)
{
	const struct sockaddr *addr = client_address(req);
	int64_t wait_s = kp_ratelimit_wait_s(addr);
	if (wait_s > 0) {
		res->retry_after_s = (int)wait_s;
		return kp_why(why, KP_ETOOMANY, "too many failed authentications from this "
					       "address: retry in %lld s", (long long)wait_s);
	}
	const char *auth = header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!auth || strncmp(auth, "Bearer ", 7) != 0)
		return kp_why(why, KP_EUNAUTHORIZED, "send Authorization: Bearer <key>");
	int rc = kp_engine_authenticate(req->engine, auth + 7, &req->who);
	if (rc == KP_EUNAUTHORIZED && auth[7])
		kp_ratelimit_failure(addr); /* a key was presented: a guess */
	if (rc == KP_EUNAUTHORIZED)
		return kp_why(why, rc, "unknown or revoked API key");
	if (rc)
		return rc;
	if (!(role_bit(req->who.role) & roles))
		return kp_why(why, KP_EFORBIDDEN, "a %s key may not do this", req->who.role);
	if (req->who.partner_inactive)
		return kp_why(why, KP_EFORBIDDEN, "partner %s is not active", req->who.partner);
	return 0;
}

/* The key whose value ends just before `pos` in a JSON text, if any. */
static bool key_before(const char *text, size_t pos, char *key, size_t cap)
{
	const char *colon = NULL;
	for (size_t i = pos; i-- > 0;) {
		if (text[i] == ':') {
			colon = text + i;
			break;
		}
		if (strchr(",{[", text[i]))
			return false;
	}
	const char *end = colon;
	while (end && end > text && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
		end--;
	if (!end || end == text || end[-1] != '"')
		return false;
	const char *start = end - 1;
	while (start > text && start[-1] != '"')
		start--;
	if ((size_t)(end - 1 - start) >= cap)
		return false;
	snprintf(key, cap, "%.*s", (int)(end - 1 - start), start);
	return true;
}

int parse_json_body(struct request *req, struct kp_why *why)
{
	json_error_t err;
	req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
	char key[64];
	if (!req->json && strstr(err.text, "too big") &&
	    key_before(req->body, (size_t)err.position, key, sizeof key))
		return kp_why(why, KP_EINVAL, "%s: number out of range (line %d column %d)", key,
			      err.line, err.column);
	if (!req->json)
		return kp_why(why, KP_EINVAL, "body: invalid JSON: %s at line %d column %d",
			      err.text, err.line, err.column);
	return v_object(req->json, "body", why);
}

static void dispatch(const struct route *r, struct request *req, struct response *res)
{
	struct kp_why why = {""};
	int rc = 0;
	if (r->fn == h_clock_set && !kp_engine_has_test_clock(req->engine))
		rc = kp_why(&why, KP_ENOTFOUND, "the test clock is off (start with --test-clock)");
	if (!rc && r->roles != PUBLIC)
		rc = authenticate(req, res, r->roles, &why);
	if (!rc && (r->body == JSON_BODY || (r->body == OPTIONAL_JSON_BODY && req->body_len > 0)))
		rc = parse_json_body(req, &why);
	if (rc) {
		respond_error(res, rc, &why);
		return;
	}
	r->fn(req, res);
}

#define N_ROUTES (sizeof routes / sizeof routes[0])

static char route_names[N_ROUTES][80];
static const char *route_table[N_ROUTES];

static void build_route_names(void)
{
	for (size_t i = 0; i < N_ROUTES; i++) {
		snprintf(route_names[i], sizeof route_names[i], "%s %s", routes[i].method,
			 routes[i].pattern);
		route_table[i] = route_names[i];
	}
}

const char *const *kp_route_names(size_t *n)
{
	/* Built once, then read-only: every request asks, from its own thread. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_route_names);
	*n = N_ROUTES;
	return route_table;
}

void kp_route(struct kp_engine *engine, struct kp_metrics *metrics, struct MHD_Connection *conn,
	      struct deferral *later, const char *url, const char *method, const char *body,
	      size_t body_len, struct response *res, struct route_outcome *outcome)
{
	struct segments path;
	struct request req = {.engine = engine, .metrics = metrics, .conn = conn,
			      .method = method, .body = body, .body_len = body_len,
			      .deferral = later};
	bool path_known = false;
	outcome->route = N_ROUTES;
	outcome->key_id = 0;
	if (!split_path(url, &path)) {
		respond_errorf(res, KP_ENOTFOUND, "no such endpoint");
		return;
	}
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const struct route *r = &routes[i];
		if (!match(r->pattern, &path, req.params, &req.n_params))
			continue;
		path_known = true;
		if (strcmp(r->method, method) != 0)
			continue;
		outcome->route = i;
		dispatch(r, &req, res);
		outcome->key_id = req.who.key_id;
		json_decref(req.json);
		return;
	}
	if (path_known)
		respond_errorf(res, KP_EMETHOD, "%s is not allowed on %s", method, url);
	else
		respond_errorf(res, KP_ENOTFOUND, "no such endpoint: %s", url);
}

/* ---- helpers for handlers --------------------------------------------- */

void respond(struct response *res, int status, json_t *body)
{
	assert(status >= 200 && status < 600);
	json_decref(res->body);
	free(res->text);
	res->text = NULL;
	res->status = body ? status : 500;
	res->body = body ? body
			 : json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
				     "out of memory");
}

void respond_text(struct response *res, int status, char *json_text)
{
	if (!json_text) {
		respond(res, status, NULL);
		return;
	}
	assert(status >= 200 && status < 600);
	json_decref(res->body);
	free(res->text);
	res->body = NULL;
	res->text = json_text;
	res->content_type = NULL; /* application/json */
	res->status = status;
}

void respond_error(struct response *res, int err, const struct kp_why *why)
{
	assert(err < 0);
	const char *msg = why && why->text[0] ? why->text : kp_strerror(err);
	int status = kp_error_status(err);
	if (status == 500)
		fprintf(stderr, "kopilka: internal error %d: %s\n", err, msg);
	respond(res, status,
		json_pack("{s:{s:s,s:s}}", "error", "code", kp_error_code(err), "message", msg));
}

void respond_errorf(struct response *res, int err, const char *fmt, ...)
{
	struct kp_why why;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why.text, sizeof why.text, fmt, ap);
	va_end(ap);
	respond_error(res, err, &why);
}

const char *query_arg(const struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *header(const struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int query_limit(const struct request *req, size_t *limit, struct kp_why *why)
{
	const char *v = query_arg(req, "limit");
	*limit = 50;
	if (!v)
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > 1000)
		return kp_why(why, KP_EINVAL, "limit: must be an integer from 1 to 1000");
	*limit = (size_t)n;
	return 0;
}

int acting_partner_for(const struct kp_principal *who, const char *named, const char **out,
		       struct kp_why *why)
{
	if (strcmp(who->role, "pos") == 0) {
		if (named && strcmp(named, who->partner) != 0)
			return kp_why(why, KP_EFORBIDDEN,
				      "partner: this key acts only for partner %s",
				      who->partner);
		*out = who->partner;
		return 0;
	}
	*out = named ? named : "main";
	return 0;
}

int acting_partner(const struct request *req, const char *named, const char **out,
		   struct kp_why *why)
{
	return acting_partner_for(&req->who, named, out, why);
}

void request_hash(const struct request *req, const char *salt, char out[65])
{
	/* json_dumps(req->json, JSON_COMPACT | JSON_SORT_KEYS), byte for byte; every
	 * route that hashes takes a JSON object, which parse_json_body checked */
	size_t salt_len = strlen(salt), canon_len = 0;
	char *canon = json_is_object(req->json) ? kp_json_canonical(req->json, &canon_len) : NULL;
	char *buf = malloc(salt_len + 1 + canon_len + 1);
	if (!buf || !canon) {
		/* Out of memory: a hash nobody else can have, so no false replay. */
		kp_crypto_random(out, 32);
		for (int i = 0; i < 64; i++)
			out[i] = "0123456789abcdef"[(unsigned char)out[i / 2] % 16];
		out[64] = '\0';
	} else {
		memcpy(buf, salt, salt_len);
		buf[salt_len] = '\n';
		memcpy(buf + salt_len + 1, canon, canon_len);
		kp_crypto_hash_hex(buf, salt_len + 1 + canon_len, out);
	}
	free(buf);
	free(canon);
}

int read_idempotency(const struct request *req, const char *route, bool required,
		     struct kp_idem *idem, struct idem_buf *buf, struct kp_why *why)
{
	assert(route && idem && buf);
	*idem = (struct kp_idem){0};
	const char *key = header(req, "Idempotency-Key");
	if (!key)
		return required ? kp_why(why, KP_EINVAL, "Idempotency-Key: header is required")
				: 0;
	if (strlen(key) < 1 || strlen(key) > 200)
		return kp_why(why, KP_EINVAL, "Idempotency-Key: must be 1 to 200 bytes");
	char salt[160];
	snprintf(buf->scope, sizeof buf->scope, "%lld:%s", (long long)req->who.key_id, route);
	if (req->n_params > 0)
		snprintf(salt, sizeof salt, "%s:%s", route, req->params[0]);
	else
		kp_strcopy(salt, sizeof salt, route);
	request_hash(req, salt, buf->hash);
	*idem = (struct kp_idem){.scope = buf->scope, .key = key, .hash = buf->hash};
	return 0;
}
