/*
 * sqlite_int.h — internals shared by the SQLite store's files: the
 * connection struct, the table of prepared statements and the small helpers
 * that bind, step and copy. Not for use outside src/store/.
 */
#ifndef KP_STORE_SQLITE_INT_H
#define KP_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdarg.h>
#include <sys/types.h>

#include "store/sql.h"
#include "store/store.h"


struct sqlite_conn {
	struct kp_conn base; /* first: a struct kp_conn * is a struct sqlite_conn * */
	sqlite3 *db;
	sqlite3_stmt *stmts[Q_COUNT];
	int64_t wal_frames;  /* the writer: pages in the WAL after its last commit */
	int64_t page_size;   /* the writer and the checkpointer: bytes per page */
	int64_t wal_retry_frames; /* the writer: bound_log was busy; wait for this size */
	/* The writer's WAL file, for sync_log: its path (set by writer_mode) and
	 * a descriptor of it (sync_log's thread only; -1 = not open yet). */
	char *wal_path;
	int wal_fd;
	dev_t wal_dev;
	ino_t wal_ino;
	/* The checkpointer: a descriptor of the database file (-1 = not open
	 * yet), when it last started a slice of the file's write-back and which
	 * slice is next (sqlite.c, write_back_slice), and the log's frames at
	 * its last checkpoint. */
	int db_fd;
	int64_t writeback_ns;
	int writeback_slice;
	int64_t writeback_slice_bytes;
	int ckpt_frames;
	int ckpt_skips; /* calls to skip: the log was past its bound (sqlite_checkpoint) */
	/* Ids handed out in this transaction: the next ones, 0 = ask the table.
	 * A transaction holds the write lock from its first write, so no one
	 * else adds rows meanwhile; every begin and rollback forgets them. */
	int64_t next_lot_id, next_purchase_id;
	/* Whether compiling "PRAGMA defer_foreign_keys = ON" sets the flag
	 * (sqlite.c, defer_foreign_keys): 1, 0, or -1 until the first write
	 * transaction finds out. */
	int defer_by_compiling;
};

extern const struct kp_store_ops kp_sqlite_ops;

int sqlite_open(const char *path, bool create, struct kp_conn **out, char *err, size_t errlen);

/* Map an SQLite result code to a KP_E* code (and log the unexpected ones). */
int sqlite_error(struct sqlite_conn *c, int rc);
/* The prepared statement id (prepared on first use), or NULL. */
sqlite3_stmt *sqlite_stmt(struct sqlite_conn *c, enum kp_sql id);
/* Reset id and bind its parameters by signature: 'i' int64_t, 's' string (NULL = NULL). */
sqlite3_stmt *sqlite_bind(struct sqlite_conn *c, enum kp_sql id, const char *sig, ...);
/* Step a bound statement to completion: 0 or an error. NULL st = KP_ESTORE. */
int sqlite_exec_stmt(struct sqlite_conn *c, sqlite3_stmt *st);
/* Step once: 0 with a row to read (reset it when done), KP_ENOTFOUND, or an error. */
int sqlite_step_row(struct sqlite_conn *c, sqlite3_stmt *st);
void sqlite_copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap);
char *sqlite_dup_text(sqlite3_stmt *st, int col); /* malloc'ed; NULL if out of memory */

/* The operations of the function table, by file. */
int sqlite_program_insert(struct kp_conn *c, const char *doc, int64_t now, int64_t *version);
int sqlite_program_get(struct kp_conn *c, int64_t version, int64_t *version_out, char **doc);
int sqlite_partner_insert(struct kp_conn *c, const char *id, const char *name, int64_t now);
int sqlite_partner_exists(struct kp_conn *c, const char *id);
int sqlite_key_insert(struct kp_conn *c, struct kp_key_row *key);
int sqlite_key_find(struct kp_conn *c, const char *hash, struct kp_key_row *out);
int sqlite_member_insert(struct kp_conn *c, struct kp_member_row *m);
int sqlite_member_get(struct kp_conn *c, enum kp_member_key by, const char *value,
		      struct kp_member_row *out);
int sqlite_member_get_id(struct kp_conn *c, int64_t id, struct kp_member_row *out);
int sqlite_member_ids(struct kp_conn *c, int64_t after_id, int64_t *ids, size_t cap, size_t *n);
int sqlite_member_set_balances(struct kp_conn *c, int64_t id, int64_t available,
			       int64_t pending, int64_t debt);
int sqlite_lots_load(struct kp_conn *c, int64_t member_id, const int64_t *extra, size_t n_extra,
		     struct kp_lot *lots, size_t cap, size_t *n);
