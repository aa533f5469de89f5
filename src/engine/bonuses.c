#include "engine/bonuses.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"
#include "util/error.h"
#include "util/timeutil.h"

int pay_bonus(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
	      const char *type, const char *event_id, int64_t points, int64_t now,
	      const char *request_hash, json_t *answer)
{
	assert(points > 0 && type && event_id);
	struct kp_plan plan = {.cap = kp_ledger_plan_bound(&ms->points)};
	plan.postings = calloc(plan.cap, sizeof *plan.postings);
	if (!plan.postings)
		return KP_ENOMEM;
	struct kp_lot lot = {
		.expires_at = p->expiry_days > 0 ? now + p->expiry_days * KP_SECONDS_PER_DAY
						 : KP_NEVER,
		.available_at = now,
	};
	int rc = c->ops->lot_next_id(c, &lot.id);
	if (!rc)
		rc = kp_ledger_credit(&ms->points, points, &lot, KP_ENTRY_BONUS, &plan);
	struct posting_ctx ctx = {.member_id = ms->row.id, .now = now, .ref = event_id};
	if (!rc)
		rc = persist_plan(c, &ctx, &ms->points, &plan);
	free(plan.postings);
	if (!rc)
		rc = apply_thresholds(c, p, ms, now, NULL, NULL);
	if (!rc && answer)
		json_object_set_new(answer, "balance", balance_json(ms->points.available,
								    ms->points.pending,
								    ms->points.debt));
	char *text = answer ? json_text(answer) : strdup("{}");
	if (!rc)
		rc = text ? c->ops->bonus_insert(c, ms->row.id, type, event_id, points, now,
						 request_hash, text)
			  : KP_ENOMEM;
	free(text);
	return rc;
}

/* Pay a bonus of the engine's own (registration, birthday, referral) once per event id. */
static int pay_once(struct kp_conn *c, const struct kp_program *p, int64_t member_id,
		    const char *type, const char *event_id, int64_t points, int64_t now)
{
	struct kp_member_row row;
	struct member_state ms;
	char hash[KP_HASH_HEX], *stored = NULL;
	int rc = c->ops->bonus_find(c, member_id, event_id, hash, &stored);
	free(stored);
	if (rc != KP_ENOTFOUND)
		return rc; /* paid before (0), or an error */
	if ((rc = c->ops->member_get_id(c, member_id, &row)) ||
	    (rc = member_state_load(c, p, now, &row, 1, &ms)))
		return rc;
	rc = pay_bonus(c, p, &ms, type, event_id, points, now, "", NULL);
	member_state_release(&ms);
	return rc;
}

int bonuses_on_registration(struct kp_conn *c, const struct kp_program *p,
			    const struct kp_member_row *m, int64_t now)
{
	int rc = 0;
	if (p && p->registration_points > 0)
		rc = pay_once(c, p, m->id, "registration", "registration", p->registration_points,
			      now);
	if (!rc && m->referred_by)
		rc = c->ops->referral_insert(c, m->id, m->referred_by);
	return rc;
}

int referral_on_purchase(struct kp_conn *c, const struct kp_program *p, int64_t member_id,
			 int64_t purchase_id, int64_t now)
{
	struct kp_referral_row r;
	int rc = c->ops->referral_get(c, member_id, &r);
	if (rc == KP_ENOTFOUND)
		return 0;
	if (rc || strcmp(r.status, "waiting") != 0)
		return rc;
	/* Paid once the friend's purchase has outlived its return period. */
	r.purchase_id = purchase_id;
	r.due_at = now + p->hold_days * KP_SECONDS_PER_DAY;
	snprintf(r.status, sizeof r.status, "due");
	return c->ops->referral_update(c, &r);
}

struct referral_job {
	const struct kp_program *p;
	int64_t now, referee;
	bool paid;
};

static int referral_run(struct kp_conn *c, void *arg)
{
	struct referral_job *j = arg;
	struct kp_referral_row r;
	struct kp_purchase_row purchase;
	int rc = c->ops->referral_get(c, j->referee, &r);
	if (!rc)
		rc = c->ops->purchase_by_id(c, r.purchase_id, &purchase, NULL);
	if (rc)
		return rc;
	if (purchase.spend <= 0 && purchase.subtotal > 0) {
		/* refunded in full within the hold: wait for the next purchase */
		r.purchase_id = 0;
		r.due_at = 0;
		snprintf(r.status, sizeof r.status, "waiting");
		return c->ops->referral_update(c, &r);
	}
	char event[48];
	snprintf(event, sizeof event, "referral:%lld", (long long)r.referee_id);
	if (j->p->referee_points > 0)
		rc = pay_once(c, j->p, r.referee_id, "referral", event, j->p->referee_points,
			      j->now);
	if (!rc && j->p->referrer_points > 0)
		rc = pay_once(c, j->p, r.referrer_id, "referral", event, j->p->referrer_points,
			      j->now);
	snprintf(r.status, sizeof r.status, "paid");
	if (!rc)
		rc = c->ops->referral_update(c, &r);
	j->paid = !rc;
	return rc;
}

