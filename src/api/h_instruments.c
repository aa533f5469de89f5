/*
 * h_instruments.c — coupons and gift certificates over HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

#define MAX_MONEY 1000000000000LL /* 10,000,000,000.00 in minor units */

/* A time "2027-01-01T00:00:00Z", or a date "2027-01-01" meaning its start (or,
 * with end_of_day, the start of the next day: the date is inclusive). */
static int read_time(const json_t *b, const char *key, bool end_of_day, int64_t *out,
		     struct kp_why *why)
{
	const char *text;
	int64_t day;
	int rc = v_string(b, "", key, false, 10, 40, &text, why);
	if (rc || !text)
		return rc;
	if (strlen(text) == 10 && kp_date_parse(text, &day) == 0) {
		*out = (day + (end_of_day ? 1 : 0)) * KP_SECONDS_PER_DAY;
		return 0;
	}
	if (kp_time_parse(text, out))
		return kp_why(why, KP_EINVAL, "%s: a date like 2027-01-01 or a UTC time like "
					      "2027-01-01T00:00:00Z", key);
	return 0;
}

void h_certificate_issue(struct request *req, struct response *res)
{
	static const char *const fields[] = {"amount", "expires_at", NULL};
	struct kp_why why = {""};
	struct kp_idem idem;
	struct idem_buf buf;
	int64_t amount = 0, expires_at = KP_NEVER;
	json_t *answer = NULL;
	int status = 201;
	const char *partner = strcmp(req->who.role, "pos") == 0 ? req->who.partner : NULL;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_int(req->json, "", "amount", true, 1, MAX_MONEY, &amount, &why);
	if (!rc)
		rc = read_time(req->json, "expires_at", true, &expires_at, &why);
	if (!rc)
		rc = read_idempotency(req, "gift-certificates", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_certificate_issue(req->engine, amount, expires_at, partner,
						 idem.key ? &idem : NULL, &answer, &status, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

void h_certificate_get(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	int rc = kp_engine_certificate_get(req->engine, req->params[0], &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

static int read_kind_value(const json_t *b, struct kp_coupon_row *k, struct kp_why *why)
{
	const char *kind;
	int rc = v_string(b, "", "kind", true, 1, 16, &kind, why);
	if (rc)
		return rc;
	json_t *v = json_object_get(b, "value");
	if (strcmp(kind, "percent") == 0) {
		char text[64];
		k->kind = KP_COUPON_PERCENT;
		if (json_is_integer(v))
			snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(text, sizeof text, "%.10g", json_real_value(v));
		else
			text[0] = '\0';
		if (kp_rules_parse_percent_text(text, 100, &k->value) || k->value == 0)
			return kp_why(why, KP_EINVAL, "value: a percent coupon's value is a "
						      "percentage above 0 and at most 100");
		return 0;
	}
	if (strcmp(kind, "amount") == 0)
		k->kind = KP_COUPON_AMOUNT;
	else if (strcmp(kind, "points") == 0)
		k->kind = KP_COUPON_POINTS;
	else
		return kp_why(why, KP_EINVAL, "kind: must be percent, amount or points");
	return v_int(b, "", "value", true, 1, k->kind == KP_COUPON_AMOUNT ? MAX_MONEY : 1000000000,
		     &k->value, why);
}

static int read_coupon(const json_t *b, struct kp_coupon_row *k, struct kp_why *why)
{
	const char *member = NULL;
	memset(k, 0, sizeof *k);
	k->valid_from = INT64_MIN;
	k->valid_to = INT64_MAX;
	int rc = read_kind_value(b, k, why);
	if (!rc)
		rc = v_int(b, "", "max_uses", false, 1, 1000000000, &k->max_uses, why);
	if (!rc)
		rc = v_int(b, "", "per_member", false, 1, 1000000, &k->per_member, why);
	if (!rc)
		rc = v_int(b, "", "min_subtotal", false, 0, MAX_MONEY, &k->min_subtotal, why);
	if (!rc)
		rc = read_time(b, "valid_from", false, &k->valid_from, why);
	if (!rc)
		rc = read_time(b, "valid_to", true, &k->valid_to, why);
	if (!rc && k->valid_from >= k->valid_to)
		rc = kp_why(why, KP_EINVAL, "valid_to: must be after valid_from");
	if (!rc)
		rc = v_string(b, "", "member", false, 1, 20, &member, why);
	if (!rc && member) {
		char *end;
		k->member_id = strtoll(member, &end, 10);
		if (*end || k->member_id <= 0)
			rc = kp_why(why, KP_EINVAL, "member: not a member id");
	}
	return rc;
}

static const char *const coupon_fields[] = {"code", "kind", "value", "max_uses", "per_member",
					    "valid_from", "valid_to", "min_subtotal", "member",
					    NULL};

void h_coupon_create(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	struct kp_coupon_row k;
	struct kp_idem idem;
	struct idem_buf buf;
	const char *code;
	json_t *answer = NULL;
	int status = 201;
	int rc = v_keys(req->json, "", coupon_fields, &why);
	if (!rc)
		rc = read_coupon(req->json, &k, &why);
	if (!rc)
		rc = v_id(req->json, "", "code", true, 64, &code, &why);
	if (!rc)
		kp_strcopy(k.code, sizeof k.code, code);
	if (!rc)
		rc = read_idempotency(req, "coupons", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_coupon_create(req->engine, &k, idem.key ? &idem : NULL,
					     req->who.key_id, &answer, &status, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

void h_coupon_batch(struct request *req, struct response *res)
{
	static const char *const fields[] = {"count", "prefix", "kind", "value", "max_uses",
					     "per_member", "valid_from", "valid_to",
					     "min_subtotal", "member", NULL};
	struct kp_why why = {""};
	struct kp_coupon_row k;
	struct kp_idem idem;
	struct idem_buf buf;
	const char *prefix = NULL;
	int64_t count = 0;
	json_t *answer = NULL;
	int status = 201;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = read_coupon(req->json, &k, &why);
	if (!rc)
		rc = v_int(req->json, "", "count", true, 1, KP_MAX_BATCH, &count, &why);
	if (!rc)
		rc = v_id(req->json, "", "prefix", false, 32, &prefix, &why);
	if (!rc)
		rc = read_idempotency(req, "coupons/batch", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_coupon_batch(req->engine, &k, prefix ? prefix : "", count,
					    idem.key ? &idem : NULL, req->who.key_id, &answer,
					    &status, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

void h_coupon_get(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	int rc = kp_engine_coupon_get(req->engine, req->params[0], &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}
