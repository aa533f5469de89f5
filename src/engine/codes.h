/*
 * codes.h — coupons and gift certificates presented with a purchase.
 *
 * codes_check says whether every presented code may be used now by this
 * member on this basket (422 coupon_invalid / certificate_invalid with the
 * reason, naming the code) and turns them into the rules' input. codes_use
 * records, in the purchase's writer job, the coupon uses and what each
 * certificate paid; codes_give_back undoes them for a refund or a cancelled
 * hold. The rules never see codes as anything but numbers.
 */
#ifndef KP_ENGINE_CODES_H
#define KP_ENGINE_CODES_H

#include "engine/engine_int.h"

#define KP_MAX_CERTIFICATES 20

struct presented {
	struct kp_coupon_row coupons[KP_MAX_COUPONS];
	struct kp_coupon_in coupon_in[KP_MAX_COUPONS]; /* for kp_basket */
	size_t n_coupons;
	struct kp_certificate_row certificates[KP_MAX_CERTIFICATES];
	size_t n_certificates;
	int64_t certificate_funds; /* Σ balances, for kp_basket */
};

/* member is NULL for an anonymous purchase. */
int codes_check(struct kp_conn *c, const struct kp_purchase_req *req,
		const struct kp_member_row *member, int64_t now, struct presented *out,
		struct kp_why *why);

/*
 * Count the coupon uses and take `certificates` (the rules' total) from the
 * certificates in the order presented. Appends {"code","amount","balance"}
 * per certificate that paid to `paid` (may be NULL).
 */
int codes_use(struct kp_conn *c, const struct presented *p, int64_t purchase_id,
	      int64_t member_id, int64_t certificates, int64_t now, json_t *paid);

/* What a refund (or a cancelled hold) gives back to certificates. */
struct give_back {
	struct kp_certificate_use to[KP_MAX_CERTIFICATES]; /* paid = amount given back now */
	size_t n;
};

/*
 * Plan giving `amount` back to the certificates purchase_id used: latest
 * first, never more than each paid less what it got back before.
 */
int codes_plan_back(struct kp_conn *c, int64_t purchase_id, int64_t amount,
		    struct give_back *out);

/* [{"code","amount"}] of a plan. */
json_t *codes_back_json(const struct give_back *g);

/* Apply a plan for refund refund_id (0 for a cancelled hold); with
 * release_coupons, the purchase's coupon uses count no more. */
int codes_give_back(struct kp_conn *c, int64_t purchase_id, int64_t refund_id,
		    const struct give_back *g, bool release_coupons, int64_t now);

#endif
