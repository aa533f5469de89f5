/*
 * http.h — what the HTTP layer's files share: a request as the handlers see
 * it, the answer they fill in, the route table and the validation helpers.
 * Not for use outside src/api/.
 */
#ifndef KP_API_HTTP_H
#define KP_API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"

struct MHD_Connection;

#define MAX_PATH_PARAMS 3

struct kp_metrics;
struct deferral;

struct request {
	struct kp_engine *engine;
	struct kp_metrics *metrics;
	struct MHD_Connection *conn;
	const char *method;
	const char *params[MAX_PATH_PARAMS]; /* the {} segments of the route, decoded */
	size_t n_params;
	const char *body;   /* NUL-terminated; "" when none */
	size_t body_len;
	json_t *json;       /* the body parsed, for routes that take JSON; else NULL */
	struct kp_principal who;
	struct deferral *deferral; /* the server can answer later; NULL: answer now */
};

struct response {
	int status;
	int retry_after_s; /* > 0: sent as Retry-After (429) */
	json_t *body;      /* owned; sent as JSON */
	char *text;        /* owned, malloc'ed; sent instead of body when set (GET /metrics) */
	const char *content_type; /* with text */
	bool deferred;     /* set by answer_later: nothing to send yet */
};

/*
 * Answering later (server.c). A handler whose answer another thread will
 * produce (a purchase, after the writer's group commit) calls answer_later
 * before handing the work over; the connection then waits without holding
 * a server thread. The other thread fills the returned response and calls
 * answer_now as its very last step: the connection resumes on its own
 * thread, which may free everything the request owned at once.
 */
struct response *answer_later(struct request *req, struct response *res);
void answer_now(struct response *later);

/* Fill the answer. These take ownership of body. */
void respond(struct response *res, int status, json_t *body);
/* Fill the answer with JSON text (malloc'ed; taken over, NULL = out of memory). */
void respond_text(struct response *res, int status, char *json_text);
/* An error answer for code err, with why's text or the code's default message. */
void respond_error(struct response *res, int err, const struct kp_why *why);
/* Shorthand for an error with a formatted message. */
void respond_errorf(struct response *res, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A query argument or header, or NULL. */
const char *query_arg(const struct request *req, const char *name);
const char *header(const struct request *req, const char *name);

/* ?limit= (default 50, 1..1000); returns 0 or KP_EINVAL with why. */
int query_limit(const struct request *req, size_t *limit, struct kp_why *why);

/* The partner a request acts for: a pos key's own; admin: `named` or "main".
 * A pos key naming another partner is KP_EFORBIDDEN. */
int acting_partner(const struct request *req, const char *named, const char **out,
		   struct kp_why *why);
/* The same for a principal alone (the basket reader runs without a request). */
int acting_partner_for(const struct kp_principal *who, const char *named, const char **out,
		       struct kp_why *why);

/* A pos key that found no receipt `receipt_id` at its own partner but one exists
 * at another: KP_EFORBIDDEN (another partner's receipt is not its business, and
 * 404 would hide that it tried); otherwise rc unchanged (api/h_coalition.c). */
int cross_partner(const struct request *req, const char *partner, const char *receipt_id,
		  int rc, struct kp_why *why);

/* Room for what read_idempotency points the kp_idem at. */
struct idem_buf {
	char scope[96];
	char hash[65];
};

/*
 * The Idempotency-Key header: scoped to the calling API key and `route`, and
 * standing for the request's body salted with the route and the path's first
 * parameter (a member's id, say). Without the header idem->key is NULL —
 * KP_EINVAL when `required`. idem points into buf.
 */
int read_idempotency(const struct request *req, const char *route, bool required,
		     struct kp_idem *idem, struct idem_buf *buf, struct kp_why *why);

/* Parse the body into req->json: 0, or KP_EINVAL naming where and why. */
int parse_json_body(struct request *req, struct kp_why *why);

/* Hash of the canonical request (body with sorted keys), salted with `salt`. */
void request_hash(const struct request *req, const char *salt, char out[65]);

/* ---- validation (api/validate.c): messages start with the field's path ---- */

/* Every key of obj must be in allowed (NULL-terminated). */
int v_keys(const json_t *obj, const char *path, const char *const *allowed, struct kp_why *why);
/* A string of min..max bytes; absent → *out = NULL unless required. */
int v_string(const json_t *obj, const char *path, const char *key, bool required, size_t min,
	     size_t max, const char **out, struct kp_why *why);
/* An integer in min..max; absent → *out unchanged unless required. */
int v_int(const json_t *obj, const char *path, const char *key, bool required, int64_t min,
	  int64_t max, int64_t *out, struct kp_why *why);
int v_bool(const json_t *obj, const char *path, const char *key, bool *out, struct kp_why *why);
/* An array of at most max items; absent → *out = NULL. */
int v_array(const json_t *obj, const char *path, const char *key, size_t max, json_t **out,
	    struct kp_why *why);
/* An id a till chose (receipt, refund): 1..max bytes, no '/' or control characters,
 * since it travels in URL paths. */
int v_id(const json_t *obj, const char *path, const char *key, bool required, size_t max,
	 const char **out, struct kp_why *why);
/* The body must be a JSON object. */
int v_object(const json_t *v, const char *path, struct kp_why *why);

/* ---- handlers, by file ---- */
typedef void handler_fn(struct request *req, struct response *res);

handler_fn h_health, h_program_get, h_program_put, h_partner_create, h_key_create, h_clock_set;
handler_fn h_jobs_run, h_metrics;
handler_fn h_member_create, h_member_find, h_member_get, h_member_balance, h_member_history;
handler_fn h_event_create, h_card_replace, h_member_update, h_member_export, h_member_erase, h_adjustment_create;
handler_fn h_certificate_issue, h_certificate_get, h_coupon_create, h_coupon_batch, h_coupon_get;
handler_fn h_purchase_quote, h_purchase_commit, h_purchase_get, h_refund_create;
handler_fn h_purchase_confirm, h_purchase_cancel;
/* coalitions and charity (api/h_coalition.c) */
handler_fn h_partners_list, h_partner_update, h_keys_list, h_key_revoke, h_audit_list;
handler_fn h_summary, h_settlement, h_charity_report, h_donation_create;

#endif
