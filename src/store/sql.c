/*
 * sql.c — the common text of every statement (see sql.h), SQLite's dialect.
 */
#include "store/sql.h"

const char *const kp_sql_common[Q_COUNT] = {
	[Q_PROGRAM_INSERT] = "INSERT INTO programs (document, created_at) VALUES (?, ?)",
	[Q_PROGRAM_GET] = "SELECT version, document FROM programs WHERE version = ?",
	[Q_PROGRAM_LATEST] = "SELECT version, document FROM programs ORDER BY version DESC LIMIT 1",
	[Q_PARTNER_INSERT] = "INSERT INTO partners (id, name, created_at) VALUES (?, ?, ?)",
	[Q_PARTNER_EXISTS] = "SELECT 1 FROM partners WHERE id = ?",
	[Q_KEY_INSERT] = "INSERT INTO api_keys (hash, role, partner, created_at) VALUES (?, ?, ?, ?)",
	[Q_KEY_FIND] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
		       "COALESCE(revoked_at, 0) FROM api_keys WHERE hash = ?",
	[Q_MEMBER_INSERT] = "INSERT INTO members (card, phone, email, name, birthday, external_id, "
			    "referral_code, referred_by, consents, created_at, segments) "
			    "VALUES (?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), "
			    "NULLIF(?, ''), ?, NULLIF(?, 0), ?, ?, ?)",
	[Q_MEMBER_BY_ID] = MEMBER_SELECT "WHERE id = ?",
	[Q_MEMBER_BY_PHONE] = MEMBER_SELECT "WHERE phone = ?",
	[Q_MEMBER_BY_CARD] = MEMBER_SELECT "WHERE id = (SELECT member_id FROM cards WHERE card = ?)",
	[Q_MEMBER_BY_EXTERNAL] = MEMBER_SELECT "WHERE external_id = ?",
	[Q_MEMBER_BY_REFERRAL] = MEMBER_SELECT "WHERE referral_code = ?",
	[Q_MEMBER_IDS] = "SELECT id FROM members WHERE id > ? ORDER BY id LIMIT ?",
	[Q_MEMBER_SET_BALANCES] = "UPDATE members SET available = ?, pending = ?, debt = ? "
				  "WHERE id = ?",
	[Q_LOTS_OPEN] = LOT_SELECT "WHERE member_id = ? AND remaining > 0",
	[Q_LOT_BY_ID] = LOT_SELECT "WHERE id = ? AND member_id = ?",
	[Q_LOTS_COUNT_OPEN] = "SELECT count(*) FROM lots WHERE member_id = ? AND remaining > 0",
	[Q_LOT_NEXT_ID] = "SELECT COALESCE(MAX(id), 0) + 1 FROM lots",
	[Q_LOT_INSERT] = "INSERT INTO lots (id, member_id, points, remaining, expires_at, "
			 "available_at, pending, purchase_id, created_at) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), ?)",
	[Q_LOT_UPDATE] = "UPDATE lots SET remaining = ?, pending = ? WHERE id = ?",
	[Q_TRANSFER_INSERT] = "INSERT INTO transfers (at, member_id, entry, from_acc, to_acc, "
			      "points, lot_id, purchase_id, refund_id, ref) VALUES "
			      "(?, NULLIF(?, 0), ?, ?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), "
			      "NULLIF(?, 0), ?)",
	/* One row per operation and kind: a redemption from three lots is one entry.
	 * Repaying a debt from available points changes nothing the member sees. */
	[Q_HISTORY] = "SELECT MAX(id), at, entry, from_acc, to_acc, SUM(points), "
		      "COALESCE(ref, '') FROM transfers WHERE member_id = ? "
		      "AND NOT (from_acc = 4 AND to_acc = 6) "
		      "GROUP BY at, entry, from_acc, to_acc, COALESCE(purchase_id, 0), "
		      "COALESCE(refund_id, 0), COALESCE(ref, '') HAVING MAX(id) < ? "
		      "ORDER BY MAX(id) DESC LIMIT ?",
	[Q_SPENT_LOTS] = "SELECT t.lot_id, SUM(CASE WHEN t.entry = 2 THEN t.points ELSE 0 END), "
			 "SUM(CASE WHEN t.entry = 5 AND t.from_acc = 2 THEN t.points ELSE 0 END), "
			 "l.expires_at, MIN(t.id) FROM transfers t JOIN lots l ON l.id = t.lot_id "
			 "WHERE t.purchase_id = ? AND ((t.entry = 2 AND t.from_acc = 4) OR "
			 "(t.entry = 5 AND t.from_acc = 2)) GROUP BY t.lot_id ORDER BY 5",
	[Q_PURCHASE_FIND] = PURCHASE_SELECT "WHERE partner = ? AND receipt_id = ?",
	[Q_PURCHASE_INSERT] = "INSERT INTO purchases (id, partner, receipt_id, member_id, "
			      "program_version, at, request_hash, subtotal, discount, "
			      "points_redeemed, certificates, to_pay, points_earned, earn_lot_id, "
			      "answer, spend, status, hold_expires_at, lines) VALUES (NULLIF(?, 0), "
			      "?, ?, NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0), ?, ?, ?, "
			      "NULLIF(?, 0), ?)",
	[Q_PURCHASE_NEXT_ID] = "SELECT COALESCE(MAX(id), 0) + 1 FROM purchases",
	[Q_PURCHASE_SET_ANSWER] = "UPDATE purchases SET answer = ? WHERE id = ?",
	/* NULL: a purchase from before migration 0011, its lines still rows of purchase_lines */
	[Q_LINES] = "SELECT lines FROM purchases WHERE id = ?",
	[Q_LINES_SET] = "UPDATE purchases SET lines = ? WHERE id = ?",
	[Q_LINE_ROWS] = "SELECT line_no, sku, COALESCE(category, ''), qty, price, amount, discount, "
			"points, certificates, paid, earned, refunded_qty, stamp_card, free_units "
			"FROM purchase_lines WHERE purchase_id = ? ORDER BY line_no",
	[Q_LINE_ROWS_DELETE] = "DELETE FROM purchase_lines WHERE purchase_id = ?",
	[Q_REFUNDS_JSON] = "SELECT COALESCE(json_group_array(json(answer)), '[]') FROM "
			   "(SELECT answer FROM refunds WHERE purchase_id = ? ORDER BY id)",
	[Q_REFUND_FIND] = "SELECT id, partner, refund_id, purchase_id, at, request_hash, "
			  "money_refund, points_reversed, points_returned, answer FROM refunds "
			  "WHERE partner = ? AND refund_id = ?",
	[Q_REFUND_INSERT] = "INSERT INTO refunds (partner, refund_id, purchase_id, at, "
			    "request_hash, money_refund, points_reversed, points_returned, answer, "
			    "spend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_IDEM_FIND] = "SELECT request_hash, status, answer FROM idempotency "
			"WHERE scope = ? AND key = ?",
	[Q_IDEM_INSERT] = "INSERT INTO idempotency (scope, key, request_hash, status, answer, "
			  "created_at) VALUES (?, ?, ?, ?, ?, ?)",
	[Q_MEMBER_SET_TIER] = "UPDATE members SET tier = ?, tier_since = ? WHERE id = ?",
	[Q_MEMBER_ADD_SPEND] = "UPDATE members SET lifetime_spend = lifetime_spend + ? WHERE id = ?",
	[Q_MEMBER_SPEND_SINCE] = "SELECT COALESCE(SUM(spend), 0) FROM purchases "
				 "WHERE member_id = ? AND at >= ?",
	[Q_PURCHASE_ADD_SPEND] = "UPDATE purchases SET spend = spend + ? WHERE id = ?",
	[Q_STAMP_GET] = "SELECT count FROM member_stamps WHERE member_id = ? AND card = ?",
	[Q_STAMP_SET] = "INSERT INTO member_stamps (member_id, card, count) VALUES (?, ?, ?) "
			"ON CONFLICT (member_id, card) DO UPDATE SET count = excluded.count",
	[Q_BUDGET_GET] = "SELECT spent FROM campaign_budgets WHERE campaign = ?",
	[Q_BUDGET_ADD] = "INSERT INTO campaign_budgets (campaign, spent) VALUES (?, ?) "
			 "ON CONFLICT (campaign) DO UPDATE SET spent = spent + excluded.spent",
	[Q_CERT_INSERT] = "INSERT INTO gift_certificates (code, amount, balance, member_id, source, "
			  "issued_at) VALUES (?, ?, ?, NULLIF(?, 0), ?, ?)",
	[Q_EVENT_INSERT] = "INSERT INTO events (member_id, kind, ref, payload, at) "
			   "VALUES (NULLIF(?, 0), ?, ?, ?, ?)",
	[Q_DUE_MEMBERS] = "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND "
			  "member_id > ? AND (expires_at <= ? OR (pending = 1 AND available_at <= ?)) "
			  "ORDER BY member_id LIMIT ?",
	[Q_JOB_GET] = "SELECT last_period FROM job_state WHERE name = ?",
	[Q_CARD_INSERT] = "INSERT INTO cards (card, member_id, status, issued_at) "
			  "VALUES (?, ?, 'active', ?)",
	[Q_CARD_GET] = "SELECT card, member_id, status = 'blocked', issued_at, "
		       "COALESCE(blocked_at, 0) FROM cards WHERE card = ?",
	[Q_CARD_BLOCK] = "UPDATE cards SET status = 'blocked', blocked_at = ? "
			 "WHERE card = ? AND status = 'active'",
	[Q_MEMBER_SET_CARD] = "UPDATE members SET card = ? WHERE id = ?",
	[Q_MEMBER_UPDATE] = "UPDATE members SET phone = NULLIF(?, ''), email = NULLIF(?, ''), "
			    "name = NULLIF(?, ''), birthday = NULLIF(?, ''), "
			    "external_id = NULLIF(?, ''), consents = ?, segments = ? WHERE id = ?",
	[Q_MEMBER_ERASE] = "UPDATE members SET phone = NULL, email = NULL, name = NULL, "
			   "birthday = NULL, external_id = NULL, consents = 0, segments = '', "
			   "erased_at = ? WHERE id = ?",
	[Q_CONSENT_LOG] = "INSERT INTO consent_log (member_id, consent, granted, at, key_id) "
			  "VALUES (?, ?, ?, ?, NULLIF(?, 0))",
	[Q_CONSENT_JSON] = "SELECT COALESCE(json_group_array(json_object('consent', consent, "
			   "'granted', json(CASE WHEN granted THEN 'true' ELSE 'false' END), "
			   "'at', strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch'), 'key_id', key_id)), "
			   "'[]') FROM (SELECT * FROM consent_log WHERE member_id = ? ORDER BY id)",
	[Q_CARDS_JSON] = "SELECT COALESCE(json_group_array(json_object('card', card, 'status', "
			 "status, 'issued_at', strftime('%Y-%m-%dT%H:%M:%SZ', issued_at, "
			 "'unixepoch'))), '[]') FROM (SELECT * FROM cards WHERE member_id = ? "
			 "ORDER BY issued_at, card)",
	[Q_BONUS_FIND] = "SELECT request_hash, answer FROM bonuses WHERE member_id = ? "
			 "AND event_id = ?",
	[Q_BONUS_INSERT] = "INSERT INTO bonuses (member_id, type, event_id, points, at, "
			   "request_hash, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
	[Q_BONUS_COUNT] = "SELECT count(*) FROM bonuses WHERE member_id = ? AND type = ? "
			  "AND at >= ?",
	[Q_REFERRAL_INSERT] = "INSERT INTO referrals (referee_id, referrer_id, status) "
			      "VALUES (?, ?, 'waiting')",
	[Q_REFERRAL_GET] = "SELECT referee_id, referrer_id, COALESCE(purchase_id, 0), "
			   "COALESCE(due_at, 0), status FROM referrals WHERE referee_id = ?",
	[Q_REFERRAL_UPDATE] = "UPDATE referrals SET purchase_id = NULLIF(?, 0), "
			      "due_at = NULLIF(?, 0), status = ? WHERE referee_id = ?",
	[Q_REFERRALS_DUE] = "SELECT referee_id FROM referrals WHERE status = 'due' AND due_at <= ? "
			    "AND referee_id > ? ORDER BY referee_id LIMIT ?",
	[Q_COUPON_INSERT] = "INSERT INTO coupons (code, kind, value, max_uses, per_member, "
			    "valid_from, valid_to, min_subtotal, member_id, batch, created_at) "
			    "VALUES (?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), ?, ?, ?, NULLIF(?, 0), "
			    "NULLIF(?, ''), ?)",
	[Q_COUPON_GET] = "SELECT code, kind, value, COALESCE(max_uses, 0), COALESCE(per_member, 0), "
			 "valid_from, valid_to, min_subtotal, COALESCE(member_id, 0), uses, "
			 "COALESCE(batch, ''), created_at FROM coupons WHERE code = ?",
	[Q_COUPON_MEMBER_USES] = "SELECT count(*) FROM coupon_uses WHERE coupon = ? AND "
				 "member_id = ? AND released = 0",
	[Q_COUPON_USE] = "INSERT INTO coupon_uses (coupon, purchase_id, member_id, at) "
			 "VALUES (?, ?, NULLIF(?, 0), ?)",
	[Q_COUPON_USES_INC] = "UPDATE coupons SET uses = uses + ? WHERE code = ?",
	[Q_COUPON_RELEASE_COUNT] = "UPDATE coupons SET uses = uses - 1 WHERE code IN (SELECT "
				   "coupon FROM coupon_uses WHERE purchase_id = ? AND released = 0)",
	[Q_COUPON_RELEASE] = "UPDATE coupon_uses SET released = 1 WHERE purchase_id = ?",
	[Q_CERT_GET] = "SELECT code, amount, balance, COALESCE(member_id, 0), source, "
		       "COALESCE(partner, ''), issued_at, COALESCE(expires_at, 9223372036854775807) "
		       "FROM gift_certificates WHERE code = ?",
	[Q_CERT_ISSUE] = "INSERT INTO gift_certificates (code, amount, balance, member_id, source, "
			 "partner, issued_at, expires_at) VALUES (?, ?, ?, NULLIF(?, 0), ?, "
			 "NULLIF(?, ''), ?, NULLIF(?, 9223372036854775807))",
	[Q_CERT_MOVE] = "INSERT INTO certificate_moves (code, purchase_id, refund_id, amount, at) "
			"VALUES (?, NULLIF(?, 0), NULLIF(?, 0), ?, ?)",
	[Q_CERT_BALANCE] = "UPDATE gift_certificates SET balance = balance + ? WHERE code = ?",
	[Q_CERT_USES] = "SELECT code, -SUM(CASE WHEN amount < 0 THEN amount ELSE 0 END), "
			"SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) FROM certificate_moves "
			"WHERE purchase_id = ? GROUP BY code ORDER BY MIN(id)",
	[Q_PURCHASE_SET_STATUS] = "UPDATE purchases SET status = ? WHERE id = ?",
	[Q_PURCHASE_STATUS] = "SELECT status, COALESCE(hold_expires_at, 0) FROM purchases "
			      "WHERE id = ?",
	[Q_PURCHASE_SET_EARN_LOT] = "UPDATE purchases SET earn_lot_id = NULLIF(?, 0) WHERE id = ?",
	[Q_HOLDS_EXPIRED] = "SELECT id FROM purchases WHERE status = 'held' AND "
			    "hold_expires_at <= ? AND id > ? ORDER BY id LIMIT ?",
	[Q_PURCHASE_BY_ID] = PURCHASE_SELECT "WHERE id = ?",
	[Q_BORN_ON] = "SELECT id FROM members WHERE substr(birthday, 6, 5) IN (?, ?) AND "
		       "erased_at IS NULL AND id > ? ORDER BY id LIMIT ?",
	[Q_AUDIT] = "INSERT INTO audit (key_id, action, target, details, at) "
		    "VALUES (NULLIF(?, 0), ?, ?, ?, ?)",
	/* ---- coalitions and charity (sqlite_reports.c) ---- */
	[Q_PARTNER_GET] = PARTNER_SELECT "WHERE id = ?",
	[Q_PARTNER_UPDATE] = "UPDATE partners SET name = ?, active = ?, "
			     "earn_percent_bp = NULLIF(?, -1), accrual_cost = NULLIF(?, -1) "
			     "WHERE id = ?",
	[Q_PARTNERS_LIST] = PARTNER_SELECT "ORDER BY id",
	[Q_KEY_GET_ID] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
			 "COALESCE(revoked_at, 0) FROM api_keys WHERE id = ?",
	[Q_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
	[Q_KEYS_LIST] = "SELECT id, hash, role, COALESCE(partner, ''), created_at, "
			"COALESCE(revoked_at, 0) FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
	[Q_RECEIPT_ELSEWHERE] = "SELECT 1 FROM purchases WHERE receipt_id = ? AND partner != ? "
				"LIMIT 1",
	/* Movements between the program's issuance and redeemed accounts and members'
	 * accounts (4..6); charity and expiry are not the partners' business. */
	[Q_SETTLEMENT] = "SELECT p.partner, p.receipt_id, p.at, "
			 "SUM(CASE WHEN t.from_acc = 1 AND t.to_acc BETWEEN 4 AND 6 THEN t.points "
			 "WHEN t.to_acc = 1 AND t.from_acc BETWEEN 4 AND 6 THEN -t.points "
			 "ELSE 0 END), "
			 "SUM(CASE WHEN t.to_acc = 2 AND t.from_acc BETWEEN 4 AND 6 THEN t.points "
			 "WHEN t.from_acc = 2 AND t.to_acc BETWEEN 4 AND 6 THEN -t.points "
			 "ELSE 0 END) "
			 "FROM transfers t JOIN purchases p ON p.id = t.purchase_id "
			 "WHERE t.purchase_id IS NOT NULL AND t.at >= ? AND t.at < ? "
			 "GROUP BY p.id ORDER BY p.partner, p.id",
	[Q_CHARITY] = "SELECT substr(ref, 6), "
		      "SUM(CASE WHEN member_id IS NOT NULL THEN points ELSE 0 END), "
		      "SUM(CASE WHEN member_id IS NULL THEN points ELSE 0 END) "
		      "FROM transfers WHERE to_acc = 7 AND at >= ? AND at < ? "
		      "GROUP BY ref ORDER BY ref",
	[Q_AUDIT_LIST] = "SELECT id, at, COALESCE(key_id, 0), action, target, details FROM audit "
			 "WHERE id < ? ORDER BY id DESC LIMIT ?",
	[Q_JOB_SET] = "INSERT INTO job_state (name, last_period) VALUES (?, ?) "
		      "ON CONFLICT (name) DO UPDATE SET last_period = excluded.last_period",
	/* GET /v1/reports/summary: one row of integers each, over [from, to) */
	[Q_SUM_MEMBERS] = "SELECT count(*) FROM members WHERE created_at < ?",
	[Q_SUM_ACTIVE] = "SELECT count(DISTINCT member_id) FROM purchases WHERE status = 'committed' "
			 "AND member_id IS NOT NULL AND at >= ? AND at < ?",
	[Q_SUM_REPEAT] = "SELECT count(*) FROM (SELECT member_id FROM purchases WHERE "
			 "status = 'committed' AND member_id IS NOT NULL AND at >= ? AND at < ? "
			 "GROUP BY member_id HAVING count(*) >= 2) v",
	[Q_SUM_REDEEMERS] = "SELECT count(DISTINCT member_id) FROM purchases WHERE "
			    "status = 'committed' AND points_redeemed > 0 AND at >= ? AND at < ?",
	[Q_SUM_PURCHASES] = "SELECT count(*), COALESCE(SUM(to_pay), 0) FROM purchases "
			    "WHERE status = 'committed' AND at >= ? AND at < ?",
	[Q_SUM_REFUNDED] = "SELECT COALESCE(SUM(money_refund), 0) FROM refunds WHERE at >= ? AND at < ?",
	/* issued to members, taken back from them, redeemed net of returns, expired */
	[Q_SUM_POINTS] = "SELECT COALESCE(SUM(CASE WHEN from_acc = 1 AND to_acc IN (4, 5, 6) "
			 "THEN points ELSE 0 END), 0), COALESCE(SUM(CASE WHEN to_acc = 1 AND "
			 "from_acc IN (4, 5, 6) THEN points ELSE 0 END), 0), COALESCE(SUM(CASE "
			 "WHEN to_acc = 2 THEN points WHEN from_acc = 2 THEN -points ELSE 0 END), 0), "
			 "COALESCE(SUM(CASE WHEN to_acc = 3 THEN points ELSE 0 END), 0) "
			 "FROM transfers WHERE at >= ? AND at < ?",
	[Q_SUM_OUTSTANDING] = "SELECT COALESCE(SUM(available + pending + debt), 0) FROM members",
	/* members who bought in [a, b) and not in [b, c) */
	[Q_SUM_CHURNED] = "SELECT count(*) FROM (SELECT DISTINCT member_id FROM purchases WHERE "
			  "status = 'committed' AND member_id IS NOT NULL AND at >= ? AND at < ?) v "
			  "WHERE member_id NOT IN (SELECT member_id FROM purchases WHERE "
			  "status = 'committed' AND member_id IS NOT NULL AND at >= ? AND at < ?)",
};
