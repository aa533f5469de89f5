/*
 * sqlite.c — the store on an SQLite file (the embedded default).
 *
 * WAL journal with synchronous=FULL, so a committed transaction survives a
 * power cut; foreign keys on; every statement prepared once per connection
 * and reused. Readers on their own connections see the last commit and
 * never block the writer (WAL). See store.h for the contract.
 */
#include "store/sqlite_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"
#include "store/pg_open.h"
#include "util/error.h"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_READ_BEGIN] = "BEGIN DEFERRED",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT op",
	[S_RELEASE] = "RELEASE op",
	[S_ROLLBACK_TO] = "ROLLBACK TO op",
	[S_PROGRAM_INSERT] = "INSERT INTO programs (document, created_at) VALUES (?, ?)",
	[S_PROGRAM_GET] = "SELECT version, document FROM programs WHERE version = ?",
	[S_PROGRAM_LATEST] = "SELECT version, document FROM programs ORDER BY version DESC LIMIT 1",
	[S_PARTNER_INSERT] = "INSERT INTO partners (id, name, created_at) VALUES (?, ?, ?)",
	[S_PARTNER_EXISTS] = "SELECT 1 FROM partners WHERE id = ?",
	[S_KEY_INSERT] = "INSERT INTO api_keys (hash, role, partner, created_at) VALUES (?, ?, ?, ?)",
	[S_KEY_FIND] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
		       "COALESCE(revoked_at, 0) FROM api_keys WHERE hash = ?",
	[S_MEMBER_INSERT] = "INSERT INTO members (card, phone, email, name, birthday, external_id, "
			    "referral_code, referred_by, consents, created_at) "
			    "VALUES (?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), "
			    "NULLIF(?, ''), ?, NULLIF(?, 0), ?, ?)",
	[S_MEMBER_BY_ID] = MEMBER_SELECT "WHERE id = ?",
	[S_MEMBER_BY_PHONE] = MEMBER_SELECT "WHERE phone = ?",
	[S_MEMBER_BY_CARD] = MEMBER_SELECT "WHERE id = (SELECT member_id FROM cards WHERE card = ?)",
	[S_MEMBER_BY_EXTERNAL] = MEMBER_SELECT "WHERE external_id = ?",
	[S_MEMBER_BY_REFERRAL] = MEMBER_SELECT "WHERE referral_code = ?",
	[S_MEMBER_IDS] = "SELECT id FROM members WHERE id > ? ORDER BY id LIMIT ?",
	[S_MEMBER_SET_BALANCES] = "UPDATE members SET available = ?, pending = ?, debt = ? "
				  "WHERE id = ?",
	[S_LOTS_OPEN] = LOT_SELECT "WHERE member_id = ? AND remaining > 0",
	[S_LOT_BY_ID] = LOT_SELECT "WHERE id = ? AND member_id = ?",
	[S_LOTS_COUNT_OPEN] = "SELECT count(*) FROM lots WHERE member_id = ? AND remaining > 0",
	[S_LOT_NEXT_ID] = "SELECT COALESCE(MAX(id), 0) + 1 FROM lots",
	[S_LOT_INSERT] = "INSERT INTO lots (id, member_id, points, remaining, expires_at, "
			 "available_at, pending, purchase_id, created_at) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), ?)",
	[S_LOT_UPDATE] = "UPDATE lots SET remaining = ?, pending = ? WHERE id = ?",
	[S_TRANSFER_INSERT] = "INSERT INTO transfers (at, member_id, entry, from_acc, to_acc, "
			      "points, lot_id, purchase_id, refund_id, ref) VALUES "
			      "(?, NULLIF(?, 0), ?, ?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), "
			      "NULLIF(?, 0), ?)",
	/* One row per operation and kind: a redemption from three lots is one entry.
	 * Repaying a debt from available points changes nothing the member sees. */
	[S_HISTORY] = "SELECT MAX(id), at, entry, from_acc, to_acc, SUM(points), "
		      "COALESCE(ref, '') FROM transfers WHERE member_id = ? "
		      "AND NOT (from_acc = 4 AND to_acc = 6) "
		      "GROUP BY at, entry, from_acc, to_acc, COALESCE(purchase_id, 0), "
		      "COALESCE(refund_id, 0), COALESCE(ref, '') HAVING MAX(id) < ? "
		      "ORDER BY MAX(id) DESC LIMIT ?",
	[S_SPENT_LOTS] = "SELECT t.lot_id, SUM(CASE WHEN t.entry = 2 THEN t.points ELSE 0 END), "
			 "SUM(CASE WHEN t.entry = 5 AND t.from_acc = 2 THEN t.points ELSE 0 END), "
			 "l.expires_at, MIN(t.id) FROM transfers t JOIN lots l ON l.id = t.lot_id "
			 "WHERE t.purchase_id = ? AND ((t.entry = 2 AND t.from_acc = 4) OR "
			 "(t.entry = 5 AND t.from_acc = 2)) GROUP BY t.lot_id ORDER BY 5",
	[S_PURCHASE_FIND] = PURCHASE_SELECT "WHERE partner = ? AND receipt_id = ?",
	[S_PURCHASE_INSERT] = "INSERT INTO purchases (id, partner, receipt_id, member_id, "
			      "program_version, at, request_hash, subtotal, discount, "
			      "points_redeemed, certificates, to_pay, points_earned, earn_lot_id, "
			      "answer, spend, status, hold_expires_at) VALUES (NULLIF(?, 0), ?, ?, "
			      "NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), ?, ?, ?, "
			      "NULLIF(?, 0))",
	[S_PURCHASE_NEXT_ID] = "SELECT COALESCE(MAX(id), 0) + 1 FROM purchases",
	/* rows may refer to a purchase written later in the same transaction */
	[S_DEFER_FK] = "PRAGMA defer_foreign_keys = ON",
	[S_PURCHASE_SET_ANSWER] = "UPDATE purchases SET answer = ? WHERE id = ?",
	[S_LINE_INSERT] = "INSERT INTO purchase_lines (purchase_id, line_no, sku, category, qty, "
			  "price, amount, discount, points, certificates, paid, earned, "
			  "stamp_card, free_units) "
			  "VALUES (?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[S_LINES] = "SELECT line_no, sku, COALESCE(category, ''), qty, price, amount, discount, "
		    "points, certificates, paid, earned, refunded_qty, stamp_card, free_units "
		    "FROM purchase_lines "
		    "WHERE purchase_id = ? ORDER BY line_no",
	[S_LINE_REFUND] = "UPDATE purchase_lines SET refunded_qty = ? "
			  "WHERE purchase_id = ? AND line_no = ?",
	[S_REFUNDS_JSON] = "SELECT COALESCE(json_group_array(json(answer)), '[]') FROM "
			   "(SELECT answer FROM refunds WHERE purchase_id = ? ORDER BY id)",
	[S_REFUND_FIND] = "SELECT id, partner, refund_id, purchase_id, at, request_hash, "
			  "money_refund, points_reversed, points_returned, answer FROM refunds "
			  "WHERE partner = ? AND refund_id = ?",
	[S_REFUND_INSERT] = "INSERT INTO refunds (partner, refund_id, purchase_id, at, "
			    "request_hash, money_refund, points_reversed, points_returned, answer, "
			    "spend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[S_IDEM_FIND] = "SELECT request_hash, status, answer FROM idempotency "
			"WHERE scope = ? AND key = ?",
	[S_IDEM_INSERT] = "INSERT INTO idempotency (scope, key, request_hash, status, answer, "
			  "created_at) VALUES (?, ?, ?, ?, ?, ?)",
	[S_MEMBER_SET_TIER] = "UPDATE members SET tier = ?, tier_since = ? WHERE id = ?",
	[S_MEMBER_ADD_SPEND] = "UPDATE members SET lifetime_spend = lifetime_spend + ? WHERE id = ?",
	[S_MEMBER_SPEND_SINCE] = "SELECT COALESCE(SUM(spend), 0) FROM purchases "
				 "WHERE member_id = ? AND at >= ?",
	[S_PURCHASE_ADD_SPEND] = "UPDATE purchases SET spend = spend + ? WHERE id = ?",
	[S_STAMP_GET] = "SELECT count FROM member_stamps WHERE member_id = ? AND card = ?",
	[S_STAMP_SET] = "INSERT INTO member_stamps (member_id, card, count) VALUES (?, ?, ?) "
			"ON CONFLICT (member_id, card) DO UPDATE SET count = excluded.count",
	[S_BUDGET_GET] = "SELECT spent FROM campaign_budgets WHERE campaign = ?",
	[S_BUDGET_ADD] = "INSERT INTO campaign_budgets (campaign, spent) VALUES (?, ?) "
			 "ON CONFLICT (campaign) DO UPDATE SET spent = spent + excluded.spent",
	[S_CERT_INSERT] = "INSERT INTO gift_certificates (code, amount, balance, member_id, source, "
			  "issued_at) VALUES (?, ?, ?, NULLIF(?, 0), ?, ?)",
	[S_EVENT_INSERT] = "INSERT INTO events (member_id, kind, ref, payload, at) "
			   "VALUES (NULLIF(?, 0), ?, ?, ?, ?)",
	[S_DUE_MEMBERS] = "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND "
			  "member_id > ? AND (expires_at <= ? OR (pending = 1 AND available_at <= ?)) "
			  "ORDER BY member_id LIMIT ?",
	[S_JOB_GET] = "SELECT last_period FROM job_state WHERE name = ?",
	[S_CARD_INSERT] = "INSERT INTO cards (card, member_id, status, issued_at) "
			  "VALUES (?, ?, 'active', ?)",
	[S_CARD_GET] = "SELECT card, member_id, status = 'blocked', issued_at, "
		       "COALESCE(blocked_at, 0) FROM cards WHERE card = ?",
	[S_CARD_BLOCK] = "UPDATE cards SET status = 'blocked', blocked_at = ? "
			 "WHERE card = ? AND status = 'active'",
	[S_MEMBER_SET_CARD] = "UPDATE members SET card = ? WHERE id = ?",
	[S_MEMBER_UPDATE] = "UPDATE members SET phone = NULLIF(?, ''), email = NULLIF(?, ''), "
			    "name = NULLIF(?, ''), birthday = NULLIF(?, ''), "
			    "external_id = NULLIF(?, ''), consents = ? WHERE id = ?",
	[S_MEMBER_ERASE] = "UPDATE members SET phone = NULL, email = NULL, name = NULL, "
			   "birthday = NULL, external_id = NULL, consents = 0, erased_at = ? WHERE id = ?",
	[S_CONSENT_LOG] = "INSERT INTO consent_log (member_id, consent, granted, at, key_id) "
			  "VALUES (?, ?, ?, ?, NULLIF(?, 0))",
	[S_CONSENT_JSON] = "SELECT COALESCE(json_group_array(json_object('consent', consent, "
			   "'granted', json(CASE WHEN granted THEN 'true' ELSE 'false' END), "
			   "'at', strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch'), 'key_id', key_id)), "
			   "'[]') FROM (SELECT * FROM consent_log WHERE member_id = ? ORDER BY id)",
	[S_CARDS_JSON] = "SELECT COALESCE(json_group_array(json_object('card', card, 'status', "
			 "status, 'issued_at', strftime('%Y-%m-%dT%H:%M:%SZ', issued_at, "
			 "'unixepoch'))), '[]') FROM (SELECT * FROM cards WHERE member_id = ? "
			 "ORDER BY issued_at, card)",
	[S_BONUS_FIND] = "SELECT request_hash, answer FROM bonuses WHERE member_id = ? "
			 "AND event_id = ?",
	[S_BONUS_INSERT] = "INSERT INTO bonuses (member_id, type, event_id, points, at, "
			   "request_hash, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
	[S_BONUS_COUNT] = "SELECT count(*) FROM bonuses WHERE member_id = ? AND type = ? "
			  "AND at >= ?",
	[S_REFERRAL_INSERT] = "INSERT INTO referrals (referee_id, referrer_id, status) "
			      "VALUES (?, ?, 'waiting')",
	[S_REFERRAL_GET] = "SELECT referee_id, referrer_id, COALESCE(purchase_id, 0), "
			   "COALESCE(due_at, 0), status FROM referrals WHERE referee_id = ?",
	[S_REFERRAL_UPDATE] = "UPDATE referrals SET purchase_id = NULLIF(?, 0), "
			      "due_at = NULLIF(?, 0), status = ? WHERE referee_id = ?",
	[S_REFERRALS_DUE] = "SELECT referee_id FROM referrals WHERE status = 'due' AND due_at <= ? "
			    "AND referee_id > ? ORDER BY referee_id LIMIT ?",
	[S_COUPON_INSERT] = "INSERT INTO coupons (code, kind, value, max_uses, per_member, "
			    "valid_from, valid_to, min_subtotal, member_id, batch, created_at) "
			    "VALUES (?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), ?, ?, ?, NULLIF(?, 0), "
			    "NULLIF(?, ''), ?)",
	[S_COUPON_GET] = "SELECT code, kind, value, COALESCE(max_uses, 0), COALESCE(per_member, 0), "
			 "valid_from, valid_to, min_subtotal, COALESCE(member_id, 0), uses, "
			 "COALESCE(batch, ''), created_at FROM coupons WHERE code = ?",
	[S_COUPON_MEMBER_USES] = "SELECT count(*) FROM coupon_uses WHERE coupon = ? AND "
				 "member_id = ? AND released = 0",
	[S_COUPON_USE] = "INSERT INTO coupon_uses (coupon, purchase_id, member_id, at) "
			 "VALUES (?, ?, NULLIF(?, 0), ?)",
	[S_COUPON_USES_INC] = "UPDATE coupons SET uses = uses + ? WHERE code = ?",
	[S_COUPON_RELEASE_COUNT] = "UPDATE coupons SET uses = uses - 1 WHERE code IN (SELECT "
				   "coupon FROM coupon_uses WHERE purchase_id = ? AND released = 0)",
	[S_COUPON_RELEASE] = "UPDATE coupon_uses SET released = 1 WHERE purchase_id = ?",
	[S_CERT_GET] = "SELECT code, amount, balance, COALESCE(member_id, 0), source, "
		       "COALESCE(partner, ''), issued_at, COALESCE(expires_at, 9223372036854775807) "
		       "FROM gift_certificates WHERE code = ?",
	[S_CERT_ISSUE] = "INSERT INTO gift_certificates (code, amount, balance, member_id, source, "
			 "partner, issued_at, expires_at) VALUES (?, ?, ?, NULLIF(?, 0), ?, "
			 "NULLIF(?, ''), ?, NULLIF(?, 9223372036854775807))",
	[S_CERT_MOVE] = "INSERT INTO certificate_moves (code, purchase_id, refund_id, amount, at) "
			"VALUES (?, NULLIF(?, 0), NULLIF(?, 0), ?, ?)",
	[S_CERT_BALANCE] = "UPDATE gift_certificates SET balance = balance + ? WHERE code = ?",
	[S_CERT_USES] = "SELECT code, -SUM(CASE WHEN amount < 0 THEN amount ELSE 0 END), "
			"SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) FROM certificate_moves "
			"WHERE purchase_id = ? GROUP BY code ORDER BY MIN(id)",
	[S_PURCHASE_SET_STATUS] = "UPDATE purchases SET status = ? WHERE id = ?",
	[S_PURCHASE_STATUS] = "SELECT status, COALESCE(hold_expires_at, 0) FROM purchases "
			      "WHERE id = ?",
	[S_PURCHASE_SET_EARN_LOT] = "UPDATE purchases SET earn_lot_id = NULLIF(?, 0) WHERE id = ?",
	[S_HOLDS_EXPIRED] = "SELECT id FROM purchases WHERE status = 'held' AND "
			    "hold_expires_at <= ? AND id > ? ORDER BY id LIMIT ?",
	[S_PURCHASE_BY_ID] = PURCHASE_SELECT "WHERE id = ?",
	[S_BORN_ON] = "SELECT id FROM members WHERE substr(birthday, 6, 5) IN (?, ?) AND "
		       "erased_at IS NULL AND id > ? ORDER BY id LIMIT ?",
	[S_AUDIT] = "INSERT INTO audit (key_id, action, target, details, at) "
		    "VALUES (NULLIF(?, 0), ?, ?, ?, ?)",
	/* ---- coalitions and charity (sqlite_reports.c) ---- */
	[S_PARTNER_GET] = PARTNER_SELECT "WHERE id = ?",
	[S_PARTNER_UPDATE] = "UPDATE partners SET name = ?, active = ?, "
			     "earn_percent_bp = NULLIF(?, -1), accrual_cost = NULLIF(?, -1) "
			     "WHERE id = ?",
	[S_PARTNERS_LIST] = PARTNER_SELECT "ORDER BY id",
	[S_KEY_GET_ID] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
			 "COALESCE(revoked_at, 0) FROM api_keys WHERE id = ?",
	[S_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
	[S_KEYS_LIST] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
			"COALESCE(revoked_at, 0) FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
	[S_RECEIPT_ELSEWHERE] = "SELECT 1 FROM purchases WHERE receipt_id = ? AND partner != ? "
				"LIMIT 1",
	/* Movements between the program's issuance and redeemed accounts and members'
	 * accounts (4..6); charity and expiry are not the partners' business. */
	[S_SETTLEMENT] = "SELECT p.partner, p.receipt_id, p.at, "
			 "SUM(CASE WHEN t.from_acc = 1 AND t.to_acc BETWEEN 4 AND 6 THEN t.points "
			 "WHEN t.to_acc = 1 AND t.from_acc BETWEEN 4 AND 6 THEN -t.points "
			 "ELSE 0 END), "
			 "SUM(CASE WHEN t.to_acc = 2 AND t.from_acc BETWEEN 4 AND 6 THEN t.points "
			 "WHEN t.from_acc = 2 AND t.to_acc BETWEEN 4 AND 6 THEN -t.points "
			 "ELSE 0 END) "
			 "FROM transfers t JOIN purchases p ON p.id = t.purchase_id "
			 "WHERE t.purchase_id IS NOT NULL AND t.at >= ? AND t.at < ? "
			 "GROUP BY p.id ORDER BY p.partner, p.id",
	[S_CHARITY] = "SELECT substr(ref, 6), "
		      "SUM(CASE WHEN member_id IS NOT NULL THEN points ELSE 0 END), "
		      "SUM(CASE WHEN member_id IS NULL THEN points ELSE 0 END) "
		      "FROM transfers WHERE to_acc = 7 AND at >= ? AND at < ? "
		      "GROUP BY ref ORDER BY ref",
	[S_AUDIT_LIST] = "SELECT id, at, COALESCE(key_id, 0), action, target, details FROM audit "
			 "WHERE id < ? ORDER BY id DESC LIMIT ?",
	[S_JOB_SET] = "INSERT INTO job_state (name, last_period) VALUES (?, ?) "
		      "ON CONFLICT (name) DO UPDATE SET last_period = excluded.last_period",
};

