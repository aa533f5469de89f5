/*
 * test_campaigns.c — tiers, campaigns, stamp cards and thresholds: their
 * program-document sections and their part in the arithmetic of a purchase.
 *
 * Every number here is worked out by hand in the comment beside it. The
 * property test at the end runs random programs with random tiers,
 * campaigns (filters and budgets) and stamp cards on random baskets against
 * a reference model written separately from src/rules; its seed is printed
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
#include "util/timeutil.h"

#define SMALL_BASKET 8

struct outcome {
	struct kp_result res;
	struct kp_line_result lines[SMALL_BASKET];
};

/* What a basket says besides its lines; zero is a store purchase at the epoch. */
struct context {
	int64_t now;
	enum kp_channel channel;
	const char *partner;
	const int64_t *budget_left;
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
	       const struct kp_member_in *member, const struct context *ctx, struct outcome *o)
{
	static const struct context none = {0, KP_CHANNEL_STORE, NULL, NULL, 0};
	struct kp_basket b = {.lines = lines, .n_lines = n};

	if (!ctx)
		ctx = &none;
	b.redeem_points = ctx->redeem;
	b.channel = ctx->channel;
	b.now = ctx->now;
	b.partner = ctx->partner;
	b.campaign_budget_left = ctx->budget_left;
	assert_true(n <= SMALL_BASKET);
	memset(o, 0, sizeof *o);
	o->res.lines = o->lines;
	return kp_rules_evaluate(p, &b, member, &o->res);
}

static int64_t at(const char *rfc3339)
{
	int64_t t = 0;

	assert_int_equal(kp_time_parse(rfc3339, &t), 0);
	return t;
}

/* applied, as one comma-separated string, for exact comparisons of contents and order. */
static const char *applied(const struct kp_result *r, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->n_applied; i++)
		used +=
		    (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "", r->applied[i]);
	return buf;
}

#define ASSERT_APPLIED(r, expected)                                                                \
	do {                                                                                       \
		char buf_[512];                                                                    \
		assert_string_equal(applied((r), buf_, sizeof buf_), (expected));                  \
	} while (0)

/* ---- tiers ---- */

static const char tiers_doc[] =
    "{\"point_value\":1,\"discount\":{\"percent\":5},"
    "\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
    "{\"name\":\"Silver\",\"min_spend\":500000,\"discount_percent\":7},"
    "{\"name\":\"Gold\",\"min_spend\":1000000,\"discount_percent\":10,\"earn_percent\":7}]},"
    "\"campaigns\":[{\"id\":\"new-items\",\"kind\":\"discount_percent\",\"percent\":15,"
    "\"categories\":[\"new\"]},"
    "{\"id\":\"gold-ten\",\"kind\":\"discount_percent\",\"percent\":10,"
    "\"skus\":[\"b\"]}]}";

static void test_tier_for_spend(void **state)
{
	struct kp_program *p = compile_ok(tiers_doc);
	struct kp_program *none = compile_ok("{}");

	(void)state;
	assert_int_equal(kp_rules_tier_for_spend(p, 0), 0);
	assert_int_equal(kp_rules_tier_for_spend(p, 499999), 0);
	assert_int_equal(kp_rules_tier_for_spend(p, 500000), 1);
	assert_int_equal(kp_rules_tier_for_spend(p, 999999), 1);
	assert_int_equal(kp_rules_tier_for_spend(p, 1000000), 2);
	assert_int_equal(kp_rules_tier_for_spend(p, INT64_MAX), 2);
	assert_int_equal(kp_rules_tier_for_spend(p, -1), -1);
	assert_int_equal(kp_rules_tier_for_spend(none, 1000000), -1);
	assert_int_equal(kp_rules_tier_index(p, "Gold"), 2);
	assert_int_equal(kp_rules_tier_index(p, "Base"), 0);
	assert_int_equal(kp_rules_tier_index(p, "gold"), -1);
	assert_int_equal(kp_rules_tier_index(none, "Gold"), -1);
	assert_string_equal(p->tiers[1].rule_id, "tier:Silver");
	assert_int_equal(p->tiers[1].earn_bp, -1);
	assert_int_equal(p->tiers[2].earn_bp, 700);
	assert_int_equal(p->tier_basis, KP_TIER_LIFETIME);
	assert_int_equal(p->tier_review, KP_REVIEW_MONTHLY);
	kp_rules_program_free(p);
	kp_rules_program_free(none);
}

/* Card 5%, Silver 7%, Gold 10%, campaigns 15% on "new" and 10% on sku b: the highest wins. */
static void test_tier_card_campaign_highest_wins(void **state)
{
	struct kp_program *p = compile_ok(tiers_doc);
	struct kp_line_in lines[] = {
	    {"a", "new", 1, 10000}, {"b", "old", 1, 10000}, {"c", "old", 1, 10000}};
	struct kp_member_in m = {0, 2, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 3, &m, NULL, &o), 0);
	assert_int_equal(o.lines[0].discount, 1500); /* the campaign's 15% beats Gold's 10% */
	assert_int_equal(o.lines[1].discount,
			 1000); /* Gold 10% = gold-ten 10%: the tier is earlier */
	assert_int_equal(o.lines[2].discount, 1000);
	assert_int_equal(o.lines[0].discount_bp, 1500);
	assert_int_equal(o.res.discount, 3500);
	/* Gold earns 7%: (8500 + 9000 + 9000) × 7% = 1855 */
	assert_int_equal(o.res.points_earned, 1855);
	ASSERT_APPLIED(&o.res, "campaign:new-items,tier:Gold");
	/* Silver: 7% beats the card; on sku b the campaign's 10% beats Silver */
	m.tier = 1;
	assert_int_equal(run(p, lines, 3, &m, NULL, &o), 0);
	assert_int_equal(o.lines[1].discount, 1000);
	assert_int_equal(o.lines[2].discount, 700);
	assert_int_equal(o.res.points_earned, 1340); /* 5% of 8500 + 9000 + 9300 = 26800 */
	ASSERT_APPLIED(&o.res, "campaign:new-items,campaign:gold-ten,tier:Silver,base");
	/* no tier: the card's 5% where no campaign applies */
	m.tier = -1;
	assert_int_equal(run(p, lines, 3, &m, NULL, &o), 0);
	assert_int_equal(o.lines[2].discount, 500);
	ASSERT_APPLIED(&o.res, "campaign:new-items,campaign:gold-ten,discount,base");
	/* a tier index the program does not have is no tier */
	m.tier = 3;
	assert_int_equal(run(p, lines, 3, &m, NULL, &o), 0);
	assert_int_equal(o.lines[2].discount, 500);
	kp_rules_program_free(p);
}

/* A tier's earn_percent competes with earn.percent; a lower one does not lower it. */
static void test_tier_earn(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":1,\"earn\":{\"percent\":5},\"tiers\":{\"basis\":\"rolling\","
	    "\"window_days\":365,\"review\":\"yearly\",\"levels\":[{\"name\":\"Base\","
	    "\"min_spend\":0,\"earn_percent\":3},{\"name\":\"VIP\",\"min_spend\":1,"
	    "\"earn_percent\":\"12.5\"}]}}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}};
	struct kp_member_in m = {0, 0, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(p->tier_basis, KP_TIER_ROLLING);
	assert_int_equal(p->tier_window_days, 365);
	assert_int_equal(p->tier_review, KP_REVIEW_YEARLY);
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 500);
	ASSERT_APPLIED(&o.res, "base");
	m.tier = 1;
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 1250);
	assert_int_equal(o.lines[0].earn_bp, 1250);
	ASSERT_APPLIED(&o.res, "tier:VIP");
	kp_rules_program_free(p);
}

/* ---- earn campaigns ---- */

