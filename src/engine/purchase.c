/*
 * purchase.c — quoting and committing a purchase.
 *
 * A quote and a commit compute the same thing with the same code
 * (compute()): the member's spendable points from their lots, then the
 * rules. A commit then spends and credits points through the ledger and
 * stores the purchase, its lines, the postings and its answer in one job of
 * the writer, so a retried receipt returns the stored answer and never
 * accrues twice.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bonuses.h"
#include "engine/codes.h"
#include "util/error.h"
#include "util/timeutil.h"

/* Everything a purchase is computed from and what it came to. */
struct computed {
	const struct kp_program *program;
	int64_t version;
	bool has_member;
	struct member_state ms;         /* when has_member */
	struct presented codes;         /* coupons and certificates presented */
	int64_t earn_lot_id;            /* the lot this purchase's points make, 0 = none */
	int64_t budget_left[KP_MAX_CAMPAIGNS];
	struct kp_result result;        /* result.lines malloc'ed */
};

static void computed_release(struct computed *cp)
{
	member_state_release(&cp->ms);
	free(cp->result.lines);
	memset(cp, 0, sizeof *cp);
}

static int compute(struct kp_engine *e, struct kp_conn *c, const struct kp_purchase_req *req,
		   int64_t now, struct computed *cp, struct kp_why *why)
{
	memset(cp, 0, sizeof *cp);
	int rc = kp_engine_program(e, 0, &cp->program, &cp->version);
	if (rc)
		return rc;
	/* The partner's row: whether it takes purchases, and its own earn rate. */
	struct kp_partner_row partner;
	rc = c->ops->partner_get(c, req->partner, &partner);
	if (rc == KP_ENOTFOUND)
		return kp_why(why, rc, "partner %s: no such partner", req->partner);
	if (rc)
		return rc;
	if (!partner.active)
		return kp_why(why, KP_EPARTNER, "partner %s is not active", req->partner);
	struct kp_member_in member_in = {.tier = -1};
	if (req->who != KP_REF_NONE) {
		struct kp_member_row row;
		if ((rc = find_member(c, req->who, req->who_value, &row, why)))
			return rc;
		/* One spare lot: the one this purchase's earned points make. */
		if ((rc = member_state_load(c, cp->program, now, &row, 1, &cp->ms)))
			return rc;
		cp->has_member = true;
		member_in.available = kp_ledger_spendable(&cp->ms.points, now);
		member_in.tier = cp->ms.tier;
		member_in.stamps = cp->ms.stamps;
	}
	if ((rc = codes_check(c, req, cp->has_member ? &cp->ms.row : NULL, now, &cp->codes, why)))
		return rc;
	if ((rc = budgets_left(c, cp->program, cp->budget_left)))
		return rc;
	cp->result.lines = calloc(req->n_lines, sizeof *cp->result.lines);
	if (!cp->result.lines)
		return KP_ENOMEM;
	struct kp_basket basket = {
		.lines = req->lines,
		.n_lines = req->n_lines,
		.redeem_points = req->redeem_points,
		.certificate_funds = cp->codes.certificate_funds,
		.coupons = cp->codes.coupon_in,
		.n_coupons = cp->codes.n_coupons,
		.channel = req->channel,
		.now = now,
		.partner = req->partner,
		.has_partner_earn = partner.earn_percent_bp >= 0,
		.partner_earn_bp = partner.earn_percent_bp,
		.campaign_budget_left = cp->budget_left,
	};
	rc = kp_rules_evaluate(cp->program, &basket, cp->has_member ? &member_in : NULL,
			       &cp->result);
	if (rc == KP_EOVERFLOW)
		return kp_why(why, rc, "the basket's amounts are too large to compute exactly");
	return rc;
}

