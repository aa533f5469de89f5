/*
 * evaluate.c — the arithmetic of a purchase (rules.h, docs/rules.md).
 *
 * The steps run in the order of the contract: amounts, discounts, points
 * redeemed, certificates, what is left to pay, points earned. Each step
 * spreads its total over the lines with kp_rules_allocate, so the lines add
 * up to the totals by construction, and the end asserts that they do.
 *
 * Why nothing overflows within the basket limits: an amount is at most
 * KP_MAX_QTY × KP_MAX_PRICE = 1e14, a subtotal at most 1e17, and an amount
 * times a percentage in basis points at most 1e18 < 2^63. Sums of those
 * weights (up to 1e21) are __int128. Every product and narrowing is still
 * checked, so a future limit that breaks this bound fails with KP_EOVERFLOW
 * instead of wrapping.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"

static const char rule_base[] = "base";
static const char rule_discount[] = "discount";

/* Scratch arrays of one evaluation, on the stack: no heap on the hot path. */
struct scratch {
	int64_t weight[KP_MAX_LINES];
	int64_t cap[KP_MAX_LINES];
	int64_t share[KP_MAX_LINES];
};

/* A percentage and the rule that set it (rule_id is NULL when none did). */
struct rate {
	int64_t bp;
	const char *rule_id;
};

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
	return 0;
}

static int compare_key_to_string(const void *key, const void *elem)
{
	const char *k = key;
	const char *const *s = elem;

	assert(k != NULL && *s != NULL);
	return strcmp(k, *s);
}

static bool in_sorted(const char *key, char *const *set, size_t n)
{
	assert(key != NULL);
	assert(n == 0 || set != NULL);
	if (n == 0)
		return false;
	return bsearch(key, set, n, sizeof set[0], compare_key_to_string) != NULL;
}

static bool is_redeemable(const struct kp_program *p, const struct kp_line_in *l)
{
	assert(p != NULL && l != NULL && l->sku != NULL);
	if (in_sorted(l->sku, p->excluded_skus, p->n_excluded_skus))
		return false;
	if (l->category && l->category[0] &&
	    in_sorted(l->category, p->excluded_categories, p->n_excluded_categories))
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

/* The step with the largest min_subtotal not above subtotal, or NULL. */
static const struct kp_step *highest_step(const struct kp_step *steps, size_t n, int64_t subtotal)
{
	const struct kp_step *best = NULL;

	assert(n == 0 || steps != NULL);
	assert(subtotal >= 0);
	for (size_t i = 0; i < n && steps[i].min_subtotal <= subtotal; i++)
		best = &steps[i];
	return best;
}

/* Discounts do not stack: the higher of discount.percent and the step wins, ties to the base. */
static struct rate discount_rate(const struct kp_program *p, int64_t subtotal)
{
	struct rate r = {p->discount_percent_bp, rule_discount};
	const struct kp_step *s = highest_step(p->discount_steps, p->n_discount_steps, subtotal);

	if (s && s->percent_bp > r.bp) {
		r.bp = s->percent_bp;
		r.rule_id = s->rule_id;
	}
	assert(r.bp >= 0 && r.bp <= KP_BP_ONE);
	return r;
}

/* An earn step replaces earn.percent (rules.h step 6), even when it is lower. */
static struct rate earn_rate(const struct kp_program *p, const struct kp_member_in *member,
			     int64_t subtotal)
{
	struct rate r = {p->earn_percent_bp, rule_base};
	const struct kp_step *s = highest_step(p->earn_steps, p->n_earn_steps, subtotal);

	if (member == NULL) {
		r.bp = 0;
		r.rule_id = NULL;
	} else if (s && s->percent_bp > r.bp) {
		/* the best applicable rate (DESIGN.md step 6): a step never lowers it */
		r.bp = s->percent_bp;
		r.rule_id = s->rule_id;
	}
	assert(r.bp >= 0 && r.bp <= KP_BP_ONE);
	return r;
}

/* Step 2: ⌊Σ amount_i × pct_i / 100%⌋, spread with weights amount_i × pct_i. */
static int apply_discounts(size_t n, struct rate rate, struct scratch *s, struct kp_result *out)
{
	__int128 weight_sum = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		if (kp_mul(out->lines[i].amount, rate.bp, &s->weight[i]))
			return KP_EOVERFLOW;
		s->cap[i] = out->lines[i].amount;
		weight_sum += s->weight[i];
	}
	if (kp_narrow(weight_sum / KP_BP_ONE, &out->discount))
		return KP_EOVERFLOW;
	err = kp_rules_allocate(out->discount, s->weight, s->cap, n, s->share);
	assert(err == 0); /* discount ≤ subtotal = Σ caps, and W > 0 whenever discount > 0 */
	for (size_t i = 0; i < n; i++) {
		out->lines[i].discount = s->share[i];
		out->lines[i].discount_bp = rate.bp;
	}
	assert(out->discount >= 0 && out->discount <= out->subtotal);
	return err;
}