/* 5% base + 3% bonus, × 2 = 16%, exactly; each campaign's contribution is its budget cost. */
static void test_multiplier_and_bonus(void **state)
{
	struct kp_program *p =
	    compile_ok("{\"point_value\":1,\"campaigns\":["
		       "{\"id\":\"bonus\",\"kind\":\"bonus_percent\",\"percent\":3},"
		       "{\"id\":\"double\",\"kind\":\"multiplier\",\"factor\":2}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 1600);
	assert_int_equal(o.lines[0].earn_bp, 1600);
	assert_int_equal(o.res.campaign_points[0], 600); /* 16% − 10% without the bonus */
	assert_int_equal(o.res.campaign_points[1], 800); /* 16% − 8% without the multiplier */
	ASSERT_APPLIED(&o.res, "base,campaign:bonus,campaign:double");
	/* anonymous: nothing earned, no campaign costs anything */
	assert_int_equal(run(p, lines, 1, NULL, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	assert_int_equal(o.res.campaign_points[1], 0);
	assert_int_equal(o.res.n_applied, 0);
	kp_rules_program_free(p);
}

/* Factors are exact decimals: 1.5 × 5% = 7.5%, 1.55 × 5% = 7.75%, 1.15 is not 1.1499…. */
static void test_factor_exact(void **state)
{
	struct kp_program *p =
	    compile_ok("{\"point_value\":1,\"campaigns\":["
		       "{\"id\":\"x\",\"kind\":\"multiplier\",\"factor\":1.5}]}");
	struct kp_program *q =
	    compile_ok("{\"point_value\":1,\"rounding\":\"ceil\",\"campaigns\":["
		       "{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":\"1.55\"},"
		       "{\"id\":\"b\",\"kind\":\"multiplier\",\"factor\":1.15},"
		       "{\"id\":\"c\",\"kind\":\"multiplier\",\"factor\":0.5},"
		       "{\"id\":\"d\",\"kind\":\"multiplier\",\"factor\":10}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_line_in big[] = {{"a", NULL, 1, 1000000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(p->campaigns[0].factor_x100, 150);
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 75);
	assert_int_equal(o.lines[0].earn_bp, 750);
	assert_int_equal(q->campaigns[1].factor_x100, 115);
	/* 5% × 1.55 × 1.15 × 0.5 × 10 = 44.5625%: of 10,000.00 exactly 445,625 points */
	assert_int_equal(run(q, big, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 445625);
	assert_int_equal(o.lines[0].earn_bp, 4456);
	/* the ×0.5 lowers the total: it costs nothing, but it changed the result */
	assert_int_equal(o.res.campaign_points[2], 0);
	ASSERT_APPLIED(&o.res, "base,campaign:a,campaign:b,campaign:c,campaign:d");
	kp_rules_program_free(p);
	kp_rules_program_free(q);
}

/* A bonus campaign on an excluded category: the line earns the bonus but takes no points. */
static void test_excluded_category_bonus(void **state)
{
	struct kp_program *p =
	    compile_ok("{\"point_value\":1,\"burn\":{\"excluded_categories\":[\"tobacco\"]},"
		       "\"campaigns\":[{\"id\":\"smoke\",\"kind\":\"bonus_percent\",\"percent\":10,"
		       "\"categories\":[\"tobacco\"]}]}");
	struct kp_line_in lines[] = {{"cig", "tobacco", 1, 10000}, {"toy", "toys", 1, 10000}};
	struct kp_member_in m = {100000, -1, NULL, NULL};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, NULL, 100000};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, &ctx, &o), 0);
	assert_false(o.lines[0].redeemable);
	assert_int_equal(o.lines[0].points, 0);
	assert_int_equal(o.lines[1].points, 5000);
	assert_int_equal(o.lines[0].earned, 1500); /* 15% of 10,000 */
	assert_int_equal(o.lines[1].earned, 250);  /* 5% of the 5,000 paid */
	assert_int_equal(o.res.campaign_points[0], 1000);
	kp_rules_program_free(p);
}

/* bonus_points: added once, not rounded with the rate, spread by what each line paid. */
static void test_bonus_points(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":100,\"campaigns\":[{\"id\":\"big\",\"kind\":\"bonus_points\","
	    "\"points\":200,\"min_subtotal\":30000},{\"id\":\"toys\",\"kind\":\"bonus_points\","
	    "\"points\":7,\"categories\":[\"toys\"]}]}");
	struct kp_line_in lines[] = {{"a", "toys", 1, 10000}, {"b", NULL, 1, 20000}};
	struct kp_line_in small[] = {{"b", NULL, 1, 29999}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 2, &m, NULL, &o), 0);
	/* 5% of 300.00 = 15 points, + 200 + 7 */
	assert_int_equal(o.res.points_earned, 222);
	assert_int_equal(o.res.campaign_points[0], 200);
	assert_int_equal(o.res.campaign_points[1], 7);
	/* rate part 5 / 10, bonus 207 by paid 1:2 = 69 / 138 */
	assert_int_equal(o.lines[0].earned, 74);
	assert_int_equal(o.lines[1].earned, 148);
	ASSERT_APPLIED(&o.res, "base,campaign:big,campaign:toys");
	/* below min_subtotal and without a toy: neither applies */
	assert_int_equal(run(p, small, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 14);
	ASSERT_APPLIED(&o.res, "base");
	kp_rules_program_free(p);
}

/* ---- time, channel, partner, tier and subtotal filters ---- */

static void test_campaign_ends_at_local_midnight(void **state)
{
	struct kp_program *p =
	    compile_ok("{\"point_value\":1,\"campaigns\":[{\"id\":\"dec\",\"kind\":\"multiplier\","
		       "\"factor\":2,\"from\":\"2026-12-01\",\"to\":\"2026-12-31\"}],"
		       "\"utc_offset\":\"+03:00\"}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, NULL, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(p->utc_offset_s, 3 * 3600);
	assert_int_equal(p->campaigns[0].from, at("2026-11-30T21:00:00Z"));
	assert_int_equal(p->campaigns[0].to, at("2026-12-31T21:00:00Z"));
	ctx.now = at("2026-12-31T20:59:59Z");
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 100);
	ctx.now = at("2026-12-31T21:00:00Z");
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 50);
	/* from: the local midnight that starts December 1st, inclusive */
	ctx.now = at("2026-11-30T20:59:59Z");
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 50);
	ctx.now = at("2026-11-30T21:00:00Z");
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 100);
	kp_rules_program_free(p);
}

/* Instants are taken exactly, whatever utc_offset says. */
static void test_campaign_instants(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"utc_offset\":\"-05:30\",\"point_value\":1,\"campaigns\":[{\"id\":\"flash\","
	    "\"kind\":\"bonus_points\",\"points\":5,\"from\":\"2026-12-01T10:00:00Z\","
	    "\"to\":\"2026-12-01T12:00:00Z\"}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, NULL, 0};
	struct outcome o;
	static const struct {
		const char *now;
		int64_t earned;
	} cases[] = {{"2026-12-01T09:59:59Z", 0},
		     {"2026-12-01T10:00:00Z", 5},
		     {"2026-12-01T11:59:59Z", 5},
		     {"2026-12-01T12:00:00Z", 0}};

	(void)state;
	assert_int_equal(p->utc_offset_s, -(5 * 3600 + 30 * 60));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ctx.now = at(cases[i].now);
		assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
		assert_int_equal(o.res.points_earned, cases[i].earned);
	}
	kp_rules_program_free(p);
}

/* Weekend nights in Moscow: Saturday and Sunday, 22:00 to 02:00 local. */
static void test_days_and_wrapping_hours(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"utc_offset\":\"+03:00\",\"point_value\":1,\"campaigns\":[{\"id\":\"night\","
	    "\"kind\":\"bonus_points\",\"points\":1,\"days_of_week\":[7,6],"
	    "\"hours\":\"22-02\"}]}");
	struct kp_program *day = compile_ok(
	    "{\"point_value\":1,\"campaigns\":[{\"id\":\"morning\",\"kind\":\"bonus_points\","
	    "\"points\":1,\"hours\":\"08-11\"}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 1}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, NULL, 0};
	struct outcome o;
	static const struct {
		const char *now; /* UTC; local is 3 hours later */
		int64_t earned;
	} cases[] = {
	    {"2026-12-05T20:30:00Z", 1}, /* Sat 23:30 */
	    {"2026-12-05T18:59:59Z", 0}, /* Sat 21:59:59 */
	    {"2026-12-05T19:00:00Z", 1}, /* Sat 22:00 */
	    {"2026-12-05T22:59:59Z", 1}, /* Sun 01:59:59 */
	    {"2026-12-05T23:00:00Z", 0}, /* Sun 02:00 */
	    {"2026-12-06T21:30:00Z", 0}, /* Mon 00:30: Monday is not listed */
	    {"2026-12-04T20:00:00Z", 0}, /* Fri 23:00 */
	    {"2026-12-05T03:00:00Z", 0}, /* Sat 06:00 */
	};

	(void)state;
	assert_int_equal(p->campaigns[0].days_of_week, (1u << 6) | (1u << 7));
	assert_int_equal(p->campaigns[0].hour_from, 22);
	assert_int_equal(p->campaigns[0].hour_to, 2);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ctx.now = at(cases[i].now);
		assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
		if (o.res.points_earned != cases[i].earned)
			print_error("at %s\n", cases[i].now);
		assert_int_equal(o.res.points_earned, cases[i].earned);
	}
	ctx.now = at("2026-12-05T07:59:59Z");
	assert_int_equal(run(day, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	ctx.now = at("2026-12-05T08:00:00Z");
	assert_int_equal(run(day, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 1);
	ctx.now = at("2026-12-05T11:00:00Z");
	assert_int_equal(run(day, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	kp_rules_program_free(p);
	kp_rules_program_free(day);
}

static void test_channel_partner_tier_subtotal(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":1,\"earn\":{\"percent\":0},"
	    "\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
	    "{\"name\":\"Gold\",\"min_spend\":100}]},"
	    "\"campaigns\":[{\"id\":\"app\",\"kind\":\"bonus_points\",\"points\":1,"
	    "\"channels\":[\"app\",\"online\"]},"
	    "{\"id\":\"shop2\",\"kind\":\"bonus_points\",\"points\":10,"
	    "\"partners\":[\"shop-2\"]},"
	    "{\"id\":\"club\",\"kind\":\"bonus_points\",\"points\":100,\"tiers\":[\"Gold\"]},"
	    "{\"id\":\"big\",\"kind\":\"bonus_points\",\"points\":1000,"
	    "\"min_subtotal\":5000}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 4999}};
	struct kp_line_in large[] = {{"a", NULL, 1, 5000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, NULL, 0};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	ctx.channel = KP_CHANNEL_APP;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 1);
	ctx.channel = KP_CHANNEL_ONLINE;
	ctx.partner = "shop-2";
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 11);
	ctx.partner = "main";
	m.tier = 1;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 101);
	m.tier = 0;
	assert_int_equal(run(p, large, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 1001);
	ASSERT_APPLIED(&o.res, "campaign:app,campaign:big");
	kp_rules_program_free(p);
}

/* A segments filter: only members in one of the listed segments, never anonymous buyers. */
static void test_segments_filter(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":1,\"earn\":{\"percent\":0},"
	    "\"campaigns\":[{\"id\":\"club\",\"kind\":\"bonus_points\",\"points\":100,"
	    "\"segments\":[\"vip\",\"staff\"]},"
	    "{\"id\":\"staff-off\",\"kind\":\"discount_percent\",\"percent\":10,"
	    "\"segments\":[\"staff\"]}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_string_equal(p->campaigns[0].segments[0], "staff"); /* sorted */
	assert_int_equal(p->campaigns[0].n_segments, 2);
	assert_int_equal(run(p, lines, 1, NULL, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	assert_int_equal(o.res.discount, 0);
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0); /* NULL: in no segment */
	assert_int_equal(o.res.points_earned, 0);
	m.segments = "";
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	m.segments = "club-2027,vi,vipp"; /* prefixes and extensions of a name are not it */
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 0);
	m.segments = "club-2027,vip";
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 100);
	assert_int_equal(o.res.discount, 0);
	ASSERT_APPLIED(&o.res, "campaign:club");
	m.segments = "staff";
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.points_earned, 100);
	assert_int_equal(o.res.discount, 1000);
	kp_rules_program_free(p);
}

/* Discount campaigns apply to anonymous buyers, except closed-club ones. */
static void test_anonymous_discount_campaigns(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0}]},"
	    "\"campaigns\":[{\"id\":\"club\",\"kind\":\"discount_percent\",\"percent\":20,"
	    "\"tiers\":[\"Base\"]},{\"id\":\"all\",\"kind\":\"discount_percent\","
	    "\"percent\":10}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}};
	struct kp_member_in m = {0, 0, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, NULL, NULL, &o), 0);
	assert_int_equal(o.res.discount, 1000);
	ASSERT_APPLIED(&o.res, "campaign:all");
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.discount, 2000);
	ASSERT_APPLIED(&o.res, "campaign:club,base");
	kp_rules_program_free(p);
}