int pay_due_referrals(struct kp_engine *e, const struct kp_program *p, int64_t now,
		      int64_t *count)
{
	int64_t ids[200], after = 0;
	size_t n;
	do {
		struct kp_conn *c;
		int rc = reader_acquire(e, &c);
		if (rc)
			return rc;
		rc = c->ops->referrals_due(c, now, after, ids, 200, &n);
		reader_release(e, c);
		for (size_t i = 0; !rc && i < n; i++) {
			struct referral_job j = {.p = p, .now = now, .referee = ids[i]};
			rc = kp_writer_submit(e->writer, referral_run, &j);
			*count += j.paid;
		}
		if (rc)
			return rc;
		after = n ? ids[n - 1] : after;
	} while (n == 200);
	return 0;
}

/* ---- birthdays -------------------------------------------------------------- */

struct birthday_job {
	const struct kp_program *p;
	int64_t now, year;
	const int64_t *ids;
	size_t n;
	int64_t paid;
};

static int birthday_run(struct kp_conn *c, void *arg)
{
	struct birthday_job *j = arg;
	j->paid = 0; /* a batch run again (writer.h) counts afresh */
	char event[32];
	snprintf(event, sizeof event, "birthday:%lld", (long long)j->year);
	for (size_t i = 0; i < j->n; i++) {
		char hash[KP_HASH_HEX], *stored = NULL;
		int rc = c->ops->bonus_find(c, j->ids[i], event, hash, &stored);
		free(stored);
		if (rc == 0)
			continue; /* this year's bonus was paid */
		if (rc == KP_ENOTFOUND)
			rc = pay_once(c, j->p, j->ids[i], "birthday", event, j->p->birthday_points,
				      j->now);
		if (rc)
			return rc;
		j->paid++;
	}
	return 0;
}

struct day_job {
	char last[16];
	const char *today;
	bool read;
};

static int day_run(struct kp_conn *c, void *arg)
{
	struct day_job *j = arg;
	return j->read ? c->ops->job_period_get(c, "birthday", j->last, sizeof j->last)
		       : c->ops->job_period_set(c, "birthday", j->today);
}

#define BIRTHDAY_CATCH_UP_DAYS 31

/* Pay the birthdays whose bonus falls on local day `day` (days_before early). */
static int pay_birthdays_of(struct kp_engine *e, const struct kp_program *p, int64_t now,
			    int64_t day, int64_t *count)
{
	int64_t y;
	unsigned m, d;
	char mmdd[6], leap_mmdd[6] = "";
	kp_civil_from_days(day + p->birthday_days_before, &y, &m, &d);
	snprintf(mmdd, sizeof mmdd, "%02u-%02u", m, d);
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m == 2 && d == 28 && !leap)
		snprintf(leap_mmdd, sizeof leap_mmdd, "02-29"); /* born on 29 February */
	int64_t ids[200], after = 0;
	size_t n;
	do {
		struct kp_conn *c;
		int rc = reader_acquire(e, &c);
		if (rc)
			return rc;
		rc = c->ops->members_born_on(c, mmdd, leap_mmdd[0] ? leap_mmdd : mmdd, after, ids,
					     200, &n);
		reader_release(e, c);
		struct birthday_job bj = {.p = p, .now = now, .year = y, .ids = ids, .n = n};
		if (!rc && n)
			rc = kp_writer_submit(e->writer, birthday_run, &bj);
		if (rc)
			return rc;
		*count += bj.paid;
		after = n ? ids[n - 1] : after;
	} while (n == 200);
	return 0;
}

int pay_birthdays(struct kp_engine *e, const struct kp_program *p, int64_t now, int64_t *count)
{
	if (p->birthday_points == 0)
		return 0;
	int64_t local = now + p->utc_offset_s;
	int64_t today = local / KP_SECONDS_PER_DAY - (local % KP_SECONDS_PER_DAY < 0);
	char today_text[11];
	kp_date_format(today, today_text);
	struct day_job dj = {.today = today_text, .read = true};
	int rc = kp_writer_submit(e->writer, day_run, &dj);
	if (rc || strcmp(dj.last, today_text) == 0)
		return rc;
	/* Days the jobs did not run are caught up (a bounded number): a server that was
	 * down on someone's birthday still pays it; the event id keeps it once a year. */
	int64_t last, first = today;
	if (dj.last[0] && kp_date_parse(dj.last, &last) == 0 && last < today)
		first = today - kp_min64(today - last - 1, BIRTHDAY_CATCH_UP_DAYS);
	for (int64_t day = first; !rc && day <= today; day++)
		rc = pay_birthdays_of(e, p, now, day, count);
	dj.read = false;
	return rc ? rc : kp_writer_submit(e->writer, day_run, &dj);
}

