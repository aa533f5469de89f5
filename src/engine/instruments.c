/*
 * instruments.c — coupons and gift certificates: issuing them and reading
 * them. Using them in a purchase is purchase.c's (through codes.c).
 *
 * Generated codes are random from the OS CSPRNG: a coupon code has 12
 * characters of a 32-letter alphabet (60 bits), a certificate 16 (80 bits),
 * so guessing a valid one is hopeless even with millions issued.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

static void random_code(const char *prefix, int n, char *out, size_t cap)
{
	size_t len = kp_strcopy(out, cap, prefix);
	assert(len + (size_t)n < cap);
	for (int i = 0; i < n; i++)
		out[len + (size_t)i] = alphabet[kp_crypto_uniform(sizeof alphabet - 1)];
	out[len + (size_t)n] = '\0';
}

static json_t *time_or_null(int64_t t)
{
	if (t == KP_NEVER || t == INT64_MIN)
		return json_null();
	char text[21];
	kp_time_format(t, text);
	return json_string(text);
}

/* ---- gift certificates ------------------------------------------------------ */

static json_t *certificate_json(const struct kp_certificate_row *k)
{
	char issued[21], member[24];
	kp_time_format(k->issued_at, issued);
	member_id_text(k->member_id, member);
	return json_pack("{s:s,s:I,s:I,s:o,s:s,s:s?,s:s?,s:s}", "code", k->code, "amount",
			 (json_int_t)k->amount, "balance", (json_int_t)k->balance, "expires_at",
			 time_or_null(k->expires_at), "source", k->source, "member",
			 k->member_id ? member : NULL, "partner", k->partner[0] ? k->partner : NULL,
			 "issued_at", issued);
}

struct cert_job {
	struct kp_certificate_row row;
	const struct kp_idem *idem;
	json_t *answer;
	int status;
	struct kp_why *why;
};

static int cert_run(struct kp_conn *c, void *arg)
{
	struct cert_job *j = arg;
	job_answer_drop(&j->answer);
	int rc = j->idem ? idem_replay(c, j->idem, &j->answer, &j->status, j->why) : KP_ENOTFOUND;
	if (rc != KP_ENOTFOUND)
		return rc;
	for (int attempt = 0; attempt < 8; attempt++) {
		random_code("GC-", 16, j->row.code, sizeof j->row.code);
		rc = c->ops->certificate_issue(c, &j->row);
		if (rc != KP_ECONFLICT)
			break;
	}
	if (rc)
		return rc;
	j->row.balance = j->row.amount;
	j->status = 201;
	if (!(j->answer = certificate_json(&j->row)))
		return KP_ENOMEM;
	return j->idem ? idem_keep(c, j->idem, 201, j->answer, j->row.issued_at) : 0;
}

int kp_engine_certificate_issue(struct kp_engine *e, int64_t amount, int64_t expires_at,
				const char *partner, const struct kp_idem *idem, json_t **answer,
				int *status, struct kp_why *why)
{
	assert(amount > 0 && answer && status);
	int64_t now = kp_engine_now(e);
	if (expires_at <= now)
		return kp_why(why, KP_EINVAL, "expires_at: must be in the future");
	struct cert_job j = {.idem = idem, .why = why};
	j.row.amount = amount;
	j.row.expires_at = expires_at;
	j.row.issued_at = now;
	snprintf(j.row.source, sizeof j.row.source, "issued");
	kp_strcopy(j.row.partner, sizeof j.row.partner, partner);
	int rc = kp_writer_submit(e->writer, cert_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*status = j.status;
	return 0;
}

int kp_engine_certificate_get(struct kp_engine *e, const char *code, json_t **answer,
			      struct kp_why *why)
{
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	struct kp_certificate_row k;
	rc = c->ops->certificate_get(c, code, &k);
	reader_release(e, c);
	if (rc == KP_ENOTFOUND)
		return kp_why(why, rc, "no gift certificate %s", code);
	if (!rc && !(*answer = certificate_json(&k)))
		rc = KP_ENOMEM;
	return rc;
}

/* ---- coupons ---------------------------------------------------------------- */

static json_t *coupon_json(const struct kp_coupon_row *k)
{
	static const char *const kinds[] = {"percent", "amount", "points"};
	char member[24];
	member_id_text(k->member_id, member);
	/* a percent coupon's value is stored in basis points and shown in percent */
	json_t *value = k->kind == KP_COUPON_PERCENT
				? (k->value % 100 == 0 ? json_integer(k->value / 100)
						       : json_real((double)k->value / 100.0))
				: json_integer(k->value);
	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:s?,s:I,s:s?}", "code", k->code,
			 "kind", kinds[k->kind], "value", value, "max_uses",
			 k->max_uses ? json_integer(k->max_uses) : json_null(), "per_member",
			 k->per_member ? json_integer(k->per_member) : json_null(), "valid_from",
			 time_or_null(k->valid_from), "valid_to", time_or_null(k->valid_to),
			 "min_subtotal", (json_int_t)k->min_subtotal, "member",
			 k->member_id ? member : NULL, "uses", (json_int_t)k->uses, "batch",
			 k->batch[0] ? k->batch : NULL);
}

