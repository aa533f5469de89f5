/*
 * sqlite_mechanics.c — what the program's mechanics remember on SQLite:
 * tiers and spend, stamp cards, campaign budgets, certificates, events and
 * the state of scheduled jobs.
 */
#include <assert.h>
#include <stdio.h>

#include "store/sqlite_int.h"
#include "util/error.h"

#define CONN(base) ((struct sqlite_conn *)(base))

int sqlite_member_set_tier(struct kp_conn *base, int64_t id, const char *tier, int64_t since)
{
	struct sqlite_conn *c = CONN(base);
	assert(id > 0 && tier);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_MEMBER_SET_TIER, "sii", tier, since, id));
}

int sqlite_member_add_spend(struct kp_conn *base, int64_t id, int64_t delta)
{
	struct sqlite_conn *c = CONN(base);
	assert(id > 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_MEMBER_ADD_SPEND, "ii", delta, id));
}

/* One integer from a statement that always returns one row. */
static int one_int(struct sqlite_conn *c, sqlite3_stmt *st, int64_t *out)
{
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int sqlite_member_spend_since(struct kp_conn *base, int64_t id, int64_t since, int64_t *spend)
{
	struct sqlite_conn *c = CONN(base);
	assert(id > 0 && spend);
	return one_int(c, sqlite_bind(c, Q_MEMBER_SPEND_SINCE, "ii", id, since), spend);
}

int sqlite_purchase_add_spend(struct kp_conn *base, int64_t purchase_id, int64_t delta)
{
	struct sqlite_conn *c = CONN(base);
	assert(purchase_id > 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_PURCHASE_ADD_SPEND, "ii", delta, purchase_id));
}

int sqlite_stamp_get(struct kp_conn *base, int64_t member_id, const char *card, int64_t *count)
{
	struct sqlite_conn *c = CONN(base);
	assert(card && count);
	int rc = one_int(c, sqlite_bind(c, Q_STAMP_GET, "is", member_id, card), count);
	if (rc == KP_ENOTFOUND) {
		*count = 0;
		return 0;
	}
	return rc;
}

int sqlite_stamp_set(struct kp_conn *base, int64_t member_id, const char *card, int64_t count)
{
	struct sqlite_conn *c = CONN(base);
	assert(card && count >= 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_STAMP_SET, "isi", member_id, card, count));
}

int sqlite_budget_spent(struct kp_conn *base, const char *campaign, int64_t *spent)
{
	struct sqlite_conn *c = CONN(base);
	assert(campaign && spent);
	int rc = one_int(c, sqlite_bind(c, Q_BUDGET_GET, "s", campaign), spent);
	if (rc == KP_ENOTFOUND) {
		*spent = 0;
		return 0;
	}
	return rc;
}

int sqlite_budget_add(struct kp_conn *base, const char *campaign, int64_t points)
{
	struct sqlite_conn *c = CONN(base);
	assert(campaign && points >= 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_BUDGET_ADD, "si", campaign, points));
}

int sqlite_certificate_insert(struct kp_conn *base, const char *code, int64_t amount,
			      int64_t member_id, const char *source, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(code && amount > 0 && source);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_CERT_INSERT, "siiisi", code, amount, amount,
					       member_id, source, now));
}

int sqlite_event_insert(struct kp_conn *base, int64_t member_id, const char *kind, const char *ref,
			const char *payload, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(kind && ref && payload);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_EVENT_INSERT, "isssi", member_id, kind, ref,
					       payload, now));
}

int sqlite_members_with_due_lots(struct kp_conn *base, int64_t now, int64_t remind_until,
				 int64_t after_id, int64_t *ids, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(ids && n && cap > 0 && remind_until >= now);
	sqlite3_stmt *st = sqlite_bind(c, Q_DUE_MEMBERS, "iiii", after_id, remind_until, now,
				       (int64_t)cap);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_error(c, rc);
}

int sqlite_job_period_get(struct kp_conn *base, const char *job, char *period, size_t cap)
{
	struct sqlite_conn *c = CONN(base);
	assert(job && period && cap > 0);
	sqlite3_stmt *st = sqlite_bind(c, Q_JOB_GET, "s", job);
	int rc = sqlite_step_row(c, st);
	period[0] = '\0';
	if (rc == KP_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	sqlite_copy_text(st, 0, period, cap);
	sqlite3_reset(st);
	return 0;
}

int sqlite_job_period_set(struct kp_conn *base, const char *job, const char *period)
{
	struct sqlite_conn *c = CONN(base);
	assert(job && period);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_JOB_SET, "ss", job, period));
}
