/*
 * test_coupons.c — coupons in the arithmetic of a purchase (rules.h step 2,
 * src/rules/coupons.c).
 *
 * Every number here is worked out by hand in the comment beside it. The
 * property test at the end runs random baskets with random coupons on a set
 * of programs and checks the invariants of rules.h against a reference model
 * of the coupon step written separately from src/rules; its seed is printed
 * and KP_TEST_SEED replays it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_random.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/rules.h"
#include "util/checked.h"
#include "util/error.h"

#define SMALL_BASKET 8

struct outcome {
	struct kp_result res;
	struct kp_line_result lines[SMALL_BASKET];
};

/* The coupons and the rest of what a basket says besides its lines. */
struct extra {
	const struct kp_coupon_in *coupons;
	size_t n_coupons;
	int64_t redeem;
};

static struct kp_program *compile_ok(const char *doc)
{
	struct kp_program *p = NULL;
	char err[256] = "";
	int rc = kp_rules_program_compile(doc, strlen(doc), &p, err, sizeof err);

	if (rc != 0)
		print_error("compile failed: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
}

static int run(const struct kp_program *p, const struct kp_line_in *lines, size_t n,
	       const struct kp_member_in *member, const struct extra *ex, struct outcome *o)
{
	struct kp_basket b = {.lines = lines, .n_lines = n, .partner = "main"};

	b.coupons = ex->coupons;
	b.n_coupons = ex->n_coupons;
	b.redeem_points = ex->redeem;
	assert_true(n <= SMALL_BASKET);
	memset(o, 0, sizeof *o);
	o->res.lines = o->lines;
	return kp_rules_evaluate(p, &b, member, &o->res);
}

/* applied, as one comma-separated string, for exact comparisons of contents and order. */
static const char *applied(const struct kp_result *r, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->n_applied && used < size; i++)
		used +=
		    (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "", r->applied[i]);
	return buf;
}

#define ASSERT_APPLIED(r, expected)                                                                \
	do {                                                                                       \
		char buf_[2048];                                                                   \
		assert_string_equal(applied((r), buf_, sizeof buf_), (expected));                  \
	} while (0)

static void assert_discounts(const struct outcome *o, const int64_t *expected, size_t n)
{
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(o->lines[i].discount, expected[i]);
		sum += expected[i];
	}
	assert_int_equal(o->res.discount, sum);
}

/* ---- percent coupons ---- */

static const char silver_doc[] =
    "{\"point_value\":100,\"discount\":{\"percent\":5},"
    "\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
    "{\"name\":\"Silver\",\"min_spend\":500000,\"discount_percent\":10}]}}";

static void test_percent_on_top_of_tier(void **state)
{
	struct kp_program *p = compile_ok(silver_doc);
	struct kp_line_in lines[] = {
	    {"a", NULL, 1, 10001}, {"b", NULL, 3, 3333}, {"c", NULL, 1, 7}};
	struct kp_coupon_in c[] = {{"SPRING15", KP_COUPON_PERCENT, 1500}};
	struct kp_coupon_in with_points[] = {{"SPRING15", KP_COUPON_PERCENT, 1500},
					     {"PTS50", KP_COUPON_POINTS, 50}};
	struct kp_member_in silver = {0, 1, NULL, NULL};
	struct extra ex = {c, 1, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 3, &silver, &ex, &o), 0);
	/*
	 * subtotal 10001 + 9999 + 7 = 20007. Silver 10% beats the 5% card:
	 * ⌊2000.7⌋ = 2000 by 10001 : 9999 : 7, exact 999.75 / 999.55 / 0.70 →
	 * 999 / 999 / 0, the two units left to the largest fractions (.75, .70):
	 * 1000 / 999 / 1.
	 * Left: 9001 / 9000 / 6 = 18007. 15%: ⌊2701.05⌋ = 2701, exact 1350.13 /
	 * 1349.98 / 0.90 → 1350 / 1349 / 0, the units to .98 and .90: 1350 /
	 * 1350 / 1.
	 */
	assert_int_equal(o.res.subtotal, 20007);
	assert_discounts(&o, (const int64_t[]){2350, 2349, 2}, 3);
	assert_int_equal(o.res.coupon_value[0], 2701);
	assert_int_equal(o.lines[0].discount_bp, 1000); /* the percentage, not the coupon */
	assert_int_equal(o.res.to_pay, 20007 - 4701);
	/* ⌊15306 × 5% / 100⌋ = ⌊7.653⌋ */
	assert_int_equal(o.res.points_earned, 7);
	ASSERT_APPLIED(&o.res, "tier:Silver,coupon:SPRING15,base");
	/* docs/rules.md, "A worked example with coupons": + 50 points from PTS50 */
	ex.coupons = with_points;
	ex.n_coupons = 2;
	assert_int_equal(run(p, lines, 3, &silver, &ex, &o), 0);
	assert_discounts(&o, (const int64_t[]){2350, 2349, 2}, 3);
	assert_int_equal(o.res.points_earned, 57);
	assert_int_equal(o.res.coupon_value[0], 2701);
	assert_int_equal(o.res.coupon_value[1], 50);
	ASSERT_APPLIED(&o.res, "tier:Silver,coupon:SPRING15,coupon:PTS50,base");
	ex.coupons = c;
	ex.n_coupons = 1;
	/* the same coupon without the tier: 5% card then 15% */
	silver.tier = 0;
	assert_int_equal(run(p, lines, 3, &silver, &ex, &o), 0);
	/*
	 * 5%: ⌊1000.35⌋ = 1000, exact 499.88 / 499.78 / 0.35 → 499 / 499 / 0 and
	 * the units to .88 and .78: 500 / 500 / 0. Left 9501 / 9499 / 7 = 19007;
	 * 15%: ⌊2851.05⌋ = 2851, exact 1425.13 / 1424.83 / 1.05 → 1425 / 1424 /
	 * 1, the unit to .83: 1425 / 1425 / 1.
	 */
	assert_discounts(&o, (const int64_t[]){1925, 1925, 1}, 3);
	assert_int_equal(o.res.coupon_value[0], 2851);
	ASSERT_APPLIED(&o.res, "discount,coupon:SPRING15,base");
	kp_rules_program_free(p);
}

