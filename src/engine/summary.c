/*
 * summary.c — GET /v1/reports/summary: the program's figures for a period,
 * each an aggregate query of store/sql.c run on a reader (one snapshot).
 */
#include <assert.h>
#include <math.h>

#include "engine/engine_int.h"
#include "util/error.h"
#include "util/timeutil.h"

struct figures {
	int64_t members, active, repeat, redeemers, purchases, paid, refunded;
	int64_t issued, taken_back, redeemed, expired, outstanding, churned, active_before;
};

/* A share with four decimals; 0 when there is nothing to divide. */
static json_t *rate(int64_t part, int64_t whole)
{
	assert(part >= 0);
	return json_real(whole > 0 ? round((double)part / (double)whole * 10000.0) / 10000.0 : 0.0);
}

static int read_figures(struct kp_conn *c, int64_t from, int64_t to, struct figures *f)
{
	const int64_t period[] = {from, to};
	const int64_t churn[] = {from - (to - from), from, from, to};
	const int64_t before[] = {from - (to - from), from};
	int64_t pts[4], money[2];
	int rc = c->ops->ints(c, Q_SUM_MEMBERS, &to, 1, &f->members, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_ACTIVE, period, 2, &f->active, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_REPEAT, period, 2, &f->repeat, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_REDEEMERS, period, 2, &f->redeemers, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_PURCHASES, period, 2, money, 2);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_REFUNDED, period, 2, &f->refunded, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_POINTS, period, 2, pts, 4);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_OUTSTANDING, NULL, 0, &f->outstanding, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_CHURNED, churn, 4, &f->churned, 1);
	if (!rc)
		rc = c->ops->ints(c, Q_SUM_ACTIVE, before, 2, &f->active_before, 1);
	f->purchases = money[0];
	f->paid = money[1];
	f->issued = pts[0], f->taken_back = pts[1], f->redeemed = pts[2], f->expired = pts[3];
	return rc;
}

static json_t *summary_json(const struct figures *f, int64_t from, int64_t to,
			    int64_t point_value)
{
	char a[11], b[11];
	kp_date_format(from / KP_SECONDS_PER_DAY, a);
	kp_date_format(to / KP_SECONDS_PER_DAY - 1, b);
	int64_t revenue = f->paid - f->refunded;
	json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o}",
			      "from", a, "to", b, "members", (json_int_t)f->members,
			      "active_members", (json_int_t)f->active, "purchases",
			      (json_int_t)f->purchases, "revenue", (json_int_t)revenue,
			      "average_check",
			      (json_int_t)(f->purchases > 0 ? revenue / f->purchases : 0),
			      "repeat_purchase_rate", rate(f->repeat, f->active), "engagement_rate",
			      rate(f->redeemers, f->active), "points_issued", (json_int_t)f->issued,
			      "points_taken_back", (json_int_t)f->taken_back, "points_redeemed",
			      (json_int_t)f->redeemed, "points_expired", (json_int_t)f->expired,
			      "points_outstanding", (json_int_t)f->outstanding, "liability",
			      (json_int_t)(f->outstanding * point_value), "breakage_rate",
			      rate(f->expired, f->issued), "churn_rate",
			      rate(f->churned, f->active_before));
	return j;
}

int kp_engine_summary(struct kp_engine *e, int64_t from, int64_t to, json_t **answer,
		      struct kp_why *why)
{
	assert(from < to && answer);
	const struct kp_program *p;
	int rc = kp_engine_program(e, 0, &p, NULL);
	if (rc)
		return kp_why(why, rc, "no program is loaded");
	struct kp_conn *c;
	if ((rc = snapshot_acquire(e, &c)))
		return rc;
	struct figures f = {0};
	rc = read_figures(c, from, to, &f);
	snapshot_release(e, c);
	if (rc)
		return rc;
	*answer = summary_json(&f, from, to, p->point_value);
	return *answer ? 0 : KP_ENOMEM;
}
