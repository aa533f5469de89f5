/*
 * h_coalition.c — partners, listing and revoking keys, the audit log, the
 * settlement and charity reports, and donations (docs/api.md,
 * "Administration", "Reports", "Charity").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

#define MAX_ACCRUAL_COST 1000000000LL /* minor units per point */
#define MAX_DONATION 1000000000LL     /* points */

static void answer(struct response *res, int rc, const struct kp_why *why, int status,
		   json_t *body)
{
	if (rc)
		respond_error(res, rc, why);
	else
		respond(res, status, body);
}

/* "earn": {"percent": P} (P a number or string, two decimals at most) or null. */
static int read_earn(const json_t *body, struct kp_partner_change *ch, struct kp_why *why)
{
	static const char *const fields[] = {"percent", NULL};
	json_t *earn = json_object_get(body, "earn");
	if (!earn)
		return 0;
	ch->set_earn = true;
	ch->earn_percent_bp = -1;
	if (json_is_null(earn))
		return 0;
	int rc = v_object(earn, "earn", why);
	if (!rc)
		rc = v_keys(earn, "earn", fields, why);
	if (rc)
		return rc;
	json_t *v = json_object_get(earn, "percent");
	char text[64] = "";
	if (json_is_integer(v))
		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(text, sizeof text, "%.10g", json_real_value(v));
	else if (json_is_string(v))
		kp_strcopy(text, sizeof text, json_string_value(v));
	if (kp_rules_parse_percent_text(text, 100, &ch->earn_percent_bp))
		return kp_why(why, KP_EINVAL, "earn.percent: a percentage from 0 to 100 with at "
					      "most two decimals");
	return 0;
}

static int read_partner(const json_t *body, bool create, struct kp_partner_change *ch,
			struct kp_why *why)
{
	static const char *const create_fields[] = {"id", "name", "earn", "accrual_cost", NULL};
	static const char *const patch_fields[] = {"name", "active", "earn", "accrual_cost", NULL};
	ch->active = -1;
	int rc = v_keys(body, "", create ? create_fields : patch_fields, why);
	if (!rc && create)
		rc = v_string(body, "", "id", true, 1, KP_PARTNER_MAX, &ch->id, why);
	if (!rc && create &&
	    strspn(ch->id, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(ch->id))
		rc = kp_why(why, KP_EINVAL, "id: only a-z, 0-9, '-', '_' and '.'");
	if (!rc)
		rc = v_string(body, "", "name", create, 1, 200, &ch->name, why);
	if (!rc && json_object_get(body, "active")) {
		bool active = true;
		rc = v_bool(body, "", "active", &active, why);
		ch->active = active;
	}
	if (!rc)
		rc = read_earn(body, ch, why);
	json_t *cost = json_object_get(body, "accrual_cost");
	if (!rc && cost) {
		ch->set_accrual = true;
		ch->accrual_cost = -1;
		if (!json_is_null(cost))
			rc = v_int(body, "", "accrual_cost", true, 1, MAX_ACCRUAL_COST,
				   &ch->accrual_cost, why);
	}
	return rc;
}

void h_partner_create(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	struct kp_partner_change ch = {0};
	json_t *a = NULL;
	struct kp_idem idem;
	struct idem_buf buf;
	int rc = read_partner(req->json, true, &ch, &why);
	if (!rc)
		rc = read_idempotency(req, "partners", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_partner_add(req->engine, &ch, req->who.key_id,
					   idem.key ? &idem : NULL, &a, &why);
	answer(res, rc, &why, 201, a);
}

void h_partner_update(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	struct kp_partner_change ch = {.id = req->params[0]};
	json_t *a = NULL;
	int rc = read_partner(req->json, false, &ch, &why);
	if (!rc)
		rc = kp_engine_partner_update(req->engine, &ch, req->who.key_id, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_partners_list(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	int rc = kp_engine_partners_list(req->engine, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_keys_list(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	size_t limit;
	int rc = query_limit(req, &limit, &why);
	if (!rc)
		rc = kp_engine_keys_list(req->engine, query_arg(req, "cursor"), limit, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_key_revoke(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	char *end;
	long long id = strtoll(req->params[0], &end, 10);
	int rc = *end || id <= 0 ? kp_why(&why, KP_ENOTFOUND, "no key with id %s", req->params[0])
				 : 0;
	if (!rc)
		rc = kp_engine_key_revoke(req->engine, id, req->who.key_id, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_audit_list(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	size_t limit;
	int rc = query_limit(req, &limit, &why);
	if (!rc)
		rc = kp_engine_audit_list(req->engine, query_arg(req, "cursor"), limit, &a, &why);
	answer(res, rc, &why, 200, a);
}

/* ?from=YYYY-MM-DD&to=YYYY-MM-DD, inclusive UTC days → [from, to) instants. */
static int read_period(const struct request *req, int64_t *from, int64_t *to,
		       struct kp_why *why)
{
	const char *f = query_arg(req, "from"), *t = query_arg(req, "to");
	int64_t d1, d2;
	if (!f || kp_date_parse(f, &d1))
		return kp_why(why, KP_EINVAL, "from: a date like 2027-01-01 is required");
	if (!t || kp_date_parse(t, &d2))
		return kp_why(why, KP_EINVAL, "to: a date like 2027-01-31 is required");
	if (d2 < d1)
		return kp_why(why, KP_EINVAL, "to: must not be before from");
	*from = d1 * KP_SECONDS_PER_DAY;
	*to = (d2 + 1) * KP_SECONDS_PER_DAY;
	return 0;
}

void h_summary(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	int64_t from, to;
	int rc = read_period(req, &from, &to, &why);
	if (!rc)
		rc = kp_engine_summary(req->engine, from, to, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_settlement(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	int64_t from, to;
	int rc = read_period(req, &from, &to, &why);
	if (!rc)
		rc = kp_engine_settlement(req->engine, from, to, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_charity_report(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *a = NULL;
	int64_t from, to;
	int rc = read_period(req, &from, &to, &why);
	if (!rc)
		rc = kp_engine_charity_report(req->engine, from, to, &a, &why);
	answer(res, rc, &why, 200, a);
}

void h_donation_create(struct request *req, struct response *res)
{
	static const char *const fields[] = {"fund", "points", NULL};
	struct kp_why why = {""};
	const char *fund;
	int64_t points = 0;
	json_t *a = NULL;
	int status = 201;
	struct kp_idem idem;
	struct idem_buf buf;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_string(req->json, "", "fund", true, 1, 64, &fund, &why);
	if (!rc)
		rc = v_int(req->json, "", "points", true, 1, MAX_DONATION, &points, &why);
	if (!rc)
		rc = read_idempotency(req, "donations", true, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_donate(req->engine, req->params[0], fund, points, &idem, &a,
				      &status, &why);
	answer(res, rc, &why, status, a);
}

int cross_partner(const struct request *req, const char *partner, const char *receipt_id,
		  int rc, struct kp_why *why)
{
	if (rc != KP_ENOTFOUND || strcmp(req->who.role, "pos") != 0 || !partner || !receipt_id)
		return rc;
	if (!kp_engine_receipt_elsewhere(req->engine, partner, receipt_id))
		return rc;
	return kp_why(why, KP_EFORBIDDEN, "receipt %s belongs to another partner; this key acts "
					  "only for partner %s", receipt_id, partner);
}