/* ---- amount coupons ---- */

static void test_amount_spread_and_capped(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100}");
	struct kp_line_in lines[] = {
	    {"a", NULL, 3, 1000}, {"b", NULL, 1, 1001}, {"c", NULL, 1, 0}};
	struct kp_coupon_in small[] = {{"TEN", KP_COUPON_AMOUNT, 1000}};
	struct kp_coupon_in big[] = {{"BIG", KP_COUPON_AMOUNT, 10000}};
	struct kp_member_in m = {500, -1, NULL, NULL};
	struct extra ex = {small, 1, 100};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 3, &m, &ex, &o), 0);
	/* 1000 by 3000 : 1001 : 0 = 749.81 / 250.19 / 0 → 749 / 250, the unit to .81 */
	assert_discounts(&o, (const int64_t[]){750, 250, 0}, 3);
	assert_int_equal(o.res.coupon_value[0], 1000);
	/* cap min(⌊50% × 3001 / 100⌋, 22 + 7) = 15 points */
	assert_int_equal(o.res.max_redeemable, 15);
	assert_int_equal(o.res.points_redeemed, 15);
	assert_int_equal(o.res.to_pay, 3001 - 1500);
	/* a coupon worth more than the check takes it to 0, never below */
	ex.coupons = big;
	assert_int_equal(run(p, lines, 3, &m, &ex, &o), 0);
	assert_discounts(&o, (const int64_t[]){3000, 1001, 0}, 3);
	assert_int_equal(o.res.coupon_value[0], 4001);
	assert_int_equal(o.res.max_redeemable, 0);
	assert_int_equal(o.res.points_redeemed, 0);
	assert_true(o.res.redeem_clamped);
	assert_int_equal(o.res.to_pay, 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(o.lines[i].paid, 0);
	assert_int_equal(o.res.points_earned, 0);
	ASSERT_APPLIED(&o.res, "coupon:BIG");
	kp_rules_program_free(p);
}

/* Percent then amount, and amount then percent: the order is part of the result. */
static void test_two_coupons_in_order(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}, {"b", NULL, 1, 5000}};
	struct kp_coupon_in pa[] = {{"P10", KP_COUPON_PERCENT, 1000},
				    {"A10", KP_COUPON_AMOUNT, 1000}};
	struct kp_coupon_in ap[] = {{"A10", KP_COUPON_AMOUNT, 1000},
				    {"P10", KP_COUPON_PERCENT, 1000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {pa, 2, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, &ex, &o), 0);
	/*
	 * 10% of 15000 = 1500: 1000 / 500. Left 9000 / 4500; 1000 by 2 : 1 =
	 * 666.67 / 333.33 → 666 / 333, the unit to .67: 667 / 333.
	 */
	assert_discounts(&o, (const int64_t[]){1667, 833}, 2);
	assert_int_equal(o.res.coupon_value[0], 1500);
	assert_int_equal(o.res.coupon_value[1], 1000);
	assert_int_equal(o.res.to_pay, 12500);
	ASSERT_APPLIED(&o.res, "coupon:P10,coupon:A10,base");
	ex.coupons = ap;
	assert_int_equal(run(p, lines, 2, &m, &ex, &o), 0);
	/*
	 * 1000 by 2 : 1 → 667 / 333. Left 9333 / 4667 = 14000; 10% = 1400 =
	 * 933.3 / 466.7 → 933 / 466, the unit to .7: 933 / 467.
	 */
	assert_discounts(&o, (const int64_t[]){1600, 800}, 2);
	assert_int_equal(o.res.coupon_value[0], 1000);
	assert_int_equal(o.res.coupon_value[1], 1400);
	assert_int_equal(o.res.to_pay, 12600);
	ASSERT_APPLIED(&o.res, "coupon:A10,coupon:P10,base");
	kp_rules_program_free(p);
}

/* A coupon that finds nothing left changes nothing and is not listed. */
static void test_coupon_on_nothing_left(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100,\"discount\":{\"percent\":100}}");
	struct kp_line_in lines[] = {{"a", NULL, 2, 999}};
	struct kp_coupon_in c[] = {{"P50", KP_COUPON_PERCENT, 5000}, {"A1", KP_COUPON_AMOUNT, 1}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, 2, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, &m, &ex, &o), 0);
	assert_int_equal(o.res.discount, 1998);
	assert_int_equal(o.res.coupon_value[0], 0);
	assert_int_equal(o.res.coupon_value[1], 0);
	assert_int_equal(o.res.to_pay, 0);
	ASSERT_APPLIED(&o.res, "discount");
	kp_rules_program_free(p);
}

