/*
 * test_ledger.c — unit and property tests of src/ledger.
 *
 * The examples pin the orders and entries of ledger.h one case at a time; the
 * property test runs random sequences of every operation on an advancing
 * clock and checks, after each step, the member invariants, that all postings
 * so far balance to zero, that the member's balances and lots are exactly
 * what its postings say, and that a failed call changed nothing. It prints
 * its seed; KP_TEST_SEED=<seed> replays a run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_random.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "util/error.h"
#include "util/timeutil.h"

#define MAX_LOTS 32
#define MAX_POSTINGS 512

struct fixture {
	struct kp_lot lots[MAX_LOTS];
	struct kp_posting postings[MAX_POSTINGS];
	struct kp_member_points m;
	struct kp_plan plan;
};

/* A byte copy of everything an operation may touch, to prove a failure touched nothing. */
struct snapshot {
	struct kp_lot lots[MAX_LOTS];
	struct kp_posting postings[MAX_POSTINGS];
	struct kp_member_points m;
	struct kp_plan plan;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	f->m.lots = f->lots;
	f->m.cap_lots = MAX_LOTS;
	f->plan.postings = f->postings;
	f->plan.cap = MAX_POSTINGS;
}

static void take_snapshot(const struct fixture *f, struct snapshot *s)
{
	memcpy(s->lots, f->lots, sizeof s->lots);
	memcpy(s->postings, f->postings, sizeof s->postings);
	memcpy(&s->m, &f->m, sizeof s->m);
	memcpy(&s->plan, &f->plan, sizeof s->plan);
}

static void assert_unchanged(const struct fixture *f, const struct snapshot *s)
{
	assert_memory_equal(s->lots, f->lots, sizeof s->lots);
	assert_memory_equal(s->postings, f->postings, sizeof s->postings);
	assert_memory_equal(&s->m, &f->m, sizeof s->m);
	assert_memory_equal(&s->plan, &f->plan, sizeof s->plan);
}

/* What the engine does after persisting: forget the postings and the flags. */
static void settle(struct fixture *f)
{
	f->plan.n = 0;
	for (size_t i = 0; i < f->m.n_lots; i++)
		f->lots[i].changed = f->lots[i].created = false;
}

static void assert_member_ok(const struct fixture *f)
{
	char why[128];
	int rc = kp_ledger_check_member(&f->m, why, sizeof why);
	if (rc != 0)
		fail_msg("member broken: %s", why);
}

static struct kp_lot lot_template(int64_t id, int64_t expires_at, int64_t available_at,
				  bool pending)
{
	return (struct kp_lot){.id = id,
			       .expires_at = expires_at,
			       .available_at = available_at,
			       .purchase_id = 1000 + id,
			       .pending = pending};
}

/* Credit a lot and settle, as the setup of a test. */
static void add_lot(struct fixture *f, int64_t id, int64_t points, int64_t expires_at,
		    int64_t available_at, bool pending)
{
	struct kp_lot t = lot_template(id, expires_at, available_at, pending);
	assert_int_equal(kp_ledger_credit(&f->m, points, &t, KP_ENTRY_EARN, &f->plan), 0);
	settle(f);
}

static struct kp_lot *find_lot(struct fixture *f, int64_t id)
{
	for (size_t i = 0; i < f->m.n_lots; i++)
		if (f->lots[i].id == id)
			return &f->lots[i];
	fail_msg("no lot %lld", (long long)id);
	return NULL;
}

static void expect_posting(const struct fixture *f, size_t i, enum kp_entry entry,
			   enum kp_account from, enum kp_account to, int64_t points, int64_t lot_id)
{
	assert_true(i < f->plan.n);
	const struct kp_posting *p = &f->postings[i];
	assert_int_equal(p->entry, entry);
	assert_int_equal(p->from, from);
	assert_int_equal(p->to, to);
	assert_int_equal(p->points, points);
	assert_int_equal(p->lot_id, lot_id);
}

static void expect_balances(const struct fixture *f, int64_t available, int64_t pending,
			    int64_t debt)
{
	assert_int_equal(f->m.available, available);
	assert_int_equal(f->m.pending, pending);
	assert_int_equal(f->m.debt, debt);
	assert_member_ok(f);
}

/* ---- credit ------------------------------------------------------------ */

static void test_credit_available(void **state)
{
	struct fixture f;
	struct kp_lot t = lot_template(7, 1000, 0, false);
	(void)state;

	fixture_init(&f);
	assert_int_equal(kp_ledger_credit(&f.m, 100, &t, KP_ENTRY_BONUS, &f.plan), 0);
	expect_balances(&f, 100, 0, 0);
	assert_int_equal(f.m.n_lots, 1);
	assert_int_equal(f.lots[0].id, 7);
	assert_int_equal(f.lots[0].points, 100);
	assert_int_equal(f.lots[0].remaining, 100);
	assert_int_equal(f.lots[0].expires_at, 1000);
	assert_int_equal(f.lots[0].purchase_id, 1007);
	assert_true(f.lots[0].created && f.lots[0].changed && !f.lots[0].pending);
	assert_int_equal(f.plan.n, 1);
	expect_posting(&f, 0, KP_ENTRY_BONUS, KP_ACC_ISSUANCE, KP_ACC_AVAILABLE, 100, 7);
	assert_int_equal(kp_ledger_spendable(&f.m, 999), 100);
	assert_int_equal(kp_ledger_spendable(&f.m, 1000), 0);
}

static void test_credit_pending(void **state)
{
	struct fixture f;
	struct kp_lot t = lot_template(3, KP_NEVER, 500, true);
	(void)state;

	fixture_init(&f);
	assert_int_equal(kp_ledger_credit(&f.m, 40, &t, KP_ENTRY_EARN, &f.plan), 0);
	expect_balances(&f, 0, 40, 0);
	assert_true(f.lots[0].pending && f.lots[0].created && f.lots[0].changed);
	assert_int_equal(f.lots[0].available_at, 500);
	expect_posting(&f, 0, KP_ENTRY_EARN, KP_ACC_ISSUANCE, KP_ACC_PENDING, 40, 3);
	assert_int_equal(kp_ledger_spendable(&f.m, 10000), 0);
}

