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
#include "util/jsonw.h"
#include "util/error.h"
#include "util/strcopy.h"
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
		member_in.segments = cp->ms.row.segments;
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

/* What a commit adds to the quote's answer. */
struct commit_extras {
	const char *status;            /* "committed" or "held" */
	int64_t at, hold_expires_at;   /* hold_expires_at 0 unless held */
	const json_t *issued, *paid;   /* certificates issued and paid (arrays) */
	const json_t *charity;         /* {"<fund>": points} or NULL */
};

static void write_lines(struct jw *w, const struct kp_purchase_req *req, const struct kp_result *r)
{
	jw_array_begin(w);
	for (size_t i = 0; i < req->n_lines; i++) {
		const struct kp_line_result *l = &r->lines[i];
		jw_object_begin(w);
		jw_key(w, "amount"), jw_int(w, l->amount);
		jw_key(w, "certificates"), jw_int(w, l->certificates);
		jw_key(w, "discount"), jw_int(w, l->discount);
		jw_key(w, "earned"), jw_int(w, l->earned);
		jw_key(w, "paid"), jw_int(w, l->paid);
		jw_key(w, "points"), jw_int(w, l->points);
		jw_key(w, "qty"), jw_int(w, req->lines[i].qty);
		jw_key(w, "sku"), jw_string(w, req->lines[i].sku);
		jw_object_end(w);
	}
	jw_array_end(w);
}

