/*
 * h_purchases.c — quotes, purchases and refunds.
 *
 * The basket is read strictly (docs/api.md, "Limits") by api/basket.c, so
 * that the engine only ever sees a basket it can compute exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "api/basket.h"
#include "api/http.h"
#include "util/error.h"
#include "util/phone.h"

void h_purchase_quote(struct request *req, struct response *res)
{
	struct basket_in b = {0};
	struct kp_why why = {""};
	char *answer = NULL;
	int rc = api_read_basket(req->json, &req->who, false, &b, &why);
	if (!rc)
		rc = kp_engine_purchase_quote(req->engine, &b.req, &answer, &why);
	api_basket_release(&b);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond_text(res, 200, answer);
}

/* A purchase on its way through the writer: what it needs until answered. */
struct pending_commit {
	json_t *body;             /* a reference: the basket's strings point into it */
	struct kp_principal who;  /* a copy: the basket's partner may point into it */
	struct basket_in b;
	struct kp_why why;
	struct response *later;   /* where the answer goes (answer_later) */
};

static void pending_free(struct pending_commit *p)
{
	api_basket_release(&p->b);
	json_decref(p->body);
	free(p);
}

/* On the writer thread, once the purchase is durable (or failed). */
static void commit_answered(void *arg, int rc, char *answer, bool replay)
{
	struct pending_commit *p = arg;
	struct response *later = p->later;
	if (rc)
		respond_error(later, rc, &p->why);
	else
		respond_text(later, replay ? 200 : 201, answer);
	pending_free(p);
	answer_now(later); /* last: the connection goes on without us */
}

/* The server can answer later: hand the purchase to the writer and return. */
static void commit_later(struct request *req, struct response *res)
{
	struct pending_commit *p = calloc(1, sizeof *p);
	if (!p) {
		respond_error(res, KP_ENOMEM, NULL);
		return;
	}
	p->body = json_incref(req->json);
	p->who = req->who;
	int rc = api_read_basket(p->body, &p->who, true, &p->b, &p->why);
	if (rc) {
		respond_error(res, rc, &p->why);
		pending_free(p);
		return;
	}
	p->later = answer_later(req, res);
	kp_engine_purchase_commit_async(req->engine, &p->b.req, &p->why, commit_answered, p);
}

void h_purchase_commit(struct request *req, struct response *res)
{
	if (req->deferral) {
		commit_later(req, res);
		return;
	}
	struct basket_in b = {0};
	struct kp_why why = {""};
	char *answer = NULL;
	bool replay = false;
	int rc = api_read_basket(req->json, &req->who, true, &b, &why);
	if (!rc)
		rc = kp_engine_purchase_commit(req->engine, &b.req, &answer, &replay, &why);
	api_basket_release(&b);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond_text(res, replay ? 200 : 201, answer);
}

void h_purchase_get(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	const char *partner;
	json_t *answer = NULL;
	int rc = acting_partner(req, query_arg(req, "partner"), &partner, &why);
	if (!rc)
		rc = kp_engine_purchase_get(req->engine, partner, req->params[0], &answer, &why);
	rc = cross_partner(req, partner, req->params[0], rc, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

static int read_refund_lines(const json_t *body, struct kp_refund_line *out, size_t *n,
			     struct kp_why *why)
{
	static const char *const fields[] = {"sku", "qty", NULL};
	json_t *lines;
	int rc = v_array(body, "", "lines", KP_MAX_LINES, &lines, why);
	*n = lines ? json_array_size(lines) : 0;
	if (!rc && lines && *n == 0)
		rc = kp_why(why, KP_EINVAL, "lines: leave it out to refund the whole receipt");
	for (size_t i = 0; !rc && i < *n; i++) {
		const json_t *l = json_array_get(lines, i);
		char path[32];
		snprintf(path, sizeof path, "lines[%zu]", i);
		rc = v_object(l, path, why);
		if (!rc)
			rc = v_keys(l, path, fields, why);
		if (!rc)
			rc = v_string(l, path, "sku", true, 1, KP_MAX_NAME, &out[i].sku, why);
		if (!rc)
			rc = v_int(l, path, "qty", true, 1, KP_MAX_QTY, &out[i].qty, why);
	}
	return rc;
}

void h_refund_create(struct request *req, struct response *res)
{
	static const char *const fields[] = {"refund_id", "partner", "lines", NULL};
	struct kp_why why = {""};
	struct kp_refund_req r = {.receipt_id = req->params[0]};
	struct kp_refund_line *lines = calloc(KP_MAX_LINES, sizeof *lines);
	const char *partner;
	json_t *answer = NULL;
	bool replay = false;
	char hash[65];
	int rc = lines ? v_keys(req->json, "", fields, &why) : KP_ENOMEM;
	if (!rc)
		rc = v_id(req->json, "", "refund_id", true, KP_RECEIPT_MAX, &r.refund_id, &why);
	if (!rc)
		rc = v_string(req->json, "", "partner", false, 1, KP_PARTNER_MAX, &partner, &why);
	if (!rc)
		rc = acting_partner(req, partner, &r.partner, &why);
	if (!rc)
		rc = read_refund_lines(req->json, lines, &r.n_lines, &why);
	if (!rc) {
		r.lines = r.n_lines ? lines : NULL;
		/* The receipt is part of what the refund id stands for. */
		request_hash(req, r.receipt_id, hash);
		r.hash = hash;
		rc = kp_engine_refund(req->engine, &r, &answer, &replay, &why);
		rc = cross_partner(req, r.partner, r.receipt_id, rc, &why);
	}
	free(lines);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, replay ? 200 : 201, answer);
}

/* confirm and cancel take no body but the partner for admin keys (?partner=). */
static void hold_op(struct request *req, struct response *res,
		    int (*op)(struct kp_engine *, const char *, const char *, json_t **,
			      struct kp_why *))
{
	static const char *const no_fields[] = {NULL};
	struct kp_why why = {""};
	const char *partner;
	json_t *answer = NULL;
	int rc = req->json ? v_keys(req->json, "", no_fields, &why) : 0;
	if (!rc)
		rc = acting_partner(req, query_arg(req, "partner"), &partner, &why);
	if (!rc)
		rc = op(req->engine, partner, req->params[0], &answer, &why);
	rc = cross_partner(req, partner, req->params[0], rc, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_purchase_confirm(struct request *req, struct response *res)
{
	hold_op(req, res, kp_engine_purchase_confirm);
}

void h_purchase_cancel(struct request *req, struct response *res)
{
	hold_op(req, res, kp_engine_purchase_cancel);
}
