/*
 * pg_int.h — internals shared by the PostgreSQL store's files: the
 * connection, the table of prepared statements and the helpers that run a
 * statement and read its result. Not for use outside src/store/.
 *
 * Invariants:
 * - A statement is prepared once per session (PQprepare), on first use, with
 *   parameter types taken from its signature ('i' = int8, 's' = text); after
 *   a reconnect every statement is prepared again.
 * - Inside a write transaction (begin … commit/rollback) the reads that
 *   decide a business operation lock their rows (SELECT … FOR UPDATE): the
 *   member, then coupons, certificates and campaign budgets, in the order
 *   the engine reads them. Readers never lock.
 * - A connection lost inside a transaction stays failed (KP_EBUSY) until
 *   rollback: it is never silently reopened in the middle of a transaction,
 *   which would commit the rest of the work on its own.
 */
#ifndef KP_STORE_PG_INT_H
#define KP_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdarg.h>

#include "store/pg_open.h"
#include "store/sql.h"
#include "store/store.h"


/* The statements whose PostgreSQL text differs from kp_sql_common (pg_sql.c). */
extern const char *const kp_pg_sql[Q_COUNT];

struct pg_conn {
	struct kp_conn base; /* first: a struct kp_conn * is a struct pg_conn * */
	PGconn *db;
	bool prepared[Q_COUNT];
	bool in_txn;   /* a transaction is open (read or write) */
	bool in_write; /* it is a write transaction: decisive reads lock rows */
	bool lost;     /* the session broke inside the open transaction */
};

/* A result being read row by row; row −1 before the first pg_next(). */
struct pg_res {
	PGresult *r;
	int row, rows;
};

extern const struct kp_store_ops kp_pg_ops;


/*
 * Run statement id with parameters by signature ('i' int64_t, 's' const
 * char *, NULL = SQL NULL). With res, the rows are kept there for pg_next
 * (pg_clear them); without, they are dropped. Returns 0 or a KP_E* code:
 * KP_ECONFLICT (unique violation), KP_ERETRY (serialization failure,
 * deadlock), KP_EBUSY (the database is unreachable), KP_ESTORE.
 */
int pg_run(struct pg_conn *c, enum kp_sql id, struct pg_res *res, const char *sig, ...);
/* Run and position on the first row: KP_ENOTFOUND when there is none. */
int pg_one(struct pg_conn *c, enum kp_sql id, struct pg_res *res, const char *sig, ...);
/* Run a statement that must change exactly one row: KP_ENOTFOUND if none did. */
int pg_exec_one(struct pg_conn *c, enum kp_sql id, const char *sig, ...);
/* Run a plain SQL text outside the prepared table (transactions, migrations). */
int pg_simple(struct pg_conn *c, const char *sql);

bool pg_next(struct pg_res *r);
void pg_clear(struct pg_res *r);
int64_t pg_int(const struct pg_res *r, int col); /* NULL = 0; 't'/'f' = 1/0 */
void pg_text(const struct pg_res *r, int col, char *dst, size_t cap);
char *pg_dup(const struct pg_res *r, int col); /* malloc'ed; NULL if out of memory */
const char *pg_str(const struct pg_res *r, int col); /* valid until pg_clear */
bool pg_null(const struct pg_res *r, int col);

/* The operations of the function table, by file (pg_members.c, pg_ledger.c, pg_more.c). */
int pg_program_insert(struct kp_conn *c, const char *doc, int64_t now, int64_t *version);
int pg_program_get(struct kp_conn *c, int64_t version, int64_t *version_out, char **doc);
int pg_partner_insert(struct kp_conn *c, const char *id, const char *name, int64_t now);
int pg_partner_exists(struct kp_conn *c, const char *id);
int pg_key_insert(struct kp_conn *c, struct kp_key_row *key);
int pg_key_find(struct kp_conn *c, const char *hash, struct kp_key_row *out);
int pg_member_insert(struct kp_conn *c, struct kp_member_row *m);
int pg_member_get(struct kp_conn *c, enum kp_member_key by, const char *value,
		  struct kp_member_row *out);
int pg_member_get_id(struct kp_conn *c, int64_t id, struct kp_member_row *out);
int pg_member_ids(struct kp_conn *c, int64_t after_id, int64_t *ids, size_t cap, size_t *n);
int pg_member_set_balances(struct kp_conn *c, int64_t id, int64_t available, int64_t pending,
			   int64_t debt);
