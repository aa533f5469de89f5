/*
 * sqlite_ledger.c — lots, transfers, purchases, refunds and kept answers on SQLite.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/lines_json.h"
#include "store/sqlite_int.h"
#include "util/error.h"

#define CONN(base) ((struct sqlite_conn *)(base))

static void read_lot(sqlite3_stmt *st, struct kp_lot *lot)
{
	memset(lot, 0, sizeof *lot);
	lot->id = sqlite3_column_int64(st, 0);
	lot->points = sqlite3_column_int64(st, 1);
	lot->remaining = sqlite3_column_int64(st, 2);
	lot->expires_at = sqlite3_column_int64(st, 3);
	lot->available_at = sqlite3_column_int64(st, 4);
	lot->purchase_id = sqlite3_column_int64(st, 5);
	lot->pending = sqlite3_column_int64(st, 6) != 0;
	assert(lot->id > 0 && lot->remaining >= 0);
}

static bool has_lot(const struct kp_lot *lots, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (lots[i].id == id)
			return true;
	return false;
}

int sqlite_lots_load(struct kp_conn *base, int64_t member_id, const int64_t *extra, size_t n_extra,
		     struct kp_lot *lots, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(lots && n && *n <= cap);
	sqlite3_stmt *st = sqlite_bind(c, Q_LOTS_OPEN, "i", member_id);
	if (!st)
		return KP_ESTORE;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			sqlite3_reset(st);
			return KP_ETOOLARGE;
		}
		read_lot(st, &lots[(*n)++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_error(c, rc);
	for (size_t i = 0; i < n_extra; i++) {
		if (has_lot(lots, *n, extra[i]))
			continue;
		if (*n == cap)
			return KP_ETOOLARGE;
		st = sqlite_bind(c, Q_LOT_BY_ID, "ii", extra[i], member_id);
		if ((rc = sqlite_step_row(c, st)))
			return rc;
		read_lot(st, &lots[(*n)++]);
		sqlite3_reset(st);
	}
	return 0;
}

int sqlite_lots_count_open(struct kp_conn *base, int64_t member_id, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_LOTS_COUNT_OPEN, "i", member_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*n = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/* MAX(id) + 1 of a table once per transaction, then counting on from there. */
static int next_id(struct sqlite_conn *c, enum kp_sql q, int64_t *next, int64_t *id)
{
	if (*next == 0) {
		sqlite3_stmt *st = sqlite_bind(c, q, "");
		int rc = sqlite_step_row(c, st);
		if (rc)
			return rc;
		*next = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	assert(*next > 0);
	*id = (*next)++;
	return 0;
}

int sqlite_lot_next_id(struct kp_conn *base, int64_t *id)
{
	struct sqlite_conn *c = CONN(base);
	return next_id(c, Q_LOT_NEXT_ID, &c->next_lot_id, id);
}

int sqlite_lot_insert(struct kp_conn *base, int64_t member_id, const struct kp_lot *lot,
		      int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(lot && lot->id > 0 && lot->points > 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_LOT_INSERT, "iiiiiiiii", lot->id, member_id,
					       lot->points, lot->remaining, lot->expires_at,
					       lot->available_at, (int64_t)lot->pending,
					       lot->purchase_id, now));
}

int sqlite_lot_update(struct kp_conn *base, const struct kp_lot *lot)
{
	struct sqlite_conn *c = CONN(base);
	assert(lot && lot->id > 0 && lot->remaining >= 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_LOT_UPDATE, "iii", lot->remaining,
					       (int64_t)lot->pending, lot->id));
}

int sqlite_transfer_insert(struct kp_conn *base, struct kp_transfer_row *t)
{
	struct sqlite_conn *c = CONN(base);
	assert(t && t->posting.points > 0);
	const struct kp_posting *p = &t->posting;
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_TRANSFER_INSERT, "iiiiiiiiis", t->at,
						 t->member_id, (int64_t)p->entry,
						 (int64_t)p->from, (int64_t)p->to, p->points,
						 p->lot_id, t->purchase_id, t->refund_id,
						 t->ref[0] ? t->ref : NULL));
	if (!rc)
		t->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int sqlite_history(struct kp_conn *base, int64_t member_id, int64_t before_id,
		   struct kp_history_row *rows, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(rows && n && cap > 0);
	sqlite3_stmt *st = sqlite_bind(c, Q_HISTORY, "iii", member_id,
				       before_id > 0 ? before_id : INT64_MAX, (int64_t)cap);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
		struct kp_history_row *r = &rows[(*n)++];
		r->id = sqlite3_column_int64(st, 0);
		r->at = sqlite3_column_int64(st, 1);
		r->entry = (enum kp_entry)sqlite3_column_int(st, 2);
		r->from = (enum kp_account)sqlite3_column_int(st, 3);
		r->to = (enum kp_account)sqlite3_column_int(st, 4);
		r->points = sqlite3_column_int64(st, 5);
		sqlite_copy_text(st, 6, r->ref, sizeof r->ref);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_error(c, rc);
}

