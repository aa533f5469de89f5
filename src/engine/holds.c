/*
 * holds.c — two-phase purchases: confirm a hold or cancel it, and the job
 * that cancels holds not confirmed within the program's hold_minutes.
 *
 * A hold was stored by purchase.c with status 'held': its points are spent
 * (so no one else can spend them), its coupon uses counted, its certificates
 * charged, its campaign budgets and stamps taken. Confirming earns the
 * purchase's points and counts its spend and tier, as a one-step purchase
 * would; cancelling gives every reservation back.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bonuses.h"
#include "engine/codes.h"
#include "util/error.h"
#include "util/timeutil.h"

struct hold_job {
	struct kp_engine *e;
	const char *partner, *receipt_id;
	int64_t purchase_id; /* set by find_hold */
	int64_t now;
	json_t *answer;
	struct kp_why *why;
};

/* The purchase, its status and stored answer; 0 only when it is held now. */
static int find_hold(struct kp_conn *c, struct hold_job *j, bool confirming,
		     struct kp_purchase_row *p, json_t **stored)
{
	char *text = NULL, status[16];
	int64_t expires_at;
	int rc = j->purchase_id ? c->ops->purchase_by_id(c, j->purchase_id, p, &text)
				: c->ops->purchase_find(c, j->partner, j->receipt_id, p, &text);
	if (rc == KP_ENOTFOUND)
		return kp_why(j->why, rc, "no purchase with receipt %s at partner %s",
			      j->receipt_id, j->partner);
	if (!rc)
		rc = c->ops->purchase_status(c, p->id, status, &expires_at);
	*stored = rc ? NULL : json_parse_stored(text);
	free(text);
	if (rc || !*stored)
		return rc ? rc : KP_ESTORE;
	bool confirmed = json_object_get(*stored, "confirmed_at") != NULL;
	if (strcmp(status, "held") == 0) {
		if (confirming && j->now >= expires_at)
			return kp_why(j->why, KP_ECONFLICT, "the hold on %s expired", p->receipt_id);
		return 0;
	}
	/* Repeats answer as the first time; the opposite operation conflicts. */
	if (strcmp(status, "cancelled") == 0 && !confirming)
		return KP_EALREADY;
	if (strcmp(status, "committed") == 0 && confirming && confirmed)
		return KP_EALREADY;
	return kp_why(j->why, KP_ECONFLICT, "purchase %s %s", p->receipt_id,
		      strcmp(status, "cancelled") == 0 ? "was cancelled"
		      : confirmed			  ? "was confirmed"
							  : "was not held");
}

/* ---- confirm ---------------------------------------------------------------- */

static int earn_now(struct kp_conn *c, struct hold_job *j, const struct kp_program *prog,
		    const struct kp_purchase_row *p, int64_t spend, json_t *answer)
{
	struct kp_member_row row;
	struct member_state ms;
	int rc = c->ops->member_get_id(c, p->member_id, &row);
	if (!rc)
		rc = member_state_load(c, prog, j->now, &row, 1, &ms);
	if (rc)
		return rc;
	struct kp_plan plan = {.cap = kp_ledger_plan_bound(&ms.points)};
	plan.postings = calloc(plan.cap, sizeof *plan.postings);
	rc = plan.postings ? 0 : KP_ENOMEM;
	if (!rc && p->points_earned > 0)
		rc = credit_earned(c, prog, &ms, p->points_earned, j->now, &plan);
	int64_t lot_id = 0;
	for (size_t i = 0; i < ms.points.n_lots; i++)
		if (ms.points.lots[i].created) {
			ms.points.lots[i].purchase_id = p->id;
			lot_id = ms.points.lots[i].id;
		}
	struct posting_ctx ctx = {.member_id = row.id, .purchase_id = p->id, .now = j->now,
				  .ref = p->receipt_id};
	if (!rc)
		rc = persist_plan(c, &ctx, &ms.points, &plan);
	if (!rc && lot_id)
		rc = c->ops->purchase_set_earn_lot(c, p->id, lot_id);
	if (!rc)
		rc = add_spend(c, prog, &ms, spend, j->now);
	if (!rc)
		rc = referral_on_purchase(c, prog, row.id, p->id, j->now);
	json_t *issued = json_array();
	if (!rc)
		rc = issued ? apply_thresholds(c, prog, &ms, j->now, issued, NULL) : KP_ENOMEM;
	if (!rc) {
		const char *tier = tier_name(prog, ms.tier);
		json_object_set_new(answer, "certificates_issued", issued);
		json_object_set_new(answer, "tier", tier ? json_string(tier) : json_null());
		json_object_set_new(answer, "balance", balance_json(ms.points.available,
								    ms.points.pending,
								    ms.points.debt));
		issued = NULL;
	}
	json_decref(issued);
	free(plan.postings);
	member_state_release(&ms);
	return rc;
}