static json_t *lines_json(const struct kp_purchase_req *req, const struct kp_result *r)
{
	json_t *lines = json_array();
	for (size_t i = 0; lines && i < req->n_lines; i++) {
		const struct kp_line_result *l = &r->lines[i];
		json_array_append_new(
			lines, json_pack("{sssIsIsIsIsIsIsI}", "sku", req->lines[i].sku, "qty",
					 (json_int_t)req->lines[i].qty, "amount",
					 (json_int_t)l->amount, "discount", (json_int_t)l->discount,
					 "points", (json_int_t)l->points, "certificates",
					 (json_int_t)l->certificates, "paid", (json_int_t)l->paid,
					 "earned", (json_int_t)l->earned));
	}
	return lines;
}

/* Points each campaign added, by id (only those that added any): its budget cost. */
static json_t *campaign_points_json(const struct computed *cp)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < cp->program->n_campaigns; i++)
		if (cp->result.campaign_points[i] > 0)
			json_object_set_new(o, cp->program->campaigns[i].id,
					    json_integer(cp->result.campaign_points[i]));
	return o;
}

/* What each coupon did: money off, or points added. */
static json_t *coupons_json(const struct computed *cp)
{
	static const char *const kinds[] = {"percent", "amount", "points"};
	json_t *list = json_array();
	for (size_t i = 0; list && i < cp->codes.n_coupons; i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:I}", "code",
						      cp->codes.coupons[i].code, "kind",
						      kinds[cp->codes.coupons[i].kind], "value",
						      (json_int_t)cp->result.coupon_value[i]));
	return list;
}

static json_t *applied_json(const struct kp_result *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < r->n_applied; i++)
		json_array_append_new(a, json_string(r->applied[i]));
	return a;
}

/* The answer shared by quote and commit (docs/api.md, "Purchases"). */
static json_t *purchase_json(const struct kp_purchase_req *req, const struct computed *cp)
{
	const struct kp_result *r = &cp->result;
	char id[24];
	member_id_text(cp->ms.row.id, id);
	json_t *a = json_pack(
		"{s:s?,s:s?,s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:b,s:o,s:o,s:I}", "receipt_id",
		req->receipt_id, "member", cp->has_member ? id : NULL, "partner", req->partner,
		"subtotal", (json_int_t)r->subtotal, "discount", (json_int_t)r->discount,
		"points_redeemed", (json_int_t)r->points_redeemed, "max_redeemable",
		(json_int_t)r->max_redeemable, "redeem_clamped", r->redeem_clamped, "certificates",
		(json_int_t)r->certificates, "to_pay", (json_int_t)r->to_pay, "points_earned",
		(json_int_t)r->points_earned, "points_pending",
		r->points_earned > 0 && cp->program->hold_days > 0, "lines", lines_json(req, r),
		"applied", applied_json(r), "program_version", (json_int_t)cp->version);
	if (a) {
		json_object_set_new(a, "coupons", coupons_json(cp));
		json_object_set_new(a, "campaign_points", campaign_points_json(cp));
	}
	return a;
}

int kp_engine_purchase_quote(struct kp_engine *e, const struct kp_purchase_req *req,
			     json_t **answer, struct kp_why *why)
{
	assert(req && answer && req->partner);
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	struct computed cp;
	rc = compute(e, c, req, kp_engine_now(e), &cp, why);
	reader_release(e, c);
	if (!rc && !(*answer = purchase_json(req, &cp)))
		rc = KP_ENOMEM;
	computed_release(&cp);
	return rc;
}

/* ---- commit ------------------------------------------------------------ */

struct commit_job {
	struct kp_engine *e;
	const struct kp_purchase_req *req;
	int64_t now;
	json_t *answer;
	bool replay;
	struct kp_why *why;
};

/* The same receipt at the same partner: the stored answer, or a conflict. */
static int replay(struct kp_conn *c, struct commit_job *j)
{
	struct kp_purchase_row prev;
	char *stored = NULL;
	int rc = c->ops->purchase_find(c, j->req->partner, j->req->receipt_id, &prev, &stored);
	if (rc)
		return rc;
	if (strcmp(prev.request_hash, j->req->hash) != 0) {
		free(stored);
		return kp_why(j->why, KP_EIDEMPOTENCY,
			      "receipt %s was already committed with another body",
			      j->req->receipt_id);
	}
	j->answer = json_parse_stored(stored);
	free(stored);
	j->replay = true;
	return j->answer ? 0 : KP_ESTORE;
}

