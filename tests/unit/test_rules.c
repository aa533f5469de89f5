/*
 * test_rules.c — the rules module: program documents, the arithmetic of a
 * purchase, and largest-remainder allocation.
 *
 * The examples come from DESIGN.md and API.md; the property test runs random
 * programs on random baskets and checks every invariant of rules.h against
 * an independent computation. Its seed is printed; KP_TEST_SEED replays it.
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

/* A basket's result with room for a small basket's lines. */
struct outcome {
	struct kp_result res;
	struct kp_line_result lines[SMALL_BASKET];
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

static int evaluate(const struct kp_program *p, const struct kp_line_in *lines, size_t n,
		    int64_t redeem, int64_t certificates, const struct kp_member_in *member,
		    struct outcome *o)
{
	struct kp_basket b = {lines, n, redeem, certificates, KP_CHANNEL_STORE, 0, "main", NULL,
			      NULL, 0, false, 0};

	assert_true(n <= SMALL_BASKET);
	memset(o, 0, sizeof *o);
	o->res.lines = o->lines;
	return kp_rules_evaluate(p, &b, member, &o->res);
}

static bool has_applied(const struct kp_result *r, const char *id)
{
	for (size_t i = 0; i < r->n_applied; i++)
		if (strcmp(r->applied[i], id) == 0)
			return true;
	return false;
}

/* The toy store of DESIGN.md: earn 5%, burn at most 50%, 1 point = 1.00. */
static const char toy_doc[] = "{\"name\":\"Toy store\",\"point_value\":100}";

/* ---- the seed examples ---- */

static void test_seed_earn(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_line_in lines[] = {{"toy", NULL, 1, 200000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.subtotal, 200000);
	assert_int_equal(o.res.to_pay, 200000);
	assert_int_equal(o.res.points_earned, 100);
	assert_int_equal(o.lines[0].earned, 100);
	assert_int_equal(o.lines[0].earn_bp, 500);
	assert_int_equal(o.res.n_applied, 1);
	assert_string_equal(o.res.applied[0], "base");
	kp_rules_program_free(p);
}

static void test_seed_redeem(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_line_in lines[] = {{"toy", NULL, 1, 100000}};
	struct kp_member_in m = {1000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 100, 0, &m, &o), 0);
	assert_int_equal(o.res.points_redeemed, 100);
	assert_int_equal(o.res.max_redeemable, 500);
	assert_false(o.res.redeem_clamped);
	assert_int_equal(o.res.to_pay, 90000);
	assert_int_equal(o.res.points_earned, 45);
	assert_int_equal(o.lines[0].points, 100);
	assert_int_equal(o.lines[0].paid, 90000);
	kp_rules_program_free(p);
}

static void test_seed_clamp(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_line_in lines[] = {{"toy", NULL, 1, 100000}};
	struct kp_member_in m = {10000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 5000, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 500);
	assert_int_equal(o.res.points_redeemed, 500);
	assert_true(o.res.redeem_clamped);
	assert_int_equal(o.res.to_pay, 50000);
	assert_int_equal(o.res.points_earned, 25);
	kp_rules_program_free(p);
}

static void test_api_example(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_line_in lines[] = {{"lego-123", "toys", 2, 349900}};
	struct kp_member_in m = {500, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 500, 0, &m, &o), 0);
	assert_int_equal(o.res.subtotal, 699800);
	assert_int_equal(o.res.discount, 0);
	assert_int_equal(o.res.points_redeemed, 500);
	/* capped by the balance of 500, the answer would say 500; with more it is 3499 */
	assert_int_equal(o.res.max_redeemable, 500);
	m.available = 100000;
	assert_int_equal(evaluate(p, lines, 1, 500, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 3499);
	assert_int_equal(o.res.certificates, 0);
	assert_int_equal(o.res.to_pay, 649800);
	assert_int_equal(o.res.points_earned, 324);
	assert_int_equal(o.lines[0].amount, 699800);
	assert_int_equal(o.lines[0].points, 500);
	assert_int_equal(o.lines[0].paid, 649800);
	assert_int_equal(o.lines[0].earned, 324);
	kp_rules_program_free(p);
}

/* The worked example of docs/rules.md, so the page cannot drift from the code. */
static void test_docs_worked_example(void **state)
{
	struct kp_program *p = compile_ok(
		"{\"name\":\"Toy store\",\"point_value\":100,"
		"\"earn\":{\"percent\":5,"
		"\"check_steps\":[{\"min_subtotal\":500000,\"percent\":7}]},"
		"\"burn\":{\"max_percent\":50,\"excluded_categories\":[\"tobacco\"]},"
		"\"discount\":{\"percent\":3,"
		"\"check_steps\":[{\"min_subtotal\":300000,\"percent\":5}]}}");
	struct kp_line_in lines[] = {
		{"lego-123", "toys", 2, 349900},
		{"cigars", "tobacco", 1, 45000},
		{"sticker", "toys", 3, 333},
	};
	static const int64_t discount[] = {34989, 2250, 50}, points[] = {3323, 0, 5};
	static const int64_t certificates[] = {88502, 11378, 120}, paid[] = {244009, 31372, 329};
	static const int64_t earned[] = {170, 22, 0};
	struct kp_member_in m = {4000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 3, 5000, 100000, &m, &o), 0);
	assert_int_equal(o.res.subtotal, 745799);
	assert_int_equal(o.res.discount, 37289);
	assert_int_equal(o.res.max_redeemable, 3328);
	assert_int_equal(o.res.points_redeemed, 3328);
	assert_true(o.res.redeem_clamped);
	assert_int_equal(o.res.certificates, 100000);
	assert_int_equal(o.res.to_pay, 275710);
	assert_int_equal(o.res.points_earned, 192);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(o.lines[i].discount, discount[i]);
		assert_int_equal(o.lines[i].points, points[i]);
		assert_int_equal(o.lines[i].certificates, certificates[i]);
		assert_int_equal(o.lines[i].paid, paid[i]);
		assert_int_equal(o.lines[i].earned, earned[i]);
	}
	assert_int_equal(o.res.n_applied, 2);
	assert_string_equal(o.res.applied[0], "discount_step:300000");
	assert_string_equal(o.res.applied[1], "earn_step:500000");
	kp_rules_program_free(p);
}

/* ---- rounding ---- */

static void test_rounding_modes(void **state)
{
	static const struct {
		const char *doc;
		int64_t on_half, on_four_tenths, on_whole;
	} cases[] = {
		{"{\"point_value\":1,\"rounding\":\"floor\"}", 1, 1, 1},
		{"{\"point_value\":1,\"rounding\":\"half_up\"}", 2, 1, 1},
		{"{\"point_value\":1,\"rounding\":\"ceil\"}", 2, 2, 1},
	};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct kp_program *p = compile_ok(cases[i].doc);
		/* 5% of 30 is 1.5 points, of 28 is 1.4, of 20 is 1 */
		struct kp_line_in half[] = {{"a", NULL, 1, 30}};
		struct kp_line_in four[] = {{"a", NULL, 2, 14}};
		struct kp_line_in whole[] = {{"a", NULL, 1, 20}};

		assert_int_equal(evaluate(p, half, 1, 0, 0, &m, &o), 0);
		assert_int_equal(o.res.points_earned, cases[i].on_half);
		assert_int_equal(evaluate(p, four, 1, 0, 0, &m, &o), 0);
		assert_int_equal(o.res.points_earned, cases[i].on_four_tenths);
		assert_int_equal(evaluate(p, whole, 1, 0, 0, &m, &o), 0);
		assert_int_equal(o.res.points_earned, cases[i].on_whole);
		kp_rules_program_free(p);
	}
}

/* Rounding happens once per purchase, not per line. */
static void test_rounding_once(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":1}");
	/* each line earns 0.9 points: per-line floors would give 0, the total gives 1 */
	struct kp_line_in lines[] = {{"a", NULL, 1, 18}, {"b", NULL, 1, 18}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 2, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.points_earned, 1);
	assert_int_equal(o.lines[0].earned + o.lines[1].earned, 1);
	assert_int_equal(o.lines[0].earned, 1); /* equal remainders: the lower index */
	kp_rules_program_free(p);
}

