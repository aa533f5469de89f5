/*
 * discount.c — step 2 of a purchase: stamp-card free units, then one
 * percentage per line.
 *
 * Free units are a 100% discount on exactly those units (free_units × price,
 * no rounding). On the rest of the line, a_i = amount − free money, the
 * highest candidate percentage applies: discount.percent, the discount step
 * the subtotal reaches, the member's tier discount, then each
 * discount_percent campaign that applies to the line, in document order. A
 * later candidate replaces the winner only when strictly higher, so ties go
 * to the earlier one. Candidates never add up. The percentage part is
 * ⌊Σ a_i × pct_i / 100%⌋, spread with weights a_i × pct_i and caps a_i.
 */
#include "rules/rules.h"

#include <assert.h>

#include "rules/purchase.h"
#include "util/checked.h"

static const char rule_discount[] = "discount";

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

static void consider(struct rate *r, int64_t bp, const char *rule_id)
{
	assert(bp >= 0 && bp <= KP_BP_ONE && rule_id != NULL);
	if (bp > r->bp) {
		r->bp = bp;
		r->rule_id = rule_id;
	}
}

/* The candidates that are the same for every line: card, step, tier. */
static struct rate purchase_discount(const struct purchase *x, int64_t subtotal)
{
	const struct kp_program *p = x->p;
	struct rate r = {p->discount_percent_bp, rule_discount};
	const struct kp_step *s = highest_step(p->discount_steps, p->n_discount_steps, subtotal);

	if (s)
		consider(&r, s->percent_bp, s->rule_id);
	if (x->tier)
		consider(&r, x->tier->discount_bp, x->tier->rule_id);
	assert(r.bp >= 0 && r.bp <= KP_BP_ONE);
	return r;
}

static struct rate line_discount(const struct purchase *x, struct rate r, size_t i)
{
	const struct kp_program *p = x->p;

	for (size_t c = 0; c < p->n_campaigns; c++)
		if ((x->line_campaigns[i] >> c & 1) &&
		    p->campaigns[c].kind == KP_CAMPAIGN_DISCOUNT_PERCENT)
			consider(&r, p->campaigns[c].percent_bp, p->campaigns[c].rule_id);
	assert(r.bp >= 0 && r.bp <= KP_BP_ONE);
	return r;
}

/* a_i × pct_i weights and a_i caps; *free_money is the total of the free units. */
static int percentage_weights(struct purchase *x, struct kp_result *out, struct rate *rates,
			      int64_t *free_money, __int128 *weight_sum)
{
	struct rate base = purchase_discount(x, out->subtotal);

	*free_money = 0;
	*weight_sum = 0;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		struct kp_line_result *r = &out->lines[i];
		int64_t money, rest;

		rates[i] = line_discount(x, base, i);
		if (kp_mul(r->free_units, x->b->lines[i].price, &money) ||
		    kp_sub(r->amount, money, &rest) || kp_add(*free_money, money, free_money) ||
		    kp_mul(rest, rates[i].bp, &x->weight[i]))
			return KP_EOVERFLOW;
		assert(rest >= 0);
		r->discount = money;
		x->cap[i] = rest;
		*weight_sum += x->weight[i];
	}
	return 0;
}

int kp_rules_apply_discounts(struct purchase *x, struct kp_result *out)
{
	struct rate rates[KP_MAX_LINES];
	int64_t free_money, percentage;
	__int128 weight_sum;
	int err = percentage_weights(x, out, rates, &free_money, &weight_sum);

	if (err)
		return err;
	if (kp_narrow(weight_sum / KP_BP_ONE, &percentage) ||
	    kp_add(free_money, percentage, &out->discount))
		return KP_EOVERFLOW;
	err = kp_rules_allocate(percentage, x->weight, x->cap, x->b->n_lines, x->share);
	assert(err == 0); /* percentage ≤ Σ a_i = Σ caps, and W > 0 whenever it is > 0 */
	for (size_t i = 0; i < x->b->n_lines; i++) {
		out->lines[i].discount += x->share[i];
		out->lines[i].discount_bp = rates[i].bp;
		x->discount_rule[i] = x->share[i] > 0 ? rates[i].rule_id : NULL;
		assert(out->lines[i].discount <= out->lines[i].amount);
	}
	assert(out->discount >= 0 && out->discount <= out->subtotal);
	return err;
}