int sqlite_error(struct sqlite_conn *c, int rc)
{
	assert(rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE);
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return KP_ECONFLICT;
		fprintf(stderr, "sqlite: constraint: %s\n", sqlite3_errmsg(c->db));
		return KP_ESTORE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		return KP_EBUSY;
	default:
		fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(c->db));
		return KP_ESTORE;
	}
}

sqlite3_stmt *sqlite_stmt(struct sqlite_conn *c, enum stmt_id id)
{
	assert(id < S_COUNT && stmt_sql[id]);
	sqlite3_stmt *st = c->stmts[id];
	if (!st) {
		int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &st, NULL);
		if (rc != SQLITE_OK) {
			fprintf(stderr, "sqlite: prepare %d: %s\n", id, sqlite3_errmsg(c->db));
			return NULL;
		}
		c->stmts[id] = st;
	}
	return st;
}

/* Bind by a printf-like signature: i = int64_t, s = const char *. */
static int bind_va(sqlite3_stmt *st, const char *sig, va_list ap)
{
	int idx = 1;
	for (const char *p = sig; *p; p++, idx++) {
		int rc;
		if (*p == 'i') {
			rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
		} else {
			assert(*p == 's');
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC)
			       : sqlite3_bind_null(st, idx);
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

sqlite3_stmt *sqlite_bind(struct sqlite_conn *c, enum stmt_id id, const char *sig, ...)
{
	sqlite3_stmt *st = sqlite_stmt(c, id);
	if (!st)
		return NULL;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	va_list ap;
	va_start(ap, sig);
	int rc = bind_va(st, sig, ap);
	va_end(ap);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "sqlite: bind: %s\n", sqlite3_errmsg(c->db));
		return NULL;
	}
	return st;
}