static int store_answer(struct kp_conn *c, int64_t purchase_id, const json_t *answer)
{
	char *text = json_text(answer);
	int rc = text ? c->ops->purchase_set_answer(c, purchase_id, text) : KP_ENOMEM;
	free(text);
	return rc;
}

static int confirm_run(struct kp_conn *c, void *arg)
{
	struct hold_job *j = arg;
	job_answer_drop(&j->answer);
	struct kp_purchase_row p;
	json_t *a = NULL;
	int rc = find_hold(c, j, true, &p, &a);
	if (rc) {
		j->answer = rc == KP_EALREADY ? a : NULL;
		if (rc != KP_EALREADY)
			json_decref(a);
		return rc == KP_EALREADY ? 0 : rc;
	}
	const struct kp_program *prog;
	char at[21];
	kp_time_format(j->now, at);
	json_object_set_new(a, "status", json_string("committed"));
	json_object_set_new(a, "confirmed_at", json_string(at));
	json_object_del(a, "hold_expires_at");
	rc = kp_engine_program(j->e, p.program_version, &prog, NULL);
	/* The held row counts no spend (purchase.c; migration 0009 for holds
	 * stored before): add_spend sums the window without it, then adds it,
	 * and from now on the row counts it. */
	int64_t spend = purchase_spend(p.subtotal, p.discount);
	if (!rc && p.member_id)
		rc = earn_now(c, j, prog, &p, spend, a);
	if (!rc && spend != 0)
		rc = c->ops->purchase_add_spend(c, p.id, spend);
	if (!rc)
		rc = charity_give(c, a, p.id, j->now); /* what the hold's charity campaigns set */
	if (!rc)
		rc = c->ops->purchase_set_status(c, p.id, "committed");
	if (!rc)
		rc = store_answer(c, p.id, a);
	if (rc)
		json_decref(a);
	else
		j->answer = a;
	return rc;
}

/* ---- cancel ----------------------------------------------------------------- */

/* Every point the hold spent goes back to the lot it came from. */
static int return_points(struct kp_conn *c, struct hold_job *j, const struct kp_purchase_row *p,
			 json_t **balance)
{
	struct kp_spent_lot *spent = NULL;
	struct kp_lot_return *returns = NULL;
	struct kp_member_row row;
	struct kp_member_points m = {0};
	size_t n_spent = 0;
	int rc = load_spent(c, p->id, &spent, &n_spent);
	int64_t *extra = rc ? NULL : calloc(n_spent + 1, sizeof *extra);
	for (size_t i = 0; extra && i < n_spent; i++)
		extra[i] = spent[i].lot_id;
	if (!rc)
		rc = extra ? c->ops->member_get_id(c, p->member_id, &row) : KP_ENOMEM;
	if (!rc)
		rc = load_member_points(c, &row, extra, n_spent, 0, &m);
	struct kp_plan plan = {.cap = rc ? 0 : kp_ledger_plan_bound(&m) * 2};
	plan.postings = rc ? NULL : calloc(plan.cap, sizeof *plan.postings);
	returns = rc ? NULL : calloc(n_spent + 1, sizeof *returns);
	if (!rc && (!plan.postings || !returns))
		rc = KP_ENOMEM;
	if (!rc && p->points_redeemed > 0)
		rc = kp_ledger_return(&m, returns, plan_returns(spent, n_spent, p->points_redeemed,
								returns),
				      j->now, &plan);
	struct posting_ctx ctx = {.member_id = p->member_id, .purchase_id = p->id, .now = j->now,
				  .ref = p->receipt_id};
	if (!rc)
		rc = persist_plan(c, &ctx, &m, &plan);
	if (!rc && !(*balance = balance_json(m.available, m.pending, m.debt)))
		rc = KP_ENOMEM;
	free(spent), free(returns), free(extra), free(plan.postings), free(m.lots);
	return rc;
}

