/*
 * pg_sql.c — the PostgreSQL store's own statements: only those whose text
 * differs from the common one (store/sql.c), and its locking reads. Every
 * other statement runs as kp_sql_common has it, with the '?' placeholders
 * that pg.c numbers ($1, $2, …) when it prepares them. The differences, all
 * here and listed in docs/deployment.md:
 * ids from sequences (nextval) and RETURNING instead of last_insert_rowid,
 * json_agg/json_build_object for SQLite's json_group_array/json_object,
 * to_char for strftime, GROUP BY that names every selected column, and the
 * *_LOCK variants that lock the rows a write transaction decides on.
 */
#include "store/pg_int.h"

/* An instant (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ", as SQLite's strftime. */
#define UTC_TEXT(col) \
	"to_char(to_timestamp(" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The statements whose PostgreSQL text differs from kp_sql_common, and the
 * locking reads only this store runs. */
const char *const kp_pg_sql[Q_COUNT] = {
	[Q_PROGRAM_INSERT] = "INSERT INTO programs (document, created_at) VALUES (?, ?) RETURNING version",
	[Q_KEY_INSERT] = "INSERT INTO api_keys (hash, role, partner, created_at) VALUES (?, ?, ?, ?) "
			 "RETURNING id",
	[Q_MEMBER_INSERT] = "INSERT INTO members (card, phone, email, name, birthday, external_id, "
			    "referral_code, referred_by, consents, created_at, segments) "
			    "VALUES (?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), "
			    "NULLIF(?, ''), ?, NULLIF(?, 0), ?, ?, ?) RETURNING id",
	/* the member is the first row a write transaction locks */
	[Q_MEMBER_BY_ID_LOCK] = MEMBER_SELECT "WHERE id = ? FOR UPDATE",
	[Q_MEMBER_BY_PHONE_LOCK] = MEMBER_SELECT "WHERE phone = ? FOR UPDATE",
	[Q_MEMBER_BY_CARD_LOCK] = MEMBER_SELECT "WHERE id = (SELECT member_id FROM cards "
				  "WHERE card = ?) FOR UPDATE",
	[Q_MEMBER_BY_EXTERNAL_LOCK] = MEMBER_SELECT "WHERE external_id = ? FOR UPDATE",
	[Q_MEMBER_BY_REFERRAL_LOCK] = MEMBER_SELECT "WHERE referral_code = ? FOR UPDATE",
	[Q_LOT_NEXT_ID] = "SELECT nextval(pg_get_serial_sequence('lots', 'id'))",
	[Q_TRANSFER_INSERT] = "INSERT INTO transfers (at, member_id, entry, from_acc, to_acc, "
			      "points, lot_id, purchase_id, refund_id, ref) VALUES "
			      "(?, NULLIF(?, 0), ?, ?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), "
			      "NULLIF(?, 0), ?) RETURNING id",
	[Q_SPENT_LOTS] = "SELECT t.lot_id, SUM(CASE WHEN t.entry = 2 THEN t.points ELSE 0 END), "
			 "SUM(CASE WHEN t.entry = 5 AND t.from_acc = 2 THEN t.points ELSE 0 END), "
			 "l.expires_at, MIN(t.id) FROM transfers t JOIN lots l ON l.id = t.lot_id "
			 "WHERE t.purchase_id = ? AND ((t.entry = 2 AND t.from_acc = 4) OR "
			 "(t.entry = 5 AND t.from_acc = 2)) GROUP BY t.lot_id, l.expires_at ORDER BY 5",
	[Q_PURCHASE_INSERT] = "INSERT INTO purchases (id, partner, receipt_id, member_id, "
			      "program_version, at, request_hash, subtotal, discount, "
			      "points_redeemed, certificates, to_pay, points_earned, earn_lot_id, "
			      "answer, spend, status, hold_expires_at, lines) VALUES "
			      "(COALESCE(NULLIF(?, 0), nextval(pg_get_serial_sequence('purchases', "
			      "'id'))), ?, ?, NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), "
			      "?, ?, ?, NULLIF(?, 0), ?) RETURNING id",
	[Q_PURCHASE_NEXT_ID] = "SELECT nextval(pg_get_serial_sequence('purchases', 'id'))",
	[Q_REFUNDS_JSON] = "SELECT COALESCE(json_agg(answer::json ORDER BY id), '[]') FROM "
			   "refunds WHERE purchase_id = ?",
	[Q_REFUND_INSERT] = "INSERT INTO refunds (partner, refund_id, purchase_id, at, "
			    "request_hash, money_refund, points_reversed, points_returned, answer, "
			    "spend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	[Q_BUDGET_ADD] = "INSERT INTO campaign_budgets (campaign, spent) VALUES (?, ?) "
			 "ON CONFLICT (campaign) DO UPDATE SET spent = campaign_budgets.spent + excluded.spent",
	/* a budget row exists before it is locked, so two purchases queue on it */
	[Q_BUDGET_ENSURE] = "INSERT INTO campaign_budgets (campaign, spent) VALUES (?, 0) "
			    "ON CONFLICT (campaign) DO NOTHING",
	[Q_BUDGET_GET_LOCK] = "SELECT spent FROM campaign_budgets WHERE campaign = ? FOR UPDATE",
	[Q_CONSENT_JSON] = "SELECT COALESCE(json_agg(json_build_object('consent', consent, "
			   "'granted', granted != 0, 'at', " UTC_TEXT("at") ", 'key_id', key_id) "
			   "ORDER BY id), '[]') FROM consent_log WHERE member_id = ?",
	[Q_CARDS_JSON] = "SELECT COALESCE(json_agg(json_build_object('card', card, 'status', "
			 "status, 'issued_at', " UTC_TEXT("issued_at") ") ORDER BY issued_at, card), "
			 "'[]') FROM cards WHERE member_id = ?",
	[Q_REFERRAL_GET_LOCK] = "SELECT referee_id, referrer_id, COALESCE(purchase_id, 0), "
				"COALESCE(due_at, 0), status FROM referrals WHERE referee_id = ? "
				"FOR UPDATE",
	[Q_COUPON_GET_LOCK] = "SELECT code, kind, value, COALESCE(max_uses, 0), "
			      "COALESCE(per_member, 0), valid_from, valid_to, min_subtotal, "
			      "COALESCE(member_id, 0), uses, COALESCE(batch, ''), created_at "
			      "FROM coupons WHERE code = ? FOR UPDATE",
	[Q_CERT_GET_LOCK] = "SELECT code, amount, balance, COALESCE(member_id, 0), source, "
			    "COALESCE(partner, ''), issued_at, "
			    "COALESCE(expires_at, 9223372036854775807) "
			    "FROM gift_certificates WHERE code = ? FOR UPDATE",
	[Q_PURCHASE_STATUS_LOCK] = "SELECT status, COALESCE(hold_expires_at, 0) FROM purchases "
				   "WHERE id = ? FOR UPDATE",
	/* one process at a time runs a scheduled job (held to the end of its transaction) */
	[Q_JOB_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('kopilka job ' || ?))",
};
