/*
 * test_partners.c — a coalition partner's own earn rate, charity funds and
 * charity_percent campaigns in the rules.
 *
 * A partner's rate (basket.has_partner_earn) stands in for earn.percent as
 * the base candidate: check-size steps and the tier rate still compete with
 * it, bonus campaigns add to it and multipliers multiply it. A zero-filled
 * basket means "not set". Every number is worked out in the comment beside it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rules/rules.h"
#include "util/error.h"

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

static void compile_fails(const char *doc, const char *path)
{
	struct kp_program *p = NULL;
	char err[256] = "";
	assert_int_equal(kp_rules_program_compile(doc, strlen(doc), &p, err, sizeof err),
			 KP_EPROGRAM);
	assert_null(p);
	if (strncmp(err, path, strlen(path)) != 0)
		print_error("message %s does not start with %s\n", err, path);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
}

struct run {
	struct kp_basket b;
	struct kp_member_in m;
	struct kp_result res;
	struct kp_line_result lines[2];
};

/* One line of `price` at partner p, the member in tier `tier` (−1 = none). */
static int64_t earned(const struct kp_program *prog, int64_t price, const char *partner,
		      bool has_rate, int64_t rate_bp, int tier)
{
	static struct kp_line_in line = {.sku = "tv", .qty = 1};
	struct run r;
	memset(&r, 0, sizeof r);
	line.price = price;
	r.b.lines = &line;
	r.b.n_lines = 1;
	r.b.partner = partner;
	r.b.has_partner_earn = has_rate;
	r.b.partner_earn_bp = rate_bp;
	r.m.tier = tier;
	r.res.lines = r.lines;
	assert_int_equal(kp_rules_evaluate(prog, &r.b, &r.m, &r.res), 0);
	return r.res.points_earned;
}

static void test_partner_rate_replaces_base(void **state)
{
	(void)state;
	struct kp_program *p = compile_ok("{\"earn\":{\"percent\":5}}");
	/* 1,000.00 ₽ at 5% = 50; at the partner's 10% = 100; at 2.5% = 25; 0% = 0 */
	assert_int_equal(earned(p, 100000, "a", false, 0, -1), 50);
	assert_int_equal(earned(p, 100000, "a", true, 1000, -1), 100);
	assert_int_equal(earned(p, 100000, "a", true, 250, -1), 25);
	assert_int_equal(earned(p, 100000, "a", true, 0, -1), 0);
	kp_rules_program_free(p);
}

static void test_partner_rate_competes_with_steps_and_tiers(void **state)
{
	(void)state;
	struct kp_program *p = compile_ok(
		"{\"earn\":{\"percent\":5,"
		"\"check_steps\":[{\"min_subtotal\":500000,\"percent\":8}]},"
		"\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
		"{\"name\":\"Gold\",\"min_spend\":100,\"earn_percent\":12}]}}");
	/* partner 3%: below the step (8%) on 5,000 ₽ → 400; under it on 1,000 ₽ → 30 */
	assert_int_equal(earned(p, 500000, "a", true, 300, 0), 400);
	assert_int_equal(earned(p, 100000, "a", true, 300, 0), 30);
	/* partner 10% beats the step's 8% on 5,000 ₽ → 500 */
	assert_int_equal(earned(p, 500000, "a", true, 1000, 0), 500);
	/* Gold's 12% beats the partner's 10% → 1,000 ₽ × 12% = 120 */
	assert_int_equal(earned(p, 100000, "a", true, 1000, 1), 120);
	kp_rules_program_free(p);
}

static void test_partner_rate_with_campaigns(void **state)
{
	(void)state;
	struct kp_program *p = compile_ok(
		"{\"earn\":{\"percent\":5},\"campaigns\":["
		"{\"id\":\"plus\",\"kind\":\"bonus_percent\",\"percent\":2,\"partners\":[\"a\"]},"
		"{\"id\":\"x2\",\"kind\":\"multiplier\",\"factor\":2,\"partners\":[\"b\"]}]}");
	/* at a: (10% + 2%) × 1,000 ₽ = 120; at b: 10% × 2 = 200; at c: 10% = 100 */
	assert_int_equal(earned(p, 100000, "a", true, 1000, -1), 120);
	assert_int_equal(earned(p, 100000, "b", true, 1000, -1), 200);
	assert_int_equal(earned(p, 100000, "c", true, 1000, -1), 100);
	kp_rules_program_free(p);
}