/* Stamps the held lines took, and the campaign budgets it reserved. */
static int give_back_reservations(struct kp_conn *c, const struct kp_purchase_row *p,
				  const json_t *held)
{
	struct kp_purchase_line_row *lines = calloc(KP_MAX_LINES, sizeof *lines);
	size_t n = 0;
	int rc = lines ? c->ops->purchase_lines(c, p->id, lines, KP_MAX_LINES, &n) : KP_ENOMEM;
	for (size_t i = 0; !rc && p->member_id && i < n; i++) {
		int64_t count;
		if (!lines[i].stamp_card[0])
			continue;
		rc = c->ops->stamp_get(c, p->member_id, lines[i].stamp_card, &count);
		if (!rc)
			rc = c->ops->stamp_set(c, p->member_id, lines[i].stamp_card,
					       count > lines[i].qty ? count - lines[i].qty : 0);
	}
	free(lines);
	const char *campaign;
	json_t *points;
	json_object_foreach(json_object_get(held, "campaign_points"), campaign, points) {
		if (!rc)
			rc = c->ops->budget_add(c, campaign, -json_integer_value(points));
	}
	return rc;
}

static int cancel_run(struct kp_conn *c, void *arg)
{
	struct hold_job *j = arg;
	job_answer_drop(&j->answer);
	struct kp_purchase_row p;
	json_t *held = NULL, *balance = NULL;
	struct give_back back;
	int rc = find_hold(c, j, false, &p, &held);
	if (rc) {
		j->answer = rc == KP_EALREADY ? held : NULL;
		if (rc != KP_EALREADY)
			json_decref(held);
		return rc == KP_EALREADY ? 0 : rc;
	}
	if (p.member_id)
		rc = return_points(c, j, &p, &balance);
	if (!rc)
		rc = codes_plan_back(c, p.id, p.certificates, &back);
	if (!rc)
		rc = codes_give_back(c, p.id, 0, &back, true, j->now);
	if (!rc)
		rc = give_back_reservations(c, &p, held);
	if (!rc)
		rc = c->ops->purchase_set_status(c, p.id, "cancelled");
	char at[21];
	kp_time_format(j->now, at);
	if (!rc && !(j->answer = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o}", "receipt_id",
					   p.receipt_id, "partner", p.partner, "status",
					   "cancelled", "cancelled_at", at, "points_returned",
					   (json_int_t)p.points_redeemed, "certificates_returned",
					   codes_back_json(&back), "balance",
					   balance ? balance : json_null())))
		rc = KP_ENOMEM;
	else
		balance = NULL;
	if (!rc)
		rc = store_answer(c, p.id, j->answer);
	json_decref(held);
	json_decref(balance);
	return rc;
}

/* ---- entry points ----------------------------------------------------------- */

static int run_hold_job(struct kp_engine *e, kp_write_fn fn, const char *partner,
			const char *receipt_id, json_t **answer, struct kp_why *why)
{
	assert(partner && receipt_id && answer);
	struct hold_job j = {.e = e, .partner = partner, .receipt_id = receipt_id,
			     .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, fn, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	return 0;
}

int kp_engine_purchase_confirm(struct kp_engine *e, const char *partner, const char *receipt_id,
			       json_t **answer, struct kp_why *why)
{
	return run_hold_job(e, confirm_run, partner, receipt_id, answer, why);
}

int kp_engine_purchase_cancel(struct kp_engine *e, const char *partner, const char *receipt_id,
			      json_t **answer, struct kp_why *why)
{
	return run_hold_job(e, cancel_run, partner, receipt_id, answer, why);
}

int release_expired_holds(struct kp_engine *e, int64_t now, int64_t *count)
{
	int64_t ids[200], after = 0;
	size_t n;
	do {
		struct kp_conn *c;
		int rc = reader_acquire(e, &c);
		if (rc)
			return rc;
		rc = c->ops->holds_expired(c, now, after, ids, 200, &n);
		reader_release(e, c);
		for (size_t i = 0; !rc && i < n; i++) {
			struct kp_why why = {""};
			struct hold_job j = {.e = e, .purchase_id = ids[i], .receipt_id = "",
					     .partner = "", .now = now, .why = &why};
			rc = kp_writer_submit(e->writer, cancel_run, &j);
			if (!rc && j.answer)
				(*count)++;
			json_decref(j.answer);
		}
		if (rc)
			return rc;
		after = n ? ids[n - 1] : after;
	} while (n == 200);
	return 0;
}
