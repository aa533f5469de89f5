/*
 * pg_more.c — what the mechanics and the customer side keep, on PostgreSQL:
 * tiers and spend, stamp cards, campaign budgets, events and jobs, cards and
 * personal data, referrals, coupons, gift certificates, two-phase purchases,
 * the audit log and the coalition reports. Same contract and answers as
 * sqlite_mechanics.c, sqlite_customers.c and sqlite_reports.c.
 *
 * Inside a write transaction the rows a purchase decides on are locked as
 * they are read (coupons, certificates, campaign budgets, a held purchase,
 * a referral), after the member's row, so no coupon, certificate or budget
 * is spent twice by two servers at once.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "util/error.h"

#define CONN(base) ((struct pg_conn *)(base))

static int one_int(int rc, struct pg_res *res, int64_t *out)
{
	if (rc)
		return rc;
	*out = pg_int(res, 0);
	pg_clear(res);
	return 0;
}

/* ---- tiers, stamps, budgets, events, jobs --------------------------------- */

int pg_member_set_tier(struct kp_conn *base, int64_t id, const char *tier, int64_t since)
{
	assert(id > 0 && tier);
	return pg_run(CONN(base), Q_MEMBER_SET_TIER, NULL, "sii", tier, since, id);
}

int pg_member_add_spend(struct kp_conn *base, int64_t id, int64_t delta)
{
	assert(id > 0);
	return pg_run(CONN(base), Q_MEMBER_ADD_SPEND, NULL, "ii", delta, id);
}

int pg_member_spend_since(struct kp_conn *base, int64_t id, int64_t since, int64_t *spend)
{
	assert(id > 0 && spend);
	struct pg_res res;
	return one_int(pg_one(CONN(base), Q_MEMBER_SPEND_SINCE, &res, "ii", id, since), &res,
		       spend);
}

int pg_purchase_add_spend(struct kp_conn *base, int64_t purchase_id, int64_t delta)
{
	assert(purchase_id > 0);
	return pg_run(CONN(base), Q_PURCHASE_ADD_SPEND, NULL, "ii", delta, purchase_id);
}

int pg_stamp_get(struct kp_conn *base, int64_t member_id, const char *card, int64_t *count)
{
	assert(card && count);
	struct pg_res res;
	int rc = one_int(pg_one(CONN(base), Q_STAMP_GET, &res, "is", member_id, card), &res,
			 count);
	if (rc == KP_ENOTFOUND) {
		*count = 0;
		return 0;
	}
	return rc;
}

int pg_stamp_set(struct kp_conn *base, int64_t member_id, const char *card, int64_t count)
{
	assert(card && count >= 0);
	return pg_run(CONN(base), Q_STAMP_SET, NULL, "isi", member_id, card, count);
}

/* In a write transaction the budget's row is made if missing and locked: two
 * purchases never both see the same points left. */
int pg_budget_spent(struct kp_conn *base, const char *campaign, int64_t *spent)
{
	struct pg_conn *c = CONN(base);
	assert(campaign && spent);
	int rc = c->in_write ? pg_run(c, Q_BUDGET_ENSURE, NULL, "s", campaign) : 0;
	struct pg_res res;
	if (!rc)
		rc = one_int(pg_one(c, c->in_write ? Q_BUDGET_GET_LOCK : Q_BUDGET_GET, &res, "s",
				    campaign),
			     &res, spent);
	if (rc == KP_ENOTFOUND) {
		*spent = 0;
		return 0;
	}
	return rc;
}

int pg_budget_add(struct kp_conn *base, const char *campaign, int64_t points)
{
	assert(campaign);
	return pg_run(CONN(base), Q_BUDGET_ADD, NULL, "si", campaign, points);
}

int pg_certificate_insert(struct kp_conn *base, const char *code, int64_t amount,
			  int64_t member_id, const char *source, int64_t now)
{
	assert(code && amount > 0 && source);
	return pg_run(CONN(base), Q_CERT_INSERT, NULL, "siiisi", code, amount, amount, member_id,
		      source, now);
}

