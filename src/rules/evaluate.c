/*
 * evaluate.c — the arithmetic of a purchase (rules.h, docs/rules.md).
 *
 * The steps run in the order of the contract: amounts, which campaigns
 * apply (campaigns.c), stamp cards (stamps.c), discounts (discount.c),
 * coupons (coupons.c), points redeemed, certificates, what is left to pay,
 * points earned (earn.c). Each step spreads its total over the lines by
 * largest remainder, so the lines add up to the totals by construction, and
 * the end asserts that they do.
 *
 * Why nothing overflows within the basket limits: an amount is at most
 * KP_MAX_QTY × KP_MAX_PRICE = 1e14, a subtotal at most 1e17, and an amount
 * times a percentage in basis points at most 1e18 < 2^63. Sums of those
 * weights (up to 1e21) are __int128. Every product and narrowing is still
 * checked, so a future limit that breaks this bound fails with KP_EOVERFLOW
 * instead of wrapping. Campaign multipliers are the exception: up to four
 * ×10 factors can push the points earned past int64_t on the largest
 * baskets, and that purchase is KP_EOVERFLOW.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/purchase.h"
#include "util/checked.h"

static void assert_steps(const struct kp_step *steps, size_t n)
{
	(void)steps; /* only the asserts read it */
	assert(n == 0 || steps != NULL);
	assert(n <= KP_MAX_STEPS);
	for (size_t i = 0; i < n; i++) {
		assert(steps[i].percent_bp >= 0 && steps[i].percent_bp <= KP_BP_ONE);
		assert(steps[i].rule_id != NULL);
		assert(i == 0 || steps[i - 1].min_subtotal < steps[i].min_subtotal);
	}
}

/* A program that did not come from kp_rules_program_compile is a programmer error. */
static void assert_program(const struct kp_program *p)
{
	(void)p; /* only the asserts read it */
	assert(p != NULL);
	assert(p->point_value > 0);
	assert(p->rounding == KP_ROUND_FLOOR || p->rounding == KP_ROUND_HALF_UP ||
	       p->rounding == KP_ROUND_CEIL);
	assert(p->earn_percent_bp >= 0 && p->earn_percent_bp <= KP_BP_ONE);
	assert(p->burn_max_percent_bp >= 0 && p->burn_max_percent_bp <= KP_BP_ONE);
	assert(p->discount_percent_bp >= 0 && p->discount_percent_bp <= KP_BP_ONE);
	assert(p->n_excluded_skus == 0 || p->excluded_skus != NULL);
	assert(p->n_excluded_categories == 0 || p->excluded_categories != NULL);
	assert_steps(p->earn_steps, p->n_earn_steps);
	assert_steps(p->discount_steps, p->n_discount_steps);
	assert(p->n_tiers <= KP_MAX_TIERS && (p->n_tiers == 0 || p->tiers[0].min_spend == 0));
	assert(p->n_campaigns <= KP_MAX_CAMPAIGNS && p->n_stamps <= KP_MAX_STAMPS);
	assert(p->utc_offset_s >= -14 * 3600 && p->utc_offset_s <= 14 * 3600);
}

static int validate_basket(const struct kp_basket *b)
{
	assert(b != NULL);
	if (b->n_lines < 1 || b->n_lines > KP_MAX_LINES || b->lines == NULL)
		return KP_EINVAL;
	if (b->redeem_points < 0 || b->certificate_funds < 0)
		return KP_EINVAL;
	if (b->channel != KP_CHANNEL_STORE && b->channel != KP_CHANNEL_ONLINE &&
	    b->channel != KP_CHANNEL_APP)
		return KP_EINVAL;
	for (size_t i = 0; i < b->n_lines; i++) {
		const struct kp_line_in *l = &b->lines[i];

		if (l->sku == NULL || l->qty < 1 || l->qty > KP_MAX_QTY || l->price < 0 ||
		    l->price > KP_MAX_PRICE)
			return KP_EINVAL;
	}
	return kp_rules_validate_coupons(b);
}

/* A member's stamp counts must be on the cards: 0..every − 1. */
static int validate_member(const struct kp_program *p, const struct kp_member_in *m)
{
	assert(p->n_stamps <= KP_MAX_STAMPS);
	if (!m || !m->stamps)
		return 0;
	for (size_t k = 0; k < p->n_stamps; k++)
		if (m->stamps[k] < 0 || m->stamps[k] >= p->stamps[k].every)
			return KP_EINVAL;
	return 0;
}

static bool is_redeemable(const struct kp_program *p, const struct kp_line_in *l)
{
	assert(p != NULL && l != NULL && l->sku != NULL);
	if (kp_rules_in_sorted(l->sku, p->excluded_skus, p->n_excluded_skus))
		return false;
	if (l->category && l->category[0] &&
	    kp_rules_in_sorted(l->category, p->excluded_categories, p->n_excluded_categories))
		return false;
	return true;
}