static void test_round_div(void **state)
{
	const __int128 big = (__int128)INT64_MAX * 3;

	(void)state;
	assert_int_equal(kp_rules_round_div(7, 2, KP_ROUND_FLOOR), 3);
	assert_int_equal(kp_rules_round_div(7, 2, KP_ROUND_HALF_UP), 4);
	assert_int_equal(kp_rules_round_div(7, 2, KP_ROUND_CEIL), 4);
	assert_int_equal(kp_rules_round_div(14, 10, KP_ROUND_FLOOR), 1);
	assert_int_equal(kp_rules_round_div(14, 10, KP_ROUND_HALF_UP), 1);
	assert_int_equal(kp_rules_round_div(14, 10, KP_ROUND_CEIL), 2);
	assert_int_equal(kp_rules_round_div(16, 10, KP_ROUND_HALF_UP), 2);
	/* an odd denominator: 3/7 < 0.5 and 4/7 > 0.5 */
	assert_int_equal(kp_rules_round_div(3, 7, KP_ROUND_HALF_UP), 0);
	assert_int_equal(kp_rules_round_div(4, 7, KP_ROUND_HALF_UP), 1);
	assert_int_equal(kp_rules_round_div(0, 5, KP_ROUND_CEIL), 0);
	assert_int_equal(kp_rules_round_div(10, 5, KP_ROUND_CEIL), 2);
	assert_int_equal(kp_rules_round_div(big, 3, KP_ROUND_FLOOR), INT64_MAX);
	assert_int_equal(kp_rules_round_div(big - 1, 3, KP_ROUND_CEIL), INT64_MAX);
}

/* ---- redemption ---- */