/* Spend, and earn unless held (a hold earns at its confirmation). */
static int plan_points(struct kp_conn *c, struct computed *cp, int64_t now, bool earn,
		       struct kp_plan *plan)
{
	const struct kp_result *r = &cp->result;
	int rc = 0;
	if (r->points_redeemed > 0)
		rc = kp_ledger_debit(&cp->ms.points, r->points_redeemed, now, KP_ACC_REDEEMED,
				     KP_ENTRY_REDEEM, plan);
	if (rc || !earn || r->points_earned == 0)
		return rc;
	return credit_earned(c, cp->program, &cp->ms, r->points_earned, now, plan);
}

/* The stamp card a SKU counts on (the first that lists it), or NULL. */
static const char *stamp_card_of(const struct kp_program *p, const char *sku)
{
	for (size_t i = 0; i < p->n_stamps; i++)
		for (size_t k = 0; k < p->stamps[i].n_skus; k++)
			if (strcmp(p->stamps[i].skus[k], sku) == 0)
				return p->stamps[i].id;
	return NULL;
}

static int64_t created_lot_id(const struct kp_member_points *m)
{
	for (size_t i = 0; i < m->n_lots; i++)
		if (m->lots[i].created)
			return m->lots[i].id;
	return 0;
}

static int store_lines(struct kp_conn *c, const struct kp_purchase_req *req,
		       const struct computed *cp, int64_t purchase_id)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < req->n_lines; i++) {
		const struct kp_line_result *l = &cp->result.lines[i];
		struct kp_purchase_line_row row = {
			.line_no = (int64_t)i, .qty = req->lines[i].qty,
			.price = req->lines[i].price, .amount = l->amount,
			.discount = l->discount, .points = l->points,
			.certificates = l->certificates, .paid = l->paid, .earned = l->earned,
			.free_units = l->free_units,
		};
		snprintf(row.sku, sizeof row.sku, "%s", req->lines[i].sku);
		snprintf(row.category, sizeof row.category, "%s",
			 req->lines[i].category ? req->lines[i].category : "");
		const char *card = stamp_card_of(cp->program, req->lines[i].sku);
		snprintf(row.stamp_card, sizeof row.stamp_card, "%s",
			 cp->has_member && card ? card : "");
		rc = c->ops->purchase_line_insert(c, purchase_id, &row);
	}
	return rc;
}

/* The purchase row itself, written last and once, with its final answer. */
static int store_purchase(struct kp_conn *c, struct commit_job *j, struct computed *cp,
			  int64_t purchase_id, const char *answer)
{
	const struct kp_purchase_req *req = j->req;
	const struct kp_result *r = &cp->result;
	struct kp_purchase_row p = {
		.id = purchase_id,
		.member_id = cp->has_member ? cp->ms.row.id : 0,
		.program_version = cp->version,
		.at = j->now,
		.subtotal = r->subtotal,
		.discount = r->discount,
		.points_redeemed = r->points_redeemed,
		.certificates = r->certificates,
		.to_pay = r->to_pay,
		.points_earned = r->points_earned,
		.earn_lot_id = cp->earn_lot_id,
		.spend = r->subtotal - r->discount,
		.hold_expires_at = req->hold ? j->now + cp->program->hold_minutes * 60 : 0,
	};
	snprintf(p.status, sizeof p.status, "%s", req->hold ? "held" : "committed");
	snprintf(p.partner, sizeof p.partner, "%s", req->partner);
	snprintf(p.receipt_id, sizeof p.receipt_id, "%s", req->receipt_id);
	snprintf(p.request_hash, sizeof p.request_hash, "%s", req->hash);
	int rc = c->ops->purchase_insert(c, &p, answer);
	assert(rc || p.id == purchase_id);
	return rc;
}

