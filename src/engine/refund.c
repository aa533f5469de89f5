/*
 * refund.c — refunding some or all lines of a committed purchase.
 *
 * Refunded units are matched to the purchase's lines by SKU, first line
 * first. A line's money, spent points and earned points are refunded in
 * proportion to its units with cumulative flooring — what k of n units
 * give back is ⌊x·(r+k)/n⌋ − ⌊x·r/n⌋ where r units were refunded before —
 * so refunding every unit, in any number of refunds, gives back exactly the
 * line's totals. Earned points are reversed through kp_ledger_reverse
 * (pending first, a debt if they were spent); spent points return to the
 * lots they came from with their original expiry, latest-expiring first.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine/codes.h"
#include "engine/engine_int.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

struct refund_job {
	const struct kp_refund_req *req;
	int64_t now;
	json_t *answer;
	bool replay;
	struct kp_why *why;
};

/* Per purchase line: units refunded now, and what they give back. */
struct line_refund {
	int64_t qty, money, points_returned, points_reversed, spend, certificates;
};

static int64_t share(int64_t total, int64_t refunded_before, int64_t now_qty, int64_t qty)
{
	assert(qty > 0 && refunded_before + now_qty <= qty);
	__int128 after = (__int128)total * (refunded_before + now_qty) / qty;
	__int128 before = (__int128)total * refunded_before / qty;
	return (int64_t)(after - before);
}

/* Spread the requested units over the purchase's lines with that SKU. */
static int match_lines(const struct kp_refund_req *req, const struct kp_purchase_line_row *lines,
		       size_t n, struct line_refund *out, struct kp_why *why)
{
	bool any = false;
	if (req->n_lines == 0) {
		for (size_t i = 0; i < n; i++) {
			out[i].qty = lines[i].qty - lines[i].refunded_qty;
			any |= out[i].qty > 0;
		}
		return any ? 0 : kp_why(why, KP_EREFUND, "every line was already refunded");
	}
	for (size_t k = 0; k < req->n_lines; k++) {
		int64_t want = req->lines[k].qty;
		for (size_t i = 0; i < n && want > 0; i++) {
			if (strcmp(lines[i].sku, req->lines[k].sku) != 0)
				continue;
			int64_t left = lines[i].qty - lines[i].refunded_qty - out[i].qty;
			int64_t take = kp_min64(left, want);
			out[i].qty += take;
			want -= take;
		}
		if (want > 0)
			return kp_why(why, KP_EREFUND,
				      "lines[%zu]: %lld more of sku %s than bought and not yet refunded",
				      k, (long long)want, req->lines[k].sku);
	}
	return 0;
}

/* Which lots the returned points go back to: latest-expiring first. */
size_t plan_returns(const struct kp_spent_lot *spent, size_t n_spent, int64_t points,
			   struct kp_lot_return *out)
{
	size_t n = 0;
	for (size_t i = n_spent; i-- > 0 && points > 0;) {
		int64_t can = spent[i].spent - spent[i].returned;
		int64_t give = kp_min64(can, points);
		if (give <= 0)
			continue;
		out[n++] = (struct kp_lot_return){.lot_id = spent[i].lot_id, .points = give};
		points -= give;
	}
	assert(points == 0);
	return n;
}

struct refund_totals {
	int64_t money, returned, reversed, spend, certificates;
	bool whole; /* after this refund every unit of the purchase is refunded */
	struct give_back back; /* the certificates' part, back to them */
};

/* Refunded units leave the stamp card they counted on (never below zero). */
static int take_back_stamps(struct kp_conn *c, int64_t member_id,
			    const struct kp_purchase_line_row *lines, const struct line_refund *lr,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lr[i].qty == 0 || !lines[i].stamp_card[0])
			continue;
		int64_t count;
		int rc = c->ops->stamp_get(c, member_id, lines[i].stamp_card, &count);
		if (!rc)
			rc = c->ops->stamp_set(c, member_id, lines[i].stamp_card,
					       kp_max64(0, count - lr[i].qty));
		if (rc)
			return rc;
	}
	return 0;
}

/* The member's side of a refund, planned in memory before anything is stored. */
struct member_side {
	struct kp_member_row member;
	struct kp_member_points points; /* lots malloc'ed */
	struct kp_plan plan;            /* postings malloc'ed */
};

static void member_side_release(struct member_side *ms)
{
	free(ms->points.lots);
	free(ms->plan.postings);
}

/* The lots a purchase spent from, however many (a purchase can drain many small lots). */
int load_spent(struct kp_conn *c, int64_t purchase_id, struct kp_spent_lot **out,
		      size_t *n)
{
	for (size_t cap = 64; cap <= ((size_t)1 << 24); cap *= 4) {
		struct kp_spent_lot *grown = realloc(*out, cap * sizeof *grown);
		if (!grown)
			return KP_ENOMEM;
		*out = grown;
		int rc = c->ops->purchase_spent_lots(c, purchase_id, *out, cap, n);
		if (rc != KP_ETOOLARGE)
			return rc;
	}
	return KP_ETOOLARGE;
}