static void test_funds_parse(void **state)
{
	(void)state;
	struct kp_program *p = compile_ok(
		"{\"charity\":{\"funds\":[{\"id\":\"kids\",\"name\":\"Kids\"},"
		"{\"id\":\"cats\",\"name\":\"Cats\"}]}}");
	assert_int_equal(p->n_funds, 2);
	assert_non_null(kp_rules_fund(p, "cats"));
	assert_string_equal(kp_rules_fund(p, "kids")->name, "Kids");
	assert_null(kp_rules_fund(p, "dogs"));
	kp_rules_program_free(p);
	compile_fails("{\"charity\":{\"funds\":[{\"id\":\"k\",\"name\":\"K\"},"
		      "{\"id\":\"k\",\"name\":\"L\"}]}}",
		      "charity.funds[1].id");
	compile_fails("{\"charity\":{\"funds\":[{\"id\":\"k\"}]}}", "charity.funds[0].name");
	compile_fails("{\"charity\":{\"fundz\":[]}}", "charity.fundz");
	compile_fails("{\"campaigns\":[{\"id\":\"c\",\"kind\":\"charity_percent\",\"percent\":1,"
		      "\"fund\":\"kids\"}]}",
		      "campaigns[0].fund");
	compile_fails("{\"charity\":{\"funds\":[{\"id\":\"kids\",\"name\":\"K\"}]},"
		      "\"campaigns\":[{\"id\":\"c\",\"kind\":\"charity_percent\",\"percent\":1}]}",
		      "campaigns[0].fund");
	compile_fails("{\"campaigns\":[{\"id\":\"c\",\"kind\":\"bonus_percent\",\"percent\":1,"
		      "\"fund\":\"kids\"}]}",
		      "campaigns[0].fund");
}

static void test_charity_campaign(void **state)
{
	(void)state;
	/* "campaigns" before "charity": the funds are read first all the same */
	struct kp_program *p = compile_ok(
		"{\"earn\":{\"percent\":5},\"campaigns\":["
		"{\"id\":\"give\",\"kind\":\"charity_percent\",\"percent\":1.5,\"fund\":\"kids\","
		"\"categories\":[\"toys\"]},"
		"{\"id\":\"give-b\",\"kind\":\"charity_percent\",\"percent\":1,\"fund\":\"kids\","
		"\"partners\":[\"b\"]}],"
		"\"charity\":{\"funds\":[{\"id\":\"kids\",\"name\":\"Kids\"}]}}");
	struct kp_line_in lines[2] = {{.sku = "ball", .category = "toys", .qty = 1, .price = 99900},
				      {.sku = "tv", .category = "tech", .qty = 1, .price = 500000}};
	struct kp_line_result out[2];
	struct kp_result res = {.lines = out};
	struct kp_basket b = {.lines = lines, .n_lines = 2, .partner = "a"};
	struct kp_member_in m = {.tier = -1};
	assert_int_equal(kp_rules_evaluate(p, &b, &m, &res), 0);
	/* the member's points are not touched: 5% of 5,999 ₽ = 299 */
	assert_int_equal(res.points_earned, 299);
	int64_t pts[KP_MAX_CAMPAIGNS];
	assert_int_equal(kp_rules_charity(p, &b, &m, &res, pts), 0);
	/* toys only: 999 ₽ × 1.5% = 14.985 → 14; give-b is for partner b only */
	assert_int_equal(pts[0], 14);
	assert_int_equal(pts[1], 0);
	b.partner = "b";
	assert_int_equal(kp_rules_evaluate(p, &b, &m, &res), 0);
	assert_int_equal(kp_rules_charity(p, &b, &m, &res, pts), 0);
	/* at b: 14 and 1% of 5,999 ₽ = 59.99 → 59 */
	assert_int_equal(pts[0], 14);
	assert_int_equal(pts[1], 59);
	kp_rules_program_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partner_rate_replaces_base),
		cmocka_unit_test(test_partner_rate_competes_with_steps_and_tiers),
		cmocka_unit_test(test_partner_rate_with_campaigns),
		cmocka_unit_test(test_funds_parse),
		cmocka_unit_test(test_charity_campaign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