/* Stamps, budgets, spend and tier: what this purchase changes beyond points.
 * A hold reserves the budgets and stamps; spend and tier wait for its confirmation. */
static int store_mechanics(struct kp_conn *c, struct commit_job *j, struct computed *cp,
			   int64_t purchase_id)
{
	const struct kp_program *p = cp->program;
	const struct kp_result *r = &cp->result;
	int rc = 0;
	for (size_t i = 0; !rc && i < p->n_campaigns; i++)
		if (p->campaigns[i].budget_points >= 0 && r->campaign_points[i] > 0)
			rc = c->ops->budget_add(c, p->campaigns[i].id, r->campaign_points[i]);
	if (rc || !cp->has_member)
		return rc;
	struct member_state *ms = &cp->ms;
	for (size_t i = 0; !rc && i < p->n_stamps; i++)
		if (r->stamps_after[i] != ms->stamps[i])
			rc = c->ops->stamp_set(c, ms->row.id, p->stamps[i].id, r->stamps_after[i]);
	if (rc || j->req->hold)
		return rc;
	rc = add_spend(c, p, ms, r->subtotal - r->discount, j->now);
	return rc ? rc : referral_on_purchase(c, p, ms->row.id, purchase_id, j->now);
}

static int commit_answer(struct commit_job *j, struct computed *cp, json_t *issued,
			 json_t *paid)
{
	j->answer = purchase_json(j->req, cp);
	if (!j->answer) {
		json_decref(issued);
		json_decref(paid);
		return KP_ENOMEM;
	}
	json_object_set_new(j->answer, "certificates_paid", paid);
	char at[21];
	kp_time_format(j->now, at);
	json_object_set_new(j->answer, "status", json_string(j->req->hold ? "held" : "committed"));
	if (j->req->hold) {
		char until[21];
		kp_time_format(j->now + cp->program->hold_minutes * 60, until);
		json_object_set_new(j->answer, "hold_expires_at", json_string(until));
	}
	json_object_set_new(j->answer, "at", json_string(at));
	const char *tier = cp->has_member ? tier_name(cp->program, cp->ms.tier) : NULL;
	json_object_set_new(j->answer, "tier", tier ? json_string(tier) : json_null());
	json_object_set_new(j->answer, "certificates_issued", issued);
	if (cp->has_member)
		json_object_set_new(j->answer, "balance",
				    balance_json(cp->ms.points.available, cp->ms.points.pending,
						 cp->ms.points.debt));
	return 0;
}

/* Persist the planned points (the purchase row exists now), then thresholds. */
static int commit_points(struct kp_conn *c, struct commit_job *j, struct computed *cp,
			 struct kp_plan *plan, int64_t purchase_id, json_t *issued)
{
	for (size_t i = 0; i < cp->ms.points.n_lots; i++)
		if (cp->ms.points.lots[i].created)
			cp->ms.points.lots[i].purchase_id = purchase_id;
	struct posting_ctx ctx = {.member_id = cp->ms.row.id, .purchase_id = purchase_id,
				  .now = j->now, .ref = j->req->receipt_id};
	int rc = persist_plan(c, &ctx, &cp->ms.points, plan);
	if (!rc && !j->req->hold)
		rc = apply_thresholds(c, cp->program, &cp->ms, j->now, issued, NULL);
	return rc;
}

