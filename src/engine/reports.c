/*
 * reports.c — settlement between a coalition's partners and the charity report.
 *
 * Settlement: for every purchase-linked transfer of the period, the points
 * that moved between issuance and members' accounts are "issued" at the
 * purchase's partner, and those between members' accounts and redeemed are
 * "redeemed" there; a refund's reversals and returns count negative in the
 * period the refund happens. The partner owes the operator issued ×
 * (accrual_cost, or point_value) and the operator owes the partner redeemed
 * × point_value; net = issued_value − redeemed_value. All sums are exact
 * int64_t with overflow checked, and the totals are the sums over partners,
 * which equal the same sums taken straight over the transfers (the store
 * reads every such transfer exactly once).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/timeutil.h"

#define MAX_PARTNERS 10000

struct sums {
	int64_t issued, redeemed, issued_value, redeemed_value, net;
};

struct settle {
	const struct kp_partner_row *partners;
	size_t n_partners;
	json_t **receipts; /* per partner */
	struct sums *sums; /* per partner */
};

static size_t partner_index(const struct settle *s, const char *id)
{
	/* partners_list is sorted by id: binary search */
	size_t lo = 0, hi = s->n_partners;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(s->partners[mid].id, id);
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static int settle_row(void *arg, const struct kp_settlement_row *r)
{
	struct settle *s = arg;
	size_t i = partner_index(s, r->partner);
	if (i == SIZE_MAX)
		return KP_ESTORE; /* purchases reference partners (foreign key) */
	if (r->issued == 0 && r->redeemed == 0)
		return 0; /* moved nothing between the partner's and the operator's books */
	if (kp_add(s->sums[i].issued, r->issued, &s->sums[i].issued) ||
	    kp_add(s->sums[i].redeemed, r->redeemed, &s->sums[i].redeemed))
		return KP_EOVERFLOW;
	char at[21];
	kp_time_format(r->at, at);
	json_t *item = json_pack("{s:s,s:s,s:I,s:I}", "receipt_id", r->receipt_id, "at", at,
				 "points_issued", (json_int_t)r->issued, "points_redeemed",
				 (json_int_t)r->redeemed);
	return item && !json_array_append_new(s->receipts[i], item) ? 0 : KP_ENOMEM;
}

/* Values of one partner's points; 0 or KP_EOVERFLOW. */
static int value(struct sums *x, int64_t point_value, int64_t accrual_cost)
{
	int64_t cost = accrual_cost >= 0 ? accrual_cost : point_value;
	if (kp_mul(x->issued, cost, &x->issued_value) ||
	    kp_mul(x->redeemed, point_value, &x->redeemed_value) ||
	    kp_sub(x->issued_value, x->redeemed_value, &x->net))
		return KP_EOVERFLOW;
	return 0;
}

static int add_sums(struct sums *t, const struct sums *x)
{
	if (kp_add(t->issued, x->issued, &t->issued) ||
	    kp_add(t->redeemed, x->redeemed, &t->redeemed) ||
	    kp_add(t->issued_value, x->issued_value, &t->issued_value) ||
	    kp_add(t->redeemed_value, x->redeemed_value, &t->redeemed_value) ||
	    kp_add(t->net, x->net, &t->net))
		return KP_EOVERFLOW;
	return 0;
}

static json_t *sums_json(const struct sums *x)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I}", "points_issued", (json_int_t)x->issued,
			 "points_redeemed", (json_int_t)x->redeemed, "issued_value",
			 (json_int_t)x->issued_value, "redeemed_value",
			 (json_int_t)x->redeemed_value, "net", (json_int_t)x->net);
}

static void period_text(int64_t from, int64_t to, char f[11], char t[11])
{
	char buf[21];
	kp_time_format(from, buf);
	snprintf(f, 11, "%.10s", buf);
	kp_time_format(to - 1, buf); /* the last day included */
	snprintf(t, 11, "%.10s", buf);
}