/* The same code twice applies twice and is listed once. */
static void test_same_code_twice(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100,\"earn\":{\"percent\":0}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_coupon_in c[] = {{"X", KP_COUPON_AMOUNT, 300}, {"X", KP_COUPON_AMOUNT, 300}};
	struct extra ex = {c, 2, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, NULL, &ex, &o), 0);
	assert_int_equal(o.res.discount, 600);
	assert_int_equal(o.res.coupon_value[1], 300);
	ASSERT_APPLIED(&o.res, "coupon:X");
	kp_rules_program_free(p);
}

/* ---- points coupons ---- */

static void test_points_once_rounded_once(void **state)
{
	struct kp_program *floor_p = compile_ok("{\"point_value\":100}");
	struct kp_program *half_up = compile_ok("{\"point_value\":100,\"rounding\":\"half_up\"}");
	struct kp_program *doubled = compile_ok(
	    "{\"point_value\":100,\"campaigns\":[{\"id\":\"x2\",\"kind\":\"multiplier\","
	    "\"factor\":2,\"budget_points\":2}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1999}, {"b", NULL, 1, 1999}};
	struct kp_coupon_in c[] = {{"PTS50", KP_COUPON_POINTS, 50}, {"PTS7", KP_COUPON_POINTS, 7}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, 1, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(floor_p, lines, 2, &m, &ex, &o), 0);
	/*
	 * 5% of 3998 / 100 = 1.999, rounded once for the purchase: 1 (per line
	 * it would be 0 + 0), then + 50 unrounded. Rate part 1 by equal weights:
	 * the tie to line 0; the 50 by paid 1999 : 1999 = 25 / 25.
	 */
	assert_int_equal(o.res.points_earned, 51);
	assert_int_equal(o.lines[0].earned, 26);
	assert_int_equal(o.lines[1].earned, 25);
	assert_int_equal(o.res.coupon_value[0], 50);
	assert_int_equal(o.res.discount, 0);
	ASSERT_APPLIED(&o.res, "coupon:PTS50,base");
	assert_int_equal(run(half_up, lines, 2, &m, &ex, &o), 0);
	assert_int_equal(o.res.points_earned, 52); /* 1.999 → 2, + 50 */
	ex.n_coupons = 2;
	assert_int_equal(run(floor_p, lines, 2, &m, &ex, &o), 0);
	assert_int_equal(o.res.points_earned, 58); /* 1 + 50 + 7 */
	assert_int_equal(o.res.coupon_value[1], 7);
	ASSERT_APPLIED(&o.res, "coupon:PTS50,coupon:PTS7,base");
	/*
	 * ×2: ⌊3.998⌋ = 3, + 57, the coupons' points not doubled. The campaign
	 * adds 3 − 1 = 2 (the coupons' points are in both sides), which fits its
	 * budget of 2 exactly.
	 */
	assert_int_equal(run(doubled, lines, 2, &m, &ex, &o), 0);
	assert_int_equal(o.res.points_earned, 60);
	assert_int_equal(o.res.campaign_points[0], 2);
	ASSERT_APPLIED(&o.res, "coupon:PTS50,coupon:PTS7,base,campaign:x2");
	kp_rules_program_free(floor_p);
	kp_rules_program_free(half_up);
	kp_rules_program_free(doubled);
}

/* Nothing is paid: the points go by the lines' amounts. */
static void test_points_on_a_free_check(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 300}, {"b", NULL, 1, 100}};
	struct kp_coupon_in c[] = {{"ALL", KP_COUPON_AMOUNT, 400}, {"P", KP_COUPON_POINTS, 10}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, 2, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, &ex, &o), 0);
	assert_int_equal(o.res.to_pay, 0);
	assert_int_equal(o.res.points_earned, 10);
	/* 10 by 300 : 100 = 7.5 / 2.5 → 7 / 2, the unit to the lower index on the tie */
	assert_int_equal(o.lines[0].earned, 8);
	assert_int_equal(o.lines[1].earned, 2);
	ASSERT_APPLIED(&o.res, "coupon:ALL,coupon:P");
	kp_rules_program_free(p);
}

static void test_anonymous_points_coupon(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 100000}};
	struct kp_coupon_in c[] = {{"PTS", KP_COUPON_POINTS, 100}, {"AMT", KP_COUPON_AMOUNT, 500}};
	struct extra ex = {c, 1, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, NULL, &ex, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	assert_int_equal(o.lines[0].earned, 0);
	assert_int_equal(o.res.coupon_value[0], 0);
	assert_int_equal(o.res.to_pay, 100000);
	ASSERT_APPLIED(&o.res, "");
	/* a money coupon still applies to an anonymous purchase */
	ex.n_coupons = 2;
	assert_int_equal(run(p, lines, 1, NULL, &ex, &o), 0);
	assert_int_equal(o.res.coupon_value[0], 0);
	assert_int_equal(o.res.coupon_value[1], 500);
	assert_int_equal(o.res.to_pay, 99500);
	assert_int_equal(o.res.points_earned, 0);
	ASSERT_APPLIED(&o.res, "coupon:AMT");
	kp_rules_program_free(p);
}