/*
 * The redemption cap (rules.h step 3). Fills s->weight with e_i (0 for an
 * excluded line) and s->cap with ⌊e_i / point_value⌋: taking the minimum with
 * Σ ⌊e_i / point_value⌋ means a point never splits across lines, so no line
 * pays a negative amount.
 */
static int redemption_cap(const struct kp_program *p, size_t n, struct scratch *s,
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
			    const struct kp_member_in *member, struct scratch *s,
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
			      struct scratch *s, struct kp_result *out)
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

/* Step 6: earned = round(Σ paid_i × rate_i / (100% × point_value)), rounded once. */
static int apply_earn(const struct kp_program *p, size_t n, struct rate rate, struct scratch *s,
		      struct kp_result *out)
{
	__int128 weight_sum = 0, den = (__int128)KP_BP_ONE * p->point_value;
	int err;

	for (size_t i = 0; i < n; i++) {
		if (kp_mul(out->lines[i].paid, rate.bp, &s->weight[i]))
			return KP_EOVERFLOW;
		out->lines[i].earn_bp = rate.bp;
		weight_sum += s->weight[i];
	}
	/* leave room for the rounding to add one */
	if (weight_sum / den >= INT64_MAX)
		return KP_EOVERFLOW;
	out->points_earned = kp_rules_round_div(weight_sum, den, p->rounding);
	err = kp_rules_allocate(out->points_earned, s->weight, NULL, n, s->share);
	assert(err == 0); /* earned > 0 only when Σ paid_i × rate_i > 0 */
	for (size_t i = 0; i < n; i++)
		out->lines[i].earned = s->share[i];
	assert(out->points_earned >= 0);
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

/* A rule is listed when it changed the result: it gave some line money off or points. */
static void collect_applied(size_t n, struct rate discount, struct rate earn,
			    struct kp_result *out)
{
	out->n_applied = 0;
	for (size_t i = 0; i < n; i++)
		if (out->lines[i].discount > 0)
			add_applied(out, discount.rule_id);
	for (size_t i = 0; i < n; i++)
		if (out->lines[i].earned > 0)
			add_applied(out, earn.rule_id);
	assert(out->n_applied <= 2);
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

static int evaluate_steps(const struct kp_program *p, const struct kp_basket *b,
			  const struct kp_member_in *member, struct scratch *s,
			  struct kp_result *out)
{
	struct rate discount, earn;
	int err;

	err = compute_amounts(p, b, out);
	if (err)
		return err;
	discount = discount_rate(p, out->subtotal);
	earn = earn_rate(p, member, out->subtotal);
	err = apply_discounts(b->n_lines, discount, s, out);
	if (!err)
		err = apply_redemption(p, b, member, s, out);
	if (!err)
		err = apply_certificates(p, b, s, out);
	if (!err)
		err = apply_earn(p, b->n_lines, earn, s, out);
	if (err)
		return err;
	collect_applied(b->n_lines, discount, earn, out);
	assert_invariants(p, b->n_lines, out);
	return 0;
}

int kp_rules_evaluate(const struct kp_program *program, const struct kp_basket *basket,
		      const struct kp_member_in *member, struct kp_result *out)
{
	struct scratch scratch;
	int err;

	assert_program(program);
	assert(basket != NULL);
	assert(out != NULL && out->lines != NULL);
	clear_result(out);
	err = validate_basket(basket);
	if (!err)
		err = evaluate_steps(program, basket, member, &scratch, out);
	if (err)
		clear_result(out);
	assert(err == 0 || out->n_applied == 0);
	return err;
}
