/*
 * pg_sql.c — the SQL of every statement of the PostgreSQL store.
 *
 * The text is SQLite's (sqlite.c) wherever the two dialects agree, with '?'
 * placeholders that pg.c numbers ($1, $2, …) when it prepares them. Where
 * they differ, the difference is here and listed in docs/deployment.md:
 * ids from sequences (nextval) and RETURNING instead of last_insert_rowid,
 * json_agg/json_build_object for SQLite's json_group_array/json_object,
 * to_char for strftime, GROUP BY that names every selected column, and the
 * *_LOCK variants that lock the rows a write transaction decides on.
 */
#include "store/pg_int.h"

#define MEMBER_SELECT                                                                  \
	"SELECT id, card, COALESCE(phone, ''), COALESCE(email, ''), COALESCE(name, ''), " \
	"COALESCE(birthday, ''), COALESCE(external_id, ''), referral_code, "              \
	"COALESCE(referred_by, 0), consents, created_at, available, pending, debt, tier, "      \
	"tier_since, lifetime_spend, COALESCE(erased_at, 0) FROM members "
#define LOT_SELECT                                                                       \
	"SELECT id, points, remaining, expires_at, available_at, COALESCE(purchase_id, 0), " \
	"pending FROM lots "
#define PURCHASE_SELECT                                                                  \
	"SELECT id, partner, receipt_id, COALESCE(member_id, 0), program_version, at, "      \
	"request_hash, subtotal, discount, points_redeemed, certificates, to_pay, "          \
	"points_earned, COALESCE(earn_lot_id, 0), answer, spend FROM purchases "

/* An instant (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ", as SQLite's strftime. */
#define UTC_TEXT(col) "to_char(to_timestamp(" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define PARTNER_SELECT                                                                   \
	"SELECT id, name, active, COALESCE(earn_percent_bp, -1), COALESCE(accrual_cost, -1), " \
	"created_at FROM partners "

