/*
 * purchase.h — the state of one kp_rules_evaluate call, shared by the files
 * that compute its steps (evaluate.c, campaigns.c, stamps.c, discount.c,
 * coupons.c, earn.c). Internal to src/rules.
 *
 * The whole struct lives on kp_rules_evaluate's stack (about 90 KB at
 * KP_MAX_LINES): an evaluation allocates nothing. Campaigns are sets of bits
 * (KP_MAX_CAMPAIGNS = 64 fits one uint64_t), bit c for program->campaigns[c].
 */
#ifndef KP_RULES_PURCHASE_H
#define KP_RULES_PURCHASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"

_Static_assert(KP_MAX_CAMPAIGNS <= 64, "campaign sets are one uint64_t");
_Static_assert(KP_MAX_STAMPS <= 32, "stamp card sets are one uint32_t");
_Static_assert(KP_MAX_COUPONS <= 32, "coupon sets are one uint32_t");

/* A percentage and the rule that set it (rule_id is NULL when none did). */
struct rate {
	int64_t bp;
	const char *rule_id;
};

struct purchase {
	const struct kp_program *p;
	const struct kp_basket *b;
	const struct kp_member_in *m; /* NULL: anonymous */
	const struct kp_tier *tier;   /* the member's level; NULL: none or anonymous */
	const char *partner;	      /* never NULL: "main" when the basket has none */

	uint64_t line_campaigns[KP_MAX_LINES];	 /* campaigns that apply to each line */
	uint64_t points_changed;		 /* points campaigns whose contribution is not 0 */
	uint32_t stamps_used;			 /* stamp cards that made some unit free */
	uint32_t coupons_used;			 /* basket coupons whose coupon_value > 0 */
	int64_t coupon_points;			 /* points coupons' points (member known) */
	const char *discount_rule[KP_MAX_LINES]; /* gave the line money off; NULL: none */
	struct rate earn_base;			 /* the best base rate (the same for every line) */
	int64_t rate_earned[KP_MAX_LINES];	 /* a line's share of the rate part of earned */

	/* scratch for kp_rules_allocate */
	int64_t weight[KP_MAX_LINES];
	int64_t cap[KP_MAX_LINES];
	int64_t share[KP_MAX_LINES];
	__int128 wide[KP_MAX_LINES];
};

/* Binary search in a strcmp-sorted array; n may be 0. */
bool kp_rules_in_sorted(const char *key, char *const *set, size_t n);

/*
 * Fill x->line_campaigns: bit c is set for line i when campaign c's purchase
 * filters match (time, local day and hour, channel, tier, partner,
 * min_subtotal against out->subtotal) and its line filter takes line i.
 */
void kp_rules_match_campaigns(struct purchase *x, const struct kp_result *out);

/* Stamp cards (member known only): free_units per line and stamps_after per card. */
void kp_rules_apply_stamps(struct purchase *x, struct kp_result *out);

/* Step 2: free units, then the best percentage per line. Returns 0 or KP_EOVERFLOW. */
int kp_rules_apply_discounts(struct purchase *x, struct kp_result *out);

/* A basket's coupons within the limits of rules.h: 0 or KP_EINVAL. */
int kp_rules_validate_coupons(const struct kp_basket *b);

/*
 * Step 2, the end: the coupons in basket order on what the discounts before
 * them left. Fills coupon_value, coupon_rule_id, x->coupons_used and
 * x->coupon_points. Returns 0 or KP_EOVERFLOW.
 */
int kp_rules_apply_coupons(struct purchase *x, struct kp_result *out);

/* Step 6: points earned, campaign budgets, campaign_points. 0 or KP_EOVERFLOW. */
int kp_rules_apply_earn(struct purchase *x, struct kp_result *out);

/*
 * kp_rules_allocate without caps for weights too wide for int64_t (earn
 * rates times money): Σ out = total, largest remainder, ties to the lower
 * index. Requires 0 ≤ weights[i] and Σ weights < 2^126. Returns 0, or
 * KP_EINVAL if total > 0 and every weight is 0, or KP_EOVERFLOW if the
 * weights are too large.
 */
int kp_rules_allocate_wide(int64_t total, const __int128 *weights, size_t n, int64_t *out);

#endif