int sqlite_exec_stmt(struct sqlite_conn *c, sqlite3_stmt *st)
{
	if (!st)
		return KP_ESTORE;
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_error(c, rc);
	sqlite3_reset(st);
	return err;
}

int sqlite_step_row(struct sqlite_conn *c, sqlite3_stmt *st)
{
	if (!st)
		return KP_ESTORE;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? KP_ENOTFOUND : sqlite_error(c, rc);
}

void sqlite_copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	assert(dst && cap > 0);
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

char *sqlite_dup_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return strdup(s ? (const char *)s : "");
}

static int exec_sql(struct sqlite_conn *c, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s", msg ? msg : "sqlite error");
	sqlite3_free(msg);
	return KP_ESTORE;
}

/* Apply every migration above PRAGMA user_version, each in its own transaction. */
static int migrate(struct sqlite_conn *c, char *err, size_t errlen)
{
	char sql[64];
	for (unsigned i = 0; i < kp_migrations_count; i++) {
		const struct kp_migration *m = &kp_migrations[i];
		assert(m->number == i + 1);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
			return KP_ESTORE;
		int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
		sqlite3_finalize(st);
		if (version < 0)
			return KP_ESTORE;
		if ((unsigned)version >= m->number)
			continue;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %u", m->number);
		if (exec_sql(c, "BEGIN IMMEDIATE", err, errlen) || exec_sql(c, m->sql, err, errlen) ||
		    exec_sql(c, sql, err, errlen) || exec_sql(c, "COMMIT", err, errlen)) {
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return KP_ESTORE;
		}
	}
	return 0;
}

