/*
 * earn.c — step 6 of a purchase: points earned, with tiers, campaigns and
 * campaign budgets.
 *
 * A line's rate is rate_i = (base + Σ bonus_i) × Π factor_i, where base is
 * the best of earn.percent, the earn step the subtotal reaches and the
 * member's tier earn_percent (ties to the earlier), bonus_i the
 * bonus_percent campaigns that apply to the line and factor_i its
 * multiplier campaigns. Factors have two decimals and a program has at most
 * KP_MAX_MULTIPLIERS of them, so rates are kept exactly as integers in
 * bp × RATE_SCALE (100 per multiplier). Then
 *   E = round(Σ paid_i × rate_i / (100% × point_value)) + Σ bonus points,
 * rounded once. The bonus points are the bonus_points campaigns' and the
 * points coupons' (coupons.c); a coupon's are in E with and without any
 * campaign, so they never count in a campaign's contribution or budget.
 * A campaign's contribution is E(active) − E(active without it); a
 * budgeted campaign whose contribution does not fit in what is left of its
 * budget is dropped. Dropping one can change the others'
 * contributions, so the pass over the campaigns (document order) repeats
 * until it drops nothing: then every kept budgeted campaign fits.
 *
 * Bounds: base + Σ bonus ≤ 100% + 64 × 100% = 650,000 bp, times 1000^4 for
 * four ×10 factors is 6.5e17 < 2^63; times a line's paid (≤ 1e14) and summed
 * over 1000 lines, 6.5e34 < 2^126, which kp_rules_allocate_wide accepts.
 * A total earned that does not fit in int64_t is KP_EOVERFLOW.
 */
#include "rules/rules.h"

#include <assert.h>

#include "rules/purchase.h"
#include "util/checked.h"

#define RATE_SCALE 100000000LL /* 100^KP_MAX_MULTIPLIERS */
_Static_assert(KP_MAX_MULTIPLIERS == 4, "RATE_SCALE is 100 per multiplier");

static const char rule_base[] = "base";
static const char rule_partner[] = "partner";

/* Lines that have the same campaigns earn at the same rate: E sums per group. */
struct group {
	uint64_t campaigns;
	int64_t paid;
};

struct earn {
	struct purchase *x;
	int64_t base_bp;
	__int128 den;	     /* 100% × RATE_SCALE × point_value */
	uint64_t candidates; /* points campaigns that apply to some line */
	struct group groups[KP_MAX_LINES];
	size_t n_groups;
};

static bool is_points(const struct kp_campaign *c)
{
	/* charity campaigns give to a fund, never to the member (kp_rules_charity) */
	return c->kind != KP_CAMPAIGN_DISCOUNT_PERCENT && c->kind != KP_CAMPAIGN_CHARITY_PERCENT;
}

static struct rate base_rate(const struct purchase *x, int64_t subtotal)
{
	const struct kp_program *p = x->p;
	struct rate r = {p->earn_percent_bp, rule_base};
	const struct kp_step *best = NULL;

	/* a coalition partner's own rate stands in for the program's earn.percent */
	if (x->b->has_partner_earn) {
		assert(x->b->partner_earn_bp >= 0 && x->b->partner_earn_bp <= KP_BP_ONE);
		r = (struct rate){x->b->partner_earn_bp, rule_partner};
	}
	assert(x->m != NULL);
	for (size_t i = 0; i < p->n_earn_steps && p->earn_steps[i].min_subtotal <= subtotal; i++)
		best = &p->earn_steps[i];
	/* the best applicable rate (DESIGN.md step 6): a step never lowers it */
	if (best && best->percent_bp > r.bp)
		r = (struct rate){best->percent_bp, best->rule_id};
	if (x->tier && x->tier->earn_bp > r.bp)
		r = (struct rate){x->tier->earn_bp, x->tier->rule_id};
	assert(r.bp >= 0 && r.bp <= KP_BP_ONE);
	return r;
}