/* ---- budgets ---- */

/* A budget that holds exactly one purchase's contribution. */
static void test_budget_exact(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":1,\"campaigns\":[{\"id\":\"double\",\"kind\":\"multiplier\","
	    "\"factor\":2,\"budget_points\":1000}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	int64_t left[1] = {500};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, left, 0};
	struct outcome o;

	(void)state;
	/* the contribution is 1000 − 500 = 500 */
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 1000);
	assert_int_equal(o.res.campaign_points[0], 500);
	ASSERT_APPLIED(&o.res, "base,campaign:double");
	left[0] = 499;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 500);
	assert_int_equal(o.res.campaign_points[0], 0);
	ASSERT_APPLIED(&o.res, "base");
	left[0] = 0;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 500);
	/* NULL budgets are full budgets */
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.res.campaign_points[0], 500);
	kp_rules_program_free(p);
}

/* Two budgeted campaigns: each is judged with the others that are still active. */
static void test_two_budgets(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"point_value\":1,\"campaigns\":["
	    "{\"id\":\"bonus\",\"kind\":\"bonus_percent\",\"percent\":5,\"budget_points\":600},"
	    "{\"id\":\"double\",\"kind\":\"multiplier\",\"factor\":2,\"budget_points\":900},"
	    "{\"id\":\"gift\",\"kind\":\"bonus_points\",\"points\":50,\"budget_points\":50}]}");
	struct kp_line_in lines[] = {{"a", NULL, 1, 10000}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	int64_t left[3] = {1000, 1000, 50};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, left, 0};
	struct outcome o;

	(void)state;
	/* all: (5 + 5) × 2 = 20% = 2000 + 50; bonus adds 2000 − 1000 = 1000, double 2000 − 1000 */
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 2050);
	assert_int_equal(o.res.campaign_points[0], 1000);
	assert_int_equal(o.res.campaign_points[1], 1000);
	assert_int_equal(o.res.campaign_points[2], 50);
	/* bonus may add at most 999: dropped; double then adds 500 and fits */
	left[0] = 999;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 1050);
	assert_int_equal(o.res.campaign_points[0], 0);
	assert_int_equal(o.res.campaign_points[1], 500);
	ASSERT_APPLIED(&o.res, "base,campaign:double,campaign:gift");
	/* double may add 999: bonus (first) still fits with it (adds 1000); double is dropped;
	 * then bonus adds 500 and gift its 50 */
	left[0] = 1000;
	left[1] = 999;
	left[2] = 49;
	assert_int_equal(run(p, lines, 1, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 1000);
	assert_int_equal(o.res.campaign_points[0], 500);
	assert_int_equal(o.res.campaign_points[1], 0);
	assert_int_equal(o.res.campaign_points[2], 0);
	ASSERT_APPLIED(&o.res, "base,campaign:bonus");
	kp_rules_program_free(p);
}

/* ---- stamp cards ---- */

static const char coffee_doc[] =
    "{\"point_value\":1,\"stamps\":[{\"id\":\"coffee\",\"skus\":[\"latte\",\"espresso\"],"
    "\"every\":10},{\"id\":\"both\",\"skus\":[\"latte\",\"tea\"],\"every\":3}]}";

static void test_stamps_across_purchases(void **state)
{
	struct kp_program *p = compile_ok(coffee_doc);
	struct kp_line_in nine[] = {{"espresso", NULL, 9, 15000}};
	struct kp_line_in one[] = {{"latte", NULL, 1, 20000}};
	int64_t stamps[2] = {0, 0};
	struct kp_member_in m = {0, -1, stamps, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, nine, 1, &m, NULL, &o), 0);
	assert_int_equal(o.lines[0].free_units, 0);
	assert_int_equal(o.res.stamps_after[0], 9);
	assert_int_equal(o.res.discount, 0);
	stamps[0] = o.res.stamps_after[0];
	/* the 10th is free; latte counts on "coffee" only, the first card that lists it */
	assert_int_equal(run(p, one, 1, &m, NULL, &o), 0);
	assert_int_equal(o.lines[0].free_units, 1);
	assert_int_equal(o.lines[0].discount, 20000);
	assert_int_equal(o.res.to_pay, 0);
	assert_int_equal(o.res.points_earned, 0);
	assert_int_equal(o.res.stamps_after[0], 0);
	assert_int_equal(o.res.stamps_after[1], 0);
	ASSERT_APPLIED(&o.res, "stamp:coffee");
	/* anonymous buyers collect nothing */
	assert_int_equal(run(p, one, 1, NULL, NULL, &o), 0);
	assert_int_equal(o.lines[0].free_units, 0);
	/* counts outside the card are refused */
	stamps[0] = 10;
	assert_int_equal(run(p, one, 1, &m, NULL, &o), KP_EINVAL);
	stamps[0] = -1;
	assert_int_equal(run(p, one, 1, &m, NULL, &o), KP_EINVAL);
	kp_rules_program_free(p);
}

static void test_stamps_one_line(void **state)
{
	struct kp_program *p = compile_ok(coffee_doc);
	struct kp_line_in lines[] = {
	    {"latte", NULL, 25, 100}, {"tea", NULL, 4, 50}, {"espresso", NULL, 5, 80}};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 3, &m, NULL, &o), 0);
	assert_int_equal(o.lines[0].free_units, 2);
	assert_int_equal(o.lines[1].free_units, 1);
	/* 5 + 5 = 10: the last espresso is free */
	assert_int_equal(o.lines[2].free_units, 1);
	assert_int_equal(o.res.stamps_after[0], 0);
	assert_int_equal(o.res.stamps_after[1], 1);
	assert_int_equal(o.res.discount, 200 + 50 + 80);
	ASSERT_APPLIED(&o.res, "stamp:coffee,stamp:both,base");
	kp_rules_program_free(p);
}

/* A free unit is a 100% discount; the percentage applies to the rest of the line. */
static void test_stamp_and_percentage(void **state)
{
	struct kp_program *p =
	    compile_ok("{\"point_value\":1,\"discount\":{\"percent\":10},"
		       "\"stamps\":[{\"id\":\"coffee\",\"skus\":[\"latte\"],\"every\":10}]}");
	struct kp_line_in lines[] = {{"latte", NULL, 3, 333}};
	int64_t stamps[1] = {8};
	struct kp_member_in m = {0, -1, stamps, NULL};
	struct outcome o;

	(void)state;
	assert_int_equal(run(p, lines, 1, &m, NULL, &o), 0);
	assert_int_equal(o.lines[0].free_units, 1);
	/* 333 free + ⌊10% × 666⌋ = 66 */
	assert_int_equal(o.lines[0].discount, 399);
	assert_int_equal(o.lines[0].discount_bp, 1000);
	assert_int_equal(o.res.to_pay, 600);
	assert_int_equal(o.res.points_earned, 30);
	assert_int_equal(o.res.stamps_after[0], 1);
	ASSERT_APPLIED(&o.res, "discount,stamp:coffee,base");
	kp_rules_program_free(p);
}