/* Points each campaign added, by id in key order (only those that added any): its budget cost. */
static void write_campaign_points(struct jw *w, const struct computed *cp)
{
	const struct kp_program *p = cp->program;
	size_t order[KP_MAX_CAMPAIGNS], n = 0;
	for (size_t i = 0; i < p->n_campaigns; i++) {
		if (cp->result.campaign_points[i] <= 0)
			continue;
		size_t k = n++; /* insertion sort by id: a handful at most */
		while (k > 0 && strcmp(p->campaigns[order[k - 1]].id, p->campaigns[i].id) > 0) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	jw_object_begin(w);
	for (size_t k = 0; k < n; k++)
		jw_key(w, p->campaigns[order[k]].id), jw_int(w, cp->result.campaign_points[order[k]]);
	jw_object_end(w);
}

/* What each coupon did: money off, or points added. */
static void write_coupons(struct jw *w, const struct computed *cp)
{
	static const char *const kinds[] = {"percent", "amount", "points"};
	jw_array_begin(w);
	for (size_t i = 0; i < cp->codes.n_coupons; i++) {
		jw_object_begin(w);
		jw_key(w, "code"), jw_string(w, cp->codes.coupons[i].code);
		jw_key(w, "kind"), jw_string(w, kinds[cp->codes.coupons[i].kind]);
		jw_key(w, "value"), jw_int(w, cp->result.coupon_value[i]);
		jw_object_end(w);
	}
	jw_array_end(w);
}

static void write_time(struct jw *w, int64_t t)
{
	char text[21];
	kp_time_format(t, text);
	jw_string(w, text);
}

/*
 * The answer shared by quote and commit (docs/api.md, "Purchases"), with
 * the commit's own fields when x is not NULL. Keys in sorted order: the
 * text is what jansson prints with JSON_SORT_KEYS (util/jsonw.h), so a
 * stored answer read back and printed again is the same bytes.
 */
static char *purchase_answer(const struct kp_purchase_req *req, const struct computed *cp,
			     const struct commit_extras *x)
{
	const struct kp_result *r = &cp->result;
	char member[24];
	member_id_text(cp->ms.row.id, member);
	struct jw w;
	jw_init(&w);
	jw_object_begin(&w);
	jw_key(&w, "applied");
	jw_array_begin(&w);
	for (size_t i = 0; i < r->n_applied; i++)
		jw_string(&w, r->applied[i]);
	jw_array_end(&w);
	if (x)
		jw_key(&w, "at"), write_time(&w, x->at);
	if (x && cp->has_member) {
		const struct kp_member_points *m = &cp->ms.points;
		jw_key(&w, "balance");
		jw_object_begin(&w);
		jw_key(&w, "available"), jw_int(&w, m->available + m->debt);
		jw_key(&w, "pending"), jw_int(&w, m->pending);
		jw_object_end(&w);
	}
	jw_key(&w, "campaign_points"), write_campaign_points(&w, cp);
	jw_key(&w, "certificates"), jw_int(&w, r->certificates);
	if (x) {
		jw_key(&w, "certificates_issued"), jw_json(&w, x->issued);
		jw_key(&w, "certificates_paid"), jw_json(&w, x->paid);
		if (x->charity)
			jw_key(&w, "charity_points"), jw_json(&w, x->charity);
	}
	jw_key(&w, "coupons"), write_coupons(&w, cp);
	jw_key(&w, "discount"), jw_int(&w, r->discount);
	if (x && x->hold_expires_at)
		jw_key(&w, "hold_expires_at"), write_time(&w, x->hold_expires_at);
	jw_key(&w, "lines"), write_lines(&w, req, r);
	jw_key(&w, "max_redeemable"), jw_int(&w, r->max_redeemable);
	jw_key(&w, "member"), jw_string(&w, cp->has_member ? member : NULL);
	jw_key(&w, "partner"), jw_string(&w, req->partner);
	jw_key(&w, "points_earned"), jw_int(&w, r->points_earned);
	jw_key(&w, "points_pending"), jw_bool(&w, r->points_earned > 0 && cp->program->hold_days > 0);
	jw_key(&w, "points_redeemed"), jw_int(&w, r->points_redeemed);
	jw_key(&w, "program_version"), jw_int(&w, cp->version);
	jw_key(&w, "receipt_id"), jw_string(&w, req->receipt_id);
	jw_key(&w, "redeem_clamped"), jw_bool(&w, r->redeem_clamped);
	if (x)
		jw_key(&w, "status"), jw_string(&w, x->status);
	jw_key(&w, "subtotal"), jw_int(&w, r->subtotal);
	if (x) {
		const char *tier = cp->has_member ? tier_name(cp->program, cp->ms.tier) : NULL;
		jw_key(&w, "tier"), jw_string(&w, tier);
	}
	jw_key(&w, "to_pay"), jw_int(&w, r->to_pay);
	jw_object_end(&w);
	return jw_finish(&w);
}

int kp_engine_purchase_quote(struct kp_engine *e, const struct kp_purchase_req *req,
			     char **answer, struct kp_why *why)
{
	assert(req && answer && req->partner);
	/* One read transaction: the quote sees one commit of the member's lots,
	 * balance and tier, never part of the next. On SQLite it is cheaper too:
	 * each statement on its own takes and drops a WAL read lock, two fcntl()
	 * calls (quotes/s +9%, docs/performance.md). */
	struct kp_conn *c;
	int rc = snapshot_acquire(e, &c);
	if (rc)
		return rc;
	struct computed cp;
	rc = compute(e, c, req, kp_engine_now(e), &cp, why);
	snapshot_release(e, c);
	if (!rc && !(*answer = purchase_answer(req, &cp, NULL)))
		rc = KP_ENOMEM;
	computed_release(&cp);
	return rc;
}

/* ---- commit ------------------------------------------------------------ */

struct commit_job {
	struct kp_engine *e;
	const struct kp_purchase_req *req;
	int64_t now;
	char *answer;                   /* the answer's text, as stored */
	int64_t earned, redeemed;       /* points, for the engine's counters */
	bool replay;
	struct kp_why *why;
	kp_commit_done done;            /* asynchronous: whom to tell, and with what */
	void *done_arg;
};

/*
 * A stored answer as the HTTP layer sends it. Answers are stored as
 * written (util/jsonw.h prints what jansson prints), except that a
 * confirmed or cancelled hold, and databases from before, store jansson's
 * ASCII-only form; those are printed again so that every repeat of a
 * receipt answers the same bytes.
 */
static char *stored_answer_text(char *stored)
{
	if (!strstr(stored, "\\u"))
		return stored;
	json_t *v = json_parse_stored(stored);
	free(stored);
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	return text;
}

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
	j->answer = stored_answer_text(stored);
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

/* The purchase's lines as the store keeps them; NULL when out of memory. */
static struct kp_purchase_line_row *line_rows(const struct kp_purchase_req *req,
					      const struct computed *cp)
{
	struct kp_purchase_line_row *rows = calloc(req->n_lines, sizeof *rows);
	for (size_t i = 0; rows && i < req->n_lines; i++) {
		const struct kp_line_result *l = &cp->result.lines[i];
		struct kp_purchase_line_row *row = &rows[i];
		*row = (struct kp_purchase_line_row){
			.line_no = (int64_t)i, .qty = req->lines[i].qty,
			.price = req->lines[i].price, .amount = l->amount,
			.discount = l->discount, .points = l->points,
			.certificates = l->certificates, .paid = l->paid, .earned = l->earned,
			.free_units = l->free_units,
		};
		kp_strcopy(row->sku, sizeof row->sku, req->lines[i].sku);
		kp_strcopy(row->category, sizeof row->category, req->lines[i].category);
		const char *card = stamp_card_of(cp->program, req->lines[i].sku);
		kp_strcopy(row->stamp_card, sizeof row->stamp_card, cp->has_member ? card : NULL);
	}
	return rows;
}

/* The purchase row itself, with its lines, written last and once, with its final answer. */
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
		/* a hold counts no spend until its confirm: a rolling tier window sums this */
		.spend = req->hold ? 0 : purchase_spend(r->subtotal, r->discount),
		.hold_expires_at = req->hold ? j->now + cp->program->hold_minutes * 60 : 0,
	};
	kp_strcopy(p.status, sizeof p.status, req->hold ? "held" : "committed");
	kp_strcopy(p.partner, sizeof p.partner, req->partner);
	kp_strcopy(p.receipt_id, sizeof p.receipt_id, req->receipt_id);
	kp_strcopy(p.request_hash, sizeof p.request_hash, req->hash);
	struct kp_purchase_line_row *lines = line_rows(req, cp);
	int rc = lines ? c->ops->purchase_insert(c, &p, lines, req->n_lines, answer) : KP_ENOMEM;
	free(lines);
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
	rc = add_spend(c, p, ms, purchase_spend(r->subtotal, r->discount), j->now);
	return rc ? rc : referral_on_purchase(c, p, ms->row.id, purchase_id, j->now);
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
	free(j->answer);
	j->answer = NULL;
	j->replay = false;
	int rc = replay(c, j);
	if (rc != KP_ENOTFOUND)
		return rc;
	struct computed cp = {0};
	struct kp_plan plan = {0};
	int64_t purchase_id = 0;
	json_t *issued = json_array(), *paid = json_array(), *charity = NULL;
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
		rc = codes_use(c, &cp.codes, purchase_id, cp.has_member ? cp.ms.row.id : 0,
			       cp.result.certificates, j->now, paid);
	if (!rc && cp.has_member)
		rc = commit_points(c, j, &cp, &plan, purchase_id, issued);
	if (!rc)
		rc = store_mechanics(c, j, &cp, purchase_id);
	/* Charity campaigns give from issuance as the purchase commits (a hold: at confirm). */
	if (!rc)
		rc = charity_on_purchase(c, cp.program, j->req, cp.has_member ? cp.ms.tier : -1,
					 cp.has_member ? cp.ms.row.segments : NULL, &cp.result,
					 purchase_id, j->now, &charity);
	if (!rc) {
		const struct commit_extras x = {
			.status = j->req->hold ? "held" : "committed", .at = j->now,
			.hold_expires_at = j->req->hold ? j->now + cp.program->hold_minutes * 60 : 0,
			.issued = issued, .paid = paid, .charity = charity,
		};
		j->answer = purchase_answer(j->req, &cp, &x);
		rc = j->answer ? 0 : KP_ENOMEM;
	}
	if (!rc)
		rc = store_purchase(c, j, &cp, purchase_id, j->answer);
	if (!rc) {
		j->earned = j->req->hold ? 0 : cp.result.points_earned;
		j->redeemed = cp.result.points_redeemed;
	}
	free(plan.postings);
	json_decref(issued);
	json_decref(paid);
	json_decref(charity);
	computed_release(&cp);
	if (rc) {
		free(j->answer);
		j->answer = NULL;
	}
	return rc;
}