/* ---- coupons and the other steps ---- */

static void test_redemption_cap_after_coupon(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100,\"burn\":{\"max_percent\":50}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}, {"b", NULL, 1, 5001}};
	struct kp_coupon_in c[] = {{"A30", KP_COUPON_AMOUNT, 3000}};
	struct kp_member_in m = {1000, -1, NULL, NULL};
	struct extra ex = {c, 1, 1000};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, &ex, &o), 0);
	/* 3000 by 10000 : 5001 = 1999.87 / 1000.13 → 1999 / 1000, the unit to .87 */
	assert_discounts(&o, (const int64_t[]){2000, 1000}, 2);
	/*
	 * e = 8000 / 4001, E = 12001: cap min(⌊60.005⌋, 80 + 40) = 60 (75 without
	 * the coupon). 60 by 8000 : 4001 = 39.997 / 20.003 → 39 / 20, the unit to
	 * .997: 40 / 20.
	 */
	assert_int_equal(o.res.max_redeemable, 60);
	assert_int_equal(o.res.points_redeemed, 60);
	assert_true(o.res.redeem_clamped);
	assert_int_equal(o.lines[0].points, 40);
	assert_int_equal(o.lines[1].points, 20);
	assert_int_equal(o.lines[0].paid, 4000);
	assert_int_equal(o.lines[1].paid, 2001);
	/* ⌊6001 × 5% / 100⌋ = ⌊3.0005⌋ */
	assert_int_equal(o.res.points_earned, 3);
	kp_rules_program_free(p);
}

static void test_excluded_lines_take_coupons(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":100,\"burn\":{\"excluded_categories\":[\"tobacco\"]}}");
	struct kp_line_in lines[] = {{"cigars", "tobacco", 1, 4000}, {"toy", "toys", 1, 6000}};
	struct kp_coupon_in c[] = {{"P10", KP_COUPON_PERCENT, 1000}};
	struct kp_member_in m = {100, -1, NULL, NULL};
	struct extra ex = {c, 1, 100};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, &ex, &o), 0);
	assert_discounts(&o, (const int64_t[]){400, 600}, 2);
	assert_false(o.lines[0].redeemable);
	/* only the toy is eligible: min(⌊50% × 5400 / 100⌋, 54) = 27, all on the toy */
	assert_int_equal(o.res.points_redeemed, 27);
	assert_int_equal(o.lines[0].points, 0);
	assert_int_equal(o.lines[1].points, 27);
	assert_int_equal(o.lines[0].paid, 3600);
	assert_int_equal(o.lines[1].paid, 2700);
	kp_rules_program_free(p);
}

/* A stamp card's free unit is gone before the coupon: a coupon takes a share of the rest. */
static void test_coupon_after_stamps(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":100,\"stamps\":[{\"id\":\"coffee\",\"skus\":[\"latte\"],"
	    "\"every\":3}]}");
	struct kp_line_in lines[] = {{"latte", NULL, 3, 300}, {"bun", NULL, 1, 200}};
	struct kp_coupon_in c[] = {{"H", KP_COUPON_PERCENT, 5000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, 1, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, &ex, &o), 0);
	/* the third latte is free (300); half of 600 / 200 = 300 / 100 */
	assert_discounts(&o, (const int64_t[]){600, 100}, 2);
	assert_int_equal(o.res.coupon_value[0], 400);
	ASSERT_APPLIED(&o.res, "stamp:coffee,coupon:H");
	kp_rules_program_free(p);
}

/* KP_MAX_COUPONS coupons with codes of KP_MAX_NAME bytes all fit in applied. */
static void test_most_coupons(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":1}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000000}};
	static char codes[KP_MAX_COUPONS][KP_MAX_NAME + 1];
	struct kp_coupon_in c[KP_MAX_COUPONS];
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, KP_MAX_COUPONS, 0};
	struct outcome o;

	(void)state;
	for (size_t k = 0; k < KP_MAX_COUPONS; k++) {
		memset(codes[k], 'a' + (int)k, KP_MAX_NAME);
		codes[k][KP_MAX_NAME] = '\0';
		c[k] = (struct kp_coupon_in){codes[k], (enum kp_coupon_kind)(k % 3), 100};
	}
	assert_int_equal(run(p, lines, 1, &m, &ex, &o), 0);
	assert_int_equal(o.res.n_applied, KP_MAX_COUPONS + 1);
	for (size_t k = 0; k < KP_MAX_COUPONS; k++) {
		assert_int_equal(strncmp(o.res.applied[k], "coupon:", 7), 0);
		assert_string_equal(o.res.applied[k] + 7, codes[k]);
		assert_true(o.res.coupon_value[k] > 0);
	}
	assert_string_equal(o.res.applied[KP_MAX_COUPONS], "base");
	kp_rules_program_free(p);
}

/* ---- refused ---- */