int sqlite_lots_count_open(struct kp_conn *c, int64_t member_id, size_t *n);
int sqlite_lot_next_id(struct kp_conn *c, int64_t *id);
int sqlite_lot_insert(struct kp_conn *c, int64_t member_id, const struct kp_lot *lot, int64_t now);
int sqlite_lot_update(struct kp_conn *c, const struct kp_lot *lot);
int sqlite_transfer_insert(struct kp_conn *c, struct kp_transfer_row *t);
int sqlite_history(struct kp_conn *c, int64_t member_id, int64_t before_id,
		   struct kp_history_row *rows, size_t cap, size_t *n);
int sqlite_purchase_spent_lots(struct kp_conn *c, int64_t purchase_id, struct kp_spent_lot *out,
			       size_t cap, size_t *n);
int sqlite_purchase_find(struct kp_conn *c, const char *partner, const char *receipt_id,
			 struct kp_purchase_row *out, char **answer);
int sqlite_purchase_next_id(struct kp_conn *c, int64_t *id);
int sqlite_purchase_insert(struct kp_conn *c, struct kp_purchase_row *p,
			   const struct kp_purchase_line_row *lines, size_t n_lines,
			   const char *answer);
int sqlite_purchase_set_answer(struct kp_conn *c, int64_t id, const char *answer);
int sqlite_purchase_lines(struct kp_conn *c, int64_t purchase_id,
			  struct kp_purchase_line_row *out, size_t cap, size_t *n);
int sqlite_purchase_set_lines(struct kp_conn *c, int64_t purchase_id,
			      const struct kp_purchase_line_row *lines, size_t n);
int sqlite_purchase_refunds_json(struct kp_conn *c, int64_t purchase_id, char **json);
int sqlite_refund_find(struct kp_conn *c, const char *partner, const char *refund_id,
		       struct kp_refund_row *out, char **answer);
int sqlite_refund_insert(struct kp_conn *c, struct kp_refund_row *r, const char *answer);
int sqlite_idem_find(struct kp_conn *c, const char *scope, const char *key,
		     char hash_out[KP_HASH_HEX], int *status, char **answer);
int sqlite_idem_insert(struct kp_conn *c, const char *scope, const char *key, const char *hash,
		       int status, const char *answer, int64_t now);
int sqlite_verify(struct kp_conn *c, struct kp_verify_report *report);
int sqlite_ints(struct kp_conn *c, enum kp_sql id, const int64_t *params, size_t n_params,
		int64_t *out, size_t n_out);
int sqlite_member_set_tier(struct kp_conn *c, int64_t id, const char *tier, int64_t since);
int sqlite_member_add_spend(struct kp_conn *c, int64_t id, int64_t delta);
int sqlite_member_spend_since(struct kp_conn *c, int64_t id, int64_t since, int64_t *spend);
int sqlite_purchase_add_spend(struct kp_conn *c, int64_t purchase_id, int64_t delta);
int sqlite_stamp_get(struct kp_conn *c, int64_t member_id, const char *card, int64_t *count);
int sqlite_stamp_set(struct kp_conn *c, int64_t member_id, const char *card, int64_t count);
int sqlite_budget_spent(struct kp_conn *c, const char *campaign, int64_t *spent);
int sqlite_budget_add(struct kp_conn *c, const char *campaign, int64_t points);
int sqlite_certificate_insert(struct kp_conn *c, const char *code, int64_t amount,
			      int64_t member_id, const char *source, int64_t now);
int sqlite_event_insert(struct kp_conn *c, int64_t member_id, const char *kind, const char *ref,
			const char *payload, int64_t now);
int sqlite_members_with_due_lots(struct kp_conn *c, int64_t now, int64_t remind_until,
				 int64_t after_id, int64_t *ids, size_t cap, size_t *n);
int sqlite_job_period_get(struct kp_conn *c, const char *job, char *period, size_t cap);
int sqlite_job_period_set(struct kp_conn *c, const char *job, const char *period);
int sqlite_card_insert(struct kp_conn *c, const char *card, int64_t member_id, int64_t now);
int sqlite_card_get(struct kp_conn *c, const char *card, struct kp_card_row *out);
int sqlite_card_block(struct kp_conn *c, const char *card, int64_t now);
int sqlite_member_set_card(struct kp_conn *c, int64_t member_id, const char *card);
int sqlite_member_update(struct kp_conn *c, const struct kp_member_row *m);
int sqlite_member_erase(struct kp_conn *c, int64_t member_id, int64_t now);
int sqlite_consent_log(struct kp_conn *c, int64_t member_id, const char *consent, bool granted,
		       int64_t now, int64_t key_id);