int pg_lots_load(struct kp_conn *c, int64_t member_id, const int64_t *extra, size_t n_extra,
		 struct kp_lot *lots, size_t cap, size_t *n);
int pg_lots_count_open(struct kp_conn *c, int64_t member_id, size_t *n);
int pg_lot_next_id(struct kp_conn *c, int64_t *id);
int pg_lot_insert(struct kp_conn *c, int64_t member_id, const struct kp_lot *lot, int64_t now);
int pg_lot_update(struct kp_conn *c, const struct kp_lot *lot);
int pg_transfer_insert(struct kp_conn *c, struct kp_transfer_row *t);
int pg_history(struct kp_conn *c, int64_t member_id, int64_t before_id,
	       struct kp_history_row *rows, size_t cap, size_t *n);
int pg_purchase_spent_lots(struct kp_conn *c, int64_t purchase_id, struct kp_spent_lot *out,
			   size_t cap, size_t *n);
int pg_purchase_find(struct kp_conn *c, const char *partner, const char *receipt_id,
		     struct kp_purchase_row *out, char **answer);
int pg_purchase_next_id(struct kp_conn *c, int64_t *id);
int pg_purchase_insert(struct kp_conn *c, struct kp_purchase_row *p,
		       const struct kp_purchase_line_row *lines, size_t n_lines, const char *answer);
int pg_purchase_set_answer(struct kp_conn *c, int64_t id, const char *answer);
int pg_purchase_lines(struct kp_conn *c, int64_t purchase_id, struct kp_purchase_line_row *out,
		      size_t cap, size_t *n);
int pg_purchase_set_lines(struct kp_conn *c, int64_t purchase_id,
			  const struct kp_purchase_line_row *lines, size_t n);
int pg_purchase_refunds_json(struct kp_conn *c, int64_t purchase_id, char **json);
int pg_refund_find(struct kp_conn *c, const char *partner, const char *refund_id,
		   struct kp_refund_row *out, char **answer);
int pg_refund_insert(struct kp_conn *c, struct kp_refund_row *r, const char *answer);
int pg_idem_find(struct kp_conn *c, const char *scope, const char *key,
		 char hash_out[KP_HASH_HEX], int *status, char **answer);
int pg_idem_insert(struct kp_conn *c, const char *scope, const char *key, const char *hash,
		   int status, const char *answer, int64_t now);
int pg_verify(struct kp_conn *c, struct kp_verify_report *report);
int pg_member_set_tier(struct kp_conn *c, int64_t id, const char *tier, int64_t since);
int pg_member_add_spend(struct kp_conn *c, int64_t id, int64_t delta);
int pg_member_spend_since(struct kp_conn *c, int64_t id, int64_t since, int64_t *spend);
int pg_purchase_add_spend(struct kp_conn *c, int64_t purchase_id, int64_t delta);
int pg_stamp_get(struct kp_conn *c, int64_t member_id, const char *card, int64_t *count);
int pg_stamp_set(struct kp_conn *c, int64_t member_id, const char *card, int64_t count);
int pg_budget_spent(struct kp_conn *c, const char *campaign, int64_t *spent);
int pg_budget_add(struct kp_conn *c, const char *campaign, int64_t points);
int pg_certificate_insert(struct kp_conn *c, const char *code, int64_t amount, int64_t member_id,
			  const char *source, int64_t now);
int pg_event_insert(struct kp_conn *c, int64_t member_id, const char *kind, const char *ref,
		    const char *payload, int64_t now);
int pg_members_with_due_lots(struct kp_conn *c, int64_t now, int64_t remind_until,
			     int64_t after_id, int64_t *ids, size_t cap, size_t *n);
int pg_job_period_get(struct kp_conn *c, const char *job, char *period, size_t cap);
int pg_job_period_set(struct kp_conn *c, const char *job, const char *period);
int pg_card_insert(struct kp_conn *c, const char *card, int64_t member_id, int64_t now);
int pg_card_get(struct kp_conn *c, const char *card, struct kp_card_row *out);
int pg_card_block(struct kp_conn *c, const char *card, int64_t now);
int pg_member_set_card(struct kp_conn *c, int64_t member_id, const char *card);
int pg_member_update(struct kp_conn *c, const struct kp_member_row *m);
int pg_member_erase(struct kp_conn *c, int64_t member_id, int64_t now);
int pg_consent_log(struct kp_conn *c, int64_t member_id, const char *consent, bool granted,
		   int64_t now, int64_t key_id);