int pg_event_insert(struct kp_conn *base, int64_t member_id, const char *kind, const char *ref,
		    const char *payload, int64_t now)
{
	assert(kind && ref && payload);
	return pg_run(CONN(base), Q_EVENT_INSERT, NULL, "isssi", member_id, kind, ref, payload,
		      now);
}

int pg_members_with_due_lots(struct kp_conn *base, int64_t now, int64_t remind_until,
			     int64_t after_id, int64_t *ids, size_t cap, size_t *n)
{
	assert(ids && n && cap > 0 && remind_until >= now);
	return pg_list_ids(CONN(base), Q_DUE_MEMBERS, ids, cap, n, "iiii", after_id, remind_until,
			   now, (int64_t)cap);
}

/*
 * A scheduled job reads its last period and later records the new one; with
 * several servers, the read in a write transaction first takes the job's
 * advisory lock, held until that transaction ends, so two servers reading
 * at once read one after the other. (Each member's part of a job is made
 * safe by the member's row lock; see docs/deployment.md.)
 */
int pg_job_period_get(struct kp_conn *base, const char *job, char *period, size_t cap)
{
	struct pg_conn *c = CONN(base);
	assert(job && period && cap > 0);
	period[0] = '\0';
	int rc = c->in_write ? pg_run(c, Q_JOB_LOCK, NULL, "s", job) : 0;
	struct pg_res res;
	if (!rc)
		rc = pg_one(c, Q_JOB_GET, &res, "s", job);
	if (rc == KP_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	pg_text(&res, 0, period, cap);
	pg_clear(&res);
	return 0;
}

int pg_job_period_set(struct kp_conn *base, const char *job, const char *period)
{
	struct pg_conn *c = CONN(base);
	assert(job && period);
	int rc = c->in_write ? pg_run(c, Q_JOB_LOCK, NULL, "s", job) : 0;
	return rc ? rc : pg_run(c, Q_JOB_SET, NULL, "ss", job, period);
}

/* ---- cards and personal data ------------------------------------------------ */

int pg_card_insert(struct kp_conn *base, const char *card, int64_t member_id, int64_t now)
{
	assert(card && member_id > 0);
	return pg_run(CONN(base), Q_CARD_INSERT, NULL, "sii", card, member_id, now);
}

int pg_card_get(struct kp_conn *base, const char *card, struct kp_card_row *out)
{
	assert(card && out);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_CARD_GET, &res, "s", card);
	if (rc)
		return rc;
	pg_text(&res, 0, out->card, sizeof out->card);
	out->member_id = pg_int(&res, 1);
	out->status = pg_int(&res, 2) ? KP_CARD_BLOCKED : KP_CARD_ACTIVE;
	out->issued_at = pg_int(&res, 3);
	out->blocked_at = pg_int(&res, 4);
	pg_clear(&res);
	return 0;
}

int pg_card_block(struct kp_conn *base, const char *card, int64_t now)
{
	return pg_exec_one(CONN(base), Q_CARD_BLOCK, "is", now, card);
}

int pg_member_set_card(struct kp_conn *base, int64_t member_id, const char *card)
{
	return pg_exec_one(CONN(base), Q_MEMBER_SET_CARD, "si", card, member_id);
}

int pg_member_update(struct kp_conn *base, const struct kp_member_row *m)
{
	assert(m && m->id > 0);
	return pg_exec_one(CONN(base), Q_MEMBER_UPDATE, "sssssisi", m->phone, m->email, m->name,
			   m->birthday, m->external_id, (int64_t)m->consents, m->segments, m->id);
}

int pg_member_erase(struct kp_conn *base, int64_t member_id, int64_t now)
{
	return pg_exec_one(CONN(base), Q_MEMBER_ERASE, "ii", now, member_id);
}