/* Load the member with the purchase's own lot and the lots it spent from. */
static int load_member_side(struct kp_conn *c, const struct kp_purchase_row *p,
			    const struct kp_spent_lot *spent, size_t n_spent,
			    struct member_side *ms)
{
	int rc = c->ops->member_get_id(c, p->member_id, &ms->member);
	if (rc)
		return rc;
	int64_t *extra = calloc(n_spent + 1, sizeof *extra);
	if (!extra)
		return KP_ENOMEM;
	for (size_t i = 0; i < n_spent; i++)
		extra[i] = spent[i].lot_id;
	if (p->earn_lot_id)
		extra[n_spent] = p->earn_lot_id;
	rc = load_member_points(c, &ms->member, extra, n_spent + (p->earn_lot_id != 0), 0,
				&ms->points);
	free(extra);
	return rc;
}

/* Reverse what was earned and return what was spent, in memory. */
static int plan_member_side(struct kp_conn *c, const struct kp_purchase_row *p,
			    const struct refund_totals *t, int64_t now, struct member_side *ms)
{
	struct kp_spent_lot *spent = NULL;
	struct kp_lot_return *returns = NULL;
	size_t n_spent = 0;
	int rc = load_spent(c, p->id, &spent, &n_spent);
	if (!rc)
		rc = load_member_side(c, p, spent, n_spent, ms);
	if (!rc) {
		ms->plan.cap = kp_ledger_plan_bound(&ms->points) * 3;
		ms->plan.postings = calloc(ms->plan.cap, sizeof *ms->plan.postings);
		returns = calloc(n_spent + 1, sizeof *returns);
		rc = ms->plan.postings && returns ? 0 : KP_ENOMEM;
	}
	if (!rc && t->reversed > 0)
		rc = kp_ledger_reverse(&ms->points, t->reversed, p->earn_lot_id, &ms->plan);
	if (!rc && t->returned > 0) {
		size_t n = plan_returns(spent, n_spent, t->returned, returns);
		rc = kp_ledger_return(&ms->points, returns, n, now, &ms->plan);
	}
	free(returns);
	free(spent);
	return rc;
}

static json_t *refund_json(const struct refund_job *j, const struct refund_totals *t,
			   const struct member_side *ms)
{
	char at[21];
	kp_time_format(j->now, at);
	json_t *balance = ms ? balance_json(ms->points.available, ms->points.pending,
					    ms->points.debt)
			     : json_null();
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:o,s:o}", "refund_id", j->req->refund_id,
			 "receipt_id", j->req->receipt_id, "partner", j->req->partner,
			 "money_refund", (json_int_t)t->money, "points_reversed",
			 (json_int_t)t->reversed, "points_returned", (json_int_t)t->returned,
			 "at", at, "balance", balance, "certificates_returned",
			 codes_back_json(&t->back));
}

/* The purchase's lines again, each with what this refund adds to its refunded_qty. */
static int store_refunded_qty(struct kp_conn *c, int64_t purchase_id,
			      const struct kp_purchase_line_row *lines, const struct line_refund *lr,
			      size_t n)
{
	struct kp_purchase_line_row *after = malloc(n * sizeof *after);
	if (!after)
		return KP_ENOMEM;
	memcpy(after, lines, n * sizeof *after);
	for (size_t i = 0; i < n; i++) {
		after[i].refunded_qty += lr[i].qty;
		assert(after[i].refunded_qty <= after[i].qty);
	}
	int rc = c->ops->purchase_set_lines(c, purchase_id, after, n);
	free(after);
	return rc;
}

static int store_refund(struct kp_conn *c, struct refund_job *j, const struct kp_purchase_row *p,
			const struct kp_purchase_line_row *lines, const struct line_refund *lr,
			size_t n, const struct refund_totals *t, struct member_side *ms)
{
	struct kp_refund_row row = {.purchase_id = p->id, .at = j->now, .money_refund = t->money,
				    .points_reversed = t->reversed,
				    .points_returned = t->returned, .spend = t->spend};
	kp_strcopy(row.partner, sizeof row.partner, j->req->partner);
	kp_strcopy(row.refund_id, sizeof row.refund_id, j->req->refund_id);
	kp_strcopy(row.request_hash, sizeof row.request_hash, j->req->hash);
	char *text = json_text(j->answer);
	if (!text)
		return KP_ENOMEM;
	int rc = c->ops->refund_insert(c, &row, text);
	free(text);
	if (!rc)
		rc = store_refunded_qty(c, p->id, lines, lr, n);
	if (!rc)
		rc = c->ops->purchase_add_spend(c, p->id, -t->spend);
	/* A coupon's use is given back only with the whole purchase. */
	if (!rc)
		rc = codes_give_back(c, p->id, row.id, &t->back, t->whole, j->now);
	if (!rc && ms)
		rc = c->ops->member_add_spend(c, ms->member.id, -t->spend);
	if (!rc && ms)
		rc = take_back_stamps(c, ms->member.id, lines, lr, n);
	if (rc || !ms)
		return rc;
	struct posting_ctx ctx = {.member_id = ms->member.id, .purchase_id = p->id,
				  .refund_id = row.id, .now = j->now, .ref = j->req->refund_id};
	return persist_plan(c, &ctx, &ms->points, &ms->plan);
}