static int commit_run(struct kp_conn *c, void *arg)
{
	struct commit_job *j = arg;
	/* The writer may run a job again (PostgreSQL: its batch lost a race):
	 * drop what an earlier attempt answered. */
	json_decref(j->answer);
	j->answer = NULL;
	j->replay = false;
	int rc = replay(c, j);
	if (rc != KP_ENOTFOUND)
		return rc;
	struct computed cp = {0};
	struct kp_plan plan = {0};
	int64_t purchase_id = 0;
	json_t *issued = json_array(), *paid = json_array();
	rc = issued && paid ? compute(j->e, c, j->req, j->now, &cp, j->why) : KP_ENOMEM;
	/* Spend and earn in memory first: the purchase row names the lot it made. */
	if (!rc && cp.has_member) {
		plan.cap = kp_ledger_plan_bound(&cp.ms.points) * 2;
		plan.postings = calloc(plan.cap, sizeof *plan.postings);
		rc = plan.postings ? plan_points(c, &cp, j->now, !j->req->hold, &plan) : KP_ENOMEM;
		cp.earn_lot_id = created_lot_id(&cp.ms.points);
	}
	/* Everything that refers to the purchase first; its row, with the answer, last. */
	if (!rc)
		rc = c->ops->purchase_next_id(c, &purchase_id);
	if (!rc)
		rc = store_lines(c, j->req, &cp, purchase_id);
	if (!rc)
		rc = codes_use(c, &cp.codes, purchase_id, cp.has_member ? cp.ms.row.id : 0,
			       cp.result.certificates, j->now, paid);
	if (!rc && cp.has_member)
		rc = commit_points(c, j, &cp, &plan, purchase_id, issued);
	if (!rc)
		rc = store_mechanics(c, j, &cp, purchase_id);
	char *text = NULL;
	if (!rc) {
		rc = commit_answer(j, &cp, issued, paid);
		issued = paid = NULL;
	}
	/* Charity campaigns give from issuance as the purchase commits (a hold: at confirm). */
	if (!rc)
		rc = charity_on_purchase(c, cp.program, j->req, cp.has_member ? cp.ms.tier : -1,
					 &cp.result, purchase_id, j->now, j->answer);
	if (!rc && !(text = json_text(j->answer)))
		rc = KP_ENOMEM;
	if (!rc)
		rc = store_purchase(c, j, &cp, purchase_id, text);
	free(text);
	free(plan.postings);
	json_decref(issued);
	json_decref(paid);
	computed_release(&cp);
	if (rc) {
		json_decref(j->answer);
		j->answer = NULL;
	}
	return rc;
}

int kp_engine_purchase_commit(struct kp_engine *e, const struct kp_purchase_req *req,
			      json_t **answer, bool *replayed, struct kp_why *why)
{
	assert(req && req->receipt_id && req->hash && answer && replayed);
	struct commit_job j = {.e = e, .req = req, .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, commit_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*replayed = j.replay;
	if (!j.replay) {
		json_int_t earned = json_integer_value(json_object_get(j.answer, "points_earned"));
		json_int_t spent = json_integer_value(json_object_get(j.answer, "points_redeemed"));
		if (!req->hold)
			atomic_fetch_add(&e->points_issued, (uint64_t)earned);
		atomic_fetch_add(&e->points_redeemed, (uint64_t)spent);
	}
	return 0;
}

/* ---- reading a committed purchase --------------------------------------- */

int kp_engine_purchase_get(struct kp_engine *e, const char *partner, const char *receipt_id,
			   json_t **answer, struct kp_why *why)
{
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	struct kp_purchase_row p;
	char *stored = NULL, *refunds = NULL;
	rc = c->ops->purchase_find(c, partner, receipt_id, &p, &stored);
	if (rc == KP_ENOTFOUND)
		kp_why(why, rc, "no purchase with receipt %s at partner %s", receipt_id, partner);
	if (!rc)
		rc = c->ops->purchase_refunds_json(c, p.id, &refunds);
	reader_release(e, c);
	json_t *a = rc ? NULL : json_parse_stored(stored);
	json_t *r = rc ? NULL : json_parse_stored(refunds);
	free(stored);
	free(refunds);
	if (!rc && (!a || !r))
		rc = KP_ESTORE;
	if (rc) {
		json_decref(a);
		json_decref(r);
		return rc;
	}
	json_object_set_new(a, "refunds", r);
	*answer = a;
	return 0;
}