int pg_consent_log(struct kp_conn *base, int64_t member_id, const char *consent, bool granted,
		   int64_t now, int64_t key_id)
{
	assert(consent);
	return pg_run(CONN(base), Q_CONSENT_LOG, NULL, "isiii", member_id, consent,
		      (int64_t)granted, now, key_id);
}

int pg_members_born_on(struct kp_conn *base, const char *mmdd1, const char *mmdd2, int64_t after,
		       int64_t *ids, size_t cap, size_t *n)
{
	return pg_list_ids(CONN(base), Q_BORN_ON, ids, cap, n, "ssii", mmdd1, mmdd2, after,
			   (int64_t)cap);
}

/* ---- referrals ---------------------------------------------------------------- */

int pg_referral_insert(struct kp_conn *base, int64_t referee_id, int64_t referrer_id)
{
	return pg_run(CONN(base), Q_REFERRAL_INSERT, NULL, "ii", referee_id, referrer_id);
}

int pg_referral_get(struct kp_conn *base, int64_t referee_id, struct kp_referral_row *out)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int rc = pg_one(c, c->in_write ? Q_REFERRAL_GET_LOCK : Q_REFERRAL_GET, &res, "i",
			referee_id);
	if (rc)
		return rc;
	out->referee_id = pg_int(&res, 0);
	out->referrer_id = pg_int(&res, 1);
	out->purchase_id = pg_int(&res, 2);
	out->due_at = pg_int(&res, 3);
	pg_text(&res, 4, out->status, sizeof out->status);
	pg_clear(&res);
	return 0;
}

int pg_referral_update(struct kp_conn *base, const struct kp_referral_row *r)
{
	return pg_exec_one(CONN(base), Q_REFERRAL_UPDATE, "iisi", r->purchase_id, r->due_at,
			   r->status, r->referee_id);
}

int pg_referrals_due(struct kp_conn *base, int64_t now, int64_t after, int64_t *ids, size_t cap,
		     size_t *n)
{
	return pg_list_ids(CONN(base), Q_REFERRALS_DUE, ids, cap, n, "iii", now, after,
			   (int64_t)cap);
}

/* ---- coupons ------------------------------------------------------------------- */

static const char *const coupon_kinds[] = {"percent", "amount", "points"};

int pg_coupon_insert(struct kp_conn *base, const struct kp_coupon_row *k)
{
	assert(k && k->code[0] && k->kind <= KP_COUPON_POINTS);
	return pg_run(CONN(base), Q_COUPON_INSERT, NULL, "ssiiiiiiisi", k->code,
		      coupon_kinds[k->kind], k->value, k->max_uses, k->per_member, k->valid_from,
		      k->valid_to, k->min_subtotal, k->member_id, k->batch, k->created_at);
}

int pg_coupon_get(struct kp_conn *base, const char *code, struct kp_coupon_row *out)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int rc = pg_one(c, c->in_write ? Q_COUPON_GET_LOCK : Q_COUPON_GET, &res, "s", code);
	if (rc)
		return rc;
	const char *kind = pg_str(&res, 1);
	pg_text(&res, 0, out->code, sizeof out->code);
	out->kind = strcmp(kind, "percent") == 0  ? KP_COUPON_PERCENT
		    : strcmp(kind, "amount") == 0 ? KP_COUPON_AMOUNT
						  : KP_COUPON_POINTS;
	out->value = pg_int(&res, 2);
	out->max_uses = pg_int(&res, 3);
	out->per_member = pg_int(&res, 4);
	out->valid_from = pg_int(&res, 5);
	out->valid_to = pg_int(&res, 6);
	out->min_subtotal = pg_int(&res, 7);
	out->member_id = pg_int(&res, 8);
	out->uses = pg_int(&res, 9);
	pg_text(&res, 10, out->batch, sizeof out->batch);
	out->created_at = pg_int(&res, 11);
	pg_clear(&res);
	return 0;
}

