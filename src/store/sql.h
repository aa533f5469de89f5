/*
 * sql.h — every statement the stores run, named once for both dialects.
 *
 * kp_sql_common holds each statement's text in SQLite's dialect. A store
 * prepares kp_sql_common[id] unless its own table overrides id: the
 * PostgreSQL store overrides the few statements whose dialect differs
 * (store/pg_sql.c) and adds its locking reads; the SQLite store adds its
 * transaction statements. So a change to a statement is made once, and the
 * dialect differences are the overrides, in one place per store.
 * Parameters are '?' in both; the PostgreSQL store numbers them.
 */
#ifndef KP_STORE_SQL_H
#define KP_STORE_SQL_H

enum kp_sql {
	Q_BEGIN, Q_READ_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
	Q_PROGRAM_INSERT, Q_PROGRAM_GET, Q_PROGRAM_LATEST, Q_PARTNER_INSERT, Q_PARTNER_EXISTS,
	Q_KEY_INSERT, Q_KEY_FIND, Q_MEMBER_INSERT, Q_MEMBER_BY_ID, Q_MEMBER_BY_PHONE, Q_MEMBER_BY_CARD,
	Q_MEMBER_BY_EXTERNAL, Q_MEMBER_BY_REFERRAL, Q_MEMBER_IDS, Q_MEMBER_SET_BALANCES, Q_LOTS_OPEN,
	Q_LOT_BY_ID, Q_LOTS_COUNT_OPEN, Q_LOT_NEXT_ID, Q_LOT_INSERT, Q_LOT_UPDATE, Q_TRANSFER_INSERT,
	Q_HISTORY, Q_SPENT_LOTS, Q_PURCHASE_FIND, Q_PURCHASE_INSERT, Q_PURCHASE_NEXT_ID, Q_DEFER_FK,
	Q_PURCHASE_SET_ANSWER, Q_LINES, Q_LINES_SET, Q_LINE_ROWS, Q_LINE_ROWS_DELETE, Q_REFUNDS_JSON,
	Q_REFUND_FIND, Q_REFUND_INSERT, Q_IDEM_FIND, Q_IDEM_INSERT, Q_MEMBER_SET_TIER, Q_MEMBER_ADD_SPEND,
	Q_MEMBER_SPEND_SINCE, Q_PURCHASE_ADD_SPEND, Q_STAMP_GET, Q_STAMP_SET, Q_BUDGET_GET,
	Q_BUDGET_ADD, Q_CERT_INSERT, Q_EVENT_INSERT, Q_DUE_MEMBERS, Q_JOB_GET, Q_CARD_INSERT,
	Q_CARD_GET, Q_CARD_BLOCK, Q_MEMBER_SET_CARD, Q_MEMBER_UPDATE, Q_MEMBER_ERASE, Q_CONSENT_LOG,
	Q_CONSENT_JSON, Q_CARDS_JSON, Q_BONUS_FIND, Q_BONUS_INSERT, Q_BONUS_COUNT, Q_REFERRAL_INSERT,
	Q_REFERRAL_GET, Q_REFERRAL_UPDATE, Q_REFERRALS_DUE, Q_COUPON_INSERT, Q_COUPON_GET,
	Q_COUPON_MEMBER_USES, Q_COUPON_USE, Q_COUPON_USES_INC, Q_COUPON_RELEASE_COUNT, Q_COUPON_RELEASE,
	Q_CERT_GET, Q_CERT_ISSUE, Q_CERT_MOVE, Q_CERT_BALANCE, Q_CERT_USES, Q_PURCHASE_SET_STATUS,
	Q_PURCHASE_STATUS, Q_PURCHASE_SET_EARN_LOT, Q_HOLDS_EXPIRED, Q_PURCHASE_BY_ID, Q_BORN_ON,
	Q_AUDIT, Q_PARTNER_GET, Q_PARTNER_UPDATE, Q_PARTNERS_LIST, Q_KEY_GET_ID, Q_KEY_REVOKE,
	Q_KEYS_LIST, Q_RECEIPT_ELSEWHERE, Q_SETTLEMENT, Q_CHARITY, Q_AUDIT_LIST, Q_JOB_SET,
	Q_MEMBER_BY_ID_LOCK, Q_MEMBER_BY_PHONE_LOCK, Q_MEMBER_BY_CARD_LOCK, Q_MEMBER_BY_EXTERNAL_LOCK,
	Q_MEMBER_BY_REFERRAL_LOCK, Q_BUDGET_ENSURE, Q_BUDGET_GET_LOCK, Q_REFERRAL_GET_LOCK,
	Q_COUPON_GET_LOCK, Q_CERT_GET_LOCK, Q_PURCHASE_STATUS_LOCK, Q_JOB_LOCK,
	Q_SUM_MEMBERS, Q_SUM_ACTIVE, Q_SUM_REPEAT, Q_SUM_REDEEMERS, Q_SUM_PURCHASES,
	Q_SUM_REFUNDED, Q_SUM_POINTS, Q_SUM_OUTSTANDING, Q_SUM_CHURNED,
	Q_COUNT
};

/* The common text of each statement; NULL for those a store must give itself. */
extern const char *const kp_sql_common[Q_COUNT];

#define MEMBER_SELECT                                                                    \
	"SELECT id, card, COALESCE(phone, ''), COALESCE(email, ''), COALESCE(name, ''), " \
	"COALESCE(birthday, ''), COALESCE(external_id, ''), referral_code, "              \
	"COALESCE(referred_by, 0), consents, created_at, available, pending, debt, tier, "  \
	"tier_since, lifetime_spend, COALESCE(erased_at, 0), segments FROM members "
#define LOT_SELECT                                                                       \
	"SELECT id, points, remaining, expires_at, available_at, COALESCE(purchase_id, 0), " \
	"pending FROM lots "
#define PURCHASE_SELECT                                                                  \
	"SELECT id, partner, receipt_id, COALESCE(member_id, 0), program_version, at, "      \
	"request_hash, subtotal, discount, points_redeemed, certificates, to_pay, "          \
	"points_earned, COALESCE(earn_lot_id, 0), answer, spend FROM purchases "
#define PARTNER_SELECT                                                                   \
	"SELECT id, name, active, COALESCE(earn_percent_bp, -1), COALESCE(accrual_cost, -1), " \
	"created_at FROM partners "

#endif