static void sqlite_close(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	if (!c)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close(c->db);
	free(c);
}

static int configure(struct sqlite_conn *c, bool writer, char *err, size_t errlen)
{
	/* sqlite_error tells a unique-key conflict from other constraints by these */
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 5000);
	/* Readers are many and read little each: a small cache each. */
	return exec_sql(c,
			writer ? "PRAGMA journal_mode = WAL;"
				 "PRAGMA synchronous = FULL;"
				 "PRAGMA foreign_keys = ON;"
				 "PRAGMA temp_store = MEMORY;"
				 "PRAGMA cache_size = -65536;"
			       : "PRAGMA journal_mode = WAL;"
				 "PRAGMA synchronous = FULL;"
				 "PRAGMA foreign_keys = ON;"
				 "PRAGMA temp_store = MEMORY;"
				 "PRAGMA cache_size = -8192;",
			err, errlen);
}

int sqlite_open(const char *path, bool create, struct kp_conn **out, char *err, size_t errlen)
{
	assert(path && out);
	struct sqlite_conn *c = calloc(1, sizeof *c);
	if (!c)
		return KP_ENOMEM;
	c->base.ops = &kp_sqlite_ops;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite_close(&c->base);
		return KP_ESTORE;
	}
	int rc = configure(c, create, err, errlen);
	if (!rc && create)
		rc = migrate(c, err, errlen);
	if (rc) {
		sqlite_close(&c->base);
		return rc;
	}
	*out = &c->base;
	return 0;
}