int sqlite_purchase_spent_lots(struct kp_conn *base, int64_t purchase_id, struct kp_spent_lot *out,
			       size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(out && n);
	sqlite3_stmt *st = sqlite_bind(c, Q_SPENT_LOTS, "i", purchase_id);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			sqlite3_reset(st);
			return KP_ETOOLARGE;
		}
		struct kp_spent_lot *s = &out[(*n)++];
		s->lot_id = sqlite3_column_int64(st, 0);
		s->spent = sqlite3_column_int64(st, 1);
		s->returned = sqlite3_column_int64(st, 2);
		s->expires_at = sqlite3_column_int64(st, 3);
		assert(s->returned <= s->spent);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlite_error(c, rc);
}

int sqlite_read_purchase(struct sqlite_conn *c, sqlite3_stmt *st, struct kp_purchase_row *out,
			 char **answer)
{
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	sqlite_copy_text(st, 1, out->partner, sizeof out->partner);
	sqlite_copy_text(st, 2, out->receipt_id, sizeof out->receipt_id);
	out->member_id = sqlite3_column_int64(st, 3);
	out->program_version = sqlite3_column_int64(st, 4);
	out->at = sqlite3_column_int64(st, 5);
	sqlite_copy_text(st, 6, out->request_hash, sizeof out->request_hash);
	out->subtotal = sqlite3_column_int64(st, 7);
	out->discount = sqlite3_column_int64(st, 8);
	out->points_redeemed = sqlite3_column_int64(st, 9);
	out->certificates = sqlite3_column_int64(st, 10);
	out->to_pay = sqlite3_column_int64(st, 11);
	out->points_earned = sqlite3_column_int64(st, 12);
	out->earn_lot_id = sqlite3_column_int64(st, 13);
	out->spend = sqlite3_column_int64(st, 15);
	rc = 0;
	if (answer && !(*answer = sqlite_dup_text(st, 14)))
		rc = KP_ENOMEM;
	sqlite3_reset(st);
	return rc;
}

int sqlite_purchase_find(struct kp_conn *base, const char *partner, const char *receipt_id,
			 struct kp_purchase_row *out, char **answer)
{
	struct sqlite_conn *c = CONN(base);
	assert(partner && receipt_id && out);
	return sqlite_read_purchase(c, sqlite_bind(c, Q_PURCHASE_FIND, "ss", partner, receipt_id),
				    out, answer);
}

int sqlite_purchase_insert(struct kp_conn *base, struct kp_purchase_row *p,
			   const struct kp_purchase_line_row *lines, size_t n_lines,
			   const char *answer)
{
	struct sqlite_conn *c = CONN(base);
	assert(p && answer);
	char *text = kp_lines_json(lines, n_lines);
	if (!text)
		return KP_ENOMEM;
	int rc = sqlite_exec_stmt(
		c, sqlite_bind(c, Q_PURCHASE_INSERT, "issiiisiiiiiiisisis", p->id, p->partner,
			       p->receipt_id, p->member_id, p->program_version, p->at,
			       p->request_hash, p->subtotal, p->discount, p->points_redeemed,
			       p->certificates, p->to_pay, p->points_earned, p->earn_lot_id, answer,
			       p->spend, p->status[0] ? p->status : "committed",
			       p->hold_expires_at, text));
	free(text);
	if (!rc)
		p->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int sqlite_purchase_next_id(struct kp_conn *base, int64_t *id)
{
	struct sqlite_conn *c = CONN(base);
	return next_id(c, Q_PURCHASE_NEXT_ID, &c->next_purchase_id, id);
}

int sqlite_purchase_set_answer(struct kp_conn *base, int64_t id, const char *answer)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_PURCHASE_SET_ANSWER, "si", answer, id));
}

