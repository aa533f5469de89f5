/*
 * sqlite_customers.c — cards, personal data and consents, one-off bonuses,
 * referrals, coupons, gift certificates, two-phase purchases and the audit
 * log on SQLite.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"
#include "util/error.h"

#define CONN(base) ((struct sqlite_conn *)(base))

int sqlite_list_ids(struct sqlite_conn *c, sqlite3_stmt *st, int64_t *ids, size_t cap, size_t *n)
{
	assert(ids && n);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_error(c, rc);
}

/* A statement that must change exactly one row: KP_ENOTFOUND if none did. */
static int exec_one(struct sqlite_conn *c, sqlite3_stmt *st)
{
	int rc = sqlite_exec_stmt(c, st);
	if (!rc && sqlite3_changes(c->db) != 1)
		return KP_ENOTFOUND;
	return rc;
}

static int one_text(struct sqlite_conn *c, sqlite3_stmt *st, char **out)
{
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*out = sqlite_dup_text(st, 0);
	sqlite3_reset(st);
	return *out ? 0 : KP_ENOMEM;
}

/* ---- cards and personal data ------------------------------------------- */

int sqlite_card_insert(struct kp_conn *base, const char *card, int64_t member_id, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(card && member_id > 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_CARD_INSERT, "sii", card, member_id, now));
}

int sqlite_card_get(struct kp_conn *base, const char *card, struct kp_card_row *out)
{
	struct sqlite_conn *c = CONN(base);
	assert(card && out);
	sqlite3_stmt *st = sqlite_bind(c, Q_CARD_GET, "s", card);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	sqlite_copy_text(st, 0, out->card, sizeof out->card);
	out->member_id = sqlite3_column_int64(st, 1);
	out->status = sqlite3_column_int(st, 2) ? KP_CARD_BLOCKED : KP_CARD_ACTIVE;
	out->issued_at = sqlite3_column_int64(st, 3);
	out->blocked_at = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	return 0;
}

int sqlite_card_block(struct kp_conn *base, const char *card, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	return exec_one(c, sqlite_bind(c, Q_CARD_BLOCK, "is", now, card));
}

int sqlite_member_set_card(struct kp_conn *base, int64_t member_id, const char *card)
{
	struct sqlite_conn *c = CONN(base);
	return exec_one(c, sqlite_bind(c, Q_MEMBER_SET_CARD, "si", card, member_id));
}

int sqlite_member_update(struct kp_conn *base, const struct kp_member_row *m)
{
	struct sqlite_conn *c = CONN(base);
	assert(m && m->id > 0);
	return exec_one(c, sqlite_bind(c, Q_MEMBER_UPDATE, "sssssisi", m->phone, m->email,
				       m->name, m->birthday, m->external_id, (int64_t)m->consents,
				       m->segments, m->id));
}

int sqlite_member_erase(struct kp_conn *base, int64_t member_id, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	return exec_one(c, sqlite_bind(c, Q_MEMBER_ERASE, "ii", now, member_id));
}

int sqlite_consent_log(struct kp_conn *base, int64_t member_id, const char *consent, bool granted,
		       int64_t now, int64_t key_id)
{
	struct sqlite_conn *c = CONN(base);
	assert(consent);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_CONSENT_LOG, "isiii", member_id, consent,
					       (int64_t)granted, now, key_id));
}

int sqlite_consent_history_json(struct kp_conn *base, int64_t member_id, char **json)
{
	struct sqlite_conn *c = CONN(base);
	return one_text(c, sqlite_bind(c, Q_CONSENT_JSON, "i", member_id), json);
}

int sqlite_member_cards_json(struct kp_conn *base, int64_t member_id, char **json)
{
	struct sqlite_conn *c = CONN(base);
	return one_text(c, sqlite_bind(c, Q_CARDS_JSON, "i", member_id), json);
}

/* ---- one-off bonuses and referrals -------------------------------------- */

int sqlite_bonus_find(struct kp_conn *base, int64_t member_id, const char *event_id,
		      char hash_out[KP_HASH_HEX], char **answer)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_BONUS_FIND, "is", member_id, event_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	sqlite_copy_text(st, 0, hash_out, KP_HASH_HEX);
	*answer = sqlite_dup_text(st, 1);
	sqlite3_reset(st);
	return *answer ? 0 : KP_ENOMEM;
}