/* ---- transactions ------------------------------------------------------ */

#define SIMPLE_STMT(fn, id)                                                   \
	static int fn(struct kp_conn *base)                                   \
	{                                                                     \
		struct sqlite_conn *c = (struct sqlite_conn *)base;           \
		return sqlite_exec_stmt(c, sqlite_bind(c, id, ""));           \
	}
static int sqlite_begin(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, S_BEGIN, ""));
	return rc ? rc : sqlite_exec_stmt(c, sqlite_bind(c, S_DEFER_FK, ""));
}
SIMPLE_STMT(sqlite_read_begin, S_READ_BEGIN)
SIMPLE_STMT(sqlite_commit, S_COMMIT)
SIMPLE_STMT(sqlite_savepoint, S_SAVEPOINT)
SIMPLE_STMT(sqlite_release, S_RELEASE)
SIMPLE_STMT(sqlite_rollback_to, S_ROLLBACK_TO)

static bool sqlite_in_transaction(struct kp_conn *base)
{
	return sqlite3_get_autocommit(((struct sqlite_conn *)base)->db) == 0;
}

static int sqlite_writer_mode(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	sqlite3_wal_autocheckpoint(c->db, 0);
	return 0;
}

static int sqlite_checkpoint(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : sqlite_error(c, rc);
}