/* A purchase's lines from before migration 0011: a row each in purchase_lines. */
static int line_rows(struct sqlite_conn *c, int64_t purchase_id, struct kp_purchase_line_row *out,
		     size_t cap, size_t *n)
{
	sqlite3_stmt *st = sqlite_bind(c, Q_LINE_ROWS, "i", purchase_id);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			sqlite3_reset(st);
			return KP_ETOOLARGE;
		}
		struct kp_purchase_line_row *l = &out[(*n)++];
		l->line_no = sqlite3_column_int64(st, 0);
		sqlite_copy_text(st, 1, l->sku, sizeof l->sku);
		sqlite_copy_text(st, 2, l->category, sizeof l->category);
		l->qty = sqlite3_column_int64(st, 3);
		l->price = sqlite3_column_int64(st, 4);
		l->amount = sqlite3_column_int64(st, 5);
		l->discount = sqlite3_column_int64(st, 6);
		l->points = sqlite3_column_int64(st, 7);
		l->certificates = sqlite3_column_int64(st, 8);
		l->paid = sqlite3_column_int64(st, 9);
		l->earned = sqlite3_column_int64(st, 10);
		l->refunded_qty = sqlite3_column_int64(st, 11);
		sqlite_copy_text(st, 12, l->stamp_card, sizeof l->stamp_card);
		l->free_units = sqlite3_column_int64(st, 13);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlite_error(c, rc);
}

int sqlite_purchase_lines(struct kp_conn *base, int64_t purchase_id,
			  struct kp_purchase_line_row *out, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(out && n);
	*n = 0;
	sqlite3_stmt *st = sqlite_bind(c, Q_LINES, "i", purchase_id);
	if (!st)
		return KP_ESTORE;
	int rc = sqlite3_step(st);
	bool in_row = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (in_row)
		rc = kp_lines_parse((const char *)sqlite3_column_text(st, 0), out, cap, n);
	else
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_error(c, rc);
	sqlite3_reset(st);
	return rc || in_row ? rc : line_rows(c, purchase_id, out, cap, n);
}

/* The lines go into the purchase's row; one from before 0011 leaves its rows. */
int sqlite_purchase_set_lines(struct kp_conn *base, int64_t purchase_id,
			      const struct kp_purchase_line_row *lines, size_t n)
{
	struct sqlite_conn *c = CONN(base);
	char *text = kp_lines_json(lines, n);
	if (!text)
		return KP_ENOMEM;
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_LINES_SET, "si", text, purchase_id));
	free(text);
	if (!rc)
		rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_LINE_ROWS_DELETE, "i", purchase_id));
	return rc;
}

int sqlite_purchase_refunds_json(struct kp_conn *base, int64_t purchase_id, char **json)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_REFUNDS_JSON, "i", purchase_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*json = sqlite_dup_text(st, 0);
	sqlite3_reset(st);
	return *json ? 0 : KP_ENOMEM;
}

int sqlite_refund_find(struct kp_conn *base, const char *partner, const char *refund_id,
		       struct kp_refund_row *out, char **answer)
{
	struct sqlite_conn *c = CONN(base);
	assert(partner && refund_id && out);
	sqlite3_stmt *st = sqlite_bind(c, Q_REFUND_FIND, "ss", partner, refund_id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	sqlite_copy_text(st, 1, out->partner, sizeof out->partner);
	sqlite_copy_text(st, 2, out->refund_id, sizeof out->refund_id);
	out->purchase_id = sqlite3_column_int64(st, 3);
	out->at = sqlite3_column_int64(st, 4);
	sqlite_copy_text(st, 5, out->request_hash, sizeof out->request_hash);
	out->money_refund = sqlite3_column_int64(st, 6);
	out->points_reversed = sqlite3_column_int64(st, 7);
	out->points_returned = sqlite3_column_int64(st, 8);
	rc = 0;
	if (answer && !(*answer = sqlite_dup_text(st, 9)))
		rc = KP_ENOMEM;
	sqlite3_reset(st);
	return rc;
}

int sqlite_refund_insert(struct kp_conn *base, struct kp_refund_row *r, const char *answer)
{
	struct sqlite_conn *c = CONN(base);
	assert(r && answer);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_REFUND_INSERT, "ssiisiiisi", r->partner,
						 r->refund_id, r->purchase_id, r->at,
						 r->request_hash, r->money_refund,
						 r->points_reversed, r->points_returned, answer,
						 r->spend));
	if (!rc)
		r->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int sqlite_idem_find(struct kp_conn *base, const char *scope, const char *key,
		     char hash_out[KP_HASH_HEX], int *status, char **answer)
{
	struct sqlite_conn *c = CONN(base);
	assert(scope && key && status && answer);
	sqlite3_stmt *st = sqlite_bind(c, Q_IDEM_FIND, "ss", scope, key);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	sqlite_copy_text(st, 0, hash_out, KP_HASH_HEX);
	*status = sqlite3_column_int(st, 1);
	*answer = sqlite_dup_text(st, 2);
	sqlite3_reset(st);
	return *answer ? 0 : KP_ENOMEM;
}

int sqlite_idem_insert(struct kp_conn *base, const char *scope, const char *key, const char *hash,
		       int status, const char *answer, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(scope && key && hash && answer);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_IDEM_INSERT, "sssisi", scope, key, hash,
					       (int64_t)status, answer, now));
}