/* ---- thresholds and parsing ---- */

static void test_thresholds(void **state)
{
	struct kp_program *p =
	    compile_ok("{\"thresholds\":[{\"points\":1000,\"gift_certificate\":100000},"
		       "{\"points\":5000,\"gift_certificate\":600000},"
		       "{\"gift_certificate\":20000,\"points\":200}]}");

	(void)state;
	assert_int_equal(p->n_thresholds, 3);
	assert_int_equal(p->thresholds[0].points, 5000);
	assert_int_equal(p->thresholds[0].gift_certificate, 600000);
	assert_int_equal(p->thresholds[1].points, 1000);
	assert_int_equal(p->thresholds[2].points, 200);
	assert_int_equal(p->thresholds[2].gift_certificate, 20000);
	kp_rules_program_free(p);
}

/* Every key of a campaign, and campaigns written before the sections they depend on. */
static void test_campaign_parsed(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"campaigns\":[{\"kind\":\"bonus_percent\",\"id\":\"all-keys_1.0\","
	    "\"percent\":\"2.5\",\"from\":\"2026-01-01\",\"to\":\"2026-01-01T12:00:00Z\","
	    "\"days_of_week\":[1,5],\"hours\":\"00-24\",\"channels\":[\"store\",\"app\"],"
	    "\"categories\":[\"b\",\"a\"],\"skus\":[\"z\",\"y\"],\"tiers\":[\"Gold\"],"
	    "\"partners\":[\"p2\",\"p1\"],\"min_subtotal\":100,\"budget_points\":1000000000000}],"
	    "\"utc_offset\":\"+01:00\","
	    "\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
	    "{\"name\":\"Gold\",\"min_spend\":10}]}}");
	const struct kp_campaign *c = &p->campaigns[0];

	(void)state;
	assert_int_equal(p->n_campaigns, 1);
	assert_string_equal(c->id, "all-keys_1.0");
	assert_string_equal(c->rule_id, "campaign:all-keys_1.0");
	assert_int_equal(c->kind, KP_CAMPAIGN_BONUS_PERCENT);
	assert_int_equal(c->percent_bp, 250);
	assert_int_equal(c->from, at("2025-12-31T23:00:00Z"));
	assert_int_equal(c->to, at("2026-01-01T12:00:00Z"));
	assert_int_equal(c->days_of_week, (1u << 1) | (1u << 5));
	assert_int_equal(c->hour_from, 0);
	assert_int_equal(c->hour_to, 24);
	assert_int_equal(c->channels, (1u << KP_CHANNEL_STORE) | (1u << KP_CHANNEL_APP));
	assert_string_equal(c->categories[0], "a");
	assert_string_equal(c->skus[0], "y");
	assert_string_equal(c->partners[0], "p1");
	assert_string_equal(c->tiers[0], "Gold");
	assert_int_equal(c->min_subtotal, 100);
	assert_int_equal(c->budget_points, 1000000000000LL);
	kp_rules_program_free(p);
	p = compile_ok("{\"campaigns\":[{\"id\":\"x\",\"kind\":\"multiplier\",\"factor\":3}]}");
	assert_int_equal(p->campaigns[0].from, INT64_MIN);
	assert_int_equal(p->campaigns[0].to, INT64_MAX);
	assert_int_equal(p->campaigns[0].hour_from, -1);
	assert_int_equal(p->campaigns[0].budget_points, -1);
	assert_int_equal(p->campaigns[0].factor_x100, 300);
	kp_rules_program_free(p);
}

static void expect_refused(const char *doc, const char *prefix)
{
	struct kp_program *p = (struct kp_program *)&p; /* must be reset to NULL */
	char err[512];
	int rc = kp_rules_program_compile(doc, strlen(doc), &p, err, sizeof err);

	if (rc != KP_EPROGRAM || strncmp(err, prefix, strlen(prefix)) != 0)
		print_error("document %s\n  gave %d \"%s\"\n  expected \"%s\"\n", doc, rc, err,
			    prefix);
	assert_int_equal(rc, KP_EPROGRAM);
	assert_null(p);
	assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
}

#define LEVELS "\"levels\":[{\"name\":\"Base\",\"min_spend\":0}]"
#define CAMPAIGN(body) "{\"campaigns\":[" body "]}"
#define MULT(id) "{\"id\":\"" id "\",\"kind\":\"multiplier\",\"factor\":2}"