static void expect_refused(const struct kp_program *p, const struct kp_coupon_in *c, size_t n,
			   int expected)
{
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, n, 0};
	struct outcome o;

	assert_int_equal(run(p, lines, 1, &m, &ex, &o), expected);
	assert_int_not_equal(expected, 0);
	/* nothing in a refused result looks valid */
	assert_int_equal(o.res.n_applied, 0);
	assert_int_equal(o.res.discount, 0);
	assert_int_equal(o.res.points_earned, 0);
	for (size_t k = 0; k < KP_MAX_COUPONS; k++)
		assert_int_equal(o.res.coupon_value[k], 0);
}

static void expect_whole_check(const struct kp_program *p, const struct kp_coupon_in *c, size_t n)
{
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {c, n, 0};
	struct outcome o;

	assert_int_equal(run(p, lines, 1, &m, &ex, &o), 0);
	assert_int_equal(o.res.discount, 1000);
	assert_int_equal(o.res.coupon_value[0], 1000);
	assert_int_equal(o.res.to_pay, 0);
}

static void test_refused(void **state)
{
	struct kp_program *p = compile_ok("{}");
	static char longest[KP_MAX_NAME + 2];
	struct kp_coupon_in ok = {"OK", KP_COUPON_AMOUNT, 1};
	struct kp_coupon_in many[KP_MAX_COUPONS + 1];
	const struct kp_coupon_in bad[] = {
	    {NULL, KP_COUPON_AMOUNT, 1},
	    {"", KP_COUPON_AMOUNT, 1},
	    {longest, KP_COUPON_AMOUNT, 1}, /* KP_MAX_NAME + 1 bytes */
	    {"P", KP_COUPON_PERCENT, 0},
	    {"P", KP_COUPON_PERCENT, 10001},
	    {"P", KP_COUPON_PERCENT, -1},
	    {"A", KP_COUPON_AMOUNT, 0},
	    {"A", KP_COUPON_AMOUNT, INT64_MIN},
	    {"B", KP_COUPON_POINTS, 0},
	    {"B", KP_COUPON_POINTS, -5},
	    {"K", (enum kp_coupon_kind)7, 1},
	};
	struct kp_coupon_in pair[2];

	(void)state;
	memset(longest, 'x', KP_MAX_NAME + 1);
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		expect_refused(p, &bad[k], 1, KP_EINVAL);
		/* also behind a good one: the whole basket is refused */
		pair[0] = ok;
		pair[1] = bad[k];
		expect_refused(p, pair, 2, KP_EINVAL);
	}
	for (size_t k = 0; k <= KP_MAX_COUPONS; k++)
		many[k] = ok;
	expect_refused(p, many, KP_MAX_COUPONS + 1, KP_EINVAL);
	expect_refused(p, NULL, 1, KP_EINVAL);
	/* the edges themselves are fine: each takes the whole 1000 */
	longest[KP_MAX_NAME] = '\0';
	expect_whole_check(p, &(const struct kp_coupon_in){longest, KP_COUPON_PERCENT, 10000}, 1);
	expect_whole_check(p, &(const struct kp_coupon_in){"A", KP_COUPON_AMOUNT, INT64_MAX}, 1);
	many[0].value = 1000;
	expect_whole_check(p, many, KP_MAX_COUPONS);
	kp_rules_program_free(p);
}