int pg_coupon_member_uses(struct kp_conn *base, const char *code, int64_t member_id, int64_t *n)
{
	struct pg_res res;
	return one_int(pg_one(CONN(base), Q_COUPON_MEMBER_USES, &res, "si", code, member_id), &res,
		       n);
}

int pg_coupon_use(struct kp_conn *base, const char *code, int64_t purchase_id, int64_t member_id,
		  int64_t now)
{
	struct pg_conn *c = CONN(base);
	int rc = pg_run(c, Q_COUPON_USE, NULL, "siii", code, purchase_id, member_id, now);
	return rc ? rc : pg_exec_one(c, Q_COUPON_USES_INC, "is", (int64_t)1, code);
}

int pg_coupon_release_purchase(struct kp_conn *base, int64_t purchase_id)
{
	struct pg_conn *c = CONN(base);
	int rc = pg_run(c, Q_COUPON_RELEASE_COUNT, NULL, "i", purchase_id);
	return rc ? rc : pg_run(c, Q_COUPON_RELEASE, NULL, "i", purchase_id);
}

/* ---- gift certificates ------------------------------------------------------------ */

int pg_certificate_get(struct kp_conn *base, const char *code, struct kp_certificate_row *out)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int rc = pg_one(c, c->in_write ? Q_CERT_GET_LOCK : Q_CERT_GET, &res, "s", code);
	if (rc)
		return rc;
	pg_text(&res, 0, out->code, sizeof out->code);
	out->amount = pg_int(&res, 1);
	out->balance = pg_int(&res, 2);
	out->member_id = pg_int(&res, 3);
	pg_text(&res, 4, out->source, sizeof out->source);
	pg_text(&res, 5, out->partner, sizeof out->partner);
	out->issued_at = pg_int(&res, 6);
	out->expires_at = pg_int(&res, 7);
	pg_clear(&res);
	return 0;
}

int pg_certificate_issue(struct kp_conn *base, const struct kp_certificate_row *k)
{
	assert(k && k->code[0] && k->amount > 0);
	return pg_run(CONN(base), Q_CERT_ISSUE, NULL, "siiissii", k->code, k->amount, k->amount,
		      k->member_id, k->source, k->partner, k->issued_at, k->expires_at);
}

int pg_certificate_move(struct kp_conn *base, const char *code, int64_t purchase_id,
			int64_t refund_id, int64_t amount, int64_t now)
{
	struct pg_conn *c = CONN(base);
	assert(code && amount != 0);
	int rc = pg_run(c, Q_CERT_MOVE, NULL, "siiii", code, purchase_id, refund_id, amount, now);
	return rc ? rc : pg_exec_one(c, Q_CERT_BALANCE, "is", amount, code);
}

int pg_certificate_uses(struct kp_conn *base, int64_t purchase_id, struct kp_certificate_use *out,
			size_t cap, size_t *n)
{
	struct pg_res res;
	*n = 0;
	int rc = pg_run(CONN(base), Q_CERT_USES, &res, "i", purchase_id);
	while (!rc && pg_next(&res)) {
		if (*n == cap) {
			rc = KP_ETOOLARGE;
			break;
		}
		struct kp_certificate_use *u = &out[(*n)++];
		pg_text(&res, 0, u->code, sizeof u->code);
		u->paid = pg_int(&res, 1);
		u->returned = pg_int(&res, 2);
	}
	pg_clear(&res);
	return rc;
}

/* ---- two-phase purchases and the audit log ------------------------------------------ */

int pg_purchase_set_status(struct kp_conn *base, int64_t purchase_id, const char *status)
{
	return pg_exec_one(CONN(base), Q_PURCHASE_SET_STATUS, "si", status, purchase_id);
}