/* The same refund id at the same partner: the stored answer, or a conflict. */
static int replay(struct kp_conn *c, struct refund_job *j)
{
	struct kp_refund_row prev;
	char *stored = NULL;
	int rc = c->ops->refund_find(c, j->req->partner, j->req->refund_id, &prev, &stored);
	if (rc)
		return rc;
	if (strcmp(prev.request_hash, j->req->hash) != 0) {
		free(stored);
		return kp_why(j->why, KP_EIDEMPOTENCY,
			      "refund %s was already made with another body", j->req->refund_id);
	}
	j->answer = json_parse_stored(stored);
	free(stored);
	j->replay = true;
	return j->answer ? 0 : KP_ESTORE;
}

static void sum_refund(const struct kp_purchase_line_row *lines, struct line_refund *lr, size_t n,
		       struct refund_totals *t)
{
	t->whole = true;
	for (size_t i = 0; i < n; i++)
		t->whole &= lines[i].refunded_qty + lr[i].qty == lines[i].qty;
	for (size_t i = 0; i < n; i++) {
		if (lr[i].qty == 0)
			continue;
		const struct kp_purchase_line_row *l = &lines[i];
		lr[i].money = share(l->paid, l->refunded_qty, lr[i].qty, l->qty);
		lr[i].points_returned = share(l->points, l->refunded_qty, lr[i].qty, l->qty);
		lr[i].points_reversed = share(l->earned, l->refunded_qty, lr[i].qty, l->qty);
		lr[i].spend = share(l->amount - l->discount, l->refunded_qty, lr[i].qty, l->qty);
		lr[i].certificates = share(l->certificates, l->refunded_qty, lr[i].qty, l->qty);
		t->spend += lr[i].spend;
		t->certificates += lr[i].certificates;
		t->money += lr[i].money;
		t->returned += lr[i].points_returned;
		t->reversed += lr[i].points_reversed;
	}
}

static int refund_run(struct kp_conn *c, void *arg)
{
	struct refund_job *j = arg;
	job_answer_drop(&j->answer);
	j->replay = false;
	int rc = replay(c, j);
	if (rc != KP_ENOTFOUND)
		return rc;
	struct kp_purchase_row p;
	rc = c->ops->purchase_find(c, j->req->partner, j->req->receipt_id, &p, NULL);
	if (rc == KP_ENOTFOUND)
		return kp_why(j->why, rc, "no purchase with receipt %s at partner %s",
			      j->req->receipt_id, j->req->partner);
	char status[16];
	int64_t hold_until;
	if (!rc)
		rc = c->ops->purchase_status(c, p.id, status, &hold_until);
	if (!rc && strcmp(status, "committed") != 0)
		return kp_why(j->why, KP_ECONFLICT, "purchase %s is %s: %s", j->req->receipt_id,
			      status, strcmp(status, "held") == 0 ? "confirm or cancel it"
								  : "there is nothing to refund");
	struct kp_purchase_line_row *lines = calloc(KP_MAX_LINES, sizeof *lines);
	struct line_refund *lr = calloc(KP_MAX_LINES, sizeof *lr);
	size_t n = 0;
	struct refund_totals t = {0};
	struct member_side ms = {0};
	if (!rc)
		rc = lines && lr ? c->ops->purchase_lines(c, p.id, lines, KP_MAX_LINES, &n)
				 : KP_ENOMEM;
	if (!rc)
		rc = match_lines(j->req, lines, n, lr, j->why);
	if (!rc)
		sum_refund(lines, lr, n, &t);
	if (!rc)
		rc = codes_plan_back(c, p.id, t.certificates, &t.back);
	if (!rc && p.member_id)
		rc = plan_member_side(c, &p, &t, j->now, &ms);
	if (!rc && !(j->answer = refund_json(j, &t, p.member_id ? &ms : NULL)))
		rc = KP_ENOMEM;
	if (!rc)
		rc = store_refund(c, j, &p, lines, lr, n, &t, p.member_id ? &ms : NULL);
	member_side_release(&ms);
	free(lines);
	free(lr);
	if (rc) {
		json_decref(j->answer);
		j->answer = NULL;
	}
	return rc;
}

int kp_engine_refund(struct kp_engine *e, const struct kp_refund_req *req, json_t **answer,
		     bool *replayed, struct kp_why *why)
{
	assert(req && req->refund_id && req->receipt_id && req->hash && answer && replayed);
	struct refund_job j = {.req = req, .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, refund_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*replayed = j.replay;
	return 0;
}