static void test_cap(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_program *all = compile_ok("{\"point_value\":100,\"burn\":{\"max_percent\":100}}");
	struct kp_line_in lines[] = {{"toy", NULL, 1, 100000}};
	struct kp_line_in odd[] = {{"toy", NULL, 1, 12345}};
	struct kp_member_in m = {120, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	/* the balance is below the cap */
	assert_int_equal(evaluate(p, lines, 1, 1000, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 120);
	assert_int_equal(o.res.points_redeemed, 120);
	assert_true(o.res.redeem_clamped);
	/* a debt or an empty balance redeems nothing */
	m.available = -5;
	assert_int_equal(evaluate(p, lines, 1, 10, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 0);
	assert_int_equal(o.res.points_redeemed, 0);
	assert_true(o.res.redeem_clamped);
	m.available = 0;
	assert_int_equal(evaluate(p, lines, 1, 0, 0, &m, &o), 0);
	assert_false(o.res.redeem_clamped);
	/* 100% of 123.45 is 123 whole points; the 45 kopecks are paid in money */
	m.available = 1000000;
	assert_int_equal(evaluate(all, odd, 1, 1000000, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 123);
	assert_int_equal(o.res.to_pay, 45);
	/* exactly the cap is not clamped */
	assert_int_equal(evaluate(p, lines, 1, 500, 0, &m, &o), 0);
	assert_int_equal(o.res.points_redeemed, 500);
	assert_false(o.res.redeem_clamped);
	kp_rules_program_free(p);
	kp_rules_program_free(all);
}

/* Three lines of 0.99: 50% of 2.97 is 1.485 points, but no line can take a whole point. */
static void test_small_lines_cap(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_program *all = compile_ok("{\"point_value\":100,\"burn\":{\"max_percent\":100}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 99}, {"b", NULL, 1, 99}, {"c", NULL, 1, 99}};
	struct kp_line_in pair[] = {{"a", NULL, 1, 150}, {"b", NULL, 1, 150}};
	struct kp_member_in m = {1000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 3, 1, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 0);
	assert_int_equal(o.res.points_redeemed, 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(o.lines[i].paid, 99);
	/* 100% of 3.00 would be 3 points, but each 1.50 line holds one whole point */
	assert_int_equal(evaluate(all, pair, 2, 3, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 2);
	assert_int_equal(o.lines[0].points, 1);
	assert_int_equal(o.lines[1].points, 1);
	assert_int_equal(o.res.to_pay, 100);
	kp_rules_program_free(p);
	kp_rules_program_free(all);
}

static void test_excluded_sku(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100,"
					  "\"burn\":{\"excluded_skus\":[\"zz\",\"cig\",\"aa\"]}}");
	struct kp_line_in lines[] = {{"cig", "misc", 1, 100000}, {"toy", "toys", 1, 100000}};
	struct kp_member_in m = {10000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 2, 10000, 0, &m, &o), 0);
	assert_false(o.lines[0].redeemable);
	assert_true(o.lines[1].redeemable);
	assert_int_equal(o.res.max_redeemable, 500); /* 50% of the eligible 1,000.00 only */
	assert_int_equal(o.lines[0].points, 0);
	assert_int_equal(o.lines[1].points, 500);
	/* excluded lines still earn: 5% of 1,000.00 + 5% of 500.00 */
	assert_int_equal(o.lines[0].earned, 50);
	assert_int_equal(o.lines[1].earned, 25);
	assert_int_equal(o.res.points_earned, 75);
	kp_rules_program_free(p);
}

static void test_excluded_category(void **state)
{
	struct kp_program *p =
		compile_ok("{\"point_value\":100,"
			   "\"burn\":{\"excluded_categories\":[\"tobacco\"]}}");
	struct kp_line_in lines[] = {
		{"marlboro", "tobacco", 1, 100000},
		{"toy", "toys", 1, 100000},
		{"tobacco", "", 1, 100000}, /* a SKU named like the category is not excluded */
		{"x", NULL, 1, 100000},
	};
	struct kp_line_in only_excluded[] = {{"marlboro", "tobacco", 2, 100000}};
	struct kp_member_in m = {100000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 4, 100000, 0, &m, &o), 0);
	assert_false(o.lines[0].redeemable);
	assert_true(o.lines[1].redeemable && o.lines[2].redeemable && o.lines[3].redeemable);
	assert_int_equal(o.res.max_redeemable, 1500);
	assert_int_equal(o.lines[0].points, 0);
	assert_int_equal(o.lines[0].earned, 50);
	assert_int_equal(evaluate(p, only_excluded, 1, 100, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 0);
	assert_true(o.res.redeem_clamped);
	assert_int_equal(o.res.points_earned, 100);
	kp_rules_program_free(p);
}

/* ---- earning ---- */

static void test_earn_steps(void **state)
{
	struct kp_program *p = compile_ok(
		"{\"point_value\":100,\"earn\":{\"percent\":5,\"check_steps\":"
		"[{\"min_subtotal\":1000000,\"percent\":12.5},"
		"{\"min_subtotal\":500000,\"percent\":10}]}}");
	struct kp_line_in at[] = {{"a", NULL, 1, 500000}};
	struct kp_line_in below[] = {{"a", NULL, 1, 499999}};
	struct kp_line_in top[] = {{"a", NULL, 1, 600000}, {"b", NULL, 1, 400000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, at, 1, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.points_earned, 500);
	assert_int_equal(o.lines[0].earn_bp, 1000);
	assert_int_equal(o.res.n_applied, 1);
	assert_string_equal(o.res.applied[0], "earn_step:500000");
	assert_int_equal(evaluate(p, below, 1, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.points_earned, 249); /* 5% of 4,999.99 = 249.9995 */
	assert_int_equal(o.lines[0].earn_bp, 500);
	assert_string_equal(o.res.applied[0], "base");
	/* the step applies on the subtotal, to every line */
	assert_int_equal(evaluate(p, top, 2, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.points_earned, 1250);
	assert_int_equal(o.lines[0].earned, 750);
	assert_int_equal(o.lines[1].earned, 500);
	assert_string_equal(o.res.applied[0], "earn_step:1000000");
	kp_rules_program_free(p);
}

/* The best applicable rate wins (DESIGN.md): a lower step never lowers earn.percent. */
static void test_earn_step_never_lowers_base(void **state)
{
	struct kp_program *p =
		compile_ok("{\"point_value\":1,\"earn\":{\"percent\":5,"
			   "\"check_steps\":[{\"min_subtotal\":1000,\"percent\":2}]}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.points_earned, 50);
	assert_int_equal(o.lines[0].earn_bp, 500);
	assert_string_equal(o.res.applied[0], "base");
	kp_rules_program_free(p);
}

/* Points are earned on what the customer pays: not on points, certificates or discounts. */
static void test_earn_on_paid_only(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":1,\"earn\":{\"percent\":10},"
					  "\"burn\":{\"max_percent\":100}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_member_in m = {1000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 1000, 0, &m, &o), 0);
	assert_int_equal(o.res.to_pay, 0);
	assert_int_equal(o.res.points_earned, 0);
	assert_int_equal(o.res.n_applied, 0);
	kp_rules_program_free(p);
}

/* ---- discounts ---- */

static void test_discount_percent(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100,\"discount\":{\"percent\":10}}");
	struct kp_line_in one[] = {{"a", NULL, 1, 100000}};
	/* 10% of three 3.33 lines is 0.999: the total discount is floored once */
	struct kp_line_in three[] = {{"a", NULL, 1, 333}, {"b", NULL, 1, 333}, {"c", NULL, 1, 333}};
	/* 10% of three 0.05 lines is 1.5 kopecks: 1 kopeck, to the first line */
	struct kp_line_in tiny[] = {{"a", NULL, 1, 5}, {"b", NULL, 1, 5}, {"c", NULL, 1, 5}};
	struct kp_member_in m = {100000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, one, 1, 100000, 0, &m, &o), 0);
	assert_int_equal(o.res.discount, 10000);
	assert_int_equal(o.lines[0].discount_bp, 1000);
	/* the cap is 50% of the price after discount, points earned on what is paid */
	assert_int_equal(o.res.max_redeemable, 450);
	assert_int_equal(o.res.to_pay, 45000);
	assert_int_equal(o.res.points_earned, 22);
	assert_true(has_applied(&o.res, "discount"));
	assert_true(has_applied(&o.res, "base"));
	assert_string_equal(o.res.applied[0], "discount");
	assert_int_equal(evaluate(p, three, 3, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.discount, 99);
	assert_int_equal(o.lines[0].discount, 33);
	assert_int_equal(o.lines[2].discount, 33);
	assert_int_equal(evaluate(p, tiny, 3, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.discount, 1);
	assert_int_equal(o.lines[0].discount, 1);
	assert_int_equal(o.lines[1].discount + o.lines[2].discount, 0);
	kp_rules_program_free(p);
}

static void test_discount_steps_highest_not_stacking(void **state)
{
	struct kp_program *p = compile_ok(
		"{\"discount\":{\"percent\":10,\"check_steps\":[{\"min_subtotal\":500000,"
		"\"percent\":15},{\"min_subtotal\":300000,\"percent\":5}]}}");
	struct kp_line_in small[] = {{"a", NULL, 1, 100000}};
	struct kp_line_in middle[] = {{"a", NULL, 1, 300000}};
	struct kp_line_in large[] = {{"a", NULL, 1, 200000}, {"b", NULL, 2, 150000}};
	struct kp_line_in below[] = {{"a", NULL, 1, 499999}};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, small, 1, 0, 0, NULL, &o), 0);
	assert_int_equal(o.res.discount, 10000);
	/* the 5% step applies but 10% is higher; the base wins and they do not add */
	assert_int_equal(evaluate(p, middle, 1, 0, 0, NULL, &o), 0);
	assert_int_equal(o.res.discount, 30000);
	assert_int_equal(o.res.n_applied, 1);
	assert_string_equal(o.res.applied[0], "discount");
	/* exactly at 5,000.00: 15%, not 15% + 10% + 5% */
	assert_int_equal(evaluate(p, large, 2, 0, 0, NULL, &o), 0);
	assert_int_equal(o.res.discount, 75000);
	assert_int_equal(o.lines[0].discount, 30000);
	assert_int_equal(o.lines[1].discount, 45000);
	assert_int_equal(o.lines[1].discount_bp, 1500);
	assert_int_equal(o.res.n_applied, 1);
	assert_string_equal(o.res.applied[0], "discount_step:500000");
	assert_int_equal(evaluate(p, below, 1, 0, 0, NULL, &o), 0);
	assert_int_equal(o.res.discount, 49999);
	kp_rules_program_free(p);
}

static void test_applied_order(void **state)
{
	struct kp_program *p = compile_ok(
		"{\"discount\":{\"check_steps\":[{\"min_subtotal\":300000,\"percent\":5}]},"
		"\"earn\":{\"check_steps\":[{\"min_subtotal\":200000,\"percent\":7}]}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 400000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.n_applied, 2);
	assert_string_equal(o.res.applied[0], "discount_step:300000");
	assert_string_equal(o.res.applied[1], "earn_step:200000");
	/* the pointers are the program's own strings */
	assert_ptr_equal(o.res.applied[0], p->discount_steps[0].rule_id);
	kp_rules_program_free(p);
}

/* ---- certificates ---- */

static void test_certificates(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_line_in one[] = {{"a", NULL, 1, 100000}};
	struct kp_line_in two[] = {{"a", NULL, 3, 10000}, {"b", NULL, 1, 10000}};
	struct kp_member_in m = {1000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, one, 1, 100, 50000, &m, &o), 0);
	assert_int_equal(o.res.certificates, 50000);
	assert_int_equal(o.res.to_pay, 40000);
	assert_int_equal(o.res.points_earned, 20);
	/* a certificate larger than the check pays only what is left */
	assert_int_equal(evaluate(p, one, 1, 100, 1000000000, &m, &o), 0);
	assert_int_equal(o.res.certificates, 90000);
	assert_int_equal(o.res.to_pay, 0);
	assert_int_equal(o.res.points_earned, 0);
	/* spread in proportion to what each line has left to pay */
	assert_int_equal(evaluate(p, two, 2, 0, 20000, &m, &o), 0);
	assert_int_equal(o.lines[0].certificates, 15000);
	assert_int_equal(o.lines[1].certificates, 5000);
	assert_int_equal(o.lines[0].paid, 15000);
	kp_rules_program_free(p);
}

/* ---- point values ---- */

static void test_point_value_one(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":1}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 100000}};
	struct kp_member_in m = {100000, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 60000, 0, &m, &o), 0);
	assert_int_equal(o.res.max_redeemable, 50000);
	assert_int_equal(o.res.points_redeemed, 50000);
	assert_int_equal(o.res.to_pay, 50000);
	assert_int_equal(o.res.points_earned, 2500);
	kp_rules_program_free(p);
}

static void test_point_value_large(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":1000000}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000000}, {"b", NULL, 1, 999999}};
	struct kp_member_in m = {100, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 2, 100, 0, &m, &o), 0);
	/* 50% of 10,999,999 is 5.49 points; the second line cannot hold a whole point */
	assert_int_equal(o.res.max_redeemable, 5);
	assert_int_equal(o.lines[0].points, 5);
	assert_int_equal(o.lines[1].points, 0);
	assert_int_equal(o.res.to_pay, 5999999);
	assert_int_equal(o.res.points_earned, 0); /* 5% of 5,999,999 is 0.3 points */
	kp_rules_program_free(p);
}

/* ---- anonymous purchases ---- */

static void test_anonymous(void **state)
{
	struct kp_program *p = compile_ok("{\"point_value\":100,\"discount\":{\"percent\":10}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 100000}};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, lines, 1, 100, 20000, NULL, &o), 0);
	assert_int_equal(o.res.discount, 10000);
	assert_int_equal(o.res.max_redeemable, 0);
	assert_int_equal(o.res.points_redeemed, 0);
	assert_true(o.res.redeem_clamped);
	assert_int_equal(o.res.certificates, 20000);
	assert_int_equal(o.res.to_pay, 70000);
	assert_int_equal(o.res.points_earned, 0);
	assert_int_equal(o.lines[0].earn_bp, 0);
	assert_int_equal(o.res.n_applied, 1);
	assert_string_equal(o.res.applied[0], "discount");
	kp_rules_program_free(p);
}

/* ---- basket limits and overflow ---- */

static void test_basket_limits(void **state)
{
	struct kp_program *p = compile_ok(toy_doc);
	struct kp_line_in ok = {"a", NULL, KP_MAX_QTY, KP_MAX_PRICE};
	static const struct {
		const char *sku;
		int64_t qty, price, redeem, certificates;
	} bad[] = {
		{"a", 0, 100, 0, 0},
		{"a", KP_MAX_QTY + 1, 100, 0, 0},
		{"a", -1, 100, 0, 0},
		{"a", 1, -1, 0, 0},
		{"a", 1, KP_MAX_PRICE + 1, 0, 0},
		{"a", 1, INT64_MAX, 0, 0},
		{NULL, 1, 100, 0, 0},
		{"a", 1, 100, -1, 0},
		{"a", 1, 100, 0, -1},
	};
	struct kp_member_in m = {10, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(evaluate(p, &ok, 1, 0, 0, &m, &o), 0);
	assert_int_equal(o.res.subtotal, KP_MAX_QTY * KP_MAX_PRICE);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct kp_line_in l = {bad[i].sku, NULL, bad[i].qty, bad[i].price};

		assert_int_equal(evaluate(p, &l, 1, bad[i].redeem, bad[i].certificates, &m, &o),
				 KP_EINVAL);
		/* nothing in a failed result looks valid */
		assert_int_equal(o.res.subtotal, 0);
		assert_int_equal(o.res.n_applied, 0);
	}
	assert_int_equal(evaluate(p, &ok, 0, 0, 0, &m, &o), KP_EINVAL);
	kp_rules_program_free(p);
}

/*
 * The largest basket the limits allow: 1000 lines of 10,000 units at the
 * highest price (a subtotal of 1e17 minor units) at 100% discount, 100%
 * redemption and 100% earn rates with point_value 1. Every weight then is at
 * most 1e14 × 1e4 = 1e18 < 2^63, so KP_EOVERFLOW cannot happen inside the
 * limits; anything outside them is KP_EINVAL.
 */
static void test_largest_basket(void **state)
{
	struct kp_program *earn_all = compile_ok("{\"point_value\":1,\"rounding\":\"ceil\","
						 "\"earn\":{\"percent\":100},"
						 "\"burn\":{\"max_percent\":100}}");
	struct kp_program *free_all = compile_ok(
		"{\"discount\":{\"check_steps\":"
		"[{\"min_subtotal\":100000000000000,\"percent\":100}]}}");
	struct kp_line_in *lines = calloc(KP_MAX_LINES + 1, sizeof *lines);
	struct kp_line_result *out = calloc(KP_MAX_LINES + 1, sizeof *out);
	struct kp_basket b = {lines, KP_MAX_LINES, INT64_MAX, INT64_MAX, KP_CHANNEL_APP, 0,
			      "main", NULL, NULL, 0, false, 0};
	struct kp_member_in m = {INT64_MAX, -1, NULL, NULL};
	struct kp_result r = {.lines = out};
	const int64_t max_amount = KP_MAX_QTY * KP_MAX_PRICE;

	(void)state;
	assert_non_null(lines);
	assert_non_null(out);
	for (size_t i = 0; i <= KP_MAX_LINES; i++)
		lines[i] = (struct kp_line_in){"sku", "cat", KP_MAX_QTY, KP_MAX_PRICE};

	b.redeem_points = 0;
	b.certificate_funds = 0;
	assert_int_equal(kp_rules_evaluate(earn_all, &b, &m, &r), 0);
	assert_int_equal(r.subtotal, max_amount * KP_MAX_LINES);
	assert_int_equal(r.points_earned, max_amount * KP_MAX_LINES);
	assert_int_equal(out[KP_MAX_LINES - 1].earned, max_amount);

	b.redeem_points = INT64_MAX;
	assert_int_equal(kp_rules_evaluate(earn_all, &b, &m, &r), 0);
	assert_int_equal(r.points_redeemed, max_amount * KP_MAX_LINES);
	assert_true(r.redeem_clamped);
	assert_int_equal(r.to_pay, 0);

	b.certificate_funds = INT64_MAX;
	assert_int_equal(kp_rules_evaluate(free_all, &b, NULL, &r), 0);
	assert_int_equal(r.discount, r.subtotal);
	assert_int_equal(r.certificates, 0);
	assert_int_equal(r.to_pay, 0);

	b.n_lines = KP_MAX_LINES + 1;
	assert_int_equal(kp_rules_evaluate(earn_all, &b, &m, &r), KP_EINVAL);
	free(lines);
	free(out);
	kp_rules_program_free(earn_all);
	kp_rules_program_free(free_all);
}

/* ---- kp_rules_allocate ---- */

static void expect_allocation(int64_t total, const int64_t *weights, const int64_t *caps,
			      size_t n, const int64_t *expected)
{
	int64_t out[SMALL_BASKET];

	assert_true(n <= SMALL_BASKET);
	assert_int_equal(kp_rules_allocate(total, weights, caps, n, out), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], expected[i]);
}

static void test_allocate_sums_and_ties(void **state)
{
	(void)state;
	expect_allocation(10, (int64_t[]){1, 1, 1}, NULL, 3, (int64_t[]){4, 3, 3});
	expect_allocation(2, (int64_t[]){1, 1, 1}, NULL, 3, (int64_t[]){1, 1, 0});
	/* the largest remainder wins before the lower index */
	expect_allocation(1, (int64_t[]){1, 2}, NULL, 2, (int64_t[]){0, 1});
	expect_allocation(100, (int64_t[]){1, 2, 3, 4}, NULL, 4, (int64_t[]){10, 20, 30, 40});
	expect_allocation(7, (int64_t[]){3, 3, 1}, NULL, 3, (int64_t[]){3, 3, 1});
	expect_allocation(0, (int64_t[]){3, 3, 1}, NULL, 3, (int64_t[]){0, 0, 0});
	expect_allocation(INT64_MAX, (int64_t[]){INT64_MAX, INT64_MAX, 1}, NULL, 3,
			  (int64_t[]){INT64_MAX / 2, INT64_MAX / 2, 1});
}

static void test_allocate_zero_weights(void **state)
{
	(void)state;
	expect_allocation(7, (int64_t[]){0, 5, 0}, NULL, 3, (int64_t[]){0, 7, 0});
	expect_allocation(0, (int64_t[]){0, 0}, NULL, 2, (int64_t[]){0, 0});
	expect_allocation(0, NULL, NULL, 0, NULL);
	/* a zero weight gets units only when the caps leave no other place */
	expect_allocation(3, (int64_t[]){0, 5}, (int64_t[]){5, 1}, 2, (int64_t[]){2, 1});
}

static void test_allocate_caps(void **state)
{
	(void)state;
	/* the floors exceed the first cap; what it cannot take goes on */
	expect_allocation(10, (int64_t[]){1, 1}, (int64_t[]){0, 10}, 2, (int64_t[]){0, 10});
	/* equal remainders, the first part full: the next ones take the units */
	expect_allocation(3, (int64_t[]){1, 1, 1, 1}, (int64_t[]){0, 1, 1, 1}, 4,
			  (int64_t[]){0, 1, 1, 1});
	expect_allocation(3, (int64_t[]){1, 1, 1, 1}, (int64_t[]){1, 1, 1, 1}, 4,
			  (int64_t[]){1, 1, 1, 0});
	/* exactly Σ caps */
	expect_allocation(6, (int64_t[]){5, 1, 1}, (int64_t[]){2, 2, 2}, 3, (int64_t[]){2, 2, 2});
	/* after the remainders, index order fills what is left */
	expect_allocation(9, (int64_t[]){8, 1, 1}, (int64_t[]){3, 3, 3}, 3, (int64_t[]){3, 3, 3});
	expect_allocation(8, (int64_t[]){8, 1, 1}, (int64_t[]){3, 9, 9}, 3, (int64_t[]){3, 4, 1});
}

static void test_allocate_einval(void **state)
{
	int64_t out[KP_MAX_LINES + 1];
	int64_t weights[KP_MAX_LINES + 1];

	(void)state;
	for (size_t i = 0; i <= KP_MAX_LINES; i++)
		weights[i] = 1;
	assert_int_equal(kp_rules_allocate(1, (int64_t[]){0, 0}, NULL, 2, out), KP_EINVAL);
	assert_int_equal(kp_rules_allocate(1, NULL, NULL, 0, out), KP_EINVAL);
	assert_int_equal(kp_rules_allocate(5, (int64_t[]){1, 1}, (int64_t[]){2, 2}, 2, out),
			 KP_EINVAL);
	assert_int_equal(kp_rules_allocate(1, weights, NULL, KP_MAX_LINES + 1, out), KP_EINVAL);
	assert_int_equal(kp_rules_allocate(KP_MAX_LINES, weights, NULL, KP_MAX_LINES, out), 0);
	for (size_t i = 0; i < KP_MAX_LINES; i++)
		assert_int_equal(out[i], 1);
}

/* ---- the property test ---- */

#define PROPERTY_RUNS 20000
#define SKU_POOL 6
#define CATEGORY_POOL 3
#define PROPERTY_LINES 40


/* A random program built by hand, with the same shape the compiler makes. */
struct random_program {
	struct kp_program p;
	struct kp_step earn[4], discount[4];
	char ids[8][40];
	char *skus[SKU_POOL], *categories[CATEGORY_POOL];
};

static char *const sku_pool[SKU_POOL] = {"s0", "s1", "s2", "s3", "s4", "s5"};
static char *const category_pool[CATEGORY_POOL] = {"c0", "c1", "c2"};

static int64_t random_bp(struct rng *g)
{
	if (chance(g, 20))
		return 0;
	if (chance(g, 10))
		return KP_BP_ONE;
	return chance(g, 50) ? pick(g, 0, 100) * 100 : pick(g, 0, KP_BP_ONE);
}

static size_t random_steps(struct rng *g, struct kp_step *steps, char (*ids)[40],
			   const char *kind)
{
	size_t n = (size_t)pick(g, 0, 3);
	int64_t min = pick(g, 0, 20000);

	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "%s:%lld", kind, (long long)min);
		steps[i] = (struct kp_step){min, random_bp(g), ids[i]};
		min += pick(g, 1, 300000);
	}
	return n;
}

static size_t random_subset(struct rng *g, char *const *pool, size_t n, char **out)
{
	size_t k = 0;

	/* the pool is sorted, so any subset in pool order is sorted too */
	for (size_t i = 0; i < n; i++)
		if (chance(g, 25))
			out[k++] = pool[i];
	return k;
}

static void random_program(struct rng *g, struct random_program *rp)
{
	struct kp_program *p = &rp->p;

	memset(rp, 0, sizeof *rp);
	p->name = "random";
	memcpy(p->currency, "RUB", 4);
	p->point_value = chance(g, 30) ? 100 : pick(g, 1, 1000);
	p->rounding = (enum kp_rounding)pick(g, 0, 2);
	p->earn_percent_bp = random_bp(g);
	p->burn_max_percent_bp = random_bp(g);
	p->discount_percent_bp = chance(g, 50) ? 0 : random_bp(g);
	p->earn_steps = rp->earn;
	p->n_earn_steps = random_steps(g, rp->earn, rp->ids, "earn_step");
	p->discount_steps = rp->discount;
	p->n_discount_steps = random_steps(g, rp->discount, rp->ids + 4, "discount_step");
	p->excluded_skus = rp->skus;
	p->n_excluded_skus = random_subset(g, sku_pool, SKU_POOL, rp->skus);
	p->excluded_categories = rp->categories;
	p->n_excluded_categories = random_subset(g, category_pool, CATEGORY_POOL, rp->categories);
}

static int64_t random_price(struct rng *g)
{
	switch (pick(g, 0, 9)) {
	case 0:
		return 0;
	case 1:
		return 99;
	case 2:
		return pick(g, 1, 100);
	case 3:
		return pick(g, 0, KP_MAX_PRICE);
	default:
		return pick(g, 1, 300000);
	}
}

static size_t random_basket(struct rng *g, struct kp_line_in *lines)
{
	size_t n = (size_t)(chance(g, 10) ? pick(g, 1, PROPERTY_LINES) : pick(g, 1, 6));

	for (size_t i = 0; i < n; i++) {
		int64_t c = pick(g, 0, CATEGORY_POOL + 1);

		lines[i].sku = sku_pool[pick(g, 0, SKU_POOL - 1)];
		lines[i].category = c < CATEGORY_POOL ? category_pool[c] : NULL;
		if (c == CATEGORY_POOL)
			lines[i].category = "";
		lines[i].qty = chance(g, 5) ? pick(g, 1, KP_MAX_QTY) : pick(g, 1, 3);
		lines[i].price = random_price(g);
	}
	return n;
}

struct property_case {
	unsigned seed;
	int iteration;
	const struct kp_program *p;
	const struct kp_basket *b;
	const struct kp_member_in *m;
	const struct kp_result *r;
};

#define CHECK(c, cond)                                                                      \
	do {                                                                                \
		if (!(cond)) {                                                              \
			print_error("seed=%u iteration=%d: %s\n", (c)->seed, (c)->iteration, \
				    #cond);                                                 \
			fail();                                                             \
		}                                                                           \
	} while (0)

static int64_t step_bp(const struct kp_step *steps, size_t n, int64_t subtotal, int64_t none)
{
	int64_t bp = none;

	for (size_t i = 0; i < n; i++)
		if (steps[i].min_subtotal <= subtotal)
			bp = steps[i].percent_bp;
	return bp;
}

static bool listed_linear(char *const *set, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(set[i], s) == 0)
			return true;
	return false;
}

/* Lines add up to the totals and each line's own arithmetic holds. */
static void check_lines(const struct property_case *c)
{
	const struct kp_result *r = c->r;
	__int128 sums[5] = {0};

	for (size_t i = 0; i < c->b->n_lines; i++) {
		const struct kp_line_in *in = &c->b->lines[i];
		const struct kp_line_result *l = &r->lines[i];
		bool redeemable = !listed_linear(c->p->excluded_skus, c->p->n_excluded_skus,
						 in->sku) &&
				  !listed_linear(c->p->excluded_categories,
						 c->p->n_excluded_categories, in->category);

		CHECK(c, l->amount == in->qty * in->price);
		CHECK(c, l->redeemable == redeemable);
		CHECK(c, redeemable || l->points == 0);
		CHECK(c, l->discount >= 0 && l->points >= 0 && l->certificates >= 0);
		CHECK(c, l->paid >= 0 && l->earned >= 0);
		CHECK(c, l->paid == l->amount - l->discount - l->points * c->p->point_value -
					    l->certificates);
		CHECK(c, l->paid > 0 || l->earned == 0);
		sums[0] += l->discount;
		sums[1] += l->points;
		sums[2] += l->certificates;
		sums[3] += l->paid;
		sums[4] += l->earned;
	}
	CHECK(c, sums[0] == r->discount && sums[1] == r->points_redeemed);
	CHECK(c, sums[2] == r->certificates && sums[3] == r->to_pay);
	CHECK(c, sums[4] == r->points_earned);
}

static void check_discount_and_cap(const struct property_case *c)
{
	const struct kp_program *p = c->p;
	const struct kp_result *r = c->r;
	int64_t bp = step_bp(p->discount_steps, p->n_discount_steps, r->subtotal, 0);
	__int128 subtotal = 0, eligible = 0, whole = 0, cap, expect_max = 0;

	if (bp < p->discount_percent_bp)
		bp = p->discount_percent_bp;
	for (size_t i = 0; i < c->b->n_lines; i++) {
		const struct kp_line_result *l = &r->lines[i];

		subtotal += l->amount;
		CHECK(c, l->discount_bp == bp);
		if (l->redeemable) {
			eligible += l->amount - l->discount;
			whole += (l->amount - l->discount) / p->point_value;
		}
	}
	CHECK(c, subtotal == r->subtotal);
	CHECK(c, r->discount == subtotal * bp / KP_BP_ONE);
	CHECK(c, r->discount >= 0 && r->discount <= r->subtotal);
	cap = eligible * p->burn_max_percent_bp / ((__int128)KP_BP_ONE * p->point_value);
	if (whole < cap)
		cap = whole;
	if (c->m && c->m->available > 0)
		expect_max = cap < c->m->available ? cap : c->m->available;
	CHECK(c, r->max_redeemable == expect_max);
	CHECK(c, r->points_redeemed <= c->b->redeem_points);
	CHECK(c, r->points_redeemed <= cap);
	CHECK(c, c->m ? r->points_redeemed <= c->m->available || r->points_redeemed == 0
		      : r->points_redeemed == 0);
	CHECK(c, r->points_redeemed == (c->b->redeem_points < expect_max ? c->b->redeem_points
									  : expect_max));
	CHECK(c, r->redeem_clamped == (c->b->redeem_points > r->points_redeemed));
}

static void check_payment_and_earn(const struct property_case *c)
{
	const struct kp_program *p = c->p;
	const struct kp_result *r = c->r;
	/* the best applicable rate: a step never lowers earn.percent */
	int64_t rate = c->m ? kp_max64(step_bp(p->earn_steps, p->n_earn_steps, r->subtotal,
					       p->earn_percent_bp),
				       p->earn_percent_bp)
			    : 0;
	__int128 left = (__int128)r->subtotal - r->discount -
			(__int128)r->points_redeemed * p->point_value;
	__int128 num = 0, den = (__int128)KP_BP_ONE * p->point_value;
	__int128 earned = r->points_earned;

	CHECK(c, r->certificates == (c->b->certificate_funds < left ? c->b->certificate_funds
								     : left));
	CHECK(c, r->to_pay == left - r->certificates);
	CHECK(c, r->to_pay >= 0);
	for (size_t i = 0; i < c->b->n_lines; i++) {
		CHECK(c, r->lines[i].earn_bp == rate);
		num += (__int128)r->lines[i].paid * rate;
	}
	/* within one point of the exact value, and on the side the mode says */
	CHECK(c, earned * den - num <= den && num - earned * den <= den);
	if (p->rounding == KP_ROUND_FLOOR)
		CHECK(c, earned * den <= num && num < (earned + 1) * den);
	else if (p->rounding == KP_ROUND_CEIL)
		CHECK(c, (earned - 1) * den < num && num <= earned * den);
	else
		CHECK(c, (2 * earned - 1) * den <= 2 * num && 2 * num < (2 * earned + 1) * den);
	CHECK(c, r->n_applied <= 2);
}

static void run_property_case(struct rng *g, unsigned seed, int iteration,
			      struct kp_line_in *lines, struct kp_line_result *out)
{
	struct random_program rp;
	struct kp_member_in member = {0, -1, NULL, NULL};
	struct kp_basket b = {lines, 0, 0, 0, KP_CHANNEL_STORE, 0, "main", NULL, NULL, 0, false, 0};
	struct kp_result r = {.lines = out};
	struct property_case c = {seed, iteration, &rp.p, &b, NULL, &r};

	random_program(g, &rp);
	b.n_lines = random_basket(g, lines);
	b.redeem_points = chance(g, 30) ? 0 : (chance(g, 10) ? INT64_MAX : pick(g, 0, 20000));
	b.certificate_funds = chance(g, 70) ? 0 : pick(g, 0, 500000);
	member.available = chance(g, 10) ? pick(g, -1000, 0) : pick(g, 0, 30000);
	if (chance(g, 5))
		member.available = INT64_MAX;
	c.m = chance(g, 10) ? NULL : &member;
	CHECK(&c, kp_rules_evaluate(&rp.p, &b, c.m, &r) == 0);
	check_lines(&c);
	check_discount_and_cap(&c);
	check_payment_and_earn(&c);
}

static void test_property_random_baskets(void **state)
{
	unsigned seed = property_seed();
	struct rng g = {seed};
	struct kp_line_in lines[PROPERTY_LINES];
	struct kp_line_result out[PROPERTY_LINES];

	(void)state;
	printf("seed=%u\n", seed);
	for (int i = 0; i < PROPERTY_RUNS; i++)
		run_property_case(&g, seed, i, lines, out);
}

/* ---- program documents ---- */

static void test_program_defaults(void **state)
{
	struct kp_program *p = compile_ok("{}");

	(void)state;
	assert_string_equal(p->name, "");
	assert_string_equal(p->currency, "RUB");
	assert_int_equal(p->point_value, 100);
	assert_int_equal(p->rounding, KP_ROUND_FLOOR);
	assert_int_equal(p->earn_percent_bp, 500);
	assert_int_equal(p->n_earn_steps, 0);
	assert_int_equal(p->hold_days, 0);
	assert_int_equal(p->burn_max_percent_bp, 5000);
	assert_int_equal(p->n_excluded_categories, 0);
	assert_int_equal(p->n_excluded_skus, 0);
	assert_int_equal(p->expiry_days, 0);
	assert_int_equal(p->remind_days_before, 0);
	assert_int_equal(p->discount_percent_bp, 0);
	assert_int_equal(p->n_discount_steps, 0);
	assert_int_equal(p->hold_minutes, 30);
	kp_rules_program_free(p);
	/* empty sections keep the defaults too */
	p = compile_ok("{\"earn\":{},\"burn\":{\"excluded_skus\":[]},\"expiry\":{},"
		       "\"discount\":{\"check_steps\":[]}}");
	assert_int_equal(p->earn_percent_bp, 500);
	assert_int_equal(p->n_excluded_skus, 0);
	assert_int_equal(p->n_discount_steps, 0);
	kp_rules_program_free(p);
}

static void test_program_full(void **state)
{
	static const char doc[] =
		"{\"name\":\"Toy store\",\"currency\":\"EUR\",\"point_value\":1,"
		"\"rounding\":\"half_up\","
		"\"earn\":{\"percent\":\"2.5\",\"check_steps\":[{\"min_subtotal\":1000000,"
		"\"percent\":12.75},{\"percent\":\"10\",\"min_subtotal\":500000}],"
		"\"hold_days\":14},"
		"\"burn\":{\"max_percent\":30,\"excluded_categories\":[\"tobacco\",\"alcohol\"],"
		"\"excluded_skus\":[\"z-1\",\"a-1\",\"m-1\"]},"
		"\"expiry\":{\"days\":365,\"remind_days_before\":14},"
		"\"discount\":{\"percent\":3.5,\"check_steps\":[{\"min_subtotal\":300000,"
		"\"percent\":5}]},"
		"\"hold_minutes\":60}";
	struct kp_program *p = compile_ok(doc);

	(void)state;
	assert_string_equal(p->name, "Toy store");
	assert_string_equal(p->currency, "EUR");
	assert_int_equal(p->point_value, 1);
	assert_int_equal(p->rounding, KP_ROUND_HALF_UP);
	assert_int_equal(p->earn_percent_bp, 250);
	assert_int_equal(p->n_earn_steps, 2);
	assert_int_equal(p->earn_steps[0].min_subtotal, 500000);
	assert_int_equal(p->earn_steps[0].percent_bp, 1000);
	assert_string_equal(p->earn_steps[0].rule_id, "earn_step:500000");
	assert_int_equal(p->earn_steps[1].min_subtotal, 1000000);
	assert_int_equal(p->earn_steps[1].percent_bp, 1275);
	assert_string_equal(p->earn_steps[1].rule_id, "earn_step:1000000");
	assert_int_equal(p->hold_days, 14);
	assert_int_equal(p->burn_max_percent_bp, 3000);
	assert_int_equal(p->n_excluded_categories, 2);
	assert_string_equal(p->excluded_categories[0], "alcohol");
	assert_string_equal(p->excluded_categories[1], "tobacco");
	assert_int_equal(p->n_excluded_skus, 3);
	assert_string_equal(p->excluded_skus[0], "a-1");
	assert_string_equal(p->excluded_skus[1], "m-1");
	assert_string_equal(p->excluded_skus[2], "z-1");
	assert_int_equal(p->expiry_days, 365);
	assert_int_equal(p->remind_days_before, 14);
	assert_int_equal(p->discount_percent_bp, 350);
	assert_int_equal(p->n_discount_steps, 1);
	assert_string_equal(p->discount_steps[0].rule_id, "discount_step:300000");
	assert_int_equal(p->discount_steps[0].percent_bp, 500);
	assert_int_equal(p->hold_minutes, 60);
	kp_rules_program_free(p);
}

static void test_program_limits_accepted(void **state)
{
	static const char *const docs[] = {
		"{\"point_value\":1000000,\"hold_minutes\":10080,\"expiry\":{\"days\":36500,"
		"\"remind_days_before\":3650},\"earn\":{\"hold_days\":3650,\"percent\":100}}",
		"{\"earn\":{\"percent\":0},\"burn\":{\"max_percent\":\"100.00\"},"
		"\"discount\":{\"percent\":0.01}}",
		"{\"earn\":{\"check_steps\":[{\"min_subtotal\":100000000000000,\"percent\":0}]}}",
		"{\"earn\":{\"percent\":2.50},\"discount\":{\"percent\":\"2.500\"}}",
		"{\"earn\":{\"percent\":12.75},\"burn\":{\"max_percent\":99.99}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		kp_rules_program_free(compile_ok(docs[i]));
}

/* JSON reals are read through their shortest decimal text, so binary noise is not an error. */
static void test_program_real_percent(void **state)
{
	struct kp_program *p = compile_ok("{\"earn\":{\"percent\":0.30000000000000004},"
					  "\"burn\":{\"max_percent\":12.75},"
					  "\"discount\":{\"percent\":1e1}}");

	(void)state;
	assert_int_equal(p->earn_percent_bp, 30);
	assert_int_equal(p->burn_max_percent_bp, 1275);
	assert_int_equal(p->discount_percent_bp, 1000);
	kp_rules_program_free(p);
}

static void expect_refused(const char *doc, size_t len, const char *prefix)
{
	struct kp_program *p = (struct kp_program *)&p; /* must be reset to NULL */
	char err[512];
	int rc = kp_rules_program_compile(doc, len, &p, err, sizeof err);

	if (rc != KP_EPROGRAM || strncmp(err, prefix, strlen(prefix)) != 0)
		print_error("document %.80s\n  gave %d \"%s\"\n  expected \"%s\"\n", doc, rc, err,
			    prefix);
	assert_int_equal(rc, KP_EPROGRAM);
	assert_null(p);
	assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
}

#define PERCENT_MSG ": must be a number from 0 to 100 with at most two decimals"

static void test_program_refused(void **state)
{
	static const struct {
		const char *doc;
		const char *message;
	} bad[] = {
		{"{\"bogus\":1}", "bogus: unknown field"},
		{"{\"earn\":{\"percnt\":5}}", "earn.percnt: unknown field"},
		{"{\"events\":{\"Review!\":{\"points\":5}}}", "events.Review!: an event type is"},
		{"{\"earn\":{\"tiers\":1}}", "earn.tiers: unknown field"},
		{"{\"earn\":{\"percent\":2.555}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":\"2.555\"}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":-1}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":\"-0\"}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":1e-7}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":null}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":\"5%\"}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":\" 5\"}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":\"5.\"}}", "earn.percent" PERCENT_MSG},
		{"{\"earn\":{\"percent\":\"\"}}", "earn.percent" PERCENT_MSG},
		{"{\"burn\":{\"max_percent\":100.01}}", "burn.max_percent" PERCENT_MSG},
		{"{\"burn\":{\"max_percent\":101}}", "burn.max_percent" PERCENT_MSG},
		{"{\"discount\":{\"percent\":true}}", "discount.percent" PERCENT_MSG},
		{"{\"discount\":{\"percent\":[5]}}", "discount.percent" PERCENT_MSG},
		{"{\"point_value\":0}", "point_value: must be an integer from 1 to 1000000"},
		{"{\"point_value\":1000001}", "point_value: must be an integer from 1 to 1000000"},
		{"{\"point_value\":100.0}", "point_value: must be an integer from 1 to 1000000"},
		{"{\"point_value\":\"100\"}", "point_value: must be an integer from 1 to 1000000"},
		{"{\"point_value\":false}", "point_value: must be an integer from 1 to 1000000"},
		{"{\"earn\":{\"check_steps\":[{\"min_subtotal\":100,\"percent\":5},"
		 "{\"min_subtotal\":100,\"percent\":6}]}}",
		 "earn.check_steps: min_subtotal values must be distinct"},
		{"{\"earn\":{\"check_steps\":[{\"min_subtotal\":100,\"percent\":5},"
		 "{\"min_subtotal\":200,\"percent\":555}]}}",
		 "earn.check_steps[1].percent" PERCENT_MSG},
		{"{\"earn\":{\"check_steps\":[{\"min_subtotal\":100000000000001,\"percent\":5}]}}",
		 "earn.check_steps[0].min_subtotal: must be an integer from 0 to 100000000000000"},
		{"{\"earn\":{\"check_steps\":[{\"min_subtotal\":-1,\"percent\":5}]}}",
		 "earn.check_steps[0].min_subtotal: must be an integer"},
		{"{\"earn\":{\"check_steps\":[{\"min_subtotal\":1.5,\"percent\":5}]}}",
		 "earn.check_steps[0].min_subtotal: must be an integer"},
		{"{\"earn\":{\"check_steps\":[{\"min_subtotal\":1,\"percent\":5,\"x\":1}]}}",
		 "earn.check_steps[0].x: unknown field"},
		{"{\"earn\":{\"check_steps\":{}}}",
		 "earn.check_steps: must be an array of at most 32"},
		{"{\"earn\":{\"check_steps\":[5]}}", "earn.check_steps[0]: must be an object"},
		{"{\"discount\":{\"check_steps\":[{\"percent\":5}]}}",
		 "discount.check_steps[0].min_subtotal: is required"},
		{"{\"discount\":{\"check_steps\":[{\"min_subtotal\":5}]}}",
		 "discount.check_steps[0].percent: is required"},
		{"{\"discount\":{\"check_steps\":[{\"min_subtotal\":5,\"percent\":5},"
		 "{\"min_subtotal\":6,\"percent\":\"x\"}]}}",
		 "discount.check_steps[1].percent" PERCENT_MSG},
		{"{\"burn\":{\"excluded_skus\":[\"a\",\"b\",\"c\",4]}}",
		 "burn.excluded_skus[3]: must be a string"},
		{"{\"burn\":{\"excluded_categories\":[\"\"]}}",
		 "burn.excluded_categories[0]: must be 1 to 200 bytes"},
		{"{\"burn\":{\"excluded_categories\":\"tobacco\"}}",
		 "burn.excluded_categories: must be an array of at most 256 strings"},
		{"{\"currency\":\"rub\"}", "currency: must be three uppercase letters"},
		{"{\"currency\":\"RUBL\"}", "currency: must be three uppercase letters"},
		{"{\"currency\":643}", "currency: must be three uppercase letters"},
		{"{\"rounding\":\"up\"}", "rounding: must be \"floor\", \"half_up\" or \"ceil\""},
		{"{\"rounding\":0}", "rounding: must be"},
		{"{\"name\":5}", "name: must be a string of at most 200 bytes"},
		{"{\"earn\":{\"hold_days\":3651}}",
		 "earn.hold_days: must be an integer from 0 to 3650"},
		{"{\"expiry\":{\"days\":-1}}", "expiry.days: must be an integer from 0 to 36500"},
		{"{\"expiry\":{\"remind_days_before\":1.5}}",
		 "expiry.remind_days_before: must be an integer from 0 to 3650"},
		{"{\"hold_minutes\":0}", "hold_minutes: must be an integer from 1 to 10080"},
		{"{\"hold_minutes\":10081}", "hold_minutes: must be an integer from 1 to 10080"},
		{"{\"earn\":[]}", "earn: must be an object"},
		{"{\"burn\":null}", "burn: must be an object"},
		{"[]", "document: must be an object"},
		{"{\"earn\":", "document: "},
		{"5", "document: "},
		{"", "document: "},
		{"{} x", "document: "},
		{"{\"name\":\"a\",\"name\":\"b\"}", "document: duplicate object key"},
		{"{\"name\":\"a\\u0000b\"}", "document: "},
		{"{\"name\":\"\xff\"}", "document: "},
		/* the first offending field in document order is the one reported */
		{"{\"earn\":{\"percent\":5},\"zzz\":1,\"point_value\":0}", "zzz: unknown field"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_refused(bad[i].doc, strlen(bad[i].doc), bad[i].message);
}

/* Documents too large to write out: long strings and arrays past the limits. */
static void test_program_refused_large(void **state)
{
	size_t size = 1 << 20;
	char *doc = malloc(size + 64);
	size_t n;

	(void)state;
	assert_non_null(doc);
	n = (size_t)sprintf(doc, "{\"name\":\"");
	memset(doc + n, 'x', size);
	n += size;
	n += (size_t)sprintf(doc + n, "\"}");
	expect_refused(doc, n, "name: must be a string of at most 200 bytes");

	n = (size_t)sprintf(doc, "{\"name\":\"%0201d\"}", 0);
	expect_refused(doc, n, "name: must be a string of at most 200 bytes");
	n = (size_t)sprintf(doc, "{\"name\":\"%0200d\"}", 0);
	kp_rules_program_free(compile_ok(doc));

	n = (size_t)sprintf(doc, "{\"burn\":{\"excluded_skus\":[\"a\",\"%0201d\"]}}", 0);
	expect_refused(doc, n, "burn.excluded_skus[1]: must be 1 to 200 bytes");

	n = (size_t)sprintf(doc, "{\"earn\":{\"check_steps\":[");
	for (int i = 0; i <= KP_MAX_STEPS; i++)
		n += (size_t)sprintf(doc + n, "%s{\"min_subtotal\":%d,\"percent\":1}", i ? "," : "",
				     i);
	n += (size_t)sprintf(doc + n, "]}}");
	expect_refused(doc, n, "earn.check_steps: must be an array of at most 32 steps");

	n = (size_t)sprintf(doc, "{\"burn\":{\"excluded_skus\":[");
	for (int i = 0; i <= KP_MAX_EXCLUSIONS; i++)
		n += (size_t)sprintf(doc + n, "%s\"sku-%d\"", i ? "," : "", i);
	n += (size_t)sprintf(doc + n, "]}}");
	expect_refused(doc, n, "burn.excluded_skus: must be an array of at most 256 strings");

	n = (size_t)sprintf(doc, "{\"");
	memset(doc + n, 'k', 1000);
	n += 1000;
	n += (size_t)sprintf(doc + n, "\":1}");
	expect_refused(doc, n, "kkkkkkkk");
	free(doc);
}

/* The largest lists allowed compile, and the parsed steps keep their order sorted. */
static void test_program_largest_lists(void **state)
{
	char *doc = malloc(64 * 1024);
	struct kp_program *p;
	size_t n;

	(void)state;
	assert_non_null(doc);
	n = (size_t)sprintf(doc, "{\"earn\":{\"check_steps\":[");
	for (int i = KP_MAX_STEPS - 1; i >= 0; i--)
		n += (size_t)sprintf(doc + n, "{\"min_subtotal\":%d,\"percent\":%d}%s", i * 1000,
				     i, i ? "," : "");
	n += (size_t)sprintf(doc + n, "]},\"burn\":{\"excluded_skus\":[");
	for (int i = 0; i < KP_MAX_EXCLUSIONS; i++)
		n += (size_t)sprintf(doc + n, "%s\"sku-%03d\"", i ? "," : "",
				     KP_MAX_EXCLUSIONS - i);
	sprintf(doc + n, "]}}");
	p = compile_ok(doc);
	assert_int_equal(p->n_earn_steps, KP_MAX_STEPS);
	assert_int_equal(p->n_excluded_skus, KP_MAX_EXCLUSIONS);
	for (size_t i = 1; i < KP_MAX_STEPS; i++)
		assert_true(p->earn_steps[i - 1].min_subtotal < p->earn_steps[i].min_subtotal);
	for (size_t i = 1; i < KP_MAX_EXCLUSIONS; i++)
		assert_true(strcmp(p->excluded_skus[i - 1], p->excluded_skus[i]) < 0);
	assert_string_equal(p->excluded_skus[0], "sku-001");
	kp_rules_program_free(p);
	free(doc);
}

static void test_program_error_buffer(void **state)
{
	struct kp_program *p = NULL;
	char small[8];

	(void)state;
	assert_int_equal(kp_rules_program_compile("{\"bogus\":1}", 11, &p, small, sizeof small),
			 KP_EPROGRAM);
	assert_string_equal(small, "bogus: ");
	assert_int_equal(kp_rules_program_compile("{\"bogus\":1}", 11, &p, NULL, 0), KP_EPROGRAM);
	assert_null(p);
	/* len bounds the text: the rest is not read */
	assert_int_equal(kp_rules_program_compile("{}garbage", 2, &p, small, sizeof small), 0);
	kp_rules_program_free(p);
	kp_rules_program_free(NULL);
}

static void test_parse_percent_text(void **state)
{
	static const struct {
		const char *text;
		int64_t max;
		int rc;
		int64_t bp;
	} cases[] = {
		{"5", 100, 0, 500},        {"2.5", 100, 0, 250},    {"12.75", 100, 0, 1275},
		{"0", 100, 0, 0},          {"100", 100, 0, 10000},  {"100.00", 100, 0, 10000},
		{"0.01", 100, 0, 1},       {"007", 100, 0, 700},    {"2.500", 100, 0, 250},
		{"2.555", 100, KP_EINVAL, 0}, {"100.01", 100, KP_EINVAL, 0},
		{"101", 100, KP_EINVAL, 0}, {"-1", 100, KP_EINVAL, 0}, {"+1", 100, KP_EINVAL, 0},
		{".5", 100, KP_EINVAL, 0}, {"5.", 100, KP_EINVAL, 0}, {"", 100, KP_EINVAL, 0},
		{"1e2", 100, KP_EINVAL, 0}, {"5 ", 100, KP_EINVAL, 0}, {"50", 10, KP_EINVAL, 0},
		{"99999999999999999999999", 100, KP_EINVAL, 0}, {"200", 1000, 0, 20000},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t bp = -1;
		int rc = kp_rules_parse_percent_text(cases[i].text, cases[i].max, &bp);

		if (rc != cases[i].rc)
			print_error("\"%s\" gave %d\n", cases[i].text, rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(bp, cases[i].bp);
		else
			assert_int_equal(bp, -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_earn),
		cmocka_unit_test(test_seed_redeem),
		cmocka_unit_test(test_seed_clamp),
		cmocka_unit_test(test_api_example),
		cmocka_unit_test(test_docs_worked_example),
		cmocka_unit_test(test_rounding_modes),
		cmocka_unit_test(test_rounding_once),
		cmocka_unit_test(test_round_div),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_small_lines_cap),
		cmocka_unit_test(test_excluded_sku),
		cmocka_unit_test(test_excluded_category),
		cmocka_unit_test(test_earn_steps),
		cmocka_unit_test(test_earn_step_never_lowers_base),
		cmocka_unit_test(test_earn_on_paid_only),
		cmocka_unit_test(test_discount_percent),
		cmocka_unit_test(test_discount_steps_highest_not_stacking),
		cmocka_unit_test(test_applied_order),
		cmocka_unit_test(test_certificates),
		cmocka_unit_test(test_point_value_one),
		cmocka_unit_test(test_point_value_large),
		cmocka_unit_test(test_anonymous),
		cmocka_unit_test(test_basket_limits),
		cmocka_unit_test(test_largest_basket),
		cmocka_unit_test(test_allocate_sums_and_ties),
		cmocka_unit_test(test_allocate_zero_weights),
		cmocka_unit_test(test_allocate_caps),
		cmocka_unit_test(test_allocate_einval),
		cmocka_unit_test(test_property_random_baskets),
		cmocka_unit_test(test_program_defaults),
		cmocka_unit_test(test_program_full),
		cmocka_unit_test(test_program_limits_accepted),
		cmocka_unit_test(test_program_real_percent),
		cmocka_unit_test(test_program_refused),
		cmocka_unit_test(test_program_refused_large),
		cmocka_unit_test(test_program_largest_lists),
		cmocka_unit_test(test_program_error_buffer),
		cmocka_unit_test(test_parse_percent_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
