/*
 * sqlite_int.h — internals shared by the SQLite store's files: the
 * connection struct, the table of prepared statements and the small helpers
 * that bind, step and copy. Not for use outside src/store/.
 */
#ifndef KP_STORE_SQLITE_INT_H
#define KP_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdarg.h>

#include "store/store.h"

#define MEMBER_SELECT                                                                  \
	"SELECT id, card, COALESCE(phone, ''), COALESCE(email, ''), COALESCE(name, ''), " \
	"COALESCE(birthday, ''), COALESCE(external_id, ''), referral_code, "              \
	"COALESCE(referred_by, 0), consents, created_at, available, pending, debt FROM members "
#define LOT_SELECT                                                                       \
	"SELECT id, points, remaining, expires_at, available_at, COALESCE(purchase_id, 0), " \
	"pending FROM lots "
#define PURCHASE_SELECT                                                                  \
	"SELECT id, partner, receipt_id, COALESCE(member_id, 0), program_version, at, "      \
	"request_hash, subtotal, discount, points_redeemed, certificates, to_pay, "          \
	"points_earned, COALESCE(earn_lot_id, 0), answer FROM purchases "

enum stmt_id {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_PROGRAM_INSERT, S_PROGRAM_GET, S_PROGRAM_LATEST,
	S_PARTNER_INSERT, S_PARTNER_EXISTS, S_KEY_INSERT, S_KEY_FIND,
	S_MEMBER_INSERT, S_MEMBER_BY_ID, S_MEMBER_BY_PHONE, S_MEMBER_BY_CARD,
	S_MEMBER_BY_EXTERNAL, S_MEMBER_BY_REFERRAL, S_MEMBER_IDS, S_MEMBER_SET_BALANCES,
	S_LOTS_OPEN, S_LOT_BY_ID, S_LOTS_COUNT_OPEN, S_LOT_NEXT_ID, S_LOT_INSERT, S_LOT_UPDATE,
	S_TRANSFER_INSERT, S_HISTORY, S_SPENT_LOTS,
	S_PURCHASE_FIND, S_PURCHASE_INSERT, S_PURCHASE_SET_ANSWER, S_LINE_INSERT, S_LINES,
	S_LINE_REFUND, S_REFUNDS_JSON, S_REFUND_FIND, S_REFUND_INSERT,
	S_IDEM_FIND, S_IDEM_INSERT,
	S_COUNT
};

struct sqlite_conn {
	struct kp_conn base; /* first: a struct kp_conn * is a struct sqlite_conn * */
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
};

extern const struct kp_store_ops kp_sqlite_ops;

int sqlite_open(const char *path, bool create, struct kp_conn **out, char *err, size_t errlen);

/* Map an SQLite result code to a KP_E* code (and log the unexpected ones). */
int sqlite_error(struct sqlite_conn *c, int rc);
/* The prepared statement id (prepared on first use), or NULL. */
sqlite3_stmt *sqlite_stmt(struct sqlite_conn *c, enum stmt_id id);
/* Reset id and bind its parameters by signature: 'i' int64_t, 's' string (NULL = NULL). */
sqlite3_stmt *sqlite_bind(struct sqlite_conn *c, enum stmt_id id, const char *sig, ...);
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
int sqlite_purchase_insert(struct kp_conn *c, struct kp_purchase_row *p, const char *answer);
int sqlite_purchase_set_answer(struct kp_conn *c, int64_t id, const char *answer);
int sqlite_purchase_line_insert(struct kp_conn *c, int64_t purchase_id,
				const struct kp_purchase_line_row *line);
int sqlite_purchase_lines(struct kp_conn *c, int64_t purchase_id,
			  struct kp_purchase_line_row *out, size_t cap, size_t *n);
int sqlite_purchase_line_refund(struct kp_conn *c, int64_t purchase_id, int64_t line_no,
				int64_t refunded_qty);
int sqlite_purchase_refunds_json(struct kp_conn *c, int64_t purchase_id, char **json);
int sqlite_refund_find(struct kp_conn *c, const char *partner, const char *refund_id,
		       struct kp_refund_row *out, char **answer);
int sqlite_refund_insert(struct kp_conn *c, struct kp_refund_row *r, const char *answer);
int sqlite_idem_find(struct kp_conn *c, const char *scope, const char *key,
		     char hash_out[KP_HASH_HEX], int *status, char **answer);
int sqlite_idem_insert(struct kp_conn *c, const char *scope, const char *key, const char *hash,
		       int status, const char *answer, int64_t now);
int sqlite_verify(struct kp_conn *c, struct kp_verify_report *report);

#endif