/* Step 1: amounts and subtotal; every other line field starts at zero. */
static int compute_amounts(const struct kp_program *p, const struct kp_basket *b,
			   struct kp_result *out)
{
	int64_t subtotal = 0;

	assert(out->lines != NULL);
	for (size_t i = 0; i < b->n_lines; i++) {
		struct kp_line_result *r = &out->lines[i];

		memset(r, 0, sizeof *r);
		if (kp_mul(b->lines[i].qty, b->lines[i].price, &r->amount) ||
		    kp_add(subtotal, r->amount, &subtotal))
			return KP_EOVERFLOW;
		r->redeemable = is_redeemable(p, &b->lines[i]);
	}
	out->subtotal = subtotal;
	assert(subtotal >= 0);
	return 0;
}

/*
 * The redemption cap (rules.h step 3). Fills s->weight with e_i (0 for an
 * excluded line) and s->cap with ⌊e_i / point_value⌋: taking the minimum with
 * Σ ⌊e_i / point_value⌋ means a point never splits across lines, so no line
 * pays a negative amount.
 */
static int redemption_cap(const struct kp_program *p, size_t n, struct purchase *s,
			  const struct kp_result *out, int64_t *cap)
{
	__int128 eligible = 0;
	int64_t whole_points = 0, by_percent;

	for (size_t i = 0; i < n; i++) {
		const struct kp_line_result *r = &out->lines[i];
		int64_t e = 0;

		if (r->redeemable && kp_sub(r->amount, r->discount, &e))
			return KP_EOVERFLOW;
		assert(e >= 0);
		s->weight[i] = e;
		s->cap[i] = e / p->point_value;
		if (kp_add(whole_points, s->cap[i], &whole_points))
			return KP_EOVERFLOW;
		eligible += e;
	}
	if (kp_narrow(eligible * p->burn_max_percent_bp / ((__int128)KP_BP_ONE * p->point_value),
		      &by_percent))
		return KP_EOVERFLOW;
	*cap = kp_min64(by_percent, whole_points);
	assert(*cap >= 0);
	return 0;
}

/* Step 3: points redeemed, spread with weights e_i under per-line caps. */
static int apply_redemption(const struct kp_program *p, const struct kp_basket *b,
			    const struct kp_member_in *member, struct purchase *s,
			    struct kp_result *out)
{
	int64_t cap;
	int err = redemption_cap(p, b->n_lines, s, out, &cap);

	if (err)
		return err;
	out->max_redeemable = 0;
	if (member && member->available > 0)
		out->max_redeemable = kp_min64(cap, member->available);
	out->points_redeemed = kp_min64(b->redeem_points, out->max_redeemable);
	out->redeem_clamped = b->redeem_points > out->points_redeemed;
	err = kp_rules_allocate(out->points_redeemed, s->weight, s->cap, b->n_lines, s->share);
	assert(err == 0); /* points ≤ cap ≤ Σ caps, and Σ e_i > 0 whenever cap > 0 */
	for (size_t i = 0; i < b->n_lines; i++)
		out->lines[i].points = s->share[i];
	assert(out->points_redeemed >= 0 && out->points_redeemed <= out->max_redeemable);
	return err;
}

/* Step 4: certificates pay what is left, spread with weights "left to pay" per line. */
static int apply_certificates(const struct kp_program *p, const struct kp_basket *b,
			      struct purchase *s, struct kp_result *out)
{
	int64_t left_total = 0;
	int err;

	for (size_t i = 0; i < b->n_lines; i++) {
		const struct kp_line_result *r = &out->lines[i];
		int64_t points_money, left;

		if (kp_mul(r->points, p->point_value, &points_money) ||
		    kp_sub(r->amount, r->discount, &left) || kp_sub(left, points_money, &left) ||
		    kp_add(left_total, left, &left_total))
			return KP_EOVERFLOW;
		assert(left >= 0);
		s->weight[i] = left;
		s->cap[i] = left;
	}
	out->certificates = kp_min64(b->certificate_funds, left_total);
	err = kp_rules_allocate(out->certificates, s->weight, s->cap, b->n_lines, s->share);
	assert(err == 0); /* certificates ≤ Σ left = Σ caps */
	for (size_t i = 0; i < b->n_lines; i++) {
		out->lines[i].certificates = s->share[i];
		out->lines[i].paid = s->weight[i] - s->share[i];
	}
	out->to_pay = left_total - out->certificates;
	assert(out->to_pay >= 0);
	return err;
}