static void test_refused(void **state)
{
	static const struct {
		const char *doc;
		const char *message;
	} bad[] = {
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":0}"),
	     "campaigns[0].factor: must be > 0 and at most 10 with at most two decimals"},
	    {CAMPAIGN(MULT("a") ",{\"id\":\"b\",\"kind\":\"multiplier\",\"factor\":10.5}"),
	     "campaigns[1].factor: must be > 0 and at most 10 with at most two decimals"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":1.234}"),
	     "campaigns[0].factor: must be > 0 and at most 10"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":\"-1\"}"),
	     "campaigns[0].factor: must be > 0"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\"}"),
	     "campaigns[0].factor: is required"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"cashback\"}"),
	     "campaigns[0].kind: must be \"multiplier\", \"bonus_percent\", \"bonus_points\", "
	     "\"discount_percent\" or \"charity_percent\""},
	    {CAMPAIGN("{\"id\":\"a\"}"), "campaigns[0].kind: is required"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"percent\":5}"),
	     "campaigns[0].percent: only for bonus_percent, discount_percent and charity_percent "
	     "campaigns"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_points\",\"factor\":2,\"points\":5}"),
	     "campaigns[0].factor: only for multiplier campaigns"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_percent\",\"percent\":5,\"points\":5}"),
	     "campaigns[0].points: only for bonus_points campaigns"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_percent\",\"percent\":0}"),
	     "campaigns[0].percent: must be a number from 0.01 to 100 with at most two decimals"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_points\",\"points\":1000000001}"),
	     "campaigns[0].points: must be an integer from 1 to 1000000000"},
	    {CAMPAIGN(MULT("a") "," MULT("a")), "campaigns[1].id: duplicate campaign id"},
	    {CAMPAIGN("{\"id\":\"a b\",\"kind\":\"multiplier\",\"factor\":2}"),
	     "campaigns[0].id: must be 1 to 64 characters of a-z A-Z 0-9 - _ ."},
	    {CAMPAIGN("{\"id\":\"\",\"kind\":\"multiplier\",\"factor\":2}"),
	     "campaigns[0].id: must be"},
	    {CAMPAIGN("{\"kind\":\"multiplier\",\"factor\":2}"), "campaigns[0].id: is required"},
	    {"{\"tiers\":{" LEVELS "},\"campaigns\":[{\"id\":\"a\",\"kind\":\"multiplier\","
	     "\"factor\":2,\"tiers\":[\"Base\",\"Gold\"]}]}",
	     "campaigns[0].tiers[1]: no such level in \"tiers\""},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"tiers\":[\"Gold\"]}"),
	     "campaigns[0].tiers[0]: no such level"},
	    {"{\"tiers\":{\"basis\":\"rolling\"," LEVELS "}}",
	     "tiers.window_days: is required when basis is \"rolling\""},
	    {"{\"tiers\":{\"window_days\":30," LEVELS "}}",
	     "tiers.window_days: only for basis \"rolling\""},
	    {"{\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":500}]}}",
	     "tiers.levels[0].min_spend: must be 0 for the first level"},
	    {"{\"tiers\":{\"levels\":[{\"name\":\"A\",\"min_spend\":0},{\"name\":\"B\","
	     "\"min_spend\":500},{\"name\":\"C\",\"min_spend\":500}]}}",
	     "tiers.levels[2].min_spend: must be greater than the level before"},
	    {"{\"tiers\":{\"levels\":[{\"name\":\"A\",\"min_spend\":0},{\"name\":\"A\","
	     "\"min_spend\":500}]}}",
	     "tiers.levels[1].name: duplicate level name"},
	    {"{\"tiers\":{\"levels\":[]}}", "tiers.levels: must be an array of 1 to 16 levels"},
	    {"{\"tiers\":{\"basis\":\"lifetime\"}}", "tiers.levels: is required"},
	    {"{\"tiers\":{\"basis\":\"forever\"," LEVELS "}}",
	     "tiers.basis: must be \"lifetime\" or \"rolling\""},
	    {"{\"tiers\":{\"review\":\"daily\"," LEVELS "}}",
	     "tiers.review: must be \"monthly\" or \"yearly\""},
	    {"{\"tiers\":{\"levels\":[{\"name\":\"A\"}]}}",
	     "tiers.levels[0].min_spend: is required"},
	    {"{\"tiers\":{\"levels\":[{\"min_spend\":0}]}}", "tiers.levels[0].name: is required"},
	    {"{\"tiers\":{\"levels\":[{\"name\":\"A\",\"min_spend\":0,\"perks\":1}]}}",
	     "tiers.levels[0].perks: unknown field"},
	    {"{\"tiers\":{\"levels\":[{\"name\":\"A\",\"min_spend\":0,"
	     "\"earn_percent\":101}]}}",
	     "tiers.levels[0].earn_percent: must be a number from 0 to 100"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"days_of_week\":[8]}"),
	     "campaigns[0].days_of_week[0]: must be an integer from 1 to 7"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"days_of_week\":[1,1]}"),
	     "campaigns[0].days_of_week[1]: duplicate day"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"days_of_week\":[]}"),
	     "campaigns[0].days_of_week: must be an array of 1 to 7 days"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"hours\":\"25-02\"}"),
	     "campaigns[0].hours: must be \"HH-HH\", hours 00 to 24, from and to different"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"hours\":\"08-08\"}"),
	     "campaigns[0].hours: must be \"HH-HH\""},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"hours\":\"8-11\"}"),
	     "campaigns[0].hours: must be \"HH-HH\""},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"from\":\"2026-12-31\",\"to\":\"2026-12-01\"}"),
	     "campaigns[0].to: must be after from"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"from\":\"2026-12-01T00:00:00Z\",\"to\":\"2026-12-01T00:00:00Z\"}"),
	     "campaigns[0].to: must be after from"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"from\":\"2026-13-01\"}"),
	     "campaigns[0].from: must be a date \"YYYY-MM-DD\" or a UTC time"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"to\":\"2026-12-01T10:00:00+03:00\"}"),
	     "campaigns[0].to: must be a date"},
	    {"{\"utc_offset\":\"+3\"}",
	     "utc_offset: must be \"+HH:MM\" or \"-HH:MM\" from -14:00 to +14:00"},
	    {"{\"utc_offset\":\"+14:01\"}", "utc_offset: must be"},
	    {"{\"utc_offset\":\"03:00\"}", "utc_offset: must be"},
	    {"{\"utc_offset\":\"+03:60\"}", "utc_offset: must be"},
	    /* parsed ahead of the campaigns that need it, so its error comes first */
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"nope\"}") "x", "document: "},
	    {"{\"campaigns\":[{\"id\":\"a\",\"kind\":\"nope\"}],\"utc_offset\":\"+3\"}",
	     "utc_offset: must be"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_percent\",\"percent\":5,"
		      "\"segments\":[\"vip\",\"VIP\"]}"),
	     "campaigns[0].segments[1]: must be 1 to 32 bytes of a-z 0-9 _ -"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_percent\",\"percent\":5,"
		      "\"segments\":[]}"),
	     "campaigns[0].segments: "},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_percent\",\"percent\":5,"
		      "\"segments\":[\"a23456789012345678901234567890123\"]}"),
	     "campaigns[0].segments[0]: must be 1 to 32 bytes of a-z 0-9 _ -"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"discount_percent\",\"percent\":5,"
		      "\"budget_points\":100}"),
	     "campaigns[0].budget_points: only for points campaigns"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"bonus_points\",\"points\":5,"
		      "\"budget_points\":0}"),
	     "campaigns[0].budget_points: must be an integer from 1 to 1000000000000"},
	    {CAMPAIGN(MULT("a") "," MULT("b") "," MULT("c") "," MULT("d") "," MULT("e")),
	     "campaigns[4]: at most 4 multiplier campaigns in a program"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"channels\":[\"phone\"]}"),
	     "campaigns[0].channels[0]: must be \"store\", \"online\" or \"app\""},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"skus\":[]}"),
	     "campaigns[0].skus: must be an array of 1 to 256 strings"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"categories\":[\"\"]}"),
	     "campaigns[0].categories[0]: must be 1 to 200 bytes"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,\"colour\":1}"),
	     "campaigns[0].colour: unknown field"},
	    {CAMPAIGN("{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":2,"
		      "\"min_subtotal\":-1}"),
	     "campaigns[0].min_subtotal: must be an integer from 0"},
	    {"{\"campaigns\":{}}", "campaigns: must be an array of at most 64 campaigns"},
	    {CAMPAIGN("5"), "campaigns[0]: must be an object"},
	    {"{\"stamps\":[{\"id\":\"c\",\"skus\":[\"latte\"],\"every\":1}]}",
	     "stamps[0].every: must be an integer from 2 to 1000"},
	    {"{\"stamps\":[{\"id\":\"c\",\"skus\":[],\"every\":10}]}",
	     "stamps[0].skus: must be an array of 1 to 256 strings"},
	    {"{\"stamps\":[{\"id\":\"c\",\"every\":10}]}", "stamps[0].skus: is required"},
	    {"{\"stamps\":[{\"id\":\"c\",\"skus\":[\"a\"],\"every\":10},"
	     "{\"id\":\"c\",\"skus\":[\"b\"],\"every\":10}]}",
	     "stamps[1].id: duplicate stamp card id"},
	    {"{\"thresholds\":[{\"points\":100,\"gift_certificate\":100},"
	     "{\"points\":100,\"gift_certificate\":200}]}",
	     "thresholds: points values must be distinct"},
	    {"{\"thresholds\":[{\"points\":0,\"gift_certificate\":100}]}",
	     "thresholds[0].points: must be an integer from 1 to 1000000000000"},
	    {"{\"thresholds\":[{\"points\":10}]}", "thresholds[0].gift_certificate: is required"},
	    {"{\"events\":{\"birthday\":{\"points\":0}}}",
	     "events.birthday.points: "},
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_refused(bad[i].doc, bad[i].message);
}

/* The largest sections compile: 64 campaigns with full filter lists, 16 cards, 16 levels. */
static void test_largest_sections(void **state)
{
	size_t size = 4 << 20, n = 0;
	char *doc = malloc(size);
	struct kp_program *p;

	(void)state;
	assert_non_null(doc);
	n += (size_t)sprintf(doc + n, "{\"tiers\":{\"levels\":[");
	for (int i = 0; i < KP_MAX_TIERS; i++)
		n += (size_t)sprintf(doc + n, "%s{\"name\":\"L%d\",\"min_spend\":%d}", i ? "," : "",
				     i, i * 100);
	n += (size_t)sprintf(doc + n, "]},\"campaigns\":[");
	for (int i = 0; i < KP_MAX_CAMPAIGNS; i++) {
		n += (size_t)sprintf(doc + n, "%s{\"id\":\"c%d\",\"kind\":\"%s\",%s,\"skus\":[",
				     i ? "," : "", i, i < 4 ? "multiplier" : "bonus_points",
				     i < 4 ? "\"factor\":10" : "\"points\":1000000000");
		for (int k = 0; k < KP_MAX_FILTER_ITEMS; k++)
			n += (size_t)sprintf(doc + n, "%s\"sku-%d\"", k ? "," : "", k);
		n += (size_t)sprintf(doc + n, "]}");
	}
	n += (size_t)sprintf(doc + n, "],\"stamps\":[");
	for (int i = 0; i < KP_MAX_STAMPS; i++)
		n +=
		    (size_t)sprintf(doc + n, "%s{\"id\":\"s%d\",\"skus\":[\"sku-%d\"],\"every\":2}",
				    i ? "," : "", i, i);
	sprintf(doc + n, "]}");
	p = compile_ok(doc);
	assert_int_equal(p->n_tiers, KP_MAX_TIERS);
	assert_int_equal(p->n_campaigns, KP_MAX_CAMPAIGNS);
	assert_int_equal(p->n_stamps, KP_MAX_STAMPS);
	assert_int_equal(p->campaigns[63].n_skus, KP_MAX_FILTER_ITEMS);
	kp_rules_program_free(p);
	free(doc);
}

/*
 * Every campaign and card at once on the largest basket: all 82 possible
 * rule ids fit in applied, and four ×10 multipliers at 100% earn overflow
 * int64_t cleanly as KP_EOVERFLOW.
 */