int sqlite_consent_history_json(struct kp_conn *c, int64_t member_id, char **json);
int sqlite_member_cards_json(struct kp_conn *c, int64_t member_id, char **json);
int sqlite_bonus_find(struct kp_conn *c, int64_t member_id, const char *event_id,
		      char hash_out[KP_HASH_HEX], char **answer);
int sqlite_bonus_insert(struct kp_conn *c, int64_t member_id, const char *type,
			const char *event_id, int64_t points, int64_t now, const char *hash,
			const char *answer);
int sqlite_bonus_count(struct kp_conn *c, int64_t member_id, const char *type, int64_t since,
		       int64_t *n);
int sqlite_members_born_on(struct kp_conn *c, const char *mmdd1, const char *mmdd2,
			   int64_t after, int64_t *ids, size_t cap, size_t *n);
int sqlite_referral_insert(struct kp_conn *c, int64_t referee_id, int64_t referrer_id);
int sqlite_referral_get(struct kp_conn *c, int64_t referee_id, struct kp_referral_row *out);
int sqlite_referral_update(struct kp_conn *c, const struct kp_referral_row *r);
int sqlite_referrals_due(struct kp_conn *c, int64_t now, int64_t after, int64_t *ids, size_t cap,
			 size_t *n);
int sqlite_coupon_insert(struct kp_conn *c, const struct kp_coupon_row *coupon);
int sqlite_coupon_get(struct kp_conn *c, const char *code, struct kp_coupon_row *out);
int sqlite_coupon_member_uses(struct kp_conn *c, const char *code, int64_t member_id, int64_t *n);
int sqlite_coupon_use(struct kp_conn *c, const char *code, int64_t purchase_id, int64_t member_id,
		      int64_t now);
int sqlite_coupon_release_purchase(struct kp_conn *c, int64_t purchase_id);
int sqlite_certificate_get(struct kp_conn *c, const char *code, struct kp_certificate_row *out);
int sqlite_certificate_issue(struct kp_conn *c, const struct kp_certificate_row *cert);
int sqlite_certificate_move(struct kp_conn *c, const char *code, int64_t purchase_id,
			    int64_t refund_id, int64_t amount, int64_t now);
int sqlite_certificate_uses(struct kp_conn *c, int64_t purchase_id,
			    struct kp_certificate_use *out, size_t cap, size_t *n);
int sqlite_purchase_set_status(struct kp_conn *c, int64_t purchase_id, const char *status);
int sqlite_purchase_status(struct kp_conn *c, int64_t purchase_id, char status[16],
			   int64_t *hold_expires_at);
int sqlite_purchase_set_earn_lot(struct kp_conn *c, int64_t purchase_id, int64_t lot_id);
int sqlite_holds_expired(struct kp_conn *c, int64_t now, int64_t after, int64_t *ids, size_t cap,
			 size_t *n);
int sqlite_purchase_by_id(struct kp_conn *c, int64_t id, struct kp_purchase_row *out,
			  char **answer);
int sqlite_audit(struct kp_conn *c, int64_t key_id, const char *action, const char *target,
		 const char *details, int64_t now);
/* coalitions and charity (sqlite_reports.c); see store.h */
int sqlite_partner_get(struct kp_conn *c, const char *id, struct kp_partner_row *out);
int sqlite_partner_update(struct kp_conn *c, const struct kp_partner_row *p);
int sqlite_partners_list(struct kp_conn *c, struct kp_partner_row *out, size_t cap, size_t *n);
int sqlite_key_get_id(struct kp_conn *c, int64_t id, struct kp_key_row *out);
int sqlite_key_revoke(struct kp_conn *c, int64_t id, int64_t now);
int sqlite_keys_list(struct kp_conn *c, int64_t after_id, struct kp_key_row *out, size_t cap,
		     size_t *n);
int sqlite_receipt_elsewhere(struct kp_conn *c, const char *partner, const char *receipt_id);
int sqlite_settlement(struct kp_conn *c, int64_t from, int64_t to,
		      int (*fn)(void *arg, const struct kp_settlement_row *row), void *arg);
int sqlite_charity(struct kp_conn *c, int64_t from, int64_t to,
		   int (*fn)(void *arg, const struct kp_charity_row *row), void *arg);
int sqlite_audit_list(struct kp_conn *c, int64_t before_id, size_t limit,
		      int (*fn)(void *arg, const struct kp_audit_row *row), void *arg);
/* Step a statement that lists ids: append up to cap of column 0 to ids. */
int sqlite_list_ids(struct sqlite_conn *c, sqlite3_stmt *st, int64_t *ids, size_t cap, size_t *n);
int sqlite_read_purchase(struct sqlite_conn *c, sqlite3_stmt *st, struct kp_purchase_row *out,
			 char **answer);

#endif