int sqlite_bonus_insert(struct kp_conn *base, int64_t member_id, const char *type,
			const char *event_id, int64_t points, int64_t now, const char *hash,
			const char *answer)
{
	struct sqlite_conn *c = CONN(base);
	assert(type && event_id && hash && answer);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_BONUS_INSERT, "issiiss", member_id, type,
					       event_id, points, now, hash, answer));
}

int sqlite_bonus_count(struct kp_conn *base, int64_t member_id, const char *type, int64_t since,
		       int64_t *n)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_BONUS_COUNT, "isi", member_id, type, since);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int sqlite_members_born_on(struct kp_conn *base, const char *mmdd1, const char *mmdd2,
			   int64_t after, int64_t *ids, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_list_ids(c, sqlite_bind(c, Q_BORN_ON, "ssii", mmdd1, mmdd2, after,
					      (int64_t)cap),
			       ids, cap, n);
}

int sqlite_referral_insert(struct kp_conn *base, int64_t referee_id, int64_t referrer_id)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_REFERRAL_INSERT, "ii", referee_id,
					       referrer_id));
}

int sqlite_referral_get(struct kp_conn *base, int64_t referee_id, struct kp_referral_row *out)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_REFERRAL_GET, "i", referee_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	out->referee_id = sqlite3_column_int64(st, 0);
	out->referrer_id = sqlite3_column_int64(st, 1);
	out->purchase_id = sqlite3_column_int64(st, 2);
	out->due_at = sqlite3_column_int64(st, 3);
	sqlite_copy_text(st, 4, out->status, sizeof out->status);
	sqlite3_reset(st);
	return 0;
}

int sqlite_referral_update(struct kp_conn *base, const struct kp_referral_row *r)
{
	struct sqlite_conn *c = CONN(base);
	return exec_one(c, sqlite_bind(c, Q_REFERRAL_UPDATE, "iisi", r->purchase_id, r->due_at,
				       r->status, r->referee_id));
}

int sqlite_referrals_due(struct kp_conn *base, int64_t now, int64_t after, int64_t *ids,
			 size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_list_ids(c, sqlite_bind(c, Q_REFERRALS_DUE, "iii", now, after, (int64_t)cap),
			       ids, cap, n);
}

/* ---- coupons -------------------------------------------------------------- */

static const char *const coupon_kinds[] = {"percent", "amount", "points"};

int sqlite_coupon_insert(struct kp_conn *base, const struct kp_coupon_row *k)
{
	struct sqlite_conn *c = CONN(base);
	assert(k && k->code[0] && k->kind <= KP_COUPON_POINTS);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_COUPON_INSERT, "ssiiiiiiisi", k->code,
					       coupon_kinds[k->kind], k->value, k->max_uses,
					       k->per_member, k->valid_from, k->valid_to,
					       k->min_subtotal, k->member_id, k->batch,
					       k->created_at));
}

int sqlite_coupon_get(struct kp_conn *base, const char *code, struct kp_coupon_row *out)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_COUPON_GET, "s", code);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	char kind[16];
	sqlite_copy_text(st, 0, out->code, sizeof out->code);
	sqlite_copy_text(st, 1, kind, sizeof kind);
	out->kind = strcmp(kind, "percent") == 0  ? KP_COUPON_PERCENT
		    : strcmp(kind, "amount") == 0 ? KP_COUPON_AMOUNT
						  : KP_COUPON_POINTS;
	out->value = sqlite3_column_int64(st, 2);
	out->max_uses = sqlite3_column_int64(st, 3);
	out->per_member = sqlite3_column_int64(st, 4);
	out->valid_from = sqlite3_column_int64(st, 5);
	out->valid_to = sqlite3_column_int64(st, 6);
	out->min_subtotal = sqlite3_column_int64(st, 7);
	out->member_id = sqlite3_column_int64(st, 8);
	out->uses = sqlite3_column_int64(st, 9);
	sqlite_copy_text(st, 10, out->batch, sizeof out->batch);
	out->created_at = sqlite3_column_int64(st, 11);
	sqlite3_reset(st);
	return 0;
}

int sqlite_coupon_member_uses(struct kp_conn *base, const char *code, int64_t member_id,
			      int64_t *n)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_COUPON_MEMBER_USES, "si", code, member_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int sqlite_coupon_use(struct kp_conn *base, const char *code, int64_t purchase_id,
		      int64_t member_id, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_COUPON_USE, "siii", code, purchase_id,
						 member_id, now));
	return rc ? rc : exec_one(c, sqlite_bind(c, Q_COUPON_USES_INC, "is", (int64_t)1, code));
}