static void test_credit_rejects(void **state)
{
	struct fixture f;
	struct snapshot s;
	struct kp_lot t = lot_template(9, KP_NEVER, 0, false);
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, INT64_MAX - 10, KP_NEVER, 0, false);
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_credit(&f.m, 0, &t, KP_ENTRY_EARN, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_credit(&f.m, -5, &t, KP_ENTRY_EARN, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_credit(&f.m, 11, &t, KP_ENTRY_EARN, &f.plan), KP_EOVERFLOW);
	assert_unchanged(&f, &s);

	f.m.cap_lots = f.m.n_lots; /* no room for a lot */
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_credit(&f.m, 5, &t, KP_ENTRY_EARN, &f.plan), KP_EINVAL);
	assert_unchanged(&f, &s);
}

/* ---- debit ------------------------------------------------------------- */

/* At now = 100: spendable are lots 7 (exp 150), 3 and 2 (exp 200), 1 (300), 6 (never). */
static void debit_setup(struct fixture *f)
{
	fixture_init(f);
	add_lot(f, 3, 40, 200, 0, false); /* before lot 2 in the array, after it in order */
	add_lot(f, 2, 30, 200, 0, false);
	add_lot(f, 1, 50, 300, 0, false);
	add_lot(f, 4, 70, 100, 0, false); /* expires exactly at now: skipped */
	add_lot(f, 5, 80, 120, 50, true); /* pending and earliest: skipped */
	add_lot(f, 6, 20, KP_NEVER, 0, false);
	add_lot(f, 7, 10, 150, 0, false);
	expect_balances(f, 220, 80, 0);
	assert_int_equal(kp_ledger_spendable(&f->m, 100), 150);
}

static void test_debit_earliest_expiry_first(void **state)
{
	struct fixture f;
	(void)state;

	debit_setup(&f);
	assert_int_equal(kp_ledger_debit(&f.m, 100, 100, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 0);
	assert_int_equal(f.plan.n, 4);
	expect_posting(&f, 0, KP_ENTRY_REDEEM, KP_ACC_AVAILABLE, KP_ACC_REDEEMED, 10, 7);
	expect_posting(&f, 1, KP_ENTRY_REDEEM, KP_ACC_AVAILABLE, KP_ACC_REDEEMED, 30, 2);
	expect_posting(&f, 2, KP_ENTRY_REDEEM, KP_ACC_AVAILABLE, KP_ACC_REDEEMED, 40, 3);
	expect_posting(&f, 3, KP_ENTRY_REDEEM, KP_ACC_AVAILABLE, KP_ACC_REDEEMED, 20, 1);
	expect_balances(&f, 120, 80, 0);
	assert_int_equal(find_lot(&f, 1)->remaining, 30);
	assert_int_equal(find_lot(&f, 4)->remaining, 70);
	assert_int_equal(find_lot(&f, 5)->remaining, 80);
	assert_int_equal(find_lot(&f, 6)->remaining, 20);
	assert_true(find_lot(&f, 7)->changed && find_lot(&f, 2)->changed);
	assert_true(find_lot(&f, 3)->changed && find_lot(&f, 1)->changed);
	assert_false(find_lot(&f, 4)->changed || find_lot(&f, 5)->changed);
	assert_false(find_lot(&f, 6)->changed);
	assert_int_equal(kp_ledger_spendable(&f.m, 100), 50);
}

static void test_debit_insufficient_unchanged(void **state)
{
	struct fixture f;
	struct snapshot s;
	(void)state;

	debit_setup(&f);
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_debit(&f.m, 151, 100, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 KP_EINSUFFICIENT);
	assert_int_equal(kp_ledger_debit(&f.m, 0, 100, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 KP_EINVAL);
	assert_int_equal(
	    kp_ledger_debit(&f.m, 21, 100000, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
	    KP_EINSUFFICIENT);
	assert_unchanged(&f, &s);

	/* Exactly all that is spendable, as a negative adjustment back to issuance. */
	assert_int_equal(kp_ledger_debit(&f.m, 150, 100, KP_ACC_ISSUANCE, KP_ENTRY_ADJUST, &f.plan),
			 0);
	assert_int_equal(f.plan.n, 5);
	expect_posting(&f, 4, KP_ENTRY_ADJUST, KP_ACC_AVAILABLE, KP_ACC_ISSUANCE, 20, 6);
	expect_balances(&f, 70, 80, 0);
	assert_int_equal(kp_ledger_spendable(&f.m, 100), 0);
}

/* ---- expiry and activation ---------------------------------------------- */

static void test_expire_at_now(void **state)
{
	struct fixture f;
	struct snapshot s;
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, 30, 500, 0, false);
	add_lot(&f, 2, 20, 600, 0, false);
	add_lot(&f, 3, 10, 500, 700, true);
	assert_int_equal(kp_ledger_spendable(&f.m, 499), 50);
	assert_int_equal(kp_ledger_spendable(&f.m, 500), 20);
	assert_int_equal(kp_ledger_debit(&f.m, 21, 500, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 KP_EINSUFFICIENT);

	assert_int_equal(kp_ledger_expire(&f.m, 499, &f.plan), 0);
	assert_int_equal(f.plan.n, 0);
	assert_int_equal(kp_ledger_expire(&f.m, 500, &f.plan), 40);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 0, KP_ENTRY_EXPIRE, KP_ACC_AVAILABLE, KP_ACC_EXPIRED, 30, 1);
	expect_posting(&f, 1, KP_ENTRY_EXPIRE, KP_ACC_PENDING, KP_ACC_EXPIRED, 10, 3);
	assert_int_equal(find_lot(&f, 1)->remaining, 0);
	assert_int_equal(find_lot(&f, 3)->remaining, 0);
	assert_false(find_lot(&f, 2)->changed);
	expect_balances(&f, 20, 0, 0);

	settle(&f);
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_expire(&f.m, 500, &f.plan), 0);
	assert_unchanged(&f, &s);
}

static void test_activate_at_available_at(void **state)
{
	struct fixture f;
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, 100, 5000, 1000, true);
	add_lot(&f, 2, 25, 1000, 1000, true); /* expires as its hold ends: expiry's job */
	assert_int_equal(kp_ledger_activate(&f.m, 999, &f.plan), 0);
	assert_int_equal(f.plan.n, 0);
	assert_true(f.lots[0].pending && !f.lots[0].changed);

	assert_int_equal(kp_ledger_activate(&f.m, 1000, &f.plan), 100);
	assert_int_equal(f.plan.n, 1);
	expect_posting(&f, 0, KP_ENTRY_ACTIVATE, KP_ACC_PENDING, KP_ACC_AVAILABLE, 100, 1);
	assert_true(!f.lots[0].pending && f.lots[0].changed);
	assert_true(f.lots[1].pending && !f.lots[1].changed);
	expect_balances(&f, 100, 25, 0);
	assert_int_equal(kp_ledger_spendable(&f.m, 1000), 100);

	assert_int_equal(kp_ledger_expire(&f.m, 1000, &f.plan), 25);
	expect_posting(&f, 1, KP_ENTRY_EXPIRE, KP_ACC_PENDING, KP_ACC_EXPIRED, 25, 2);
	expect_balances(&f, 100, 0, 0);
}