/* ---- events a shop reports ------------------------------------------------ */

struct event_job {
	struct kp_engine *e;
	const char *id, *event_id, *type, *hash;
	int64_t now;
	json_t *answer;
	int status;
	struct kp_why *why;
};

/* The first instant of the member's local month, for per_month limits. */
static int64_t month_start(const struct kp_program *p, int64_t now)
{
	int64_t local = now + p->utc_offset_s;
	int64_t day = local / KP_SECONDS_PER_DAY - (local % KP_SECONDS_PER_DAY < 0);
	int64_t y;
	unsigned m, d;
	kp_civil_from_days(day, &y, &m, &d);
	return kp_days_from_civil(y, m, 1) * KP_SECONDS_PER_DAY - p->utc_offset_s;
}

static int check_limits(struct kp_conn *c, const struct kp_program *p,
			const struct kp_event_rule *rule, int64_t member_id, struct event_job *j)
{
	int64_t n = 0;
	int rc = 0;
	if (rule->once) {
		rc = c->ops->bonus_count(c, member_id, rule->type, INT64_MIN, &n);
		if (!rc && n > 0)
			return kp_why(j->why, KP_ELIMIT, "the %s bonus is paid once per member",
				      rule->type);
	}
	if (!rc && rule->per_month > 0) {
		rc = c->ops->bonus_count(c, member_id, rule->type, month_start(p, j->now), &n);
		if (!rc && n >= rule->per_month)
			return kp_why(j->why, KP_ELIMIT, "the %s bonus is paid at most %lld times "
					  "a month", rule->type, (long long)rule->per_month);
	}
	return rc;
}

static int event_run(struct kp_conn *c, void *arg)
{
	struct event_job *j = arg;
	job_answer_drop(&j->answer);
	struct kp_member_row row;
	int rc = find_member(c, KP_REF_MEMBER, j->id, &row, j->why);
	if (rc)
		return rc;
	char hash[KP_HASH_HEX], *stored = NULL;
	if ((rc = c->ops->bonus_find(c, row.id, j->event_id, hash, &stored)) == 0) {
		bool same = strcmp(hash, j->hash) == 0;
		j->answer = same ? json_parse_stored(stored) : NULL;
		free(stored);
		j->status = 201;
		if (!same)
			return kp_why(j->why, KP_EIDEMPOTENCY, "event %s was reported with "
					  "another body", j->event_id);
		return j->answer ? 0 : KP_ESTORE;
	}
	if (rc != KP_ENOTFOUND)
		return rc;
	const struct kp_program *p;
	if ((rc = kp_engine_program(j->e, 0, &p, NULL)))
		return rc;
	const struct kp_event_rule *rule = kp_rules_event(p, j->type);
	if (!rule)
		return kp_why(j->why, KP_EEVENT, "type: the program gives no bonus for %s%s", j->type,
			      strcmp(j->type, "registration") && strcmp(j->type, "birthday") &&
					      strcmp(j->type, "referral")
				      ? ""
				      : " events reported by the shop (Kopilka pays it itself)");
	if ((rc = check_limits(c, p, rule, row.id, j)))
		return rc;
	struct member_state ms;
	if ((rc = member_state_load(c, p, j->now, &row, 1, &ms)))
		return rc;
	j->answer = json_pack("{s:s,s:s,s:s,s:I}", "member", j->id, "event_id", j->event_id,
			      "type", j->type, "points", (json_int_t)rule->points);
	rc = j->answer ? pay_bonus(c, p, &ms, j->type, j->event_id, rule->points, j->now,
				   j->hash, j->answer)
		       : KP_ENOMEM;
	member_state_release(&ms);
	j->status = 201;
	return rc;
}

int kp_engine_event(struct kp_engine *e, const char *id, const char *event_id, const char *type,
		    const char *hash, json_t **answer, int *status, struct kp_why *why)
{
	assert(id && event_id && type && hash && answer && status);
	struct event_job j = {.e = e, .id = id, .event_id = event_id, .type = type,
			      .hash = hash, .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, event_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*status = j.status;
	return 0;
}