static void test_largest_purchase(void **state)
{
	char doc[16384];
	size_t n = 0;
	struct kp_program *p;
	struct kp_line_in *lines = calloc(KP_MAX_LINES, sizeof *lines);
	struct kp_line_result *out = calloc(KP_MAX_LINES, sizeof *out);
	struct kp_basket b = {.lines = lines, .n_lines = KP_MAX_LINES, .channel = KP_CHANNEL_STORE};
	struct kp_member_in m = {0, -1, NULL, NULL};
	struct kp_result r = {.lines = out};
	static char skus[KP_MAX_STAMPS][8];

	(void)state;
	assert_non_null(lines);
	assert_non_null(out);
	n += (size_t)sprintf(doc + n, "{\"point_value\":1000000,\"campaigns\":[");
	for (int i = 0; i < KP_MAX_CAMPAIGNS; i++)
		n += (size_t)sprintf(doc + n, "%s{\"id\":\"c%d\",\"kind\":\"%s\",%s}", i ? "," : "",
				     i,
				     i < 4    ? "multiplier"
				     : i < 34 ? "bonus_percent"
					      : "discount_percent",
				     i < 4 ? "\"factor\":1.01" : "\"percent\":1");
	n += (size_t)sprintf(doc + n, "],\"stamps\":[");
	for (int i = 0; i < KP_MAX_STAMPS; i++)
		n += (size_t)sprintf(doc + n, "%s{\"id\":\"s%d\",\"skus\":[\"k%d\"],\"every\":2}",
				     i ? "," : "", i, i);
	sprintf(doc + n, "]}");
	p = compile_ok(doc);
	for (size_t i = 0; i < KP_MAX_LINES; i++) {
		snprintf(skus[i % KP_MAX_STAMPS], sizeof skus[0], "k%zu", i % KP_MAX_STAMPS);
		lines[i] =
		    (struct kp_line_in){skus[i % KP_MAX_STAMPS], NULL, KP_MAX_QTY, KP_MAX_PRICE};
	}
	assert_int_equal(kp_rules_evaluate(p, &b, &m, &r), 0);
	/* the discount campaigns tie at 1%: only the first is listed */
	assert_int_equal(r.n_applied, 1 + KP_MAX_STAMPS + 1 + 34);
	kp_rules_program_free(p);
	p = compile_ok("{\"point_value\":1,\"earn\":{\"percent\":100},\"campaigns\":["
		       "{\"id\":\"a\",\"kind\":\"multiplier\",\"factor\":10},"
		       "{\"id\":\"b\",\"kind\":\"multiplier\",\"factor\":10},"
		       "{\"id\":\"c\",\"kind\":\"multiplier\",\"factor\":10},"
		       "{\"id\":\"d\",\"kind\":\"multiplier\",\"factor\":10}]}");
	assert_int_equal(kp_rules_evaluate(p, &b, &m, &r), KP_EOVERFLOW);
	assert_int_equal(r.n_applied, 0);
	b.n_lines = 1;
	assert_int_equal(kp_rules_evaluate(p, &b, &m, &r), 0);
	assert_int_equal(r.points_earned, KP_MAX_QTY * KP_MAX_PRICE * 10000);
	kp_rules_program_free(p);
	free(lines);
	free(out);
}

/* ---- the worked example of docs/rules.md ---- */

static void test_docs_worked_example(void **state)
{
	struct kp_program *p = compile_ok(
	    "{\"name\":\"Coffee & toys\",\"point_value\":100,\"utc_offset\":\"+03:00\","
	    "\"earn\":{\"percent\":5},\"discount\":{\"percent\":3},"
	    "\"tiers\":{\"levels\":[{\"name\":\"Base\",\"min_spend\":0},"
	    "{\"name\":\"Gold\",\"min_spend\":1000000,\"discount_percent\":10,"
	    "\"earn_percent\":7}]},"
	    "\"campaigns\":[{\"id\":\"lego-boost\",\"kind\":\"bonus_percent\",\"percent\":3,"
	    "\"categories\":[\"lego\"]},{\"id\":\"weekend-x2\",\"kind\":\"multiplier\","
	    "\"factor\":2,\"days_of_week\":[6,7],\"budget_points\":100000}],"
	    "\"stamps\":[{\"id\":\"coffee\",\"skus\":[\"latte\"],\"every\":10}]}");
	struct kp_line_in lines[] = {
	    {"lego-123", "lego", 1, 349900},
	    {"latte", "drinks", 3, 25000},
	    {"sticker", "toys", 2, 4950},
	};
	static const int64_t discount[] = {34990, 30000, 990}, points[] = {171, 24, 5};
	static const int64_t paid[] = {297810, 42600, 8410}, earned[] = {595, 60, 12};
	static const int64_t earn_bp[] = {2000, 1400, 1400};
	int64_t stamps[1] = {8}, left[2] = {0, 100000};
	struct kp_member_in m = {1000, 1, stamps, NULL};
	struct context ctx = {0, KP_CHANNEL_STORE, NULL, left, 200};
	struct outcome o;

	(void)state;
	ctx.now = at("2026-12-05T12:00:00Z"); /* Saturday, 15:00 in Moscow */
	assert_int_equal(run(p, lines, 3, &m, &ctx, &o), 0);
	assert_int_equal(o.res.subtotal, 434800);
	assert_int_equal(o.lines[1].free_units, 1);
	assert_int_equal(o.res.discount, 65980);
	assert_int_equal(o.res.max_redeemable, 1000);
	assert_int_equal(o.res.points_redeemed, 200);
	assert_int_equal(o.res.to_pay, 348820);
	assert_int_equal(o.res.points_earned, 667);
	assert_int_equal(o.res.campaign_points[0], 179);
	assert_int_equal(o.res.campaign_points[1], 334);
	assert_int_equal(o.res.stamps_after[0], 1);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(o.lines[i].discount, discount[i]);
		assert_int_equal(o.lines[i].discount_bp, 1000);
		assert_int_equal(o.lines[i].points, points[i]);
		assert_int_equal(o.lines[i].paid, paid[i]);
		assert_int_equal(o.lines[i].earned, earned[i]);
		assert_int_equal(o.lines[i].earn_bp, earn_bp[i]);
	}
	ASSERT_APPLIED(&o.res, "tier:Gold,stamp:coffee,campaign:lego-boost,campaign:weekend-x2");
	/* the budget left is 333 points: the weekend campaign would add 334, so it is dropped */
	left[1] = 333;
	assert_int_equal(run(p, lines, 3, &m, &ctx, &o), 0);
	assert_int_equal(o.res.points_earned, 333);
	assert_int_equal(o.res.campaign_points[1], 0);
	kp_rules_program_free(p);
}

/* ---- the property test ---- */

#define PROPERTY_RUNS 20000
#define PROPERTY_LINES 24
#define POOL 5
#define MAX_RANDOM_CAMPAIGNS 8
#define MAX_RANDOM_CARDS 3
#define DAY 86400


/* Sorted pools, so any subset taken in pool order is sorted as the program requires. */
static char *const skus[POOL] = {"s0", "s1", "s2", "s3", "s4"};
static char *const categories[POOL] = {"c0", "c1", "c2", "c3", "c4"};
static char *const tier_names[3] = {"T0", "T1", "T2"};
static char *const partners[2] = {"main", "p2"};
static char *const segment_names[3] = {"g0", "g1", "g2"};
/* A member's segments as stored (rules/segments.h), by a 3-bit mask of segment_names. */
static const char *const member_segments[8] = {"",	  "g0",	   "g1",    "g0,g1",
					       "g2",	  "g0,g2", "g1,g2", "g0,g1,g2"};
static const int64_t start = 1798761600; /* 2027-01-01T00:00:00Z, a Friday */

/* A random program built by hand, in the shape the compiler makes. */
struct random_program {
	struct kp_program p;
	struct kp_step steps[2];
	struct kp_tier tiers[3];
	struct kp_campaign campaigns[MAX_RANDOM_CAMPAIGNS];
	struct kp_stamp_card cards[MAX_RANDOM_CARDS];
	struct kp_threshold thresholds[3];
	char *lists[MAX_RANDOM_CAMPAIGNS][5][POOL];
	char *card_skus[MAX_RANDOM_CARDS][POOL];
	char ids[MAX_RANDOM_CAMPAIGNS + MAX_RANDOM_CARDS + 4][32];
};

static size_t subset(struct rng *g, char *const *pool, size_t n, char **out, bool nonempty)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (chance(g, 40))
			out[k++] = pool[i];
	if (k == 0 && nonempty)
		out[k++] = pool[pick(g, 0, (int64_t)n - 1)];
	return k;
}

static int64_t random_bp(struct rng *g)
{
	if (chance(g, 20))
		return 0;
	return chance(g, 50) ? pick(g, 0, 30) * 100 : pick(g, 0, KP_BP_ONE);
}

static void random_tiers(struct rng *g, struct random_program *rp)
{
	struct kp_program *p = &rp->p;
	int64_t spend = 0;

	p->tiers = rp->tiers;
	p->n_tiers = (size_t)pick(g, 0, 3);
	for (size_t i = 0; i < p->n_tiers; i++) {
		snprintf(rp->ids[i], sizeof rp->ids[i], "tier:%s", tier_names[i]);
		rp->tiers[i] =
		    (struct kp_tier){tier_names[i], spend, chance(g, 50) ? 0 : random_bp(g),
				     chance(g, 50) ? -1 : random_bp(g), rp->ids[i]};
		spend += pick(g, 1, 100000);
	}
}

/* The purchase filters, each present now and then. */
static void random_filters(struct rng *g, struct random_program *rp, size_t i)
{
	struct kp_campaign *c = &rp->campaigns[i];
	char **lists = rp->lists[i][0];

	if (chance(g, 30)) {
		c->from = start + pick(g, -3, 10) * DAY / 2;
		c->to = c->from + pick(g, 1, 8 * DAY);
	}
	if (chance(g, 25))
		c->days_of_week = (unsigned)pick(g, 1, 127) << 1;
	if (chance(g, 25)) {
		c->hour_from = (int)pick(g, 0, 24);
		c->hour_to = (int)((c->hour_from + pick(g, 1, 24)) % 25);
	}
	if (chance(g, 20))
		c->channels = (unsigned)pick(g, 1, 7);
	if (chance(g, 30))
		c->n_categories = subset(g, categories, POOL, c->categories = lists, true);
	if (chance(g, 30))
		c->n_skus = subset(g, skus, POOL, c->skus = rp->lists[i][1], true);
	if (chance(g, 15) && rp->p.n_tiers > 0)
		c->n_tiers = subset(g, tier_names, rp->p.n_tiers, c->tiers = rp->lists[i][2], true);
	if (chance(g, 15))
		c->n_partners = subset(g, partners, 2, c->partners = rp->lists[i][3], true);
	if (chance(g, 15))
		c->n_segments = subset(g, segment_names, 3, c->segments = rp->lists[i][4], true);
	if (chance(g, 20))
		c->min_subtotal = pick(g, 0, 100000);
}

