/*
 * jobs.c — the scheduled jobs, as functions of the clock and the database.
 *
 * The lots job finds members with a lot that is due (expired, pending past
 * its hold, or within the reminder window) and handles each member in the
 * writer: expire, activate, remind, then thresholds. The tier review walks
 * all members once per review period, whichever processes run it (below).
 * Both go in batches of BATCH members, each batch one writer job, so no
 * transaction grows without bound.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bonuses.h"
#include "util/error.h"
#include "util/timeutil.h"

#define BATCH 200

struct batch_job {
	const struct kp_program *program;
	int64_t now;
	const int64_t *ids;
	size_t n;
	int64_t after; /* the last member of the batches before this one (for_members) */
	/* What this batch did. The writer may run a batch again (writer.h): each
	 * run starts it afresh, and only a committed batch's counts reach the report. */
	struct kp_jobs_report counts;
	struct kp_jobs_report *report;
};

static bool reminded_lot(const struct kp_lot *l, int64_t now, int64_t remind_until)
{
	return l->remaining > 0 && l->expires_at > now && l->expires_at <= remind_until;
}

/*
 * Record one "points_expiring" reminder per member and expiry day (the shop's
 * local day), once:
 * a member with many small lots expiring the same day hears about it once,
 * with their sum.
 */
static int remind(struct kp_conn *c, const struct member_state *ms, int64_t offset_s,
		  int64_t now, int64_t remind_until, int64_t *count)
{
	const struct kp_lot *lots = ms->points.lots;
	for (size_t i = 0; i < ms->points.n_lots; i++) {
		if (!reminded_lot(&lots[i], now, remind_until))
			continue;
		int64_t day = (lots[i].expires_at + offset_s) / KP_SECONDS_PER_DAY, points = 0;
		bool first = true;
		for (size_t k = 0; k < ms->points.n_lots; k++) {
			if (!reminded_lot(&lots[k], now, remind_until) ||
			    (lots[k].expires_at + offset_s) / KP_SECONDS_PER_DAY != day)
				continue;
			first &= k >= i;
			points += lots[k].remaining;
		}
		if (!first)
			continue; /* this day was handled at its first lot */
		char ref[64], date[11];
		kp_date_format(day, date);
		snprintf(ref, sizeof ref, "member:%lld:%s", (long long)ms->row.id, date);
		json_t *payload = json_pack("{s:I,s:s}", "points", (json_int_t)points, "expires_on",
					    date);
		char *text = payload ? json_text(payload) : NULL;
		json_decref(payload);
		int rc = text ? c->ops->event_insert(c, ms->row.id, "points_expiring", ref, text, now)
			      : KP_ENOMEM;
		free(text);
		if (rc == 0)
			(*count)++;
		else if (rc != KP_ECONFLICT)
			return rc;
	}
	return 0;
}

static int lots_member(struct kp_conn *c, struct batch_job *j, int64_t id)
{
	const struct kp_program *p = j->program;
	struct kp_member_row row;
	struct member_state ms;
	int rc = c->ops->member_get_id(c, id, &row);
	if (!rc)
		rc = member_state_load(c, p, j->now, &row, 0, &ms);
	if (rc)
		return rc;
	struct kp_plan plan = {.cap = kp_ledger_plan_bound(&ms.points) * 2};
	plan.postings = calloc(plan.cap, sizeof *plan.postings);
	int64_t expired = 0, activated = 0;
	if (!plan.postings)
		rc = KP_ENOMEM;
	if (!rc && (expired = kp_ledger_expire(&ms.points, j->now, &plan)) < 0)
		rc = (int)expired;
	if (!rc && (activated = kp_ledger_activate(&ms.points, j->now, &plan)) < 0)
		rc = (int)activated;
	struct posting_ctx ctx = {.member_id = id, .now = j->now};
	if (!rc)
		rc = persist_plan(c, &ctx, &ms.points, &plan);
	if (!rc)
		rc = remind(c, &ms, p->utc_offset_s, j->now,
			    j->now + p->remind_days_before * KP_SECONDS_PER_DAY,
			    &j->counts.reminders);
	if (!rc)
		rc = apply_thresholds(c, p, &ms, j->now, NULL, &j->counts.certificates_issued);
	if (!rc) {
		j->counts.expired_points += expired;
		j->counts.activated_points += activated;
	}
	free(plan.postings);
	member_state_release(&ms);
	return rc;
}