static void add_applied(struct kp_result *out, const char *rule_id)
{
	assert(rule_id != NULL);
	for (size_t i = 0; i < out->n_applied; i++)
		if (strcmp(out->applied[i], rule_id) == 0)
			return;
	assert(out->n_applied < KP_MAX_APPLIED);
	out->applied[out->n_applied++] = rule_id;
}

/*
 * A rule is listed when it changed the result: discounts that gave a line
 * money off, stamp cards that made a unit free, coupons that took money off
 * or added points, the base earn rate when it was above 0 and a line earned
 * by rate, then points campaigns whose contribution was not 0 — in that
 * order, coupons in basket order, campaigns in document order. The same
 * coupon code twice is listed once.
 */
static void collect_applied(const struct purchase *x, struct kp_result *out)
{
	const struct kp_program *p = x->p;

	out->n_applied = 0;
	for (size_t i = 0; i < x->b->n_lines; i++)
		if (x->discount_rule[i])
			add_applied(out, x->discount_rule[i]);
	for (size_t k = 0; k < p->n_stamps; k++)
		if (x->stamps_used >> k & 1)
			add_applied(out, p->stamps[k].rule_id);
	for (size_t k = 0; k < x->b->n_coupons; k++)
		if (x->coupons_used >> k & 1)
			add_applied(out, out->coupon_rule_id[k]);
	for (size_t i = 0; x->earn_base.bp > 0 && i < x->b->n_lines; i++)
		if (x->rate_earned[i] > 0)
			add_applied(out, x->earn_base.rule_id);
	for (size_t c = 0; c < p->n_campaigns; c++)
		if (x->points_changed >> c & 1)
			add_applied(out, p->campaigns[c].rule_id);
	assert(out->n_applied <= 2 + p->n_campaigns + p->n_stamps + x->b->n_coupons);
}

static void assert_invariants(const struct kp_program *p, size_t n, const struct kp_result *out)
{
#ifndef NDEBUG
	__int128 discount = 0, points = 0, certificates = 0, paid = 0, earned = 0;

	for (size_t i = 0; i < n; i++) {
		const struct kp_line_result *r = &out->lines[i];

		assert(r->paid >= 0);
		assert(r->paid == r->amount - r->discount - r->points * p->point_value -
					  r->certificates);
		discount += r->discount;
		points += r->points;
		certificates += r->certificates;
		paid += r->paid;
		earned += r->earned;
	}
	assert(discount == out->discount && points == out->points_redeemed);
	assert(certificates == out->certificates && paid == out->to_pay);
	assert(earned == out->points_earned);
	assert(out->to_pay == out->subtotal - out->discount -
				      out->points_redeemed * p->point_value - out->certificates);
#else
	(void)p;
	(void)n;
	(void)out;
#endif
}

/* On failure nothing in *out may look valid. */
static void clear_result(struct kp_result *out)
{
	struct kp_line_result *lines = out->lines;

	assert(lines != NULL);
	memset(out, 0, sizeof *out);
	out->lines = lines;
}

/* The member's level, when the program has it: −1, or a level the program lost, is none. */
static const struct kp_tier *member_tier(const struct kp_program *p, const struct kp_member_in *m)
{
	assert(p->n_tiers <= KP_MAX_TIERS);
	if (!m || m->tier < 0 || (size_t)m->tier >= p->n_tiers)
		return NULL;
	return &p->tiers[m->tier];
}

static int evaluate_steps(struct purchase *x, struct kp_result *out)
{
	int err;

	err = compute_amounts(x->p, x->b, out);
	if (err)
		return err;
	kp_rules_match_campaigns(x, out);
	kp_rules_apply_stamps(x, out);
	err = kp_rules_apply_discounts(x, out);
	if (!err)
		err = kp_rules_apply_coupons(x, out);
	if (!err)
		err = apply_redemption(x->p, x->b, x->m, x, out);
	if (!err)
		err = apply_certificates(x->p, x->b, x, out);
	if (!err)
		err = kp_rules_apply_earn(x, out);
	if (err)
		return err;
	collect_applied(x, out);
	assert_invariants(x->p, x->b->n_lines, out);
	return 0;
}

int kp_rules_evaluate(const struct kp_program *program, const struct kp_basket *basket,
		      const struct kp_member_in *member, struct kp_result *out)
{
	struct purchase x;
	int err;

	assert_program(program);
	assert(basket != NULL);
	assert(out != NULL && out->lines != NULL);
	clear_result(out);
	err = validate_basket(basket);
	if (!err)
		err = validate_member(program, member);
	x.p = program;
	x.b = basket;
	x.m = member;
	x.tier = member_tier(program, member);
	/* older callers leave partner NULL: the program's first partner */
	x.partner = basket->partner ? basket->partner : "main";
	if (!err)
		err = evaluate_steps(&x, out);
	if (err)
		clear_result(out);
	assert(err == 0 || out->n_applied == 0);
	return err;
}