static json_t *settlement_json(const struct settle *s, int64_t from, int64_t to,
			       int64_t point_value, struct sums *total, int *rc)
{
	char f[11], t[11];
	period_text(from, to, f, t);
	json_t *list = json_array();
	for (size_t i = 0; list && !*rc && i < s->n_partners; i++) {
		struct sums *x = &s->sums[i];
		*rc = value(x, point_value, s->partners[i].accrual_cost);
		if (!*rc)
			*rc = add_sums(total, x);
		json_t *p = *rc ? NULL : sums_json(x);
		if (p) {
			json_object_set_new(p, "partner", json_string(s->partners[i].id));
			json_object_set(p, "receipts", s->receipts[i]);
		}
		if (!*rc && (!p || json_array_append_new(list, p)))
			*rc = KP_ENOMEM;
	}
	if (*rc || !list) {
		json_decref(list);
		*rc = *rc ? *rc : KP_ENOMEM;
		return NULL;
	}
	return json_pack("{s:s,s:s,s:I,s:o,s:o}", "from", f, "to", t, "point_value",
			 (json_int_t)point_value, "partners", list, "totals", sums_json(total));
}

int kp_engine_settlement(struct kp_engine *e, int64_t from, int64_t to, json_t **answer,
			 struct kp_why *why)
{
	assert(answer && from < to);
	const struct kp_program *p;
	int64_t version;
	int rc = kp_engine_program(e, 0, &p, &version);
	if (rc)
		return rc == KP_ENOPROGRAM ? kp_why(why, rc, "settlement needs point_value: "
							     "load a program first")
					   : rc;
	struct kp_partner_row *partners = calloc(MAX_PARTNERS, sizeof *partners);
	struct settle s = {.partners = partners};
	struct kp_conn *c = NULL;
	/* One snapshot: the partners and the transfers agree. */
	rc = partners ? snapshot_acquire(e, &c) : KP_ENOMEM;
	if (!rc)
		rc = c->ops->partners_list(c, partners, MAX_PARTNERS, &s.n_partners);
	if (!rc) {
		s.receipts = calloc(s.n_partners + 1, sizeof *s.receipts);
		s.sums = calloc(s.n_partners + 1, sizeof *s.sums);
		rc = s.receipts && s.sums ? 0 : KP_ENOMEM;
	}
	for (size_t i = 0; !rc && i < s.n_partners; i++)
		rc = (s.receipts[i] = json_array()) ? 0 : KP_ENOMEM;
	if (!rc)
		rc = c->ops->settlement(c, from, to, settle_row, &s);
	if (c)
		snapshot_release(e, c);
	struct sums total = {0};
	*answer = rc ? NULL : settlement_json(&s, from, to, p->point_value, &total, &rc);
	if (rc == KP_EOVERFLOW)
		kp_why(why, rc, "the period's amounts do not fit in 64 bits");
	for (size_t i = 0; s.receipts && i < s.n_partners; i++)
		json_decref(s.receipts[i]);
	free(s.receipts);
	free(s.sums);
	free(partners);
	return rc;
}

/* ---- charity ---------------------------------------------------------------- */

struct charity {
	json_t *funds;
	int64_t point_value;
};

static int charity_row(void *arg, const struct kp_charity_row *r)
{
	struct charity *ch = arg;
	int64_t total, money;
	if (kp_add(r->donated, r->campaigns, &total) || kp_mul(total, ch->point_value, &money))
		return KP_EOVERFLOW;
	json_t *item = json_pack("{s:s,s:I,s:I,s:I,s:I}", "fund", r->fund, "donated_points",
				 (json_int_t)r->donated, "campaign_points",
				 (json_int_t)r->campaigns, "total_points", (json_int_t)total,
				 "value", (json_int_t)money);
	return item && !json_array_append_new(ch->funds, item) ? 0 : KP_ENOMEM;
}

int kp_engine_charity_report(struct kp_engine *e, int64_t from, int64_t to, json_t **answer,
			     struct kp_why *why)
{
	assert(answer && from < to);
	const struct kp_program *p;
	int64_t version;
	int rc = kp_engine_program(e, 0, &p, &version);
	if (rc)
		return rc;
	struct charity ch = {.funds = json_array(), .point_value = p->point_value};
	struct kp_conn *c;
	rc = ch.funds ? reader_acquire(e, &c) : KP_ENOMEM;
	if (!rc) {
		rc = c->ops->charity(c, from, to, charity_row, &ch);
		reader_release(e, c);
	}
	if (rc == KP_EOVERFLOW)
		kp_why(why, rc, "the period's amounts do not fit in 64 bits");
	if (rc) {
		json_decref(ch.funds);
		return rc;
	}
	char f[11], t[11];
	period_text(from, to, f, t);
	*answer = json_pack("{s:s,s:s,s:I,s:o}", "from", f, "to", t, "point_value",
			    (json_int_t)p->point_value, "funds", ch.funds);
	return *answer ? 0 : KP_ENOMEM;
}