static int sqlite_rollback(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	/* After some errors SQLite has already rolled back; that is fine. */
	if (sqlite3_get_autocommit(c->db))
		return 0;
	return sqlite_exec_stmt(c, sqlite_bind(c, S_ROLLBACK, ""));
}

const struct kp_store_ops kp_sqlite_ops = {
	.name = "sqlite",
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.savepoint = sqlite_savepoint,
	.release = sqlite_release,
	.rollback_to = sqlite_rollback_to,
	.read_begin = sqlite_read_begin,
	.writer_mode = sqlite_writer_mode,
	.in_transaction = sqlite_in_transaction,
	.checkpoint = sqlite_checkpoint,
	.program_insert = sqlite_program_insert,
	.program_get = sqlite_program_get,
	.partner_insert = sqlite_partner_insert,
	.partner_exists = sqlite_partner_exists,
	.key_insert = sqlite_key_insert,
	.key_find = sqlite_key_find,
	.member_insert = sqlite_member_insert,
	.member_get = sqlite_member_get,
	.member_get_id = sqlite_member_get_id,
	.member_ids = sqlite_member_ids,
	.member_set_balances = sqlite_member_set_balances,
	.lots_load = sqlite_lots_load,
	.lots_count_open = sqlite_lots_count_open,
	.lot_next_id = sqlite_lot_next_id,
	.lot_insert = sqlite_lot_insert,
	.lot_update = sqlite_lot_update,
	.transfer_insert = sqlite_transfer_insert,
	.history = sqlite_history,
	.purchase_spent_lots = sqlite_purchase_spent_lots,
	.purchase_find = sqlite_purchase_find,
	.purchase_insert = sqlite_purchase_insert,
	.purchase_next_id = sqlite_purchase_next_id,
	.purchase_set_answer = sqlite_purchase_set_answer,
	.purchase_line_insert = sqlite_purchase_line_insert,
	.purchase_lines = sqlite_purchase_lines,
	.purchase_line_refund = sqlite_purchase_line_refund,
	.purchase_refunds_json = sqlite_purchase_refunds_json,
	.refund_find = sqlite_refund_find,
	.refund_insert = sqlite_refund_insert,
	.idem_find = sqlite_idem_find,
	.idem_insert = sqlite_idem_insert,
	.verify = sqlite_verify,
	.member_set_tier = sqlite_member_set_tier,
	.member_add_spend = sqlite_member_add_spend,
	.member_spend_since = sqlite_member_spend_since,
	.purchase_add_spend = sqlite_purchase_add_spend,
	.stamp_get = sqlite_stamp_get,
	.stamp_set = sqlite_stamp_set,
	.budget_spent = sqlite_budget_spent,
	.budget_add = sqlite_budget_add,
	.certificate_insert = sqlite_certificate_insert,
	.event_insert = sqlite_event_insert,
	.members_with_due_lots = sqlite_members_with_due_lots,
	.job_period_get = sqlite_job_period_get,
	.job_period_set = sqlite_job_period_set,
	.card_insert = sqlite_card_insert,
	.card_get = sqlite_card_get,
	.card_block = sqlite_card_block,
	.member_set_card = sqlite_member_set_card,
	.member_update = sqlite_member_update,
	.member_erase = sqlite_member_erase,
	.consent_log = sqlite_consent_log,
	.consent_history_json = sqlite_consent_history_json,
	.member_cards_json = sqlite_member_cards_json,
	.bonus_find = sqlite_bonus_find,
	.bonus_insert = sqlite_bonus_insert,
	.bonus_count = sqlite_bonus_count,
	.members_born_on = sqlite_members_born_on,
	.referral_insert = sqlite_referral_insert,
	.referral_get = sqlite_referral_get,
	.referral_update = sqlite_referral_update,
	.referrals_due = sqlite_referrals_due,
	.coupon_insert = sqlite_coupon_insert,
	.coupon_get = sqlite_coupon_get,
	.coupon_member_uses = sqlite_coupon_member_uses,
	.coupon_use = sqlite_coupon_use,
	.coupon_release_purchase = sqlite_coupon_release_purchase,
	.certificate_get = sqlite_certificate_get,
	.certificate_issue = sqlite_certificate_issue,
	.certificate_move = sqlite_certificate_move,
	.certificate_uses = sqlite_certificate_uses,
	.purchase_set_status = sqlite_purchase_set_status,
	.purchase_status = sqlite_purchase_status,
	.purchase_set_earn_lot = sqlite_purchase_set_earn_lot,
	.holds_expired = sqlite_holds_expired,
	.purchase_by_id = sqlite_purchase_by_id,
	.audit = sqlite_audit,
	.partner_get = sqlite_partner_get,
	.partner_update = sqlite_partner_update,
	.partners_list = sqlite_partners_list,
	.key_get_id = sqlite_key_get_id,
	.key_revoke = sqlite_key_revoke,
	.keys_list = sqlite_keys_list,
	.receipt_elsewhere = sqlite_receipt_elsewhere,
	.settlement = sqlite_settlement,
	.charity = sqlite_charity,
	.audit_list = sqlite_audit_list,
	.close = sqlite_close,
};

int kp_store_open(const char *uri, bool create, struct kp_conn **out, char *err, size_t errlen)
{
	if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0)
		return pg_open(uri, create, out, err, errlen); /* store/pg.c */
	return sqlite_open(uri, create, out, err, errlen);
}