struct coupon_job {
	struct kp_coupon_row row;
	const char *prefix;
	int64_t count; /* 0 = the one coupon in row */
	const struct kp_idem *idem;
	int64_t key_id;
	json_t *answer;
	int status;
	struct kp_why *why;
};

static int member_exists(struct kp_conn *c, int64_t id, struct kp_why *why)
{
	struct kp_member_row m;
	int rc = id ? c->ops->member_get_id(c, id, &m) : 0;
	if (rc == KP_ENOTFOUND)
		return kp_why(why, rc, "member: no member with id %lld", (long long)id);
	return rc;
}

/* Insert `count` coupons with fresh random codes; their codes go to `codes`. */
static int insert_batch(struct kp_conn *c, struct coupon_job *j, json_t *codes)
{
	for (int64_t i = 0; i < j->count; i++) {
		int rc = KP_ECONFLICT;
		for (int attempt = 0; rc == KP_ECONFLICT && attempt < 8; attempt++) {
			random_code(j->prefix, 12, j->row.code, sizeof j->row.code);
			rc = c->ops->coupon_insert(c, &j->row);
		}
		if (rc)
			return rc;
		json_array_append_new(codes, json_string(j->row.code));
	}
	return 0;
}

static int coupon_run(struct kp_conn *c, void *arg)
{
	struct coupon_job *j = arg;
	job_answer_drop(&j->answer);
	int rc = j->idem ? idem_replay(c, j->idem, &j->answer, &j->status, j->why) : KP_ENOTFOUND;
	if (rc != KP_ENOTFOUND)
		return rc;
	if ((rc = member_exists(c, j->row.member_id, j->why)))
		return rc;
	json_t *details;
	if (j->count == 0) {
		rc = c->ops->coupon_insert(c, &j->row);
		if (rc == KP_ECONFLICT)
			return kp_why(j->why, rc, "coupon %s already exists", j->row.code);
		j->answer = rc ? NULL : coupon_json(&j->row);
		details = json_pack("{s:s}", "code", j->row.code);
	} else {
		json_t *codes = json_array();
		rc = codes ? insert_batch(c, j, codes) : KP_ENOMEM;
		j->answer = rc ? NULL : json_pack("{s:s,s:I,s:o}", "batch", j->row.batch, "count",
						  (json_int_t)j->count, "codes", codes);
		if (rc)
			json_decref(codes);
		details = json_pack("{s:s,s:I}", "batch", j->row.batch, "count",
				    (json_int_t)j->count);
	}
	char *text = details ? json_text(details) : NULL;
	json_decref(details);
	if (!rc && !j->answer)
		rc = KP_ENOMEM;
	if (!rc)
		rc = text ? c->ops->audit(c, j->key_id, "coupon.create",
					  j->count ? j->row.batch : j->row.code, text,
					  j->row.created_at)
			  : KP_ENOMEM;
	free(text);
	j->status = 201;
	return rc || !j->idem ? rc : idem_keep(c, j->idem, 201, j->answer, j->row.created_at);
}

static int submit_coupons(struct kp_engine *e, struct coupon_job *j, json_t **answer,
			  int *status)
{
	j->row.created_at = kp_engine_now(e);
	j->row.uses = 0;
	int rc = kp_writer_submit(e->writer, coupon_run, j);
	if (rc) {
		json_decref(j->answer);
		return rc;
	}
	*answer = j->answer;
	*status = j->status;
	return 0;
}

int kp_engine_coupon_create(struct kp_engine *e, const struct kp_coupon_row *coupon,
			    const struct kp_idem *idem, int64_t key_id, json_t **answer,
			    int *status, struct kp_why *why)
{
	assert(coupon && coupon->code[0]);
	struct coupon_job j = {.row = *coupon, .idem = idem, .key_id = key_id, .why = why};
	return submit_coupons(e, &j, answer, status);
}

int kp_engine_coupon_batch(struct kp_engine *e, const struct kp_coupon_row *coupon,
			   const char *prefix, int64_t count, const struct kp_idem *idem,
			   int64_t key_id, json_t **answer, int *status, struct kp_why *why)
{
	assert(coupon && prefix && count > 0 && count <= KP_MAX_BATCH);
	struct coupon_job j = {.row = *coupon, .prefix = prefix, .count = count, .idem = idem,
			       .key_id = key_id, .why = why};
	random_code("B-", 10, j.row.batch, sizeof j.row.batch);
	return submit_coupons(e, &j, answer, status);
}

int kp_engine_coupon_get(struct kp_engine *e, const char *code, json_t **answer,
			 struct kp_why *why)
{
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	struct kp_coupon_row k;
	rc = c->ops->coupon_get(c, code, &k);
	reader_release(e, c);
	if (rc == KP_ENOTFOUND)
		return kp_why(why, rc, "no coupon %s", code);
	if (!rc && !(*answer = coupon_json(&k)))
		rc = KP_ENOMEM;
	return rc;
}