static int lots_batch_run(struct kp_conn *c, void *arg)
{
	struct batch_job *j = arg;
	j->counts = (struct kp_jobs_report){0};
	for (size_t i = 0; i < j->n; i++) {
		int rc = lots_member(c, j, j->ids[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Review one member: the tier their spend reaches now, down as well as up. */
static int review_member(struct kp_conn *c, struct batch_job *j, int64_t id)
{
	const struct kp_program *p = j->program;
	struct kp_member_row row;
	struct member_state ms = {0};
	int rc = c->ops->member_get_id(c, id, &row);
	if (rc)
		return rc;
	ms.row = row;
	if ((rc = basis_spend(c, p, &row, j->now, &ms.basis_spend)))
		return rc;
	ms.spend_loaded = true;
	ms.tier = effective_tier(p, &row, ms.basis_spend);
	int reached = kp_rules_tier_for_spend(p, ms.basis_spend);
	if (reached < ms.tier)
		j->counts.tier_downgrades++;
	j->counts.tier_reviews++;
	return set_tier(c, p, &ms, reached, j->now, "review");
}

static int review_batch_run(struct kp_conn *c, void *arg)
{
	struct batch_job *j = arg;
	j->counts = (struct kp_jobs_report){0};
	for (size_t i = 0; i < j->n; i++) {
		int rc = review_member(c, j, j->ids[i]);
		if (rc)
			return rc;
	}
	return 0;
}

typedef int (*list_fn)(struct kp_conn *c, const struct batch_job *j, int64_t after,
		       int64_t *ids, size_t cap, size_t *n);

static int list_due(struct kp_conn *c, const struct batch_job *j, int64_t after, int64_t *ids,
		    size_t cap, size_t *n)
{
	int64_t remind_until = j->now + j->program->remind_days_before * KP_SECONDS_PER_DAY;
	return c->ops->members_with_due_lots(c, j->now, remind_until, after, ids, cap, n);
}

static int list_all(struct kp_conn *c, const struct batch_job *j, int64_t after, int64_t *ids,
		    size_t cap, size_t *n)
{
	(void)j;
	return c->ops->member_ids(c, after, ids, cap, n);
}

/* A committed batch's counts, added to the report. */
static void add_counts(struct kp_jobs_report *to, const struct kp_jobs_report *batch)
{
	to->expired_points += batch->expired_points;
	to->activated_points += batch->activated_points;
	to->reminders += batch->reminders;
	to->certificates_issued += batch->certificates_issued;
	to->tier_reviews += batch->tier_reviews;
	to->tier_downgrades += batch->tier_downgrades;
}

/* List members after the given one on a reader, batch by batch, and run each
 * batch on the writer; j->after is then the last member listed. */
static int for_members(struct kp_engine *e, struct batch_job *j, int64_t after, list_fn list,
		       kp_write_fn run)
{
	int64_t ids[BATCH];
	size_t n;
	do {
		j->after = after;
		struct kp_conn *c;
		int rc = reader_acquire(e, &c);
		if (rc)
			return rc;
		rc = list(c, j, after, ids, BATCH, &n);
		reader_release(e, c);
		if (!rc && n > 0) {
			j->ids = ids;
			j->n = n;
			rc = kp_writer_submit(e->writer, run, j);
		}
		if (rc)
			return rc;
		if (n > 0)
			add_counts(j->report, &j->counts);
		after = n ? ids[n - 1] : after;
	} while (n == BATCH);
	j->after = after;
	return 0;
}

/* "2027-01" (monthly) or "2027" (yearly), in the program's local time. */
static void review_period(const struct kp_program *p, int64_t now, char out[16])
{
	int64_t local = now + p->utc_offset_s;
	int64_t days = local / KP_SECONDS_PER_DAY - (local % KP_SECONDS_PER_DAY < 0);
	int64_t y;
	unsigned m, d;
	kp_civil_from_days(days, &y, &m, &d);
	if (p->tier_review == KP_REVIEW_YEARLY)
		snprintf(out, 16, "%04lld", (long long)y);
	else
		snprintf(out, 16, "%04lld-%02u", (long long)y, m);
}

/*
 * The review of a period runs in batches, and any process's scheduler may
 * run it: several servers on one PostgreSQL database, or `kopilka jobs run`
 * beside a server. Its progress is a job_state row, REVIEW_PROGRESS =
 * "<period> <last member reviewed>", read and moved in each batch's own
 * transaction (on PostgreSQL under the job's advisory lock, store.h). A
 * batch that finds the progress moved writes nothing: another process has
 * reviewed past it, and this one leaves the rest to that one. So a member is
 * reviewed, and counted in a report, once a period; and a review cut short
 * (a crash, a restart) goes on where it stopped at the next run. The period
 * is recorded as reviewed ("tier_review") after the last batch.
 */
#define REVIEW_DONE "tier_review"
#define REVIEW_PROGRESS "tier_review:progress"
#define PROGRESS_CAP 48

/* The member a progress text of period names as the last reviewed, or -1 if
 * the text is of another period (or none). */
static int64_t progress_of(const char *text, const char *period)
{
	size_t len = strlen(period);
	if (strncmp(text, period, len) != 0 || text[len] != ' ')
		return -1;
	char *end;
	long long upto = strtoll(text + len + 1, &end, 10);
	return *end == '\0' && upto >= 0 ? upto : -1;
}

static int progress_set(struct kp_conn *c, const char *period, int64_t upto)
{
	char text[PROGRESS_CAP];
	snprintf(text, sizeof text, "%s %lld", period, (long long)upto);
	return c->ops->job_period_set(c, REVIEW_PROGRESS, text);
}

static int progress_get(struct kp_conn *c, const char *period, int64_t *upto)
{
	char text[PROGRESS_CAP];
	int rc = c->ops->job_period_get(c, REVIEW_PROGRESS, text, sizeof text);
	*upto = rc ? -1 : progress_of(text, period);
	return rc;
}

/* Whether a review of the period is due, and from which member on. */
struct review_start {
	const char *period;
	bool due;
	int64_t after;
};

static int review_start_run(struct kp_conn *c, void *arg)
{
	struct review_start *r = arg;
	r->due = false;
	char last[16];
	int rc = c->ops->job_period_get(c, REVIEW_DONE, last, sizeof last);
	if (rc || strcmp(last, r->period) == 0)
		return rc;
	/* The first run only starts the calendar: a review is due at the next period. */
	if (!last[0])
		return c->ops->job_period_set(c, REVIEW_DONE, r->period);
	if ((rc = progress_get(c, r->period, &r->after)))
		return rc;
	r->due = true;
	if (r->after >= 0)
		return 0; /* begun: by a run cut short, or by another process now */
	r->after = 0;
	return progress_set(c, r->period, 0);
}

/* A review batch's answer when the progress is not where the batch expected
 * it (not a KP_E* code): it wrote nothing, and its process stops. */
#define REVIEW_MOVED 1

/* 0 when the review of j's period has come exactly through j->after, else
 * REVIEW_MOVED or the store's error; period is set either way. */
static int progress_at_after(struct kp_conn *c, const struct batch_job *j, char period[16])
{
	review_period(j->program, j->now, period);
	int64_t at;
	int rc = progress_get(c, period, &at);
	return rc ? rc : at == j->after ? 0 : REVIEW_MOVED;
}

/* One batch of the review: the members (j->after, the last of ids]. */
static int review_step_run(struct kp_conn *c, void *arg)
{
	struct batch_job *j = arg;
	assert(j->n > 0);
	j->counts = (struct kp_jobs_report){0};
	char period[16];
	int rc = progress_at_after(c, j, period);
	if (!rc)
		rc = progress_set(c, period, j->ids[j->n - 1]);
	return rc ? rc : review_batch_run(c, j);
}

/* After the last batch (through j->after): the period is recorded as reviewed. */
static int review_done_run(struct kp_conn *c, void *arg)
{
	const struct batch_job *j = arg;
	char period[16];
	int rc = progress_at_after(c, j, period);
	return rc ? rc : c->ops->job_period_set(c, REVIEW_DONE, period);
}

static int tier_review(struct kp_engine *e, struct batch_job *j)
{
	char period[16];
	review_period(j->program, j->now, period);
	struct review_start start = {.period = period};
	int rc = kp_writer_submit(e->writer, review_start_run, &start);
	if (rc || !start.due)
		return rc;
	rc = for_members(e, j, start.after, list_all, review_step_run);
	if (!rc)
		rc = kp_writer_submit(e->writer, review_done_run, j);
	return rc == REVIEW_MOVED ? 0 : rc;
}

int kp_engine_jobs_run(struct kp_engine *e, struct kp_jobs_report *out, struct kp_why *why)
{
	assert(out);
	memset(out, 0, sizeof *out);
	const struct kp_program *p;
	int rc = kp_engine_program(e, 0, &p, NULL);
	if (rc == KP_ENOPROGRAM)
		return 0; /* nothing is due without a program */
	if (rc)
		return kp_why(why, rc, "cannot load the current program");
	struct batch_job j = {.program = p, .now = kp_engine_now(e), .report = out};
	rc = release_expired_holds(e, j.now, &out->holds_released);
	if (!rc)
		rc = for_members(e, &j, 0, list_due, lots_batch_run);
	if (!rc && p->n_tiers > 0)
		rc = tier_review(e, &j);
	if (!rc)
		rc = pay_due_referrals(e, p, j.now, &out->referrals_paid);
	if (!rc)
		rc = pay_birthdays(e, p, j.now, &out->birthday_bonuses);
	return rc;
}

json_t *kp_jobs_report_json(const struct kp_jobs_report *r)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "referrals_paid",
			 (json_int_t)r->referrals_paid, "birthday_bonuses",
			 (json_int_t)r->birthday_bonuses, "holds_released",
			 (json_int_t)r->holds_released, "expired_points",
			 (json_int_t)r->expired_points, "activated_points",
			 (json_int_t)r->activated_points, "reminders", (json_int_t)r->reminders,
			 "certificates_issued", (json_int_t)r->certificates_issued, "tier_reviews",
			 (json_int_t)r->tier_reviews, "tier_downgrades",
			 (json_int_t)r->tier_downgrades);
}