const char *const kp_pg_sql[P_COUNT] = {
	[P_PROGRAM_INSERT] = "INSERT INTO programs (document, created_at) VALUES (?, ?) RETURNING version",
	[P_PROGRAM_GET] = "SELECT version, document FROM programs WHERE version = ?",
	[P_PROGRAM_LATEST] = "SELECT version, document FROM programs ORDER BY version DESC LIMIT 1",
	[P_PARTNER_INSERT] = "INSERT INTO partners (id, name, created_at) VALUES (?, ?, ?)",
	[P_PARTNER_EXISTS] = "SELECT 1 FROM partners WHERE id = ?",
	[P_KEY_INSERT] = "INSERT INTO api_keys (hash, role, partner, created_at) VALUES (?, ?, ?, ?) "
			 "RETURNING id",
	[P_KEY_FIND] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
		       "COALESCE(revoked_at, 0) FROM api_keys WHERE hash = ?",
	[P_MEMBER_INSERT] = "INSERT INTO members (card, phone, email, name, birthday, external_id, "
			    "referral_code, referred_by, consents, created_at) "
			    "VALUES (?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), "
			    "NULLIF(?, ''), ?, NULLIF(?, 0), ?, ?) RETURNING id",
	[P_MEMBER_BY_ID] = MEMBER_SELECT "WHERE id = ?",
	[P_MEMBER_BY_PHONE] = MEMBER_SELECT "WHERE phone = ?",
	[P_MEMBER_BY_CARD] = MEMBER_SELECT "WHERE id = (SELECT member_id FROM cards WHERE card = ?)",
	[P_MEMBER_BY_EXTERNAL] = MEMBER_SELECT "WHERE external_id = ?",
	[P_MEMBER_BY_REFERRAL] = MEMBER_SELECT "WHERE referral_code = ?",
	/* the member is the first row a write transaction locks */
	[P_MEMBER_BY_ID_LOCK] = MEMBER_SELECT "WHERE id = ? FOR UPDATE",
	[P_MEMBER_BY_PHONE_LOCK] = MEMBER_SELECT "WHERE phone = ? FOR UPDATE",
	[P_MEMBER_BY_CARD_LOCK] = MEMBER_SELECT "WHERE id = (SELECT member_id FROM cards "
				  "WHERE card = ?) FOR UPDATE",
	[P_MEMBER_BY_EXTERNAL_LOCK] = MEMBER_SELECT "WHERE external_id = ? FOR UPDATE",
	[P_MEMBER_BY_REFERRAL_LOCK] = MEMBER_SELECT "WHERE referral_code = ? FOR UPDATE",
	[P_MEMBER_IDS] = "SELECT id FROM members WHERE id > ? ORDER BY id LIMIT ?",
	[P_MEMBER_SET_BALANCES] = "UPDATE members SET available = ?, pending = ?, debt = ? "
				  "WHERE id = ?",
	[P_LOTS_OPEN] = LOT_SELECT "WHERE member_id = ? AND remaining > 0",
	[P_LOT_BY_ID] = LOT_SELECT "WHERE id = ? AND member_id = ?",
	[P_LOTS_COUNT_OPEN] = "SELECT count(*) FROM lots WHERE member_id = ? AND remaining > 0",
	[P_LOT_NEXT_ID] = "SELECT nextval(pg_get_serial_sequence('lots', 'id'))",
	[P_LOT_INSERT] = "INSERT INTO lots (id, member_id, points, remaining, expires_at, "
			 "available_at, pending, purchase_id, created_at) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), ?)",
	[P_LOT_UPDATE] = "UPDATE lots SET remaining = ?, pending = ? WHERE id = ?",
	[P_TRANSFER_INSERT] = "INSERT INTO transfers (at, member_id, entry, from_acc, to_acc, "
			      "points, lot_id, purchase_id, refund_id, ref) VALUES "
			      "(?, NULLIF(?, 0), ?, ?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), "
			      "NULLIF(?, 0), ?) RETURNING id",
	/* One row per operation and kind: a redemption from three lots is one entry.
	 * Repaying a debt from available points changes nothing the member sees. */
	[P_HISTORY] = "SELECT MAX(id), at, entry, from_acc, to_acc, SUM(points), "
		      "COALESCE(ref, '') FROM transfers WHERE member_id = ? "
		      "AND NOT (from_acc = 4 AND to_acc = 6) "
		      "GROUP BY at, entry, from_acc, to_acc, COALESCE(purchase_id, 0), "
		      "COALESCE(refund_id, 0), COALESCE(ref, '') HAVING MAX(id) < ? "
		      "ORDER BY MAX(id) DESC LIMIT ?",
	[P_SPENT_LOTS] = "SELECT t.lot_id, SUM(CASE WHEN t.entry = 2 THEN t.points ELSE 0 END), "
			 "SUM(CASE WHEN t.entry = 5 AND t.from_acc = 2 THEN t.points ELSE 0 END), "
			 "l.expires_at, MIN(t.id) FROM transfers t JOIN lots l ON l.id = t.lot_id "
			 "WHERE t.purchase_id = ? AND ((t.entry = 2 AND t.from_acc = 4) OR "
			 "(t.entry = 5 AND t.from_acc = 2)) GROUP BY t.lot_id, l.expires_at ORDER BY 5",
	[P_PURCHASE_FIND] = PURCHASE_SELECT "WHERE partner = ? AND receipt_id = ?",
	[P_PURCHASE_INSERT] = "INSERT INTO purchases (id, partner, receipt_id, member_id, "
			      "program_version, at, request_hash, subtotal, discount, "
			      "points_redeemed, certificates, to_pay, points_earned, earn_lot_id, "
			      "answer, spend, status, hold_expires_at) VALUES (COALESCE(NULLIF(?, 0), "
			      "nextval(pg_get_serial_sequence('purchases', 'id'))), ?, ?, "
			      "NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), ?, ?, ?, "
			      "NULLIF(?, 0)) RETURNING id",
	[P_PURCHASE_NEXT_ID] = "SELECT nextval(pg_get_serial_sequence('purchases', 'id'))",
	[P_PURCHASE_SET_ANSWER] = "UPDATE purchases SET answer = ? WHERE id = ?",
	[P_LINE_INSERT] = "INSERT INTO purchase_lines (purchase_id, line_no, sku, category, qty, "
			  "price, amount, discount, points, certificates, paid, earned, "
			  "stamp_card, free_units) "
			  "VALUES (?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[P_LINES] = "SELECT line_no, sku, COALESCE(category, ''), qty, price, amount, discount, "
		    "points, certificates, paid, earned, refunded_qty, stamp_card, free_units "
		    "FROM purchase_lines "
		    "WHERE purchase_id = ? ORDER BY line_no",
	[P_LINE_REFUND] = "UPDATE purchase_lines SET refunded_qty = ? "
			  "WHERE purchase_id = ? AND line_no = ?",
	[P_REFUNDS_JSON] = "SELECT COALESCE(json_agg(answer::json ORDER BY id), '[]') FROM "
			   "refunds WHERE purchase_id = ?",
	[P_REFUND_FIND] = "SELECT id, partner, refund_id, purchase_id, at, request_hash, "
			  "money_refund, points_reversed, points_returned, answer FROM refunds "
			  "WHERE partner = ? AND refund_id = ?",
	[P_REFUND_INSERT] = "INSERT INTO refunds (partner, refund_id, purchase_id, at, "
			    "request_hash, money_refund, points_reversed, points_returned, answer, "
			    "spend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	[P_IDEM_FIND] = "SELECT request_hash, status, answer FROM idempotency "
			"WHERE scope = ? AND key = ?",
	[P_IDEM_INSERT] = "INSERT INTO idempotency (scope, key, request_hash, status, answer, "
			  "created_at) VALUES (?, ?, ?, ?, ?, ?)",
	[P_MEMBER_SET_TIER] = "UPDATE members SET tier = ?, tier_since = ? WHERE id = ?",
	[P_MEMBER_ADD_SPEND] = "UPDATE members SET lifetime_spend = lifetime_spend + ? WHERE id = ?",
	[P_MEMBER_SPEND_SINCE] = "SELECT COALESCE(SUM(spend), 0) FROM purchases "
				 "WHERE member_id = ? AND at >= ?",
	[P_PURCHASE_ADD_SPEND] = "UPDATE purchases SET spend = spend + ? WHERE id = ?",
	[P_STAMP_GET] = "SELECT count FROM member_stamps WHERE member_id = ? AND card = ?",
	[P_STAMP_SET] = "INSERT INTO member_stamps (member_id, card, count) VALUES (?, ?, ?) "
			"ON CONFLICT (member_id, card) DO UPDATE SET count = excluded.count",
	[P_BUDGET_GET] = "SELECT spent FROM campaign_budgets WHERE campaign = ?",
	[P_BUDGET_ADD] = "INSERT INTO campaign_budgets (campaign, spent) VALUES (?, ?) "
			 "ON CONFLICT (campaign) DO UPDATE SET spent = campaign_budgets.spent + excluded.spent",
	/* a budget row exists before it is locked, so two purchases queue on it */
	[P_BUDGET_ENSURE] = "INSERT INTO campaign_budgets (campaign, spent) VALUES (?, 0) "
			    "ON CONFLICT (campaign) DO NOTHING",
	[P_BUDGET_GET_LOCK] = "SELECT spent FROM campaign_budgets WHERE campaign = ? FOR UPDATE",
	[P_CERT_INSERT] = "INSERT INTO gift_certificates (code, amount, balance, member_id, source, "
			  "issued_at) VALUES (?, ?, ?, NULLIF(?, 0), ?, ?)",
	[P_EVENT_INSERT] = "INSERT INTO events (member_id, kind, ref, payload, at) "
			   "VALUES (NULLIF(?, 0), ?, ?, ?, ?)",
	[P_DUE_MEMBERS] = "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND "
			  "member_id > ? AND (expires_at <= ? OR (pending = 1 AND available_at <= ?)) "
			  "ORDER BY member_id LIMIT ?",
	[P_JOB_GET] = "SELECT last_period FROM job_state WHERE name = ?",
	[P_CARD_INSERT] = "INSERT INTO cards (card, member_id, status, issued_at) "
			  "VALUES (?, ?, 'active', ?)",
	[P_CARD_GET] = "SELECT card, member_id, status = 'blocked', issued_at, "
		       "COALESCE(blocked_at, 0) FROM cards WHERE card = ?",
	[P_CARD_BLOCK] = "UPDATE cards SET status = 'blocked', blocked_at = ? "
			 "WHERE card = ? AND status = 'active'",
	[P_MEMBER_SET_CARD] = "UPDATE members SET card = ? WHERE id = ?",
	[P_MEMBER_UPDATE] = "UPDATE members SET phone = NULLIF(?, ''), email = NULLIF(?, ''), "
			    "name = NULLIF(?, ''), birthday = NULLIF(?, ''), "
			    "external_id = NULLIF(?, ''), consents = ? WHERE id = ?",
	[P_MEMBER_ERASE] = "UPDATE members SET phone = NULL, email = NULL, name = NULL, "
			   "birthday = NULL, external_id = NULL, consents = 0, erased_at = ? WHERE id = ?",
	[P_CONSENT_LOG] = "INSERT INTO consent_log (member_id, consent, granted, at, key_id) "
			  "VALUES (?, ?, ?, ?, NULLIF(?, 0))",
	[P_CONSENT_JSON] = "SELECT COALESCE(json_agg(json_build_object('consent', consent, "
			   "'granted', granted != 0, 'at', " UTC_TEXT("at") ", 'key_id', key_id) "
			   "ORDER BY id), '[]') FROM consent_log WHERE member_id = ?",
	[P_CARDS_JSON] = "SELECT COALESCE(json_agg(json_build_object('card', card, 'status', "
			 "status, 'issued_at', " UTC_TEXT("issued_at") ") ORDER BY issued_at, card), "
			 "'[]') FROM cards WHERE member_id = ?",
	[P_BONUS_FIND] = "SELECT request_hash, answer FROM bonuses WHERE member_id = ? "
			 "AND event_id = ?",
	[P_BONUS_INSERT] = "INSERT INTO bonuses (member_id, type, event_id, points, at, "
			   "request_hash, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
	[P_BONUS_COUNT] = "SELECT count(*) FROM bonuses WHERE member_id = ? AND type = ? "
			  "AND at >= ?",
	[P_REFERRAL_INSERT] = "INSERT INTO referrals (referee_id, referrer_id, status) "
			      "VALUES (?, ?, 'waiting')",
	[P_REFERRAL_GET] = "SELECT referee_id, referrer_id, COALESCE(purchase_id, 0), "
			   "COALESCE(due_at, 0), status FROM referrals WHERE referee_id = ?",
	[P_REFERRAL_GET_LOCK] = "SELECT referee_id, referrer_id, COALESCE(purchase_id, 0), "
				"COALESCE(due_at, 0), status FROM referrals WHERE referee_id = ? "
				"FOR UPDATE",
	[P_REFERRAL_UPDATE] = "UPDATE referrals SET purchase_id = NULLIF(?, 0), "
			      "due_at = NULLIF(?, 0), status = ? WHERE referee_id = ?",
	[P_REFERRALS_DUE] = "SELECT referee_id FROM referrals WHERE status = 'due' AND due_at <= ? "
			    "AND referee_id > ? ORDER BY referee_id LIMIT ?",
	[P_COUPON_INSERT] = "INSERT INTO coupons (code, kind, value, max_uses, per_member, "
			    "valid_from, valid_to, min_subtotal, member_id, batch, created_at) "
			    "VALUES (?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), ?, ?, ?, NULLIF(?, 0), "
			    "NULLIF(?, ''), ?)",
	[P_COUPON_GET] = "SELECT code, kind, value, COALESCE(max_uses, 0), COALESCE(per_member, 0), "
			 "valid_from, valid_to, min_subtotal, COALESCE(member_id, 0), uses, "
			 "COALESCE(batch, ''), created_at FROM coupons WHERE code = ?",
	[P_COUPON_GET_LOCK] = "SELECT code, kind, value, COALESCE(max_uses, 0), "
			      "COALESCE(per_member, 0), valid_from, valid_to, min_subtotal, "
			      "COALESCE(member_id, 0), uses, COALESCE(batch, ''), created_at "
			      "FROM coupons WHERE code = ? FOR UPDATE",
	[P_COUPON_MEMBER_USES] = "SELECT count(*) FROM coupon_uses WHERE coupon = ? AND "
				 "member_id = ? AND released = 0",
	[P_COUPON_USE] = "INSERT INTO coupon_uses (coupon, purchase_id, member_id, at) "
			 "VALUES (?, ?, NULLIF(?, 0), ?)",
	[P_COUPON_USES_INC] = "UPDATE coupons SET uses = uses + ? WHERE code = ?",
	[P_COUPON_RELEASE_COUNT] = "UPDATE coupons SET uses = uses - 1 WHERE code IN (SELECT "
				   "coupon FROM coupon_uses WHERE purchase_id = ? AND released = 0)",
	[P_COUPON_RELEASE] = "UPDATE coupon_uses SET released = 1 WHERE purchase_id = ?",
	[P_CERT_GET] = "SELECT code, amount, balance, COALESCE(member_id, 0), source, "
		       "COALESCE(partner, ''), issued_at, COALESCE(expires_at, 9223372036854775807) "
		       "FROM gift_certificates WHERE code = ?",
	[P_CERT_GET_LOCK] = "SELECT code, amount, balance, COALESCE(member_id, 0), source, "
			    "COALESCE(partner, ''), issued_at, "
			    "COALESCE(expires_at, 9223372036854775807) "
			    "FROM gift_certificates WHERE code = ? FOR UPDATE",
	[P_CERT_ISSUE] = "INSERT INTO gift_certificates (code, amount, balance, member_id, source, "
			 "partner, issued_at, expires_at) VALUES (?, ?, ?, NULLIF(?, 0), ?, "
			 "NULLIF(?, ''), ?, NULLIF(?, 9223372036854775807))",
	[P_CERT_MOVE] = "INSERT INTO certificate_moves (code, purchase_id, refund_id, amount, at) "
			"VALUES (?, NULLIF(?, 0), NULLIF(?, 0), ?, ?)",
	[P_CERT_BALANCE] = "UPDATE gift_certificates SET balance = balance + ? WHERE code = ?",
	[P_CERT_USES] = "SELECT code, -SUM(CASE WHEN amount < 0 THEN amount ELSE 0 END), "
			"SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) FROM certificate_moves "
			"WHERE purchase_id = ? GROUP BY code ORDER BY MIN(id)",
	[P_PURCHASE_SET_STATUS] = "UPDATE purchases SET status = ? WHERE id = ?",
	[P_PURCHASE_STATUS] = "SELECT status, COALESCE(hold_expires_at, 0) FROM purchases "
			      "WHERE id = ?",
	[P_PURCHASE_STATUS_LOCK] = "SELECT status, COALESCE(hold_expires_at, 0) FROM purchases "
				   "WHERE id = ? FOR UPDATE",
	[P_PURCHASE_SET_EARN_LOT] = "UPDATE purchases SET earn_lot_id = NULLIF(?, 0) WHERE id = ?",
	[P_HOLDS_EXPIRED] = "SELECT id FROM purchases WHERE status = 'held' AND "
			    "hold_expires_at <= ? AND id > ? ORDER BY id LIMIT ?",
	[P_PURCHASE_BY_ID] = PURCHASE_SELECT "WHERE id = ?",
	[P_BORN_ON] = "SELECT id FROM members WHERE substr(birthday, 6, 5) IN (?, ?) AND "
		       "erased_at IS NULL AND id > ? ORDER BY id LIMIT ?",
	[P_AUDIT] = "INSERT INTO audit (key_id, action, target, details, at) "
		    "VALUES (NULLIF(?, 0), ?, ?, ?, ?)",
	/* ---- coalitions and charity (sqlite_reports.c) ---- */
	[P_PARTNER_GET] = PARTNER_SELECT "WHERE id = ?",
	[P_PARTNER_UPDATE] = "UPDATE partners SET name = ?, active = ?, "
			     "earn_percent_bp = NULLIF(?, -1), accrual_cost = NULLIF(?, -1) "
			     "WHERE id = ?",
	[P_PARTNERS_LIST] = PARTNER_SELECT "ORDER BY id",
	[P_KEY_GET_ID] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
			 "COALESCE(revoked_at, 0) FROM api_keys WHERE id = ?",
	[P_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
	[P_KEYS_LIST] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
			"COALESCE(revoked_at, 0) FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
	[P_RECEIPT_ELSEWHERE] = "SELECT 1 FROM purchases WHERE receipt_id = ? AND partner != ? "
				"LIMIT 1",
	/* Movements between the program's issuance and redeemed accounts and members'
	 * accounts (4..6); charity and expiry are not the partners' business. */
	[P_SETTLEMENT] = "SELECT p.partner, p.receipt_id, p.at, "
			 "SUM(CASE WHEN t.from_acc = 1 AND t.to_acc BETWEEN 4 AND 6 THEN t.points "
			 "WHEN t.to_acc = 1 AND t.from_acc BETWEEN 4 AND 6 THEN -t.points "
			 "ELSE 0 END), "
			 "SUM(CASE WHEN t.to_acc = 2 AND t.from_acc BETWEEN 4 AND 6 THEN t.points "
			 "WHEN t.from_acc = 2 AND t.to_acc BETWEEN 4 AND 6 THEN -t.points "
			 "ELSE 0 END) "
			 "FROM transfers t JOIN purchases p ON p.id = t.purchase_id "
			 "WHERE t.purchase_id IS NOT NULL AND t.at >= ? AND t.at < ? "
			 "GROUP BY p.id ORDER BY p.partner, p.id",
	[P_CHARITY] = "SELECT substr(ref, 6), "
		      "SUM(CASE WHEN member_id IS NOT NULL THEN points ELSE 0 END), "
		      "SUM(CASE WHEN member_id IS NULL THEN points ELSE 0 END) "
		      "FROM transfers WHERE to_acc = 7 AND at >= ? AND at < ? "
		      "GROUP BY ref ORDER BY ref",
	[P_AUDIT_LIST] = "SELECT id, at, COALESCE(key_id, 0), action, target, details FROM audit "
			 "WHERE id < ? ORDER BY id DESC LIMIT ?",
	[P_JOB_SET] = "INSERT INTO job_state (name, last_period) VALUES (?, ?) "
		      "ON CONFLICT (name) DO UPDATE SET last_period = excluded.last_period",
	/* one process at a time runs a scheduled job (held to the end of its transaction) */
	[P_JOB_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('kopilka job ' || ?))",
};
