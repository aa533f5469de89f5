/*
 * coupons.c — the end of step 2 of a purchase: coupons on top of the stamp
 * and percentage discounts (DESIGN.md: "Coupon discounts then apply on top").
 *
 * Coupons apply one after another in basket order, each on what the
 * discounts before it left of each line, a'_i = amount_i − discount_i. So a
 * 10% coupon after a 500.00 coupon takes 10% of the rest, and the other way
 * round it does not: the order is the caller's and part of the result.
 *   percent: d = ⌊Σ a'_i × bp / 100%⌋, spread with weights a'_i × bp;
 *   amount:  d = min(value, Σ a'_i), spread with weights a'_i;
 * both with caps a'_i, so no line's discount passes its amount. A points
 * coupon takes no money: its points join the fixed bonus points that earn.c
 * adds once to the rounded total, and only for a member — the engine refuses
 * such a coupon on an anonymous purchase, but if one gets here it credits
 * nothing rather than points no one can hold.
 *
 * The rule id "coupon:<code>" is built into out->coupon_rule_id: the code is
 * borrowed from the basket only for the call, and an evaluation allocates
 * nothing. Bounds: a'_i ≤ 1e14 and bp ≤ 1e4 keep a'_i × bp below 2^63, and
 * the sums are __int128; every step is still checked.
 */
#include "rules/rules.h"

#include <assert.h>
#include <string.h>

#include "rules/purchase.h"
#include "util/checked.h"

static const char coupon_prefix[] = "coupon:";

_Static_assert(KP_COUPON_ID_SIZE == sizeof coupon_prefix + KP_MAX_NAME, "coupon:<code> fits");

static bool value_in_range(const struct kp_coupon_in *c)
{
	switch (c->kind) {
	case KP_COUPON_PERCENT:
		return c->value >= 1 && c->value <= KP_BP_ONE;
	case KP_COUPON_AMOUNT:
	case KP_COUPON_POINTS:
		return c->value >= 1;
	}
	return false; /* a kind outside the enum: the caller's bytes, not ours */
}

int kp_rules_validate_coupons(const struct kp_basket *b)
{
	assert(b != NULL);
	if (b->n_coupons > KP_MAX_COUPONS || (b->n_coupons > 0 && b->coupons == NULL))
		return KP_EINVAL;
	for (size_t k = 0; k < b->n_coupons; k++) {
		const struct kp_coupon_in *c = &b->coupons[k];
		size_t len;

		if (c->code == NULL)
			return KP_EINVAL;
		/* strnlen: a code without its NUL is read no further than the limit */
		len = strnlen(c->code, KP_MAX_NAME + 1);
		if (len < 1 || len > KP_MAX_NAME || !value_in_range(c))
			return KP_EINVAL;
	}
	return 0;
}

/* "coupon:<code>" into out->coupon_rule_id[k]; the code was validated. */
static void set_rule_id(struct kp_result *out, size_t k, const char *code)
{
	char *id = out->coupon_rule_id[k];
	size_t len = strnlen(code, KP_MAX_NAME + 1);

	assert(len >= 1 && len <= KP_MAX_NAME);
	memcpy(id, coupon_prefix, sizeof coupon_prefix - 1);
	memcpy(id + sizeof coupon_prefix - 1, code, len);
	id[sizeof coupon_prefix - 1 + len] = '\0';
}

/* x->cap[i] = a'_i, what is left of line i; *total = Σ a'_i (≤ subtotal). */
static void fill_left(struct purchase *x, const struct kp_result *out, int64_t *total)
{
	*total = 0;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		const struct kp_line_result *r = &out->lines[i];

		assert(r->discount >= 0 && r->discount <= r->amount);
		x->cap[i] = r->amount - r->discount;
		*total += x->cap[i]; /* Σ a'_i ≤ subtotal, which fits */
	}
	assert(*total >= 0 && *total <= out->subtotal);
}

/* The money coupon c takes off; fills x->weight with its spreading weights. */
static int coupon_money(struct purchase *x, const struct kp_coupon_in *c, int64_t left_total,
			int64_t *money)
{
	__int128 weight_sum = 0;

	assert(c->kind == KP_COUPON_PERCENT || c->kind == KP_COUPON_AMOUNT);
	if (c->kind == KP_COUPON_AMOUNT) {
		for (size_t i = 0; i < x->b->n_lines; i++)
			x->weight[i] = x->cap[i];
		*money = kp_min64(c->value, left_total);
		return 0;
	}
	for (size_t i = 0; i < x->b->n_lines; i++) {
		if (kp_mul(x->cap[i], c->value, &x->weight[i]))
			return KP_EOVERFLOW;
		weight_sum += x->weight[i];
	}
	if (kp_narrow(weight_sum / KP_BP_ONE, money))
		return KP_EOVERFLOW;
	assert(*money <= left_total); /* bp ≤ 100% */
	return 0;
}

/* Spread money over the lines (weights and caps already in x) and count it as discount. */
static int take_off(struct purchase *x, struct kp_result *out, int64_t money)
{
	int err = kp_rules_allocate(money, x->weight, x->cap, x->b->n_lines, x->share);

	/* money ≤ Σ caps, and some weight is > 0 whenever money > 0 */
	assert(err == 0);
	if (err || kp_add(out->discount, money, &out->discount))
		return err ? err : KP_EOVERFLOW;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		out->lines[i].discount += x->share[i];
		assert(out->lines[i].discount <= out->lines[i].amount);
	}
	return 0;
}

/* One coupon: *value is its coupon_value (money taken off, or points added). */
static int apply_one(struct purchase *x, struct kp_result *out, const struct kp_coupon_in *c,
		     int64_t *value)
{
	int64_t left_total;
	int err;

	*value = 0;
	if (c->kind == KP_COUPON_POINTS) {
		if (!x->m)
			return 0; /* anonymous: no one to credit */
		if (kp_add(x->coupon_points, c->value, &x->coupon_points))
			return KP_EOVERFLOW;
		*value = c->value;
		return 0;
	}
	fill_left(x, out, &left_total);
	err = coupon_money(x, c, left_total, value);
	if (!err)
		err = take_off(x, out, *value);
	assert(err || (*value >= 0 && *value <= left_total));
	return err;
}

int kp_rules_apply_coupons(struct purchase *x, struct kp_result *out)
{
	const struct kp_basket *b = x->b;

	assert(b->n_coupons <= KP_MAX_COUPONS);
	x->coupons_used = 0;
	x->coupon_points = 0;
	for (size_t k = 0; k < b->n_coupons; k++) {
		int err = apply_one(x, out, &b->coupons[k], &out->coupon_value[k]);

		if (err)
			return err;
		set_rule_id(out, k, b->coupons[k].code);
		if (out->coupon_value[k] > 0)
			x->coupons_used |= (uint32_t)1 << k;
	}
	assert(out->discount >= 0 && out->discount <= out->subtotal);
	assert(x->coupon_points >= 0);
	return 0;
}