int pg_purchase_status(struct kp_conn *base, int64_t purchase_id, char status[16],
		       int64_t *hold_expires_at)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int rc = pg_one(c, c->in_write ? Q_PURCHASE_STATUS_LOCK : Q_PURCHASE_STATUS, &res, "i",
			purchase_id);
	if (rc)
		return rc;
	pg_text(&res, 0, status, 16);
	*hold_expires_at = pg_int(&res, 1);
	pg_clear(&res);
	return 0;
}

int pg_purchase_set_earn_lot(struct kp_conn *base, int64_t purchase_id, int64_t lot_id)
{
	return pg_exec_one(CONN(base), Q_PURCHASE_SET_EARN_LOT, "ii", lot_id, purchase_id);
}

int pg_holds_expired(struct kp_conn *base, int64_t now, int64_t after, int64_t *ids, size_t cap,
		     size_t *n)
{
	return pg_list_ids(CONN(base), Q_HOLDS_EXPIRED, ids, cap, n, "iii", now, after,
			   (int64_t)cap);
}

int pg_audit(struct kp_conn *base, int64_t key_id, const char *action, const char *target,
	     const char *details, int64_t now)
{
	assert(action && target && details);
	return pg_run(CONN(base), Q_AUDIT, NULL, "isssi", key_id, action, target, details, now);
}

int pg_receipt_elsewhere(struct kp_conn *base, const char *partner, const char *receipt_id)
{
	assert(partner && receipt_id);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_RECEIPT_ELSEWHERE, &res, "ss", receipt_id, partner);
	if (!rc)
		pg_clear(&res);
	return rc;
}

/* ---- reports: each row to a callback ------------------------------------------------ */

int pg_settlement(struct kp_conn *base, int64_t from, int64_t to,
		  int (*fn)(void *arg, const struct kp_settlement_row *row), void *arg)
{
	assert(fn && from <= to);
	struct pg_res res;
	int rc = pg_run(CONN(base), Q_SETTLEMENT, &res, "ii", from, to);
	while (!rc && pg_next(&res)) {
		struct kp_settlement_row r;
		memset(&r, 0, sizeof r);
		pg_text(&res, 0, r.partner, sizeof r.partner);
		pg_text(&res, 1, r.receipt_id, sizeof r.receipt_id);
		r.at = pg_int(&res, 2);
		r.issued = pg_int(&res, 3);
		r.redeemed = pg_int(&res, 4);
		rc = fn(arg, &r);
	}
	pg_clear(&res);
	return rc;
}

int pg_charity(struct kp_conn *base, int64_t from, int64_t to,
	       int (*fn)(void *arg, const struct kp_charity_row *row), void *arg)
{
	assert(fn && from <= to);
	struct pg_res res;
	int rc = pg_run(CONN(base), Q_CHARITY, &res, "ii", from, to);
	while (!rc && pg_next(&res)) {
		struct kp_charity_row r;
		memset(&r, 0, sizeof r);
		pg_text(&res, 0, r.fund, sizeof r.fund);
		r.donated = pg_int(&res, 1);
		r.campaigns = pg_int(&res, 2);
		rc = fn(arg, &r);
	}
	pg_clear(&res);
	return rc;
}

int pg_audit_list(struct kp_conn *base, int64_t before_id, size_t limit,
		  int (*fn)(void *arg, const struct kp_audit_row *row), void *arg)
{
	assert(fn && limit > 0);
	struct pg_res res;
	int rc = pg_run(CONN(base), Q_AUDIT_LIST, &res, "ii", before_id > 0 ? before_id : INT64_MAX,
			(int64_t)limit);
	while (!rc && pg_next(&res)) {
		struct kp_audit_row r;
		memset(&r, 0, sizeof r);
		r.id = pg_int(&res, 0);
		r.at = pg_int(&res, 1);
		r.key_id = pg_int(&res, 2);
		pg_text(&res, 3, r.action, sizeof r.action);
		pg_text(&res, 4, r.target, sizeof r.target);
		r.details = pg_str(&res, 5);
		rc = fn(arg, &r);
	}
	pg_clear(&res);
	return rc;
}
