/*
 * allocate.c — largest-remainder allocation and rounded division.
 *
 * Every amount the rules spread over lines (discounts, points, certificates,
 * earned points) goes through kp_rules_allocate, so the lines always add up
 * to the totals. Intermediates are __int128: total × weight of two int64_t
 * values is below 2^126 and the sum of KP_MAX_LINES weights below 2^73, so
 * nothing here can overflow for any int64_t inputs. Earned points are spread
 * with weights paid × rate that can pass 2^63 (campaign multipliers), so
 * kp_rules_allocate_wide takes __int128 weights and finds each share by
 * long multiplication instead of one product. No heap: the scratch
 * space is bounded by KP_MAX_LINES and lives on the stack.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>

#include "rules/purchase.h"
#include "util/error.h"

#define WIDE_LIMIT ((__int128)1 << 126) /* Σ weights below this: 2·remainder never overflows */

/* A part's claim to one of the units left after the floors. */
struct remainder {
	__int128 rem; /* total × w_i mod W: comparable because W is common */
	size_t index;
};

/* Largest remainder first; equal remainders go to the lower index. */
static int remainder_order(const void *a, const void *b)
{
	const struct remainder *x = a;
	const struct remainder *y = b;

	assert(x->rem >= 0 && y->rem >= 0);
	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->index < y->index ? -1 : 1;
}

static int64_t cap_of(const int64_t *caps, size_t i)
{
	if (!caps)
		return INT64_MAX;
	assert(caps[i] >= 0);
	return caps[i];
}

/*
 * The floors ⌊total × w_i / W⌋, clamped to the caps. Returns the units still
 * to place and fills rems[] with each part's remainder.
 */
static __int128 place_floors(int64_t total, __int128 weight_sum, const int64_t *weights,
			     const int64_t *caps, size_t n, int64_t *out, struct remainder *rems)
{
	__int128 left = total;

	assert(weight_sum > 0);
	for (size_t i = 0; i < n; i++) {
		__int128 scaled = (__int128)total * weights[i];
		__int128 share = scaled / weight_sum;

		/* share ≤ total because w_i ≤ W */
		assert(share >= 0 && share <= total);
		if (share > cap_of(caps, i))
			share = cap_of(caps, i);
		out[i] = (int64_t)share;
		rems[i].rem = scaled % weight_sum;
		rems[i].index = i;
		left -= share;
	}
	assert(left >= 0);
	return left;
}

/* One unit each to the largest remainders, skipping parts at their cap. */
static __int128 place_remainders(__int128 left, const int64_t *caps, size_t n, int64_t *out,
				 struct remainder *rems)
{
	assert(left > 0);
	assert(n > 0);
	qsort(rems, n, sizeof rems[0], remainder_order);
	for (size_t k = 0; k < n && left > 0; k++) {
		size_t i = rems[k].index;

		if (out[i] < cap_of(caps, i)) {
			out[i]++;
			left--;
		}
	}
	assert(left >= 0);
	return left;
}

/* Whatever the caps pushed out fills the parts below their cap in index order. */
static void place_by_index(__int128 left, const int64_t *caps, size_t n, int64_t *out)
{
	assert(caps != NULL);
	for (size_t i = 0; i < n && left > 0; i++) {
		__int128 room = (__int128)caps[i] - out[i];
		__int128 give = room < left ? room : left;

		assert(room >= 0);
		out[i] += (int64_t)give;
		left -= give;
	}
	/* the caller checked total ≤ Σ caps, so everything found a place */
	assert(left == 0);
}

int kp_rules_allocate(int64_t total, const int64_t *weights, const int64_t *caps, size_t n,
		      int64_t *out)
{
	struct remainder rems[KP_MAX_LINES];
	__int128 weight_sum = 0, cap_sum = 0, left;

	assert(total >= 0);
	assert(n == 0 || (weights != NULL && out != NULL));
	if (n > KP_MAX_LINES)
		return KP_EINVAL;
	for (size_t i = 0; i < n; i++) {
		assert(weights[i] >= 0);
		weight_sum += weights[i];
		cap_sum += cap_of(caps, i);
		out[i] = 0;
	}
	if (total == 0)
		return 0;
	if (weight_sum == 0 || (caps && total > cap_sum))
		return KP_EINVAL;

	left = place_floors(total, weight_sum, weights, caps, n, out, rems);
	if (left > 0)
		left = place_remainders(left, caps, n, out, rems);
	if (left > 0)
		place_by_index(left, caps, n, out);

#ifndef NDEBUG
	__int128 sum = 0;
	for (size_t i = 0; i < n; i++) {
		assert(out[i] >= 0 && out[i] <= cap_of(caps, i));
		sum += out[i];
	}
	assert(sum == total);
#endif
	return 0;
}

/*
 * q = ⌊total × w / W⌋ and r = total × w mod W, for w ≤ W < 2^126, without the
 * 190-bit product: the bits of total are taken from the top, doubling the
 * quotient and remainder and adding w, so r stays below W throughout.
 */
static int64_t mul_div_mod(int64_t total, __int128 w, __int128 weight_sum, __int128 *rem)
{
	__int128 r = 0;
	int64_t q = 0;

	assert(total >= 0 && w >= 0 && w <= weight_sum && weight_sum < WIDE_LIMIT);
	for (int bit = 62; bit >= 0; bit--) {
		q <<= 1;
		r <<= 1;
		if (r >= weight_sum) {
			r -= weight_sum;
			q++;
		}
		if ((total >> bit) & 1) {
			r += w;
			if (r >= weight_sum) {
				r -= weight_sum;
				q++;
			}
		}
	}
	assert(r >= 0 && r < weight_sum && q <= total);
	*rem = r;
	return q;
}

int kp_rules_allocate_wide(int64_t total, const __int128 *weights, size_t n, int64_t *out)
{
	struct remainder rems[KP_MAX_LINES];
	__int128 weight_sum = 0, left = total;

	assert(total >= 0);
	assert(n <= KP_MAX_LINES && (n == 0 || (weights != NULL && out != NULL)));
	for (size_t i = 0; i < n; i++) {
		assert(weights[i] >= 0);
		if (weights[i] >= WIDE_LIMIT)
			return KP_EOVERFLOW;
		weight_sum += weights[i];
		if (weight_sum >= WIDE_LIMIT)
			return KP_EOVERFLOW;
		out[i] = 0;
	}
	if (total == 0)
		return 0;
	if (weight_sum == 0)
		return KP_EINVAL;
	for (size_t i = 0; i < n; i++) {
		out[i] = mul_div_mod(total, weights[i], weight_sum, &rems[i].rem);
		rems[i].index = i;
		left -= out[i];
	}
	/* the fractions add up to fewer than n units, so one round of remainders places them */
	if (left > 0)
		left = place_remainders(left, NULL, n, out, rems);
	assert(left == 0);
	return 0;
}

int64_t kp_rules_round_div(__int128 num, __int128 den, enum kp_rounding mode)
{
	__int128 quot, rem;

	assert(den > 0);
	assert(num >= 0);
	quot = num / den;
	rem = num % den;
	switch (mode) {
	case KP_ROUND_FLOOR:
		break;
	case KP_ROUND_HALF_UP:
		/* rem ≥ den / 2 exactly, without losing the odd half of den */
		if (rem >= den - rem)
			quot++;
		break;
	case KP_ROUND_CEIL:
		if (rem > 0)
			quot++;
		break;
	default:
		assert(!"unknown rounding mode");
	}
	/* the caller bounds num / den so the rounded quotient fits */
	assert(quot <= INT64_MAX);
	return (int64_t)quot;
}
