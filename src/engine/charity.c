/*
 * charity.c — points given to the program's charity funds.
 *
 * A fund is an id of the program's "charity" section; the points it got
 * are in the charity account (7), each transfer naming it by its ref
 * "fund:<id>". A member donates from their spendable points (entry
 * transfer, so their history shows −points); a charity_percent campaign
 * sends a share of each committed purchase's to_pay from issuance, never
 * through the member. Neither is undone by a refund: what was given stays
 * given.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/error.h"

static void fund_ref(const char *fund, char ref[KP_RECEIPT_MAX + 1])
{
	assert(strlen(fund) <= KP_MAX_FUND_ID);
	snprintf(ref, KP_RECEIPT_MAX + 1, "fund:%s", fund);
}

static int give(struct kp_conn *c, const char *fund, int64_t points, int64_t purchase_id,
		int64_t now)
{
	assert(points > 0 && purchase_id > 0);
	struct kp_transfer_row t = {
		.at = now, .purchase_id = purchase_id,
		.posting = {.entry = KP_ENTRY_TRANSFER, .from = KP_ACC_ISSUANCE,
			    .to = KP_ACC_CHARITY, .points = points},
	};
	fund_ref(fund, t.ref);
	return c->ops->transfer_insert(c, &t);
}

static int give_funds(struct kp_conn *c, const json_t *funds, int64_t purchase_id, int64_t now)
{
	const char *fund;
	const json_t *v;
	int rc = 0;
	json_object_foreach((json_t *)funds, fund, v) {
		if (rc)
			break;
		/* we wrote it: a stored answer that says otherwise is corrupt */
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    strlen(fund) > KP_MAX_FUND_ID)
			return KP_ESTORE;
		rc = give(c, fund, json_integer_value(v), purchase_id, now);
	}
	return rc;
}

int charity_give(struct kp_conn *c, const json_t *answer, int64_t purchase_id, int64_t now)
{
	return give_funds(c, json_object_get(answer, "charity_points"), purchase_id, now);
}

int charity_on_purchase(struct kp_conn *c, const struct kp_program *p,
			const struct kp_purchase_req *req, int tier, const char *segments,
			const struct kp_result *result, int64_t purchase_id, int64_t now,
			json_t **funds_out)
{
	assert(c && p && req && result && funds_out && purchase_id > 0);
	*funds_out = NULL;
	struct kp_basket basket = {.lines = req->lines, .n_lines = req->n_lines,
				   .channel = req->channel, .now = now, .partner = req->partner};
	struct kp_member_in member = {.tier = tier, .segments = segments};
	int64_t given[KP_MAX_CAMPAIGNS];
	int rc = kp_rules_charity(p, &basket, req->who != KP_REF_NONE ? &member : NULL, result,
				  given);
	json_t *funds = NULL;
	for (size_t i = 0; !rc && i < p->n_campaigns; i++) {
		if (given[i] == 0)
			continue;
		const char *fund = p->campaigns[i].fund;
		assert(p->campaigns[i].kind == KP_CAMPAIGN_CHARITY_PERCENT && given[i] > 0 && fund);
		if (!funds && !(funds = json_object()))
			return KP_ENOMEM;
		/* campaigns for one fund add up: at most 64 of ≤ 10^17 each (rules.h limits) */
		json_int_t before = json_integer_value(json_object_get(funds, fund));
		if (json_object_set_new(funds, fund, json_integer(before + given[i])))
			rc = KP_ENOMEM;
	}
	if (rc || !funds) {
		json_decref(funds);
		return rc;
	}
	*funds_out = funds;
	return req->hold ? 0 : give_funds(c, funds, purchase_id, now);
}

struct donate_job {
	struct kp_engine *e;
	const char *id, *fund;
	int64_t points, now;
	const struct kp_idem *idem;
	json_t *answer;
	int status;
	struct kp_why *why;
};

static int donate_points(struct kp_conn *c, struct donate_job *j, struct kp_member_points *m,
			 int64_t member_id)
{
	struct kp_plan plan = {.cap = kp_ledger_plan_bound(m)};
	plan.postings = calloc(plan.cap, sizeof *plan.postings);
	if (!plan.postings)
		return KP_ENOMEM;
	int rc = kp_ledger_debit(m, j->points, j->now, KP_ACC_CHARITY, KP_ENTRY_TRANSFER, &plan);
	if (rc == KP_EINSUFFICIENT)
		kp_why(j->why, rc, "member %s has only %lld spendable points", j->id,
		       (long long)kp_ledger_spendable(m, j->now));
	char ref[KP_RECEIPT_MAX + 1];
	fund_ref(j->fund, ref);
	struct posting_ctx ctx = {.member_id = member_id, .now = j->now, .ref = ref};
	if (!rc)
		rc = persist_plan(c, &ctx, m, &plan);
	free(plan.postings);
	return rc;
}

static int donate_run(struct kp_conn *c, void *arg)
{
	struct donate_job *j = arg;
	job_answer_drop(&j->answer);
	int rc = idem_replay(c, j->idem, &j->answer, &j->status, j->why);
	if (rc != KP_ENOTFOUND)
		return rc;
	const struct kp_program *p;
	if ((rc = kp_engine_program(j->e, 0, &p, NULL)))
		return rc;
	if (!kp_rules_fund(p, j->fund))
		return kp_why(j->why, KP_EFUND, "fund: the program has no fund %s", j->fund);
	struct kp_member_row row;
	rc = c->ops->member_get(c, KP_MEMBER_BY_ID, j->id, &row);
	if (rc == KP_ENOTFOUND)
		return kp_why(j->why, rc, "no member with id %s", j->id);
	struct kp_member_points m = {0};
	if (!rc)
		rc = load_member_points(c, &row, NULL, 0, 0, &m);
	if (!rc)
		rc = donate_points(c, j, &m, row.id);
	j->status = 201;
	if (!rc && !(j->answer = json_pack("{s:s,s:s,s:I,s:o}", "member", j->id, "fund", j->fund,
					   "points", (json_int_t)j->points, "balance",
					   balance_json(m.available, m.pending, m.debt))))
		rc = KP_ENOMEM;
	free(m.lots);
	return rc ? rc : idem_keep(c, j->idem, 201, j->answer, j->now);
}

int kp_engine_donate(struct kp_engine *e, const char *id, const char *fund, int64_t points,
		     const struct kp_idem *idem, json_t **answer, int *status,
		     struct kp_why *why)
{
	assert(id && fund && idem && answer && status);
	if (points <= 0)
		return kp_why(why, KP_EINVAL, "points: must be above 0");
	struct donate_job j = {.e = e, .id = id, .fund = fund, .points = points,
			       .now = kp_engine_now(e), .idem = idem, .why = why};
	int rc = kp_writer_submit(e->writer, donate_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*status = j.status;
	return 0;
}