/* ---- reverse and debt --------------------------------------------------- */

static void test_reverse_pending_then_available_then_debt(void **state)
{
	struct fixture f;
	(void)state;

	fixture_init(&f);
	add_lot(&f, 11, 20, 800, 900, true);
	add_lot(&f, 10, 30, 900, 900, true); /* the refunded purchase's own lot, latest expiry */
	add_lot(&f, 12, 25, 700, 900, true);
	add_lot(&f, 20, 40, 600, 0, false);
	add_lot(&f, 21, 15, 500, 0, false);

	assert_int_equal(kp_ledger_reverse(&f.m, 40, 10, &f.plan), 0);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 0, KP_ENTRY_REFUND, KP_ACC_PENDING, KP_ACC_ISSUANCE, 30, 10);
	expect_posting(&f, 1, KP_ENTRY_REFUND, KP_ACC_PENDING, KP_ACC_ISSUANCE, 10, 12);
	expect_balances(&f, 55, 35, 0);

	settle(&f);
	assert_int_equal(kp_ledger_reverse(&f.m, 102, 10, &f.plan), 0);
	assert_int_equal(f.plan.n, 5);
	expect_posting(&f, 0, KP_ENTRY_REFUND, KP_ACC_PENDING, KP_ACC_ISSUANCE, 15, 12);
	expect_posting(&f, 1, KP_ENTRY_REFUND, KP_ACC_PENDING, KP_ACC_ISSUANCE, 20, 11);
	expect_posting(&f, 2, KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_ISSUANCE, 15, 21);
	expect_posting(&f, 3, KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_ISSUANCE, 40, 20);
	expect_posting(&f, 4, KP_ENTRY_REFUND, KP_ACC_DEBT, KP_ACC_ISSUANCE, 12, 0);
	expect_balances(&f, 0, 0, -12);
	assert_int_equal(kp_ledger_spendable(&f.m, 0), -12);
}

static void test_reverse_own_available_lot_first(void **state)
{
	struct fixture f;
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, 10, 100, 0, false);
	add_lot(&f, 2, 10, 200, 0, false);
	add_lot(&f, 3, 10, 300, 0, false);
	assert_int_equal(kp_ledger_reverse(&f.m, 15, 3, &f.plan), 0);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 0, KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_ISSUANCE, 10, 3);
	expect_posting(&f, 1, KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_ISSUANCE, 5, 1);
	expect_balances(&f, 15, 0, 0);
	/* An unknown own lot simply ranks nothing first. */
	assert_int_equal(kp_ledger_reverse(&f.m, 1, 99, &f.plan), 0);
	expect_posting(&f, 2, KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_ISSUANCE, 1, 1);
	assert_int_equal(kp_ledger_reverse(&f.m, 0, 1, &f.plan), KP_EINVAL);
}

/* A member who spent lot 1 (50 points) and then had 50 points reversed: debt -50. */
static void debt_setup(struct fixture *f)
{
	fixture_init(f);
	add_lot(f, 1, 50, 1000, 0, false);
	assert_int_equal(kp_ledger_debit(&f->m, 50, 10, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f->plan),
			 0);
	assert_int_equal(kp_ledger_reverse(&f->m, 50, 1, &f->plan), 0);
	expect_posting(f, 1, KP_ENTRY_REFUND, KP_ACC_DEBT, KP_ACC_ISSUANCE, 50, 0);
	expect_balances(f, 0, 0, -50);
	settle(f);
}

static void test_credit_repays_debt(void **state)
{
	struct fixture f;
	struct kp_lot pending = lot_template(2, 2000, 100, true);
	struct kp_lot small = lot_template(3, 2000, 0, false);
	struct kp_lot big = lot_template(4, 2000, 0, false);
	(void)state;

	debt_setup(&f);
	/* Pending points are not available yet: they do not repay. */
	assert_int_equal(kp_ledger_credit(&f.m, 30, &pending, KP_ENTRY_EARN, &f.plan), 0);
	assert_int_equal(f.plan.n, 1);
	expect_balances(&f, 0, 30, -50);

	assert_int_equal(kp_ledger_credit(&f.m, 20, &small, KP_ENTRY_BONUS, &f.plan), 0);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 1, KP_ENTRY_BONUS, KP_ACC_ISSUANCE, KP_ACC_DEBT, 20, 0);
	assert_int_equal(f.m.n_lots, 2); /* nothing left: no lot */
	expect_balances(&f, 0, 30, -30);

	assert_int_equal(kp_ledger_credit(&f.m, 100, &big, KP_ENTRY_EARN, &f.plan), 0);
	assert_int_equal(f.plan.n, 4);
	expect_posting(&f, 2, KP_ENTRY_EARN, KP_ACC_ISSUANCE, KP_ACC_DEBT, 30, 0);
	expect_posting(&f, 3, KP_ENTRY_EARN, KP_ACC_ISSUANCE, KP_ACC_AVAILABLE, 70, 4);
	assert_int_equal(find_lot(&f, 4)->points, 70);
	assert_int_equal(find_lot(&f, 4)->remaining, 70);
	expect_balances(&f, 70, 30, 0);
}

static void test_activate_repays_debt(void **state)
{
	struct fixture f;
	(void)state;

	debt_setup(&f);
	add_lot(&f, 2, 30, 2000, 100, true);
	add_lot(&f, 3, 40, 1500, 200, true);
	assert_int_equal(kp_ledger_activate(&f.m, 100, &f.plan), 30);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 0, KP_ENTRY_ACTIVATE, KP_ACC_PENDING, KP_ACC_AVAILABLE, 30, 2);
	expect_posting(&f, 1, KP_ENTRY_ACTIVATE, KP_ACC_AVAILABLE, KP_ACC_DEBT, 30, 2);
	expect_balances(&f, 0, 40, -20);

	settle(&f);
	assert_int_equal(kp_ledger_activate(&f.m, 200, &f.plan), 40);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 0, KP_ENTRY_ACTIVATE, KP_ACC_PENDING, KP_ACC_AVAILABLE, 40, 3);
	expect_posting(&f, 1, KP_ENTRY_ACTIVATE, KP_ACC_AVAILABLE, KP_ACC_DEBT, 20, 3);
	expect_balances(&f, 20, 0, 0);
}