/* The rate of a line with these campaigns, in bp × RATE_SCALE; exact. */
static int64_t scaled_rate(const struct kp_program *p, int64_t base_bp, uint64_t campaigns)
{
	int64_t bp = base_bp, product = 1, scale = RATE_SCALE;

	for (uint64_t m = campaigns; m != 0; m &= m - 1) {
		const struct kp_campaign *c = &p->campaigns[__builtin_ctzll(m)];

		if (c->kind == KP_CAMPAIGN_BONUS_PERCENT) {
			bp += c->percent_bp;
		} else if (c->kind == KP_CAMPAIGN_MULTIPLIER) {
			product *= c->factor_x100;
			scale /= 100;
		}
	}
	assert(scale >= 1 && bp <= 65 * KP_BP_ONE && product <= 1000000000000LL);
	return bp * product * scale;
}

/* The two parts of E(active): the rounded rate part and the fixed bonus points. */
static int earned_parts(const struct earn *e, uint64_t active, int64_t *rate_part, int64_t *bonus)
{
	const struct kp_program *p = e->x->p;
	__int128 w = 0;

	assert((active & ~e->candidates) == 0);
	for (size_t g = 0; g < e->n_groups; g++)
		w += (__int128)e->groups[g].paid *
		     scaled_rate(p, e->base_bp, e->groups[g].campaigns & active);
	/* leave room for the rounding to add one */
	if (w / e->den >= INT64_MAX)
		return KP_EOVERFLOW;
	*rate_part = kp_rules_round_div(w, e->den, p->rounding);
	*bonus = 0;
	for (uint64_t m = active; m != 0; m &= m - 1) {
		const struct kp_campaign *c = &p->campaigns[__builtin_ctzll(m)];

		if (c->kind == KP_CAMPAIGN_BONUS_POINTS)
			*bonus += c->points; /* ≤ 64 × 10^9 */
	}
	/* coupons' points are only bounded by int64_t */
	if (kp_add(*bonus, e->x->coupon_points, bonus))
		return KP_EOVERFLOW;
	assert(*rate_part >= 0 && *bonus >= 0);
	return 0;
}

/* E(active) − E(active without campaign c). */
static int contribution(const struct earn *e, uint64_t active, size_t c, int64_t *out)
{
	int64_t rate_with, bonus_with, rate_without, bonus_without, with, without;
	int err = earned_parts(e, active, &rate_with, &bonus_with);

	assert(active >> c & 1);
	if (!err)
		err = earned_parts(e, active & ~((uint64_t)1 << c), &rate_without, &bonus_without);
	if (err || kp_add(rate_with, bonus_with, &with) ||
	    kp_add(rate_without, bonus_without, &without))
		return err ? err : KP_EOVERFLOW;
	*out = with - without; /* both are in [0, INT64_MAX] */
	return 0;
}

static int64_t budget_left(const struct purchase *x, size_t c)
{
	const struct kp_campaign *campaign = &x->p->campaigns[c];

	assert(campaign->budget_points >= 0 && is_points(campaign));
	return x->b->campaign_budget_left ? x->b->campaign_budget_left[c] : campaign->budget_points;
}

/* Drop budgeted campaigns that do not fit, pass after pass until none is dropped. */
static int apply_budgets(const struct earn *e, uint64_t *active)
{
	const struct kp_program *p = e->x->p;
	bool dropped = true;

	/* each pass but the last drops one campaign at least: n + 1 passes suffice */
	for (size_t pass = 0; dropped && pass <= p->n_campaigns; pass++) {
		dropped = false;
		for (size_t c = 0; c < p->n_campaigns; c++) {
			int64_t added;
			int err;

			if (!(*active >> c & 1) || p->campaigns[c].budget_points < 0)
				continue;
			err = contribution(e, *active, c, &added);
			if (err)
				return err;
			if (added > budget_left(e->x, c)) {
				*active &= ~((uint64_t)1 << c);
				dropped = true;
			}
		}
	}
	assert(!dropped);
	return 0;
}