/* Points coupons bounded only by int64_t: a total that does not fit is KP_EOVERFLOW. */
static void test_points_overflow(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":1}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_coupon_in two[] = {{"A", KP_COUPON_POINTS, INT64_MAX},
				     {"B", KP_COUPON_POINTS, 1}};
	struct kp_coupon_in one[] = {{"A", KP_COUPON_POINTS, INT64_MAX}};
	struct kp_coupon_in fits[] = {{"A", KP_COUPON_POINTS, INT64_MAX - 50}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct extra ex = {two, 2, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, &m, &ex, &o), KP_EOVERFLOW);
	assert_int_equal(o.res.n_applied, 0);
	/* 5% of 1000 is 50 points more: one too many */
	ex = (struct extra){one, 1, 0};
	assert_int_equal(run(p, lines, 1, &m, &ex, &o), KP_EOVERFLOW);
	ex = (struct extra){fits, 1, 0};
	assert_int_equal(run(p, lines, 1, &m, &ex, &o), 0);
	assert_int_equal(o.res.points_earned, INT64_MAX);
	/* anonymous: nothing is credited, so nothing overflows */
	ex = (struct extra){two, 2, 0};
	assert_int_equal(run(p, lines, 1, NULL, &ex, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	kp_rules_program_free(p);
}

/* ---- property test ---- */

#define PROPERTY_RUNS 20000
#define PROPERTY_LINES 24
#define PROPERTY_COUPONS 6
#define POOL 5


static const char *const skus[POOL] = {"s0", "s1", "s2", "s3", "s4"};
static const char *const categories[POOL] = {"c0", "c1", "c2", "c3", "c4"};
static const char *const codes[KP_MAX_COUPONS] = {
    "C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9",
    "C10", "C11", "C12", "C13", "C14", "C15", "C16", "C17", "C18", "C19"};

/* Programs that exercise every step before and after the coupons. */
static const char *const property_docs[] = {
    "{}",
    "{\"point_value\":1,\"rounding\":\"half_up\",\"discount\":{\"percent\":5,"
    "\"check_steps\":[{\"min_subtotal\":30000,\"percent\":7.5}]},"
    "\"burn\":{\"max_percent\":100,\"excluded_categories\":[\"c1\"]},"
    "\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
    "{\"name\":\"Gold\",\"min_spend\":1000,\"discount_percent\":12.5,\"earn_percent\":7}]}}",
    "{\"point_value\":7,\"rounding\":\"ceil\",\"burn\":{\"max_percent\":30},"
    "\"campaigns\":[{\"id\":\"d\",\"kind\":\"discount_percent\",\"percent\":20,"
    "\"categories\":[\"c2\"]},{\"id\":\"bp\",\"kind\":\"bonus_points\",\"points\":200,"
    "\"budget_points\":300},{\"id\":\"x\",\"kind\":\"multiplier\",\"factor\":1.5},"
    "{\"id\":\"b\",\"kind\":\"bonus_percent\",\"percent\":3,\"skus\":[\"s3\"]}],"
    "\"stamps\":[{\"id\":\"k\",\"skus\":[\"s0\"],\"every\":3}]}",
    "{\"point_value\":100,\"discount\":{\"percent\":100}}",
    "{\"point_value\":1000,\"earn\":{\"percent\":0},\"burn\":{\"excluded_skus\":[\"s1\"]},"
    "\"stamps\":[{\"id\":\"k\",\"skus\":[\"s1\",\"s2\"],\"every\":2}]}",
};
#define N_DOCS (sizeof property_docs / sizeof property_docs[0])

struct property_case {
	unsigned seed;
	int iteration;
	const struct kp_program *p;
	struct kp_basket b;
	const struct kp_member_in *m;
	struct kp_result r;	/* with every coupon */
	struct kp_result base;	/* without coupons */
	struct kp_result money; /* without the points coupons */
	struct kp_line_result lines[3][PROPERTY_LINES];
	struct kp_coupon_in coupons[KP_MAX_COUPONS];
	struct kp_coupon_in money_coupons[KP_MAX_COUPONS];
	size_t n_money;
};

#define CHECK(c, cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("seed=%u iteration=%d: %s\n", (c)->seed, (c)->iteration,       \
				    #cond);                                                        \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

static size_t random_basket(struct rng *g, struct kp_line_in *lines)
{
	size_t n = (size_t)(chance(g, 10) ? pick(g, 1, PROPERTY_LINES) : pick(g, 1, 6));

	for (size_t i = 0; i < n; i++) {
		int64_t c = pick(g, 0, POOL);

		lines[i].sku = skus[pick(g, 0, POOL - 1)];
		lines[i].category = c < POOL ? categories[c] : NULL;
		lines[i].qty = chance(g, 3) ? pick(g, 1, KP_MAX_QTY) : pick(g, 1, 12);
		lines[i].price = chance(g, 5)	? 0
				 : chance(g, 3) ? pick(g, 0, KP_MAX_PRICE)
						: pick(g, 1, 300000);
	}
	return n;
}

static struct kp_coupon_in random_coupon(struct rng *g, size_t k)
{
	struct kp_coupon_in c = {codes[k], (enum kp_coupon_kind)pick(g, 0, 2), 0};

	switch (c.kind) {
	case KP_COUPON_PERCENT:
		c.value = chance(g, 50) ? pick(g, 1, 50) * 100 : pick(g, 1, KP_BP_ONE);
		break;
	case KP_COUPON_AMOUNT:
		c.value = chance(g, 10)	  ? pick(g, 1, INT64_MAX)
			  : chance(g, 50) ? pick(g, 1, 5000)
					  : pick(g, 1, 1000000);
		break;
	case KP_COUPON_POINTS:
		c.value = chance(g, 10) ? pick(g, 1, 1000000000000LL) : pick(g, 1, 1000);
		break;
	}
	return c;
}

static size_t random_coupons(struct rng *g, struct property_case *c)
{
	size_t n = (size_t)(chance(g, 5)    ? pick(g, 0, KP_MAX_COUPONS)
			    : chance(g, 15) ? 0
					    : pick(g, 1, PROPERTY_COUPONS));

	c->n_money = 0;
	for (size_t k = 0; k < n; k++) {
		c->coupons[k] = random_coupon(g, k);
		if (c->coupons[k].kind != KP_COUPON_POINTS)
			c->money_coupons[c->n_money++] = c->coupons[k];
	}
	return n;
}

/* Evaluate c->b with these coupons into r (lines from slot). */
static int evaluate_with(struct property_case *c, const struct kp_coupon_in *coupons, size_t n,
			 struct kp_result *r, size_t slot)
{
	struct kp_basket b = c->b;

	b.coupons = coupons;
	b.n_coupons = n;
	memset(r, 0, sizeof *r);
	r->lines = c->lines[slot];
	return kp_rules_evaluate(c->p, &b, c->m, r);
}

/* The invariants of rules.h, read off the result alone. */
static void check_invariants(const struct property_case *c, const struct kp_result *r)
{
	__int128 discount = 0, points = 0, certificates = 0, paid = 0, earned = 0;
	const int64_t pv = c->p->point_value;

	for (size_t i = 0; i < c->b.n_lines; i++) {
		const struct kp_line_result *l = &r->lines[i];

		CHECK(c, l->amount == c->b.lines[i].qty * c->b.lines[i].price);
		CHECK(c, l->discount >= 0 && l->discount <= l->amount);
		CHECK(c, l->paid >= 0);
		CHECK(c, l->paid == l->amount - l->discount - l->points * pv - l->certificates);
		CHECK(c, l->earned >= 0);
		discount += l->discount;
		points += l->points;
		certificates += l->certificates;
		paid += l->paid;
		earned += l->earned;
	}
	CHECK(c, discount == r->discount && points == r->points_redeemed);
	CHECK(c, certificates == r->certificates && paid == r->to_pay);
	CHECK(c, earned == r->points_earned);
	CHECK(c, r->to_pay ==
		     r->subtotal - r->discount - r->points_redeemed * pv - r->certificates);
}

/* The redemption cap on what every discount, coupons included, left (rules.h step 3). */
static void check_redemption(const struct property_case *c)
{
	const struct kp_result *r = &c->r;
	__int128 eligible = 0;
	int64_t whole = 0, cap, max = 0;

	for (size_t i = 0; i < c->b.n_lines; i++) {
		const struct kp_line_result *l = &r->lines[i];

		if (!l->redeemable) {
			CHECK(c, l->points == 0);
			continue;
		}
		eligible += l->amount - l->discount;
		whole += (l->amount - l->discount) / c->p->point_value;
		CHECK(c, l->points <= (l->amount - l->discount) / c->p->point_value);
	}
	cap = (int64_t)(eligible * c->p->burn_max_percent_bp /
			((__int128)KP_BP_ONE * c->p->point_value));
	cap = cap < whole ? cap : whole;
	if (c->m && c->m->available > 0)
		max = cap < c->m->available ? cap : c->m->available;
	CHECK(c, r->max_redeemable == max);
	CHECK(c, r->points_redeemed == (c->b.redeem_points < max ? c->b.redeem_points : max));
}

/*
 * The reference spread: ⌊total × w_i / W⌋ capped, then one unit each by
 * largest remainder (ties to the lower index) to parts below their cap, then
 * in index order. Quadratic, and written apart from allocate.c.
 */
static void model_spread(int64_t total, const int64_t *w, const int64_t *cap, size_t n,
			 int64_t *out)
{
	__int128 sum = 0, rem[PROPERTY_LINES];
	bool taken[PROPERTY_LINES] = {false};
	int64_t left = total;

	for (size_t i = 0; i < n; i++)
		sum += w[i];
	for (size_t i = 0; i < n; i++) {
		__int128 share = sum ? (__int128)total * w[i] / sum : 0;

		out[i] = share > cap[i] ? cap[i] : (int64_t)share;
		rem[i] = sum ? (__int128)total * w[i] % sum : 0;
		left -= out[i];
	}
	for (size_t round = 0; round < n && left > 0; round++) {
		size_t best = n;

		for (size_t i = 0; i < n; i++)
			if (!taken[i] && (best == n || rem[i] > rem[best]))
				best = i;
		taken[best] = true;
		if (out[best] < cap[best]) {
			out[best]++;
			left--;
		}
	}
	for (size_t i = 0; i < n && left > 0; i++) {
		int64_t give = cap[i] - out[i] < left ? cap[i] - out[i] : left;

		out[i] += give;
		left -= give;
	}
}

/*
 * From the result without coupons, the model applies the coupons in order
 * and must land on the same line discounts and coupon values.
 */
static void check_coupon_discounts(const struct property_case *c)
{
	int64_t disc[PROPERTY_LINES], left[PROPERTY_LINES], w[PROPERTY_LINES], s[PROPERTY_LINES];
	__int128 coupon_money = 0;
	size_t n = c->b.n_lines;

	for (size_t i = 0; i < n; i++)
		disc[i] = c->base.lines[i].discount;
	for (size_t k = 0; k < c->b.n_coupons; k++) {
		const struct kp_coupon_in *cp = &c->coupons[k];
		__int128 left_sum = 0, wsum = 0;
		int64_t d;

		if (cp->kind == KP_COUPON_POINTS) {
			CHECK(c, c->r.coupon_value[k] == (c->m ? cp->value : 0));
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			left[i] = c->base.lines[i].amount - disc[i];
			w[i] = cp->kind == KP_COUPON_PERCENT ? left[i] * cp->value : left[i];
			left_sum += left[i];
			wsum += w[i];
		}
		if (cp->kind == KP_COUPON_PERCENT)
			d = (int64_t)(wsum / KP_BP_ONE);
		else
			d = left_sum < cp->value ? (int64_t)left_sum : cp->value;
		model_spread(d, w, left, n, s);
		for (size_t i = 0; i < n; i++)
			disc[i] += s[i];
		CHECK(c, c->r.coupon_value[k] == d);
		coupon_money += d;
	}
	for (size_t i = 0; i < n; i++)
		CHECK(c, c->r.lines[i].discount == disc[i]);
	/* Σ coupon money = the discount beyond the stamp and percentage discounts */
	CHECK(c, coupon_money == (__int128)c->r.discount - c->base.discount);
	for (size_t i = 0; i < n; i++)
		CHECK(c, c->r.lines[i].discount_bp == c->base.lines[i].discount_bp);
}

/* Points coupons add exactly their points to the earned total, once; nothing else moves. */
static void check_coupon_points(const struct property_case *c)
{
	int64_t points = 0;

	for (size_t k = 0; k < c->b.n_coupons; k++)
		if (c->coupons[k].kind == KP_COUPON_POINTS && c->m)
			points += c->coupons[k].value;
	CHECK(c, c->r.points_earned - c->money.points_earned == points);
	CHECK(c, c->r.to_pay == c->money.to_pay && c->r.discount == c->money.discount);
	CHECK(c, c->r.points_redeemed == c->money.points_redeemed);
	for (size_t k = 0; k < KP_MAX_CAMPAIGNS; k++)
		CHECK(c, c->r.campaign_points[k] == c->money.campaign_points[k]);
	if (!c->m)
		CHECK(c, c->r.points_earned == 0);
}

static bool is_coupon_id(const char *id)
{
	return strncmp(id, "coupon:", 7) == 0;
}

/*
 * applied: the coupons with a value > 0, in basket order, right after the
 * discount and stamp ids (the same as without coupons), and no discount or
 * stamp id after them.
 */
static void check_applied(const struct property_case *c)
{
	const struct kp_result *r = &c->r;
	size_t first = 0, j;

	while (first < r->n_applied && !is_coupon_id(r->applied[first]))
		first++;
	j = first;
	for (size_t k = 0; k < c->b.n_coupons; k++) {
		if (c->r.coupon_value[k] == 0)
			continue;
		CHECK(c, j < r->n_applied);
		CHECK(c, strcmp(r->applied[j] + 7, c->coupons[k].code) == 0);
		j++;
	}
	for (size_t i = 0; i < first; i++) {
		CHECK(c, i < c->base.n_applied);
		CHECK(c, strcmp(r->applied[i], c->base.applied[i]) == 0);
	}
	for (size_t i = j; i < r->n_applied; i++) {
		CHECK(c, !is_coupon_id(r->applied[i]));
		CHECK(c, strncmp(r->applied[i], "stamp:", 6) != 0);
		CHECK(c, strncmp(r->applied[i], "discount", 8) != 0);
	}
}

static void run_property_case(struct rng *g, struct property_case *c,
			      struct kp_program *const *programs, struct kp_line_in *lines)
{
	static int64_t stamps[KP_MAX_STAMPS];
	struct kp_member_in member = {pick(g, -100, 30000), -1, NULL, NULL};

	c->p = programs[pick(g, 0, (int64_t)N_DOCS - 1)];
	memset(&c->b, 0, sizeof c->b);
	c->b.lines = lines;
	c->b.n_lines = random_basket(g, lines);
	c->b.redeem_points = chance(g, 30) ? 0 : pick(g, 0, 20000);
	c->b.certificate_funds = chance(g, 70) ? 0 : pick(g, 0, 500000);
	c->b.partner = "main";
	c->b.coupons = c->coupons;
	c->b.n_coupons = random_coupons(g, c);
	member.tier = (int)pick(g, -1, (int64_t)c->p->n_tiers - 1);
	for (size_t k = 0; k < c->p->n_stamps; k++)
		stamps[k] = pick(g, 0, c->p->stamps[k].every - 1);
	member.stamps = chance(g, 20) ? NULL : stamps;
	c->m = chance(g, 15) ? NULL : &member;
	CHECK(c, evaluate_with(c, c->coupons, c->b.n_coupons, &c->r, 0) == 0);
	CHECK(c, evaluate_with(c, NULL, 0, &c->base, 1) == 0);
	CHECK(c, evaluate_with(c, c->money_coupons, c->n_money, &c->money, 2) == 0);
	check_invariants(c, &c->r);
	check_invariants(c, &c->money);
	check_coupon_discounts(c);
	check_redemption(c);
	check_coupon_points(c);
	check_applied(c);
}

static void test_property_coupons(void **state)
{
	unsigned seed = property_seed();
	struct rng g = {seed};
	static struct property_case c;
	struct kp_line_in lines[PROPERTY_LINES];
	struct kp_program *programs[N_DOCS];

	(void)state;
	printf("seed=%u\n", seed);
	for (size_t d = 0; d < N_DOCS; d++)
		programs[d] = compile_ok(property_docs[d]);
	c.seed = seed;
	for (int i = 0; i < PROPERTY_RUNS; i++) {
		c.iteration = i;
		run_property_case(&g, &c, programs, lines);
	}
	for (size_t d = 0; d < N_DOCS; d++)
		kp_rules_program_free(programs[d]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percent_on_top_of_tier),
	    cmocka_unit_test(test_amount_spread_and_capped),
	    cmocka_unit_test(test_two_coupons_in_order),
	    cmocka_unit_test(test_coupon_on_nothing_left),
	    cmocka_unit_test(test_same_code_twice),
	    cmocka_unit_test(test_points_once_rounded_once),
	    cmocka_unit_test(test_points_on_a_free_check),
	    cmocka_unit_test(test_anonymous_points_coupon),
	    cmocka_unit_test(test_redemption_cap_after_coupon),
	    cmocka_unit_test(test_excluded_lines_take_coupons),
	    cmocka_unit_test(test_coupon_after_stamps),
	    cmocka_unit_test(test_most_coupons),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_points_overflow),
	    cmocka_unit_test(test_property_coupons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