static void random_campaigns(struct rng *g, struct random_program *rp)
{
	struct kp_program *p = &rp->p;
	size_t multipliers = 0;

	p->campaigns = rp->campaigns;
	p->n_campaigns = (size_t)(chance(g, 20) ? 0 : pick(g, 1, MAX_RANDOM_CAMPAIGNS));
	for (size_t i = 0; i < p->n_campaigns; i++) {
		struct kp_campaign *c = &rp->campaigns[i];
		int64_t kind = pick(g, 0, 3);

		if (kind == KP_CAMPAIGN_MULTIPLIER && ++multipliers > KP_MAX_MULTIPLIERS)
			kind = KP_CAMPAIGN_BONUS_PERCENT;
		memset(c, 0, sizeof *c);
		snprintf(rp->ids[3 + i], sizeof rp->ids[0], "campaign:k%zu", i);
		c->id = rp->ids[3 + i] + 9;
		c->rule_id = rp->ids[3 + i];
		c->kind = (enum kp_campaign_kind)kind;
		c->factor_x100 = chance(g, 50) ? pick(g, 1, 4) * 50 : pick(g, 1, 1000);
		c->percent_bp = chance(g, 50) ? pick(g, 1, 20) * 100 : pick(g, 1, KP_BP_ONE);
		c->points = chance(g, 50) ? pick(g, 1, 500) : pick(g, 1, 1000000000);
		c->from = INT64_MIN;
		c->to = INT64_MAX;
		c->hour_from = c->hour_to = -1;
		c->budget_points = -1;
		if (kind != KP_CAMPAIGN_DISCOUNT_PERCENT && chance(g, 40))
			c->budget_points = chance(g, 50) ? pick(g, 1, 2000) : pick(g, 1, 1000000);
		random_filters(g, rp, i);
	}
}

static void random_cards(struct rng *g, struct random_program *rp)
{
	struct kp_program *p = &rp->p;

	p->stamps = rp->cards;
	p->n_stamps = (size_t)pick(g, 0, MAX_RANDOM_CARDS);
	for (size_t k = 0; k < p->n_stamps; k++) {
		char *id = rp->ids[3 + MAX_RANDOM_CAMPAIGNS + k];

		snprintf(id, sizeof rp->ids[0], "stamp:card%zu", k);
		rp->cards[k] =
		    (struct kp_stamp_card){id + 6, id, rp->card_skus[k], 0,
					   chance(g, 50) ? pick(g, 2, 5) : pick(g, 2, 1000)};
		rp->cards[k].n_skus = subset(g, skus, POOL, rp->card_skus[k], true);
	}
	/* thresholds do not enter a purchase; they ride along to show they change nothing */
	p->thresholds = rp->thresholds;
	p->n_thresholds = (size_t)pick(g, 0, 3);
	for (size_t t = 0; t < p->n_thresholds; t++)
		rp->thresholds[t] = (struct kp_threshold){3000 - (int64_t)t * 1000, 100000};
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
	p->utc_offset_s = pick(g, -56, 56) * 900;
	if (chance(g, 30)) {
		snprintf(rp->ids[MAX_RANDOM_CAMPAIGNS + MAX_RANDOM_CARDS + 3], 32, "earn_step:1");
		rp->steps[0] = (struct kp_step){
		    1, random_bp(g), rp->ids[MAX_RANDOM_CAMPAIGNS + MAX_RANDOM_CARDS + 3]};
		p->earn_steps = rp->steps;
		p->n_earn_steps = 1;
	}
	random_tiers(g, rp);
	random_campaigns(g, rp);
	random_cards(g, rp);
}

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

struct property_case {
	unsigned seed;
	int iteration;
	const struct kp_program *p;
	const struct kp_basket *b;
	const struct kp_member_in *m;
	const struct kp_result *r;
	uint64_t line_campaigns[PROPERTY_LINES]; /* the model's */
	int64_t free_units[PROPERTY_LINES];
	unsigned segment_mask; /* the member's segments: bit s for segment_names[s] */
};

#define CHECK(c, cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("seed=%u iteration=%d: %s\n", (c)->seed, (c)->iteration,       \
				    #cond);                                                        \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

static bool listed(char *const *set, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(set[i], s) == 0)
			return true;
	return false;
}

/* The model of the purchase filters, written from the brief, not from campaigns.c. */
static bool model_purchase_match(const struct property_case *c, const struct kp_campaign *k)
{
	int64_t local = c->b->now + c->p->utc_offset_s;
	int64_t day = local >= 0 ? local / DAY : -((-local + DAY - 1) / DAY);
	int hour = (int)((local - day * DAY) / 3600);
	const char *partner = c->b->partner ? c->b->partner : "main";
	const struct kp_tier *tier = NULL;

	if (c->m && c->m->tier >= 0 && (size_t)c->m->tier < c->p->n_tiers)
		tier = &c->p->tiers[c->m->tier];
	if (c->b->now < k->from || c->b->now >= k->to)
		return false;
	if (k->days_of_week && !(k->days_of_week >> kp_iso_weekday(day) & 1))
		return false;
	if (k->hour_from >= 0 && k->hour_from < k->hour_to &&
	    !(hour >= k->hour_from && hour < k->hour_to))
		return false;
	if (k->hour_from > k->hour_to && !(hour >= k->hour_from || hour < k->hour_to))
		return false;
	if (k->channels && !(k->channels >> c->b->channel & 1))
		return false;
	if (k->n_tiers && (!tier || !listed(k->tiers, k->n_tiers, tier->name)))
		return false;
	if (k->n_partners && !listed(k->partners, k->n_partners, partner))
		return false;
	if (k->n_segments) {
		bool in_one = false;
		for (size_t s = 0; c->m && s < 3; s++)
			in_one |= (c->segment_mask >> s & 1) &&
				  listed(k->segments, k->n_segments, segment_names[s]);
		if (!in_one)
			return false;
	}
	return c->r->subtotal >= k->min_subtotal;
}

static void model_campaigns(struct property_case *c)
{
	for (size_t i = 0; i < c->b->n_lines; i++) {
		const struct kp_line_in *l = &c->b->lines[i];

		c->line_campaigns[i] = 0;
		for (size_t k = 0; k < c->p->n_campaigns; k++) {
			const struct kp_campaign *cp = &c->p->campaigns[k];
			bool line = (cp->n_categories == 0 && cp->n_skus == 0) ||
				    listed(cp->categories, cp->n_categories, l->category) ||
				    listed(cp->skus, cp->n_skus, l->sku);

			if (line && model_purchase_match(c, cp))
				c->line_campaigns[i] |= (uint64_t)1 << k;
		}
	}
}

/* Stamp cards unit by unit, as the brief states them. */
static void check_stamps(struct property_case *c)
{
	int64_t count[KP_MAX_STAMPS] = {0};

	for (size_t k = 0; c->m && k < c->p->n_stamps; k++)
		count[k] = c->m->stamps ? c->m->stamps[k] : 0;
	for (size_t i = 0; i < c->b->n_lines; i++) {
		size_t k = 0;

		c->free_units[i] = 0;
		while (k < c->p->n_stamps &&
		       !listed(c->p->stamps[k].skus, c->p->stamps[k].n_skus, c->b->lines[i].sku))
			k++;
		for (int64_t u = 0; c->m && k < c->p->n_stamps && u < c->b->lines[i].qty; u++)
			if (++count[k] == c->p->stamps[k].every) {
				count[k] = 0;
				c->free_units[i]++;
			}
		CHECK(c, c->r->lines[i].free_units == c->free_units[i]);
	}
	for (size_t k = 0; k < c->p->n_stamps; k++) {
		CHECK(c, c->r->stamps_after[k] == count[k]);
		CHECK(c,
		      c->r->stamps_after[k] >= 0 && c->r->stamps_after[k] < c->p->stamps[k].every);
	}
}

static int64_t model_discount_bp(const struct property_case *c, size_t i)
{
	const struct kp_program *p = c->p;
	int64_t bp = p->discount_percent_bp;

	if (c->m && c->m->tier >= 0 && (size_t)c->m->tier < p->n_tiers)
		bp = kp_max64(bp, p->tiers[c->m->tier].discount_bp);
	for (size_t k = 0; k < p->n_campaigns; k++)
		if ((c->line_campaigns[i] >> k & 1) &&
		    p->campaigns[k].kind == KP_CAMPAIGN_DISCOUNT_PERCENT)
			bp = kp_max64(bp, p->campaigns[k].percent_bp);
	return bp;
}