/* ---- return ------------------------------------------------------------- */

static void test_return_into_original_lots(void **state)
{
	struct fixture f;
	const struct kp_lot_return back[] = {
	    {.lot_id = 1, .points = 50}, {.lot_id = 2, .points = 10}, {.lot_id = 2, .points = 20}};
	(void)state;

	fixture_init(&f);
	add_lot(&f, 2, 50, 300, 0, false);
	add_lot(&f, 1, 50, 150, 0, false);
	assert_int_equal(kp_ledger_debit(&f.m, 80, 100, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 0);
	expect_posting(&f, 0, KP_ENTRY_REDEEM, KP_ACC_AVAILABLE, KP_ACC_REDEEMED, 50, 1);
	expect_posting(&f, 1, KP_ENTRY_REDEEM, KP_ACC_AVAILABLE, KP_ACC_REDEEMED, 30, 2);
	settle(&f);

	/* At 200 lot 1 has expired: its points come back and expire at once. */
	assert_int_equal(kp_ledger_return(&f.m, back, 3, 200, &f.plan), 0);
	assert_int_equal(f.plan.n, 3);
	expect_posting(&f, 0, KP_ENTRY_REFUND, KP_ACC_REDEEMED, KP_ACC_AVAILABLE, 50, 1);
	expect_posting(&f, 1, KP_ENTRY_EXPIRE, KP_ACC_AVAILABLE, KP_ACC_EXPIRED, 50, 1);
	expect_posting(&f, 2, KP_ENTRY_REFUND, KP_ACC_REDEEMED, KP_ACC_AVAILABLE, 30, 2);
	assert_int_equal(find_lot(&f, 1)->remaining, 0);
	assert_int_equal(find_lot(&f, 2)->remaining, 50);
	assert_int_equal(find_lot(&f, 2)->expires_at, 300);
	expect_balances(&f, 50, 0, 0);
	assert_int_equal(kp_ledger_spendable(&f.m, 200), 50);
	assert_int_equal(kp_ledger_spendable(&f.m, 300), 0);
	assert_int_equal(kp_ledger_return(&f.m, NULL, 0, 200, &f.plan), 0);
	assert_int_equal(f.plan.n, 3);
}

static void test_return_repays_debt(void **state)
{
	struct fixture f;
	const struct kp_lot_return back = {.lot_id = 1, .points = 50};
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, 50, 1000, 0, false);
	assert_int_equal(kp_ledger_debit(&f.m, 50, 10, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 0);
	assert_int_equal(kp_ledger_reverse(&f.m, 20, 0, &f.plan), 0);
	expect_balances(&f, 0, 0, -20);
	settle(&f);

	assert_int_equal(kp_ledger_return(&f.m, &back, 1, 20, &f.plan), 0);
	assert_int_equal(f.plan.n, 2);
	expect_posting(&f, 0, KP_ENTRY_REFUND, KP_ACC_REDEEMED, KP_ACC_AVAILABLE, 50, 1);
	expect_posting(&f, 1, KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_DEBT, 20, 1);
	assert_int_equal(find_lot(&f, 1)->remaining, 30);
	expect_balances(&f, 30, 0, 0);
}

static void test_return_rejects(void **state)
{
	struct fixture f;
	struct snapshot s;
	const struct kp_lot_return unknown = {.lot_id = 99, .points = 1};
	const struct kp_lot_return zero = {.lot_id = 1, .points = 0};
	const struct kp_lot_return too_many = {.lot_id = 1, .points = 31};
	const struct kp_lot_return together[] = {{.lot_id = 1, .points = 20},
						 {.lot_id = 1, .points = 11}};
	const struct kp_lot_return huge[] = {{.lot_id = 1, .points = INT64_MAX},
					     {.lot_id = 1, .points = INT64_MAX}};
	const struct kp_lot_return into_pending = {.lot_id = 2, .points = 1};
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, 50, 1000, 0, false);
	add_lot(&f, 2, 50, 1000, 500, true);
	assert_int_equal(kp_ledger_debit(&f.m, 30, 10, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 0);
	assert_int_equal(kp_ledger_reverse(&f.m, 5, 2, &f.plan), 0);
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_return(&f.m, &unknown, 1, 20, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_return(&f.m, &zero, 1, 20, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_return(&f.m, &too_many, 1, 20, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_return(&f.m, together, 2, 20, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_return(&f.m, huge, 2, 20, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_return(&f.m, &into_pending, 1, 20, &f.plan), KP_EINVAL);
	assert_unchanged(&f, &s);
	assert_int_equal(kp_ledger_return(&f.m, together, 1, 20, &f.plan), 0);
}

/* ---- plan room, invariants, names --------------------------------------- */

/* Lots set up by hand, at the edge of int64_t. */
static void put_lot(struct fixture *f, int64_t id, int64_t points, int64_t remaining,
		    int64_t expires_at, bool pending)
{
	assert_true(f->m.n_lots < MAX_LOTS);
	f->lots[f->m.n_lots++] = (struct kp_lot){.id = id,
						 .points = points,
						 .remaining = remaining,
						 .expires_at = expires_at,
						 .pending = pending};
	if (pending)
		f->m.pending += remaining;
	else
		f->m.available += remaining;
	assert_member_ok(f);
}

static void test_overflow_leaves_unchanged(void **state)
{
	struct fixture f;
	struct snapshot s;
	const struct kp_lot_return back = {.lot_id = 2, .points = 5};
	(void)state;

	fixture_init(&f);
	f.m.debt = INT64_MIN + 5;
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_reverse(&f.m, 10, 0, &f.plan), KP_EOVERFLOW);
	assert_unchanged(&f, &s);
	assert_int_equal(kp_ledger_reverse(&f.m, 5, 0, &f.plan), 0);
	expect_balances(&f, 0, 0, INT64_MIN);

	fixture_init(&f);
	put_lot(&f, 1, INT64_MAX, INT64_MAX, 100, false);
	put_lot(&f, 2, 10, 0, 100, false);
	put_lot(&f, 3, 1, 1, 100, true);
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_expire(&f.m, 100, &f.plan), KP_EOVERFLOW);
	assert_int_equal(kp_ledger_activate(&f.m, 0, &f.plan), KP_EOVERFLOW);
	assert_int_equal(kp_ledger_return(&f.m, &back, 1, 0, &f.plan), KP_EOVERFLOW);
	assert_unchanged(&f, &s);

	/* Only a broken member sums past int64_t: spendable clamps instead of wrapping. */
	f.lots[1].remaining = INT64_MAX;
	f.lots[1].points = INT64_MAX;
	assert_int_equal(kp_ledger_spendable(&f.m, 0), INT64_MAX);
}

static void test_plan_room(void **state)
{
	struct fixture f;
	struct snapshot s;
	struct kp_lot t = lot_template(9, KP_NEVER, 0, false);
	const struct kp_lot_return back = {.lot_id = 1, .points = 5};
	(void)state;

	fixture_init(&f);
	add_lot(&f, 1, 50, 1000, 0, false);
	add_lot(&f, 2, 50, 1000, 10, true);
	assert_int_equal(kp_ledger_debit(&f.m, 10, 10, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 0);
	size_t bound = kp_ledger_plan_bound(&f.m);
	assert_int_equal(bound, 9);
	f.plan.cap = f.plan.n + bound - 1;
	take_snapshot(&f, &s);
	assert_int_equal(kp_ledger_credit(&f.m, 5, &t, KP_ENTRY_EARN, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_debit(&f.m, 5, 10, KP_ACC_REDEEMED, KP_ENTRY_REDEEM, &f.plan),
			 KP_EINVAL);
	assert_int_equal(kp_ledger_reverse(&f.m, 5, 1, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_return(&f.m, &back, 1, 10, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_expire(&f.m, 2000, &f.plan), KP_EINVAL);
	assert_int_equal(kp_ledger_activate(&f.m, 20, &f.plan), KP_EINVAL);
	assert_unchanged(&f, &s);

	f.plan.cap = f.plan.n + bound; /* exactly the bound is enough */
	assert_int_equal(kp_ledger_activate(&f.m, 20, &f.plan), 50);
}

static void expect_broken(const struct kp_member_points *m, const char *message)
{
	char why[128];

	memset(why, 'x', sizeof why);
	assert_int_equal(kp_ledger_check_member(m, why, sizeof why), KP_EINTERNAL);
	assert_string_equal(why, message);
}

static void test_check_member_messages(void **state)
{
	struct kp_lot lots[2] = {
	    {.id = 1, .points = 100, .remaining = 90, .expires_at = KP_NEVER},
	    {.id = 2, .points = 60, .remaining = 50, .expires_at = KP_NEVER, .pending = true},
	};
	struct kp_member_points m = {
	    .available = 90, .pending = 50, .lots = lots, .n_lots = 2, .cap_lots = 2};
	char tiny[8];
	(void)state;

	assert_int_equal(kp_ledger_check_member(&m, tiny, sizeof tiny), 0);
	assert_string_equal(tiny, "");
	assert_int_equal(kp_ledger_check_member(&m, NULL, 0), 0);

	m.available = 150;
	expect_broken(&m, "available 150 != sum of available lots 90");
	assert_int_equal(kp_ledger_check_member(&m, tiny, sizeof tiny), KP_EINTERNAL);
	assert_string_equal(tiny, "availab"); /* cut, still terminated */
	m.available = 90;
	m.pending = 0;
	expect_broken(&m, "pending 0 != sum of pending lots 50");
	m.pending = 50;
	m.debt = 3;
	expect_broken(&m, "debt 3 > 0");
	m.debt = -3;
	expect_broken(&m, "debt -3 < 0 while available 90 != 0");
	m.debt = 0;
	lots[1].remaining = 61;
	expect_broken(&m, "lot 2: remaining 61 not in 0..points 60");
	lots[1].remaining = -1;
	expect_broken(&m, "lot 2: remaining -1 not in 0..points 60");
	lots[1].remaining = 50;
	lots[0].points = 0;
	expect_broken(&m, "lot 1: points 0 <= 0");
	lots[0].points = 100;
	lots[0].id = 0;
	expect_broken(&m, "lot id 0 <= 0");
	lots[0].id = 1;
	m.n_lots = 3;
	expect_broken(&m, "n_lots 3 > cap_lots 2");
	m.n_lots = 2;
	lots[0] = (struct kp_lot){.id = 1, .points = INT64_MAX, .remaining = INT64_MAX};
	lots[1] = (struct kp_lot){.id = 2, .points = 1, .remaining = 1};
	expect_broken(&m, "sum of available lots overflows");
}

static void test_names_and_deltas(void **state)
{
	static const char *const names[] = {"earn",   "redeem", "expire", "activate",
					    "refund", "bonus",	"adjust", "transfer"};
	const struct kp_posting earn = {KP_ENTRY_EARN, KP_ACC_ISSUANCE, KP_ACC_PENDING, 7, 1};
	const struct kp_posting activate = {KP_ENTRY_ACTIVATE, KP_ACC_PENDING, KP_ACC_AVAILABLE, 7,
					    1};
	const struct kp_posting repay = {KP_ENTRY_REFUND, KP_ACC_AVAILABLE, KP_ACC_DEBT, 7, 1};
	const struct kp_posting debt = {KP_ENTRY_REFUND, KP_ACC_DEBT, KP_ACC_ISSUANCE, 7, 0};
	const struct kp_posting unnamed = {KP_ENTRY_ADJUST, KP_ACC_ISSUANCE, KP_ACC_AVAILABLE, 7,
					   0};
	(void)state;

	for (int e = KP_ENTRY_EARN; e <= KP_ENTRY_TRANSFER; e++)
		assert_string_equal(kp_ledger_entry_name((enum kp_entry)e), names[e - 1]);
	assert_non_null(kp_ledger_entry_name((enum kp_entry)0));
	assert_non_null(kp_ledger_entry_name((enum kp_entry)99));

	assert_false(kp_ledger_is_member_account(KP_ACC_ISSUANCE));
	assert_false(kp_ledger_is_member_account(KP_ACC_REDEEMED));
	assert_false(kp_ledger_is_member_account(KP_ACC_EXPIRED));
	assert_true(kp_ledger_is_member_account(KP_ACC_AVAILABLE));
	assert_true(kp_ledger_is_member_account(KP_ACC_PENDING));
	assert_true(kp_ledger_is_member_account(KP_ACC_DEBT));

	assert_int_equal(kp_ledger_lot_delta(&earn), 7);
	assert_int_equal(kp_ledger_lot_delta(&activate), 0);
	assert_int_equal(kp_ledger_lot_delta(&repay), -7);
	assert_int_equal(kp_ledger_lot_delta(&debt), 0);
	assert_int_equal(kp_ledger_lot_delta(&unnamed), 0);
}

/* ---- property test ------------------------------------------------------ */

#define PROP_SEQUENCES 20000
#define PROP_MAX_STEPS 40
#define PROP_LOTS 24
#define PROP_POSTINGS 4096 /* ≥ PROP_MAX_STEPS × 3 × (PROP_LOTS + 1) */
#define N_ACCOUNTS 7	   /* enum kp_account values are 1..6 */

/* Uniform enough in [0, n) for the small n used here. */
static int64_t rng_below(struct rng *r, int64_t n)
{
	assert_true(n > 0);
	return (int64_t)(next_u64(r) % (uint64_t)n);
}

/* The member, and what its postings so far say it should be. */
struct model {
	struct rng rng;
	int64_t now;
	int64_t next_id;
	struct kp_lot lots[PROP_LOTS];
	struct kp_member_points m;
	struct kp_plan plan;
	size_t counted;		       /* postings already added to the totals */
	int64_t totals[N_ACCOUNTS];    /* balance of each account */
	int64_t deltas[PROP_LOTS];     /* Σ lot deltas per lot position */
	int64_t unreturned[PROP_LOTS]; /* points redeemed from a lot, not given back */
	struct kp_posting *postings;
	char why[160];
};

/* The state before an operation, to check a failure changed nothing. */
struct before {
	struct kp_lot lots[PROP_LOTS];
	struct kp_member_points m;
	struct kp_plan plan;
	int64_t spendable;
};

static size_t model_lot(const struct model *md, int64_t id)
{
	for (size_t i = 0; i < md->m.n_lots; i++)
		if (md->lots[i].id == id)
			return i;
	return SIZE_MAX;
}

static bool broken_model(struct model *md, const char *what)
{
	snprintf(md->why, sizeof md->why, "%s", what);
	return false;
}

/* Add the new postings to the totals and check each one on its own. */
static bool count_postings(struct model *md)
{
	for (; md->counted < md->plan.n; md->counted++) {
		const struct kp_posting *p = &md->postings[md->counted];
		if (p->points <= 0 || p->from == p->to)
			return broken_model(md, "posting with points <= 0 or from == to");
		bool lot_account = p->from == KP_ACC_AVAILABLE || p->from == KP_ACC_PENDING ||
				   p->to == KP_ACC_AVAILABLE || p->to == KP_ACC_PENDING;
		if (lot_account && p->lot_id == 0)
			return broken_model(md, "posting on a lot account names no lot");
		md->totals[p->from] -= p->points;
		md->totals[p->to] += p->points;
		if (p->lot_id == 0)
			continue;
		size_t at = model_lot(md, p->lot_id);
		if (at == SIZE_MAX)
			return broken_model(md, "posting names an unknown lot");
		md->deltas[at] += kp_ledger_lot_delta(p);
		if (p->from == KP_ACC_AVAILABLE && p->to == KP_ACC_REDEEMED)
			md->unreturned[at] += p->points;
		if (p->from == KP_ACC_REDEEMED)
			md->unreturned[at] -= p->points;
	}
	return true;
}

static bool model_consistent(struct model *md)
{
	int64_t sum = 0;

	if (!count_postings(md))
		return false;
	if (kp_ledger_check_member(&md->m, md->why, sizeof md->why) != 0)
		return false;
	for (int a = KP_ACC_ISSUANCE; a <= KP_ACC_DEBT; a++)
		sum += md->totals[a];
	if (sum != 0)
		return broken_model(md, "postings do not sum to zero");
	if (md->m.available != md->totals[KP_ACC_AVAILABLE] ||
	    md->m.pending != md->totals[KP_ACC_PENDING] || md->m.debt != md->totals[KP_ACC_DEBT])
		return broken_model(md, "member balances differ from its postings");
	if (md->totals[KP_ACC_REDEEMED] < 0 || md->totals[KP_ACC_EXPIRED] < 0)
		return broken_model(md, "redeemed or expired below zero");
	for (size_t i = 0; i < md->m.n_lots; i++) {
		if (md->lots[i].remaining != md->deltas[i])
			return broken_model(md, "lot remaining differs from its postings");
		if (md->unreturned[i] < 0)
			return broken_model(md, "more returned to a lot than was redeemed");
	}
	return true;
}

static void model_init(struct model *md, struct kp_posting *postings, uint64_t seed)
{
	memset(md, 0, sizeof *md);
	md->rng.state = seed;
	md->now = 1000;
	md->next_id = 1;
	md->m.lots = md->lots;
	md->m.cap_lots = 1 + (size_t)rng_below(&md->rng, PROP_LOTS);
	md->postings = postings;
	md->plan.postings = postings;
	md->plan.cap = PROP_POSTINGS;
}

static void remember(const struct model *md, struct before *b)
{
	memcpy(b->lots, md->lots, sizeof b->lots);
	memcpy(&b->m, &md->m, sizeof b->m);
	memcpy(&b->plan, &md->plan, sizeof b->plan);
	b->spendable = kp_ledger_spendable(&md->m, md->now);
}

static bool unchanged_since(struct model *md, const struct before *b)
{
	if (memcmp(b->lots, md->lots, sizeof b->lots) != 0 ||
	    memcmp(&b->m, &md->m, sizeof b->m) != 0 ||
	    memcmp(&b->plan, &md->plan, sizeof b->plan) != 0)
		return broken_model(md, "a failed operation changed something");
	return true;
}

/* Every lot whose remaining or pending moved carries `changed`. */
static bool changes_flagged(struct model *md, const struct before *b)
{
	for (size_t i = 0; i < md->m.n_lots; i++) {
		const struct kp_lot *lot = &md->lots[i];
		bool created = i >= b->m.n_lots;
		if (created != lot->created)
			return broken_model(md, "created flag wrong");
		if (created ? !lot->changed
			    : (lot->remaining != b->lots[i].remaining ||
			       lot->pending != b->lots[i].pending) &&
				  !lot->changed)
			return broken_model(md, "changed flag missing");
	}
	return true;
}

/* After a debit, no untouched spendable lot comes before the last one it touched. */
static bool debit_order_ok(struct model *md, size_t first)
{
	int64_t prev_exp = INT64_MIN, prev_id = 0;

	for (size_t k = first; k < md->plan.n; k++) {
		const struct kp_lot *lot = &md->lots[model_lot(md, md->postings[k].lot_id)];
		if (lot->expires_at <= md->now || lot->pending)
			return broken_model(md, "debit touched an expired or pending lot");
		if (lot->expires_at < prev_exp ||
		    (lot->expires_at == prev_exp && lot->id <= prev_id))
			return broken_model(md, "debit out of expiry order");
		if (k + 1 < md->plan.n && lot->remaining != 0)
			return broken_model(md, "debit left points in a lot it passed");
		prev_exp = lot->expires_at;
		prev_id = lot->id;
	}
	for (size_t i = 0; i < md->m.n_lots; i++) {
		const struct kp_lot *lot = &md->lots[i];
		if (lot->pending || lot->remaining == 0 || lot->expires_at <= md->now)
			continue;
		if (lot->expires_at < prev_exp ||
		    (lot->expires_at == prev_exp && lot->id < prev_id))
			return broken_model(md, "debit skipped an earlier lot");
	}
	return true;
}

/* What an operation did, against what the model expected of it. */
static bool outcome_ok(struct model *md, const struct before *b, int64_t rc, int64_t expected)
{
	if (rc < 0 || expected < 0) {
		if (rc != expected)
			return broken_model(md, rc < 0 ? "unexpected error" : "expected an error");
		return unchanged_since(md, b);
	}
	return model_consistent(md) && changes_flagged(md, b);
}

static bool op_credit(struct model *md, const struct before *b, bool room)
{
	static const enum kp_entry entries[] = {KP_ENTRY_EARN, KP_ENTRY_BONUS, KP_ENTRY_ADJUST};
	int64_t points =
	    rng_below(&md->rng, 30) == 0 ? -rng_below(&md->rng, 2) : 1 + rng_below(&md->rng, 200);
	bool pending = rng_below(&md->rng, 3) == 0;
	int64_t expires_at =
	    rng_below(&md->rng, 8) == 0 ? KP_NEVER : md->now + rng_below(&md->rng, 300);
	int64_t available_at = pending ? md->now - 10 + rng_below(&md->rng, 90) : md->now;
	struct kp_lot t = lot_template(md->next_id, expires_at, available_at, pending);
	int64_t repay = 0;
	int64_t expected = 0;

	md->next_id += 1 + rng_below(&md->rng, 3); /* ids with gaps */
	if (!pending && md->m.debt < 0 && points > 0)
		repay = points < -md->m.debt ? points : -md->m.debt;
	if (!room || points <= 0 || (points > repay && md->m.n_lots == md->m.cap_lots))
		expected = KP_EINVAL;
	int rc = kp_ledger_credit(&md->m, points, &t, entries[rng_below(&md->rng, 3)], &md->plan);
	if (!outcome_ok(md, b, rc, expected) || rc != 0)
		return rc == expected && md->why[0] == '\0';
	if (md->m.n_lots != b->m.n_lots + (points > repay))
		return broken_model(md, "credit made the wrong number of lots");
	if (points > repay && md->lots[md->m.n_lots - 1].points != points - repay)
		return broken_model(md, "credit lot has the wrong points");
	if (md->m.debt != b->m.debt + repay)
		return broken_model(md, "credit repaid the wrong amount");
	return true;
}

static bool op_debit(struct model *md, const struct before *b, bool room)
{
	int64_t points = rng_below(&md->rng, 30) == 0 ? 0 : 1 + rng_below(&md->rng, 250);
	bool adjust = rng_below(&md->rng, 5) == 0;
	int64_t expected = points > b->spendable ? KP_EINSUFFICIENT : 0;
	size_t first = md->plan.n;

	if (!room || points <= 0)
		expected = KP_EINVAL;
	int rc =
	    kp_ledger_debit(&md->m, points, md->now, adjust ? KP_ACC_ISSUANCE : KP_ACC_REDEEMED,
			    adjust ? KP_ENTRY_ADJUST : KP_ENTRY_REDEEM, &md->plan);
	if (!outcome_ok(md, b, rc, expected) || rc != 0)
		return rc == expected && md->why[0] == '\0';
	if (kp_ledger_spendable(&md->m, md->now) != b->spendable - points)
		return broken_model(md, "debit took the wrong amount");
	return debit_order_ok(md, first);
}

static bool op_reverse(struct model *md, const struct before *b, bool room)
{
	int64_t points = rng_below(&md->rng, 30) == 0 ? 0 : 1 + rng_below(&md->rng, 150);
	int64_t own = 0;
	int64_t expected = !room || points <= 0 ? KP_EINVAL : 0;

	size_t first = md->plan.n;
	size_t at = SIZE_MAX;
	if (md->m.n_lots > 0 && rng_below(&md->rng, 4) != 0) {
		at = (size_t)rng_below(&md->rng, (int64_t)md->m.n_lots);
		own = md->lots[at].id;
	}
	int rc = kp_ledger_reverse(&md->m, points, own, &md->plan);
	if (!outcome_ok(md, b, rc, expected) || rc != 0)
		return rc == expected && md->why[0] == '\0';
	/* The own lot goes first when nothing precedes it: its own phase, or no pending points. */
	if (at != SIZE_MAX && b->lots[at].remaining > 0 &&
	    (b->lots[at].pending || b->m.pending == 0) && md->postings[first].lot_id != own)
		return broken_model(md, "reverse did not start with the own lot");

	int64_t from_pending = points < b->m.pending ? points : b->m.pending;
	int64_t rest = points - from_pending;
	int64_t from_available = rest < b->m.available ? rest : b->m.available;
	if (md->m.pending != b->m.pending - from_pending ||
	    md->m.available != b->m.available - from_available ||
	    md->m.debt != b->m.debt - (rest - from_available))
		return broken_model(md, "reverse took from the wrong accounts");
	return true;
}

/*
 * Give back some of what was redeemed from up to 3 lots, a lot's share split
 * over up to 2 entries; now and then one lot gets more than it has room for.
 */
static size_t build_returns(struct model *md, struct kp_lot_return *r, int64_t *nonexpired,
			    bool *valid)
{
	size_t n = 0;

	*nonexpired = 0;
	*valid = true;
	for (size_t k = 0; k < 3 && md->m.n_lots > 0; k++) {
		size_t at = (size_t)rng_below(&md->rng, (int64_t)md->m.n_lots);
		const struct kp_lot *lot = &md->lots[at];
		bool taken = false;
		for (size_t j = 0; j < n; j++)
			taken |= r[j].lot_id == lot->id;
		if (taken || md->unreturned[at] == 0)
			continue;
		int64_t share = 1 + rng_below(&md->rng, md->unreturned[at]);
		if (rng_below(&md->rng, 25) == 0) {
			share = lot->points - lot->remaining + 1;
			*valid = false;
		}
		if (lot->expires_at > md->now)
			*nonexpired += share;
		int64_t part = share > 1 && rng_below(&md->rng, 2) ? share / 2 : 0;
		if (part > 0)
			r[n++] = (struct kp_lot_return){.lot_id = lot->id, .points = part};
		r[n++] = (struct kp_lot_return){.lot_id = lot->id, .points = share - part};
	}
	return n;
}

static bool op_return(struct model *md, const struct before *b, bool room)
{
	struct kp_lot_return r[6];
	int64_t nonexpired;
	bool valid;
	size_t n = build_returns(md, r, &nonexpired, &valid);
	int64_t expected = !room || !valid ? KP_EINVAL : 0;

	int rc = kp_ledger_return(&md->m, n > 0 ? r : NULL, n, md->now, &md->plan);
	if (!outcome_ok(md, b, rc, expected) || rc != 0)
		return rc == expected && md->why[0] == '\0';
	/* A debt means nothing was available, so the new points repay it first. */
	int64_t repaid = nonexpired < -b->m.debt ? nonexpired : -b->m.debt;
	if (md->m.debt != b->m.debt + repaid ||
	    md->m.available != b->m.available + nonexpired - repaid)
		return broken_model(md, "return moved the wrong amounts");
	return true;
}

static bool op_expire(struct model *md, const struct before *b, bool room)
{
	int64_t expected = 0;

	for (size_t i = 0; i < md->m.n_lots; i++)
		if (md->lots[i].expires_at <= md->now)
			expected += md->lots[i].remaining;
	if (!room)
		expected = KP_EINVAL;
	int64_t rc = kp_ledger_expire(&md->m, md->now, &md->plan);
	if (!outcome_ok(md, b, rc, expected) || rc < 0)
		return rc == expected && md->why[0] == '\0';
	if (rc != expected)
		return broken_model(md, "expire returned the wrong total");
	for (size_t i = 0; i < md->m.n_lots; i++)
		if (md->lots[i].expires_at <= md->now && md->lots[i].remaining != 0)
			return broken_model(md, "expire left points in an expired lot");
	if (kp_ledger_spendable(&md->m, md->now) != b->spendable)
		return broken_model(md, "expire changed what is spendable");
	return true;
}

static bool op_activate(struct model *md, const struct before *b, bool room)
{
	int64_t expected = 0;

	for (size_t i = 0; i < md->m.n_lots; i++) {
		const struct kp_lot *lot = &md->lots[i];
		if (lot->pending && lot->available_at <= md->now && lot->expires_at > md->now)
			expected += lot->remaining;
	}
	if (!room)
		expected = KP_EINVAL;
	int64_t rc = kp_ledger_activate(&md->m, md->now, &md->plan);
	if (!outcome_ok(md, b, rc, expected) || rc < 0)
		return rc == expected && md->why[0] == '\0';
	if (rc != expected)
		return broken_model(md, "activate returned the wrong total");
	for (size_t i = 0; i < md->m.n_lots; i++) {
		const struct kp_lot *lot = &md->lots[i];
		if (lot->pending && lot->available_at <= md->now && lot->expires_at > md->now)
			return broken_model(md, "activate left an activatable lot pending");
	}
	if (md->m.pending != b->m.pending - rc ||
	    md->m.available + md->m.debt != b->m.available + b->m.debt + rc)
		return broken_model(md, "activate moved the wrong amounts");
	return true;
}

typedef bool (*model_op)(struct model *md, const struct before *b, bool room);

/* One random step: advance the clock, pick an operation and a plan size, run it. */
static bool model_step(struct model *md, const char **op_name)
{
	static const struct {
		const char *name;
		model_op run;
		int64_t weight;
	} ops[] = {{"credit", op_credit, 3},   {"debit", op_debit, 2},
		   {"reverse", op_reverse, 1}, {"return", op_return, 2},
		   {"expire", op_expire, 1},   {"activate", op_activate, 1}};
	struct before b;
	int64_t pick = rng_below(&md->rng, 10);
	size_t k = 0;

	md->now += rng_below(&md->rng, 40);
	for (size_t i = 0; i < md->m.n_lots; i++)
		md->lots[i].changed = md->lots[i].created = false;
	size_t bound = kp_ledger_plan_bound(&md->m);
	bool room = rng_below(&md->rng, 20) != 0;
	md->plan.cap = md->plan.n + bound - (room ? 0 : 1 + (size_t)rng_below(&md->rng, 2));
	if (room)
		md->plan.cap += (size_t)rng_below(&md->rng, 3);
	assert_true(md->plan.cap <= PROP_POSTINGS);

	while (k + 1 < sizeof ops / sizeof ops[0] && pick >= ops[k].weight)
		pick -= ops[k++].weight;
	*op_name = ops[k].name;
	md->why[0] = '\0';
	remember(md, &b);
	return ops[k].run(md, &b, room);
}

static void test_property_random_sequences(void **state)
{
	unsigned seed = property_seed();
	struct kp_posting *postings = calloc(PROP_POSTINGS, sizeof *postings);
	struct model *md = calloc(1, sizeof *md);
	const char *op = "";
	(void)state;

	printf("seed=%u\n", seed);
	fflush(stdout);
	assert_non_null(postings);
	assert_non_null(md);
	for (size_t seq = 0; seq < PROP_SEQUENCES; seq++) {
		model_init(md, postings, ((uint64_t)seed << 32) ^ seq);
		size_t steps = 1 + (size_t)rng_below(&md->rng, PROP_MAX_STEPS);
		for (size_t step = 0; step < steps; step++) {
			if (model_step(md, &op))
				continue;
			free(postings);
			fail_msg("seed=%u sequence=%zu step=%zu %s: %s", seed, seq, step, op,
				 md->why[0] != '\0' ? md->why : "wrong result code");
		}
	}
	free(postings);
	free(md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_credit_available),
	    cmocka_unit_test(test_credit_pending),
	    cmocka_unit_test(test_credit_rejects),
	    cmocka_unit_test(test_debit_earliest_expiry_first),
	    cmocka_unit_test(test_debit_insufficient_unchanged),
	    cmocka_unit_test(test_expire_at_now),
	    cmocka_unit_test(test_activate_at_available_at),
	    cmocka_unit_test(test_reverse_pending_then_available_then_debt),
	    cmocka_unit_test(test_reverse_own_available_lot_first),
	    cmocka_unit_test(test_credit_repays_debt),
	    cmocka_unit_test(test_activate_repays_debt),
	    cmocka_unit_test(test_return_into_original_lots),
	    cmocka_unit_test(test_return_repays_debt),
	    cmocka_unit_test(test_return_rejects),
	    cmocka_unit_test(test_overflow_leaves_unchanged),
	    cmocka_unit_test(test_plan_room),
	    cmocka_unit_test(test_check_member_messages),
	    cmocka_unit_test(test_names_and_deltas),
	    cmocka_unit_test(test_property_random_sequences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