/* campaign_points: each kept campaign's contribution (0 when it lowers the total). */
static int record_contributions(const struct earn *e, uint64_t active, struct kp_result *out)
{
	for (size_t c = 0; c < e->x->p->n_campaigns; c++) {
		int64_t added;
		int err;

		if (!(active >> c & 1))
			continue;
		err = contribution(e, active, c, &added);
		if (err)
			return err;
		out->campaign_points[c] = kp_max64(added, 0);
		if (added != 0)
			e->x->points_changed |= (uint64_t)1 << c;
		assert(e->x->p->campaigns[c].budget_points < 0 ||
		       out->campaign_points[c] <= kp_max64(budget_left(e->x, c), 0));
	}
	return 0;
}

/* Group the lines by their points campaigns (in practice a handful of groups). */
static void group_lines(struct earn *e, const struct kp_result *out)
{
	const struct purchase *x = e->x;

	e->n_groups = 0;
	e->candidates = 0;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		uint64_t m = 0;
		size_t g = 0;

		for (size_t c = 0; c < x->p->n_campaigns; c++)
			if ((x->line_campaigns[i] >> c & 1) && is_points(&x->p->campaigns[c]))
				m |= (uint64_t)1 << c;
		e->candidates |= m;
		while (g < e->n_groups && e->groups[g].campaigns != m)
			g++;
		if (g == e->n_groups)
			e->groups[e->n_groups++] = (struct group){m, 0};
		e->groups[g].paid += out->lines[i].paid; /* Σ paid = to_pay fits */
	}
	assert(e->n_groups <= x->b->n_lines);
}

/*
 * The bonus points go to the lines with weights paid_i; when nothing is paid,
 * amount_i; when every amount is 0 too, equally.
 */
static void bonus_weights(struct purchase *x, const struct kp_result *out)
{
	bool any_paid = out->to_pay > 0, any_amount = out->subtotal > 0;

	for (size_t i = 0; i < x->b->n_lines; i++)
		x->weight[i] = any_paid	    ? out->lines[i].paid
			       : any_amount ? out->lines[i].amount
					    : 1;
	assert(x->b->n_lines > 0);
}

static int spread(const struct earn *e, uint64_t active, struct kp_result *out)
{
	struct purchase *x = e->x;
	int64_t rate_part, bonus;
	int err = earned_parts(e, active, &rate_part, &bonus);

	if (err || kp_add(rate_part, bonus, &out->points_earned))
		return err ? err : KP_EOVERFLOW;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		int64_t rate = scaled_rate(x->p, e->base_bp, x->line_campaigns[i] & active);

		x->wide[i] = (__int128)out->lines[i].paid * rate;
		out->lines[i].earn_bp = rate / RATE_SCALE; /* reported in whole bp, rounded down */
	}
	err = kp_rules_allocate_wide(rate_part, x->wide, x->b->n_lines, x->rate_earned);
	if (err)
		return err; /* only KP_EOVERFLOW: rate_part > 0 needs some weight > 0 */
	bonus_weights(x, out);
	err = kp_rules_allocate(bonus, x->weight, NULL, x->b->n_lines, x->share);
	assert(err == 0);
	for (size_t i = 0; i < x->b->n_lines; i++)
		out->lines[i].earned = x->rate_earned[i] + x->share[i];
	return 0;
}

int kp_rules_apply_earn(struct purchase *x, struct kp_result *out)
{
	struct earn e;
	uint64_t active;
	int err;

	x->points_changed = 0;
	for (size_t i = 0; i < x->b->n_lines; i++)
		x->rate_earned[i] = 0;
	if (!x->m) {
		x->earn_base = (struct rate){0, NULL}; /* anonymous purchases earn nothing */
		return 0;
	}
	x->earn_base = base_rate(x, out->subtotal);
	e.x = x;
	e.base_bp = x->earn_base.bp;
	e.den = (__int128)KP_BP_ONE * RATE_SCALE * x->p->point_value;
	group_lines(&e, out);
	active = e.candidates;
	err = apply_budgets(&e, &active);
	if (!err)
		err = record_contributions(&e, active, out);
	if (!err)
		err = spread(&e, active, out);
	assert(err || out->points_earned >= 0);
	return err;
}