int pg_consent_history_json(struct kp_conn *c, int64_t member_id, char **json);
int pg_member_cards_json(struct kp_conn *c, int64_t member_id, char **json);
int pg_bonus_find(struct kp_conn *c, int64_t member_id, const char *event_id,
		  char hash_out[KP_HASH_HEX], char **answer);
int pg_bonus_insert(struct kp_conn *c, int64_t member_id, const char *type, const char *event_id,
		    int64_t points, int64_t now, const char *hash, const char *answer);
int pg_bonus_count(struct kp_conn *c, int64_t member_id, const char *type, int64_t since,
		   int64_t *n);
int pg_members_born_on(struct kp_conn *c, const char *mmdd1, const char *mmdd2, int64_t after,
		       int64_t *ids, size_t cap, size_t *n);
int pg_referral_insert(struct kp_conn *c, int64_t referee_id, int64_t referrer_id);
int pg_referral_get(struct kp_conn *c, int64_t referee_id, struct kp_referral_row *out);
int pg_referral_update(struct kp_conn *c, const struct kp_referral_row *r);
int pg_referrals_due(struct kp_conn *c, int64_t now, int64_t after, int64_t *ids, size_t cap,
		     size_t *n);
int pg_coupon_insert(struct kp_conn *c, const struct kp_coupon_row *coupon);
int pg_coupon_get(struct kp_conn *c, const char *code, struct kp_coupon_row *out);
int pg_coupon_member_uses(struct kp_conn *c, const char *code, int64_t member_id, int64_t *n);
int pg_coupon_use(struct kp_conn *c, const char *code, int64_t purchase_id, int64_t member_id,
		  int64_t now);
int pg_coupon_release_purchase(struct kp_conn *c, int64_t purchase_id);
int pg_certificate_get(struct kp_conn *c, const char *code, struct kp_certificate_row *out);
int pg_certificate_issue(struct kp_conn *c, const struct kp_certificate_row *cert);
int pg_certificate_move(struct kp_conn *c, const char *code, int64_t purchase_id,
			int64_t refund_id, int64_t amount, int64_t now);
int pg_certificate_uses(struct kp_conn *c, int64_t purchase_id, struct kp_certificate_use *out,
			size_t cap, size_t *n);
int pg_purchase_set_status(struct kp_conn *c, int64_t purchase_id, const char *status);
int pg_purchase_status(struct kp_conn *c, int64_t purchase_id, char status[16],
		       int64_t *hold_expires_at);
int pg_purchase_set_earn_lot(struct kp_conn *c, int64_t purchase_id, int64_t lot_id);
int pg_holds_expired(struct kp_conn *c, int64_t now, int64_t after, int64_t *ids, size_t cap,
		     size_t *n);
int pg_purchase_by_id(struct kp_conn *c, int64_t id, struct kp_purchase_row *out, char **answer);
int pg_audit(struct kp_conn *c, int64_t key_id, const char *action, const char *target,
	     const char *details, int64_t now);
int pg_partner_get(struct kp_conn *c, const char *id, struct kp_partner_row *out);
int pg_partner_update(struct kp_conn *c, const struct kp_partner_row *p);
int pg_partners_list(struct kp_conn *c, struct kp_partner_row *out, size_t cap, size_t *n);
int pg_key_get_id(struct kp_conn *c, int64_t id, struct kp_key_row *out);
int pg_key_revoke(struct kp_conn *c, int64_t id, int64_t now);
int pg_keys_list(struct kp_conn *c, int64_t after_id, struct kp_key_row *out, size_t cap,
		 size_t *n);
int pg_receipt_elsewhere(struct kp_conn *c, const char *partner, const char *receipt_id);
int pg_settlement(struct kp_conn *c, int64_t from, int64_t to,
		  int (*fn)(void *arg, const struct kp_settlement_row *row), void *arg);
int pg_charity(struct kp_conn *c, int64_t from, int64_t to,
	       int (*fn)(void *arg, const struct kp_charity_row *row), void *arg);
int pg_audit_list(struct kp_conn *c, int64_t before_id, size_t limit,
		  int (*fn)(void *arg, const struct kp_audit_row *row), void *arg);

/* Run a statement that lists ids (column 0), at most cap. */
int pg_list_ids(struct pg_conn *c, enum kp_sql id, int64_t *ids, size_t cap, size_t *n,
		const char *sig, ...);

#endif
