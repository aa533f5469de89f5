#include "engine/codes.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "util/checked.h"
#include "util/error.h"
#include "util/timeutil.h"

static int64_t basket_subtotal(const struct kp_purchase_req *req)
{
	int64_t sum = 0;
	for (size_t i = 0; i < req->n_lines; i++)
		sum += req->lines[i].qty * req->lines[i].price; /* in range by the API's limits */
	return sum;
}

static bool seen_before(const char *const *codes, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (strcmp(codes[k], codes[i]) == 0)
			return true;
	return false;
}

/* Why this coupon may not be used now, or 0. */
static int coupon_refusal(struct kp_conn *c, const struct kp_coupon_row *k,
			  const struct kp_member_row *member, int64_t subtotal, int64_t now,
			  struct kp_why *why)
{
	char t[21];
	if (now < k->valid_from) {
		kp_time_format(k->valid_from, t);
		return kp_why(why, KP_ECOUPON, "coupon %s: not valid before %s", k->code, t);
	}
	if (now >= k->valid_to) {
		kp_time_format(k->valid_to, t);
		return kp_why(why, KP_ECOUPON, "coupon %s: expired at %s", k->code, t);
	}
	if (k->max_uses && k->uses >= k->max_uses)
		return kp_why(why, KP_ECOUPON, "coupon %s: used up", k->code);
	if (k->member_id && (!member || member->id != k->member_id))
		return kp_why(why, KP_ECOUPON, "coupon %s: belongs to another member", k->code);
	if (subtotal < k->min_subtotal)
		return kp_why(why, KP_ECOUPON, "coupon %s: needs a subtotal of at least %lld",
			      k->code, (long long)k->min_subtotal);
	if (k->kind == KP_COUPON_POINTS && !member)
		return kp_why(why, KP_ECOUPON, "coupon %s: gives points, so it needs a member",
			      k->code);
	if (k->per_member && member) {
		int64_t n;
		int rc = c->ops->coupon_member_uses(c, k->code, member->id, &n);
		if (rc)
			return rc;
		if (n >= k->per_member)
			return kp_why(why, KP_ECOUPON, "coupon %s: already used %lld times by this "
					  "member", k->code, (long long)n);
	}
	return 0;
}

static int check_coupons(struct kp_conn *c, const struct kp_purchase_req *req,
			 const struct kp_member_row *member, int64_t now, struct presented *out,
			 struct kp_why *why)
{
	if (req->n_coupons > KP_MAX_COUPONS)
		return kp_why(why, KP_EINVAL, "coupons: at most %d", KP_MAX_COUPONS);
	int64_t subtotal = basket_subtotal(req);
	for (size_t i = 0; i < req->n_coupons; i++) {
		struct kp_coupon_row *k = &out->coupons[i];
		if (seen_before(req->coupons, i))
			return kp_why(why, KP_ECOUPON, "coupon %s: given twice", req->coupons[i]);
		int rc = c->ops->coupon_get(c, req->coupons[i], k);
		if (rc == KP_ENOTFOUND)
			return kp_why(why, KP_ECOUPON, "coupon %s: unknown code", req->coupons[i]);
		if (!rc)
			rc = coupon_refusal(c, k, member, subtotal, now, why);
		if (rc)
			return rc;
		out->coupon_in[i] = (struct kp_coupon_in){
			.code = k->code, .kind = k->kind, .value = k->value};
	}
	out->n_coupons = req->n_coupons;
	return 0;
}