static void check_lines_and_discount(struct property_case *c)
{
	const struct kp_result *r = c->r;
	__int128 sums[5] = {0}, free_money = 0, weighted = 0;

	for (size_t i = 0; i < c->b->n_lines; i++) {
		const struct kp_line_result *l = &r->lines[i];
		int64_t free = c->free_units[i] * c->b->lines[i].price;
		int64_t bp = model_discount_bp(c, i);

		CHECK(c, l->discount_bp == bp);
		CHECK(c, l->discount >= free && l->discount <= l->amount);
		CHECK(c, l->paid >= 0 && l->earned >= 0 && l->points >= 0);
		CHECK(c, l->paid == l->amount - l->discount - l->points * c->p->point_value -
					l->certificates);
		free_money += free;
		weighted += (__int128)(l->amount - free) * bp;
		sums[0] += l->discount;
		sums[1] += l->points;
		sums[2] += l->certificates;
		sums[3] += l->paid;
		sums[4] += l->earned;
	}
	CHECK(c, r->discount == free_money + weighted / KP_BP_ONE);
	CHECK(c, r->discount >= 0 && r->discount <= r->subtotal);
	CHECK(c, sums[0] == r->discount && sums[1] == r->points_redeemed);
	CHECK(c, sums[2] == r->certificates && sums[3] == r->to_pay);
	CHECK(c, sums[4] == r->points_earned);
	CHECK(c, r->to_pay == r->subtotal - r->discount - r->points_redeemed * c->p->point_value -
				  r->certificates);
}

/* The model's E(active): rates as exact fractions over 100^4. */
static __int128 model_earned(const struct property_case *c, int64_t base, uint64_t active)
{
	const struct kp_program *p = c->p;
	__int128 num = 0, den = (__int128)KP_BP_ONE * 100000000 * p->point_value, bonus = 0;

	for (size_t i = 0; i < c->b->n_lines; i++) {
		uint64_t m = c->line_campaigns[i] & active;
		__int128 rate = base, scale = 100000000;

		for (size_t k = 0; k < p->n_campaigns; k++)
			if ((m >> k & 1) && p->campaigns[k].kind == KP_CAMPAIGN_BONUS_PERCENT)
				rate += p->campaigns[k].percent_bp;
		for (size_t k = 0; k < p->n_campaigns; k++)
			if ((m >> k & 1) && p->campaigns[k].kind == KP_CAMPAIGN_MULTIPLIER) {
				rate *= p->campaigns[k].factor_x100;
				scale /= 100;
			}
		num += c->r->lines[i].paid * rate * scale;
	}
	for (size_t k = 0; k < p->n_campaigns; k++)
		if ((active >> k & 1) && p->campaigns[k].kind == KP_CAMPAIGN_BONUS_POINTS)
			bonus += p->campaigns[k].points;
	return kp_rules_round_div(num, den, p->rounding) + bonus;
}

static int64_t model_base(const struct property_case *c)
{
	const struct kp_program *p = c->p;
	int64_t bp = p->earn_percent_bp;

	if (p->n_earn_steps && p->earn_steps[0].min_subtotal <= c->r->subtotal)
		bp = kp_max64(bp, p->earn_steps[0].percent_bp);
	if (c->m->tier >= 0 && (size_t)c->m->tier < p->n_tiers)
		bp = kp_max64(bp, p->tiers[c->m->tier].earn_bp);
	return bp;
}

static int64_t left_of(const struct property_case *c, size_t k)
{
	return c->b->campaign_budget_left ? c->b->campaign_budget_left[k]
					  : c->p->campaigns[k].budget_points;
}

/* Budgets as the brief says: drop what does not fit, in document order, until stable. */
static void check_earn(struct property_case *c)
{
	const struct kp_program *p = c->p;
	int64_t base;
	uint64_t active = 0;
	bool dropped = true;

	if (!c->m) {
		CHECK(c, c->r->points_earned == 0);
		return;
	}
	base = model_base(c);
	for (size_t i = 0; i < c->b->n_lines; i++)
		for (size_t k = 0; k < p->n_campaigns; k++)
			if ((c->line_campaigns[i] >> k & 1) &&
			    p->campaigns[k].kind != KP_CAMPAIGN_DISCOUNT_PERCENT)
				active |= (uint64_t)1 << k;
	while (dropped) {
		dropped = false;
		for (size_t k = 0; k < p->n_campaigns; k++) {
			uint64_t bit = (uint64_t)1 << k;

			if ((active & bit) && p->campaigns[k].budget_points >= 0 &&
			    model_earned(c, base, active) - model_earned(c, base, active & ~bit) >
				left_of(c, k)) {
				active &= ~bit;
				dropped = true;
			}
		}
	}
	CHECK(c, c->r->points_earned == model_earned(c, base, active));
	for (size_t k = 0; k < p->n_campaigns; k++) {
		uint64_t bit = (uint64_t)1 << k;
		__int128 added = (active & bit) ? model_earned(c, base, active) -
						      model_earned(c, base, active & ~bit)
						: 0;

		CHECK(c, c->r->campaign_points[k] == (added > 0 ? added : 0));
		CHECK(c, p->campaigns[k].budget_points < 0 ||
			     c->r->campaign_points[k] <= left_of(c, k));
	}
}

static void check_applied(const struct property_case *c)
{
	const struct kp_result *r = c->r;

	CHECK(c, r->n_applied <= KP_MAX_APPLIED);
	for (size_t i = 0; i < r->n_applied; i++)
		for (size_t j = 0; j < i; j++)
			CHECK(c, strcmp(r->applied[i], r->applied[j]) != 0);
}

static void run_property_case(struct rng *g, unsigned seed, int iteration, struct kp_line_in *lines,
			      struct kp_line_result *out)
{
	static struct random_program rp;
	int64_t stamps[MAX_RANDOM_CARDS], budgets[MAX_RANDOM_CAMPAIGNS];
	struct kp_member_in member = {pick(g, -100, 30000), -1, NULL, NULL};
	struct kp_basket b = {.lines = lines, .channel = KP_CHANNEL_STORE};
	struct kp_result r = {.lines = out};
	struct property_case c = {seed, iteration, &rp.p, &b, NULL, &r, {0}, {0}, 0};

	random_program(g, &rp);
	b.n_lines = random_basket(g, lines);
	b.redeem_points = chance(g, 30) ? 0 : pick(g, 0, 20000);
	b.certificate_funds = chance(g, 70) ? 0 : pick(g, 0, 500000);
	b.channel = (enum kp_channel)pick(g, 0, 2);
	b.now = start + pick(g, -2 * DAY, 9 * DAY);
	b.partner = chance(g, 30) ? NULL : partners[pick(g, 0, 1)];
	for (size_t k = 0; k < rp.p.n_campaigns; k++)
		budgets[k] = rp.p.campaigns[k].budget_points < 0
				 ? -1
				 : pick(g, 0, rp.p.campaigns[k].budget_points);
	b.campaign_budget_left = chance(g, 30) ? NULL : budgets;
	member.tier = (int)pick(g, -1, (int64_t)rp.p.n_tiers);
	for (size_t k = 0; k < rp.p.n_stamps; k++)
		stamps[k] = pick(g, 0, rp.p.stamps[k].every - 1);
	member.stamps = chance(g, 20) ? NULL : stamps;
	c.segment_mask = (unsigned)pick(g, 0, 7);
	member.segments = member_segments[c.segment_mask];
	c.m = chance(g, 10) ? NULL : &member;
	CHECK(&c, kp_rules_evaluate(&rp.p, &b, c.m, &r) == 0);
	model_campaigns(&c);
	check_stamps(&c);
	check_lines_and_discount(&c);
	check_earn(&c);
	check_applied(&c);
}

static void test_property_campaigns(void **state)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tier_for_spend),
	    cmocka_unit_test(test_tier_card_campaign_highest_wins),
	    cmocka_unit_test(test_tier_earn),
	    cmocka_unit_test(test_multiplier_and_bonus),
	    cmocka_unit_test(test_factor_exact),
	    cmocka_unit_test(test_excluded_category_bonus),
	    cmocka_unit_test(test_bonus_points),
	    cmocka_unit_test(test_campaign_ends_at_local_midnight),
	    cmocka_unit_test(test_campaign_instants),
	    cmocka_unit_test(test_days_and_wrapping_hours),
	    cmocka_unit_test(test_channel_partner_tier_subtotal),
	    cmocka_unit_test(test_anonymous_discount_campaigns),
	    cmocka_unit_test(test_segments_filter),
	    cmocka_unit_test(test_budget_exact),
	    cmocka_unit_test(test_two_budgets),
	    cmocka_unit_test(test_stamps_across_purchases),
	    cmocka_unit_test(test_stamps_one_line),
	    cmocka_unit_test(test_stamp_and_percentage),
	    cmocka_unit_test(test_thresholds),
	    cmocka_unit_test(test_campaign_parsed),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_largest_sections),
	    cmocka_unit_test(test_largest_purchase),
	    cmocka_unit_test(test_docs_worked_example),
	    cmocka_unit_test(test_property_campaigns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