int sqlite_coupon_release_purchase(struct kp_conn *base, int64_t purchase_id)
{
	struct sqlite_conn *c = CONN(base);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_COUPON_RELEASE_COUNT, "i", purchase_id));
	return rc ? rc : sqlite_exec_stmt(c, sqlite_bind(c, Q_COUPON_RELEASE, "i", purchase_id));
}

/* ---- gift certificates ------------------------------------------------------ */

int sqlite_certificate_get(struct kp_conn *base, const char *code, struct kp_certificate_row *out)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_CERT_GET, "s", code);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	sqlite_copy_text(st, 0, out->code, sizeof out->code);
	out->amount = sqlite3_column_int64(st, 1);
	out->balance = sqlite3_column_int64(st, 2);
	out->member_id = sqlite3_column_int64(st, 3);
	sqlite_copy_text(st, 4, out->source, sizeof out->source);
	sqlite_copy_text(st, 5, out->partner, sizeof out->partner);
	out->issued_at = sqlite3_column_int64(st, 6);
	out->expires_at = sqlite3_column_int64(st, 7);
	sqlite3_reset(st);
	return 0;
}

int sqlite_certificate_issue(struct kp_conn *base, const struct kp_certificate_row *k)
{
	struct sqlite_conn *c = CONN(base);
	assert(k && k->code[0] && k->amount > 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_CERT_ISSUE, "siiissii", k->code, k->amount,
					       k->amount, k->member_id, k->source, k->partner,
					       k->issued_at, k->expires_at));
}

int sqlite_certificate_move(struct kp_conn *base, const char *code, int64_t purchase_id,
			    int64_t refund_id, int64_t amount, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(code && amount != 0);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_CERT_MOVE, "siiii", code, purchase_id,
						 refund_id, amount, now));
	return rc ? rc : exec_one(c, sqlite_bind(c, Q_CERT_BALANCE, "is", amount, code));
}

int sqlite_certificate_uses(struct kp_conn *base, int64_t purchase_id,
			    struct kp_certificate_use *out, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_CERT_USES, "i", purchase_id);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			sqlite3_reset(st);
			return KP_ETOOLARGE;
		}
		struct kp_certificate_use *u = &out[(*n)++];
		sqlite_copy_text(st, 0, u->code, sizeof u->code);
		u->paid = sqlite3_column_int64(st, 1);
		u->returned = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlite_error(c, rc);
}

/* ---- two-phase purchases and the audit log ---------------------------------- */

int sqlite_purchase_set_status(struct kp_conn *base, int64_t purchase_id, const char *status)
{
	struct sqlite_conn *c = CONN(base);
	return exec_one(c, sqlite_bind(c, Q_PURCHASE_SET_STATUS, "si", status, purchase_id));
}

int sqlite_purchase_status(struct kp_conn *base, int64_t purchase_id, char status[16],
			   int64_t *hold_expires_at)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_PURCHASE_STATUS, "i", purchase_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	sqlite_copy_text(st, 0, status, 16);
	*hold_expires_at = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

int sqlite_purchase_set_earn_lot(struct kp_conn *base, int64_t purchase_id, int64_t lot_id)
{
	struct sqlite_conn *c = CONN(base);
	return exec_one(c, sqlite_bind(c, Q_PURCHASE_SET_EARN_LOT, "ii", lot_id, purchase_id));
}

int sqlite_holds_expired(struct kp_conn *base, int64_t now, int64_t after, int64_t *ids,
			 size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_list_ids(c, sqlite_bind(c, Q_HOLDS_EXPIRED, "iii", now, after, (int64_t)cap),
			       ids, cap, n);
}

int sqlite_purchase_by_id(struct kp_conn *base, int64_t id, struct kp_purchase_row *out,
			  char **answer)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_read_purchase(c, sqlite_bind(c, Q_PURCHASE_BY_ID, "i", id), out, answer);
}

int sqlite_audit(struct kp_conn *base, int64_t key_id, const char *action, const char *target,
		 const char *details, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(action && target && details);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_AUDIT, "isssi", key_id, action, target,
					       details, now));
}