/* The job's batch ended: count what it did, and hand its answer over (or drop it). */
static char *commit_finish(struct commit_job *j, int rc)
{
	if (rc) {
		free(j->answer);
		return NULL;
	}
	if (!j->replay) {
		atomic_fetch_add(&j->e->points_issued, (uint64_t)j->earned);
		atomic_fetch_add(&j->e->points_redeemed, (uint64_t)j->redeemed);
	}
	return j->answer;
}

int kp_engine_purchase_commit(struct kp_engine *e, const struct kp_purchase_req *req,
			      char **answer, bool *replayed, struct kp_why *why)
{
	assert(req && req->receipt_id && req->hash && answer && replayed);
	struct commit_job j = {.e = e, .req = req, .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, commit_run, &j);
	*answer = commit_finish(&j, rc);
	*replayed = j.replay;
	return rc;
}

static void commit_async_done(void *arg, int rc)
{
	struct commit_job *j = arg;
	char *answer = commit_finish(j, rc);
	j->done(j->done_arg, rc, answer, j->replay);
	free(j);
}

void kp_engine_purchase_commit_async(struct kp_engine *e, const struct kp_purchase_req *req,
				     struct kp_why *why, kp_commit_done done, void *arg)
{
	assert(req && req->receipt_id && req->hash && done);
	struct commit_job *j = malloc(sizeof *j);
	if (!j) {
		done(arg, KP_ENOMEM, NULL, false);
		return;
	}
	*j = (struct commit_job){.e = e, .req = req, .now = kp_engine_now(e), .why = why,
				 .done = done, .done_arg = arg};
	/* commit_run checks everything before its first write (compute, then
	 * the points planned in memory) and computes its answer again when run
	 * again: repeatable (writer.h). */
	kp_writer_submit_async(e->writer, KP_JOB_REPEATABLE, commit_run, j, commit_async_done);
}

/* ---- reading a committed purchase --------------------------------------- */

int kp_engine_purchase_get(struct kp_engine *e, const char *partner, const char *receipt_id,
			   json_t **answer, struct kp_why *why)
{
	struct kp_conn *c;
	int rc = snapshot_acquire(e, &c); /* the purchase and its refunds as of one commit */
	if (rc)
		return rc;
	struct kp_purchase_row p;
	char *stored = NULL, *refunds = NULL;
	rc = c->ops->purchase_find(c, partner, receipt_id, &p, &stored);
	if (rc == KP_ENOTFOUND)
		kp_why(why, rc, "no purchase with receipt %s at partner %s", receipt_id, partner);
	if (!rc)
		rc = c->ops->purchase_refunds_json(c, p.id, &refunds);
	snapshot_release(e, c);
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