static int check_certificates(struct kp_conn *c, const struct kp_purchase_req *req,
			      const struct kp_member_row *member, int64_t now,
			      struct presented *out, struct kp_why *why)
{
	if (req->n_certificates > KP_MAX_CERTIFICATES)
		return kp_why(why, KP_EINVAL, "gift_certificates: at most %d", KP_MAX_CERTIFICATES);
	for (size_t i = 0; i < req->n_certificates; i++) {
		const char *code = req->certificates[i];
		struct kp_certificate_row *k = &out->certificates[i];
		if (seen_before(req->certificates, i))
			return kp_why(why, KP_ECERTIFICATE, "gift certificate %s: given twice", code);
		int rc = c->ops->certificate_get(c, code, k);
		if (rc == KP_ENOTFOUND)
			return kp_why(why, KP_ECERTIFICATE, "gift certificate %s: unknown code", code);
		if (rc)
			return rc;
		if (k->expires_at <= now)
			return kp_why(why, KP_ECERTIFICATE, "gift certificate %s: expired", code);
		if (k->balance == 0)
			return kp_why(why, KP_ECERTIFICATE, "gift certificate %s: nothing left on it",
				      code);
		if (k->member_id && (!member || member->id != k->member_id))
			return kp_why(why, KP_ECERTIFICATE,
				      "gift certificate %s: belongs to another member", code);
		out->certificate_funds += k->balance;
	}
	out->n_certificates = req->n_certificates;
	return 0;
}

int codes_check(struct kp_conn *c, const struct kp_purchase_req *req,
		const struct kp_member_row *member, int64_t now, struct presented *out,
		struct kp_why *why)
{
	assert(req && out);
	memset(out, 0, sizeof *out);
	int rc = check_coupons(c, req, member, now, out, why);
	return rc ? rc : check_certificates(c, req, member, now, out, why);
}

int codes_use(struct kp_conn *c, const struct presented *p, int64_t purchase_id,
	      int64_t member_id, int64_t certificates, int64_t now, json_t *paid)
{
	assert(p && purchase_id > 0 && certificates <= p->certificate_funds);
	int rc = 0;
	for (size_t i = 0; !rc && i < p->n_coupons; i++)
		rc = c->ops->coupon_use(c, p->coupons[i].code, purchase_id, member_id, now);
	int64_t left = certificates;
	for (size_t i = 0; !rc && i < p->n_certificates && left > 0; i++) {
		const struct kp_certificate_row *k = &p->certificates[i];
		int64_t take = kp_min64(k->balance, left);
		rc = c->ops->certificate_move(c, k->code, purchase_id, 0, -take, now);
		left -= take;
		if (!rc && paid)
			json_array_append_new(paid, json_pack("{s:s,s:I,s:I}", "code", k->code,
							      "amount", (json_int_t)take, "balance",
							      (json_int_t)(k->balance - take)));
	}
	assert(rc || left == 0);
	return rc;
}

int codes_plan_back(struct kp_conn *c, int64_t purchase_id, int64_t amount,
		    struct give_back *out)
{
	struct kp_certificate_use uses[KP_MAX_CERTIFICATES];
	size_t n = 0;
	out->n = 0;
	int rc = amount > 0 ? c->ops->certificate_uses(c, purchase_id, uses, KP_MAX_CERTIFICATES,
						       &n)
			    : 0;
	for (size_t i = n; !rc && i-- > 0 && amount > 0;) {
		int64_t give = kp_min64(uses[i].paid - uses[i].returned, amount);
		if (give <= 0)
			continue;
		out->to[out->n] = uses[i];
		out->to[out->n++].paid = give;
		amount -= give;
	}
	/* refund shares never exceed what the certificates paid */
	return rc ? rc : amount > 0 ? KP_EINTERNAL : 0;
}

json_t *codes_back_json(const struct give_back *g)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < g->n; i++)
		json_array_append_new(list, json_pack("{s:s,s:I}", "code", g->to[i].code, "amount",
						      (json_int_t)g->to[i].paid));
	return list;
}

int codes_give_back(struct kp_conn *c, int64_t purchase_id, int64_t refund_id,
		    const struct give_back *g, bool release_coupons, int64_t now)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < g->n; i++)
		rc = c->ops->certificate_move(c, g->to[i].code, purchase_id, refund_id,
					      g->to[i].paid, now);
	if (!rc && release_coupons)
		rc = c->ops->coupon_release_purchase(c, purchase_id);
	return rc;
}
