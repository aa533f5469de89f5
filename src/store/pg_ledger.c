/*
 * pg_ledger.c — lots, transfers, purchases, refunds and kept answers on
 * PostgreSQL. The same contract and the same answers as sqlite_ledger.c.
 *
 * Ids come from the tables' identity sequences. A unique violation on a row
 * that carries an idempotency key (a purchase, a refund, a kept answer)
 * inside a write transaction means another server committed the same key
 * while this one was computing it: that is KP_ERETRY, so the writer runs the
 * batch again, finds the row and answers with the first answer.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/lines_json.h"
#include "store/pg_int.h"
#include "util/error.h"

#define CONN(base) ((struct pg_conn *)(base))

static int keyed_insert_error(const struct pg_conn *c, int rc)
{
	return rc == KP_ECONFLICT && c->in_write ? KP_ERETRY : rc;
}

static void read_lot(const struct pg_res *res, struct kp_lot *lot)
{
	memset(lot, 0, sizeof *lot);
	lot->id = pg_int(res, 0);
	lot->points = pg_int(res, 1);
	lot->remaining = pg_int(res, 2);
	lot->expires_at = pg_int(res, 3);
	lot->available_at = pg_int(res, 4);
	lot->purchase_id = pg_int(res, 5);
	lot->pending = pg_int(res, 6) != 0;
	assert(lot->id > 0 && lot->remaining >= 0);
}

static bool has_lot(const struct kp_lot *lots, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (lots[i].id == id)
			return true;
	return false;
}

int pg_lots_load(struct kp_conn *base, int64_t member_id, const int64_t *extra, size_t n_extra,
		 struct kp_lot *lots, size_t cap, size_t *n)
{
	struct pg_conn *c = CONN(base);
	assert(lots && n && *n <= cap);
	struct pg_res res;
	int rc = pg_run(c, Q_LOTS_OPEN, &res, "i", member_id);
	if (rc)
		return rc;
	while (!rc && pg_next(&res)) {
		if (*n == cap)
			rc = KP_ETOOLARGE;
		else
			read_lot(&res, &lots[(*n)++]);
	}
	pg_clear(&res);
	for (size_t i = 0; !rc && i < n_extra; i++) {
		if (has_lot(lots, *n, extra[i]))
			continue;
		if (*n == cap)
			return KP_ETOOLARGE;
		if ((rc = pg_one(c, Q_LOT_BY_ID, &res, "ii", extra[i], member_id)))
			return rc;
		read_lot(&res, &lots[(*n)++]);
		pg_clear(&res);
	}
	return rc;
}

/* One integer from a statement that returns one row. */
static int one_int(struct pg_conn *c, int rc, struct pg_res *res, int64_t *out)
{
	(void)c;
	if (rc)
		return rc;
	*out = pg_int(res, 0);
	pg_clear(res);
	return 0;
}

int pg_lots_count_open(struct kp_conn *base, int64_t member_id, size_t *n)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int64_t v = 0;
	int rc = one_int(c, pg_one(c, Q_LOTS_COUNT_OPEN, &res, "i", member_id), &res, &v);
	*n = (size_t)v;
	return rc;
}

int pg_lot_next_id(struct kp_conn *base, int64_t *id)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int rc = one_int(c, pg_one(c, Q_LOT_NEXT_ID, &res, ""), &res, id);
	assert(rc || *id > 0);
	return rc;
}

int pg_lot_insert(struct kp_conn *base, int64_t member_id, const struct kp_lot *lot, int64_t now)
{
	assert(lot && lot->id > 0 && lot->points > 0);
	return pg_run(CONN(base), Q_LOT_INSERT, NULL, "iiiiiiiii", lot->id, member_id,
		      lot->points, lot->remaining, lot->expires_at, lot->available_at,
		      (int64_t)lot->pending, lot->purchase_id, now);
}

int pg_lot_update(struct kp_conn *base, const struct kp_lot *lot)
{
	assert(lot && lot->id > 0 && lot->remaining >= 0);
	return pg_run(CONN(base), Q_LOT_UPDATE, NULL, "iii", lot->remaining,
		      (int64_t)lot->pending, lot->id);
}

int pg_transfer_insert(struct kp_conn *base, struct kp_transfer_row *t)
{
	struct pg_conn *c = CONN(base);
	assert(t && t->posting.points > 0);
	const struct kp_posting *p = &t->posting;
	struct pg_res res;
	int rc = pg_one(c, Q_TRANSFER_INSERT, &res, "iiiiiiiiis", t->at, t->member_id,
			(int64_t)p->entry, (int64_t)p->from, (int64_t)p->to, p->points, p->lot_id,
			t->purchase_id, t->refund_id, t->ref[0] ? t->ref : NULL);
	return one_int(c, rc, &res, &t->id);
}

int pg_history(struct kp_conn *base, int64_t member_id, int64_t before_id,
	       struct kp_history_row *rows, size_t cap, size_t *n)
{
	assert(rows && n && cap > 0);
	struct pg_res res;
	*n = 0;
	int rc = pg_run(CONN(base), Q_HISTORY, &res, "iii", member_id,
			before_id > 0 ? before_id : INT64_MAX, (int64_t)cap);
	if (rc)
		return rc;
	while (*n < cap && pg_next(&res)) {
		struct kp_history_row *r = &rows[(*n)++];
		r->id = pg_int(&res, 0);
		r->at = pg_int(&res, 1);
		r->entry = (enum kp_entry)pg_int(&res, 2);
		r->from = (enum kp_account)pg_int(&res, 3);
		r->to = (enum kp_account)pg_int(&res, 4);
		r->points = pg_int(&res, 5);
		pg_text(&res, 6, r->ref, sizeof r->ref);
	}
	pg_clear(&res);
	return 0;
}

int pg_purchase_spent_lots(struct kp_conn *base, int64_t purchase_id, struct kp_spent_lot *out,
			   size_t cap, size_t *n)
{
	assert(out && n);
	struct pg_res res;
	*n = 0;
	int rc = pg_run(CONN(base), Q_SPENT_LOTS, &res, "i", purchase_id);
	while (!rc && pg_next(&res)) {
		if (*n == cap) {
			rc = KP_ETOOLARGE;
			break;
		}
		struct kp_spent_lot *s = &out[(*n)++];
		s->lot_id = pg_int(&res, 0);
		s->spent = pg_int(&res, 1);
		s->returned = pg_int(&res, 2);
		s->expires_at = pg_int(&res, 3);
		assert(s->returned <= s->spent);
	}
	pg_clear(&res);
	return rc;
}

static int read_purchase(int rc, struct pg_res *res, struct kp_purchase_row *out, char **answer)
{
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	out->id = pg_int(res, 0);
	pg_text(res, 1, out->partner, sizeof out->partner);
	pg_text(res, 2, out->receipt_id, sizeof out->receipt_id);
	out->member_id = pg_int(res, 3);
	out->program_version = pg_int(res, 4);
	out->at = pg_int(res, 5);
	pg_text(res, 6, out->request_hash, sizeof out->request_hash);
	out->subtotal = pg_int(res, 7);
	out->discount = pg_int(res, 8);
	out->points_redeemed = pg_int(res, 9);
	out->certificates = pg_int(res, 10);
	out->to_pay = pg_int(res, 11);
	out->points_earned = pg_int(res, 12);
	out->earn_lot_id = pg_int(res, 13);
	out->spend = pg_int(res, 15);
	if (answer && !(*answer = pg_dup(res, 14)))
		rc = KP_ENOMEM;
	pg_clear(res);
	return rc;
}

int pg_purchase_find(struct kp_conn *base, const char *partner, const char *receipt_id,
		     struct kp_purchase_row *out, char **answer)
{
	assert(partner && receipt_id && out);
	struct pg_res res;
	return read_purchase(pg_one(CONN(base), Q_PURCHASE_FIND, &res, "ss", partner, receipt_id),
			     &res, out, answer);
}

int pg_purchase_by_id(struct kp_conn *base, int64_t id, struct kp_purchase_row *out,
		      char **answer)
{
	struct pg_res res;
	return read_purchase(pg_one(CONN(base), Q_PURCHASE_BY_ID, &res, "i", id), &res, out,
			     answer);
}

int pg_purchase_insert(struct kp_conn *base, struct kp_purchase_row *p,
		       const struct kp_purchase_line_row *lines, size_t n_lines, const char *answer)
{
	struct pg_conn *c = CONN(base);
	assert(p && answer);
	char *text = kp_lines_json(lines, n_lines);
	if (!text)
		return KP_ENOMEM;
	struct pg_res res;
	int rc = pg_one(c, Q_PURCHASE_INSERT, &res, "issiiisiiiiiiisisis", p->id, p->partner,
			p->receipt_id, p->member_id, p->program_version, p->at, p->request_hash,
			p->subtotal, p->discount, p->points_redeemed, p->certificates, p->to_pay,
			p->points_earned, p->earn_lot_id, answer, p->spend,
			p->status[0] ? p->status : "committed", p->hold_expires_at, text);
	free(text);
	return keyed_insert_error(c, one_int(c, rc, &res, &p->id));
}

int pg_purchase_next_id(struct kp_conn *base, int64_t *id)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	return one_int(c, pg_one(c, Q_PURCHASE_NEXT_ID, &res, ""), &res, id);
}

int pg_purchase_set_answer(struct kp_conn *base, int64_t id, const char *answer)
{
	return pg_run(CONN(base), Q_PURCHASE_SET_ANSWER, NULL, "si", answer, id);
}

/* A purchase's lines from before migration 0011: a row each in purchase_lines. */
static int line_rows(struct pg_conn *c, int64_t purchase_id, struct kp_purchase_line_row *out,
		     size_t cap, size_t *n)
{
	struct pg_res res;
	*n = 0;
	int rc = pg_run(c, Q_LINE_ROWS, &res, "i", purchase_id);
	while (!rc && pg_next(&res)) {
		if (*n == cap) {
			rc = KP_ETOOLARGE;
			break;
		}
		struct kp_purchase_line_row *l = &out[(*n)++];
		l->line_no = pg_int(&res, 0);
		pg_text(&res, 1, l->sku, sizeof l->sku);
		pg_text(&res, 2, l->category, sizeof l->category);
		l->qty = pg_int(&res, 3);
		l->price = pg_int(&res, 4);
		l->amount = pg_int(&res, 5);
		l->discount = pg_int(&res, 6);
		l->points = pg_int(&res, 7);
		l->certificates = pg_int(&res, 8);
		l->paid = pg_int(&res, 9);
		l->earned = pg_int(&res, 10);
		l->refunded_qty = pg_int(&res, 11);
		pg_text(&res, 12, l->stamp_card, sizeof l->stamp_card);
		l->free_units = pg_int(&res, 13);
	}
	pg_clear(&res);
	return rc;
}

int pg_purchase_lines(struct kp_conn *base, int64_t purchase_id, struct kp_purchase_line_row *out,
		      size_t cap, size_t *n)
{
	struct pg_conn *c = CONN(base);
	assert(out && n);
	struct pg_res res;
	*n = 0;
	int rc = pg_run(c, Q_LINES, &res, "i", purchase_id);
	if (rc)
		return rc;
	bool in_row = pg_next(&res) && !pg_null(&res, 0);
	if (in_row)
		rc = kp_lines_parse(pg_str(&res, 0), out, cap, n);
	pg_clear(&res);
	return rc || in_row ? rc : line_rows(c, purchase_id, out, cap, n);
}

/* The lines go into the purchase's row; one from before 0011 leaves its rows. */
int pg_purchase_set_lines(struct kp_conn *base, int64_t purchase_id,
			  const struct kp_purchase_line_row *lines, size_t n)
{
	struct pg_conn *c = CONN(base);
	char *text = kp_lines_json(lines, n);
	if (!text)
		return KP_ENOMEM;
	int rc = pg_run(c, Q_LINES_SET, NULL, "si", text, purchase_id);
	free(text);
	if (!rc)
		rc = pg_run(c, Q_LINE_ROWS_DELETE, NULL, "i", purchase_id);
	return rc;
}

static int one_text(int rc, struct pg_res *res, char **out)
{
	if (rc)
		return rc;
	*out = pg_dup(res, 0);
	pg_clear(res);
	return *out ? 0 : KP_ENOMEM;
}

int pg_purchase_refunds_json(struct kp_conn *base, int64_t purchase_id, char **json)
{
	struct pg_res res;
	return one_text(pg_one(CONN(base), Q_REFUNDS_JSON, &res, "i", purchase_id), &res, json);
}

int pg_consent_history_json(struct kp_conn *base, int64_t member_id, char **json)
{
	struct pg_res res;
	return one_text(pg_one(CONN(base), Q_CONSENT_JSON, &res, "i", member_id), &res, json);
}

int pg_member_cards_json(struct kp_conn *base, int64_t member_id, char **json)
{
	struct pg_res res;
	return one_text(pg_one(CONN(base), Q_CARDS_JSON, &res, "i", member_id), &res, json);
}

int pg_refund_find(struct kp_conn *base, const char *partner, const char *refund_id,
		   struct kp_refund_row *out, char **answer)
{
	assert(partner && refund_id && out);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_REFUND_FIND, &res, "ss", partner, refund_id);
	if (rc)
		return rc;
	out->id = pg_int(&res, 0);
	pg_text(&res, 1, out->partner, sizeof out->partner);
	pg_text(&res, 2, out->refund_id, sizeof out->refund_id);
	out->purchase_id = pg_int(&res, 3);
	out->at = pg_int(&res, 4);
	pg_text(&res, 5, out->request_hash, sizeof out->request_hash);
	out->money_refund = pg_int(&res, 6);
	out->points_reversed = pg_int(&res, 7);
	out->points_returned = pg_int(&res, 8);
	if (answer && !(*answer = pg_dup(&res, 9)))
		rc = KP_ENOMEM;
	pg_clear(&res);
	return rc;
}

int pg_refund_insert(struct kp_conn *base, struct kp_refund_row *r, const char *answer)
{
	struct pg_conn *c = CONN(base);
	assert(r && answer);
	struct pg_res res;
	int rc = pg_one(c, Q_REFUND_INSERT, &res, "ssiisiiisi", r->partner, r->refund_id,
			r->purchase_id, r->at, r->request_hash, r->money_refund, r->points_reversed,
			r->points_returned, answer, r->spend);
	return keyed_insert_error(c, one_int(c, rc, &res, &r->id));
}

int pg_idem_find(struct kp_conn *base, const char *scope, const char *key,
		 char hash_out[KP_HASH_HEX], int *status, char **answer)
{
	assert(scope && key && status && answer);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_IDEM_FIND, &res, "ss", scope, key);
	if (rc)
		return rc;
	pg_text(&res, 0, hash_out, KP_HASH_HEX);
	*status = (int)pg_int(&res, 1);
	*answer = pg_dup(&res, 2);
	pg_clear(&res);
	return *answer ? 0 : KP_ENOMEM;
}

int pg_idem_insert(struct kp_conn *base, const char *scope, const char *key, const char *hash,
		   int status, const char *answer, int64_t now)
{
	struct pg_conn *c = CONN(base);
	assert(scope && key && hash && answer);
	return keyed_insert_error(c, pg_run(c, Q_IDEM_INSERT, NULL, "sssisi", scope, key, hash,
					    (int64_t)status, answer, now));
}

int pg_bonus_find(struct kp_conn *base, int64_t member_id, const char *event_id,
		  char hash_out[KP_HASH_HEX], char **answer)
{
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_BONUS_FIND, &res, "is", member_id, event_id);
	if (rc)
		return rc;
	pg_text(&res, 0, hash_out, KP_HASH_HEX);
	*answer = pg_dup(&res, 1);
	pg_clear(&res);
	return *answer ? 0 : KP_ENOMEM;
}

int pg_bonus_insert(struct kp_conn *base, int64_t member_id, const char *type, const char *event_id,
		    int64_t points, int64_t now, const char *hash, const char *answer)
{
	struct pg_conn *c = CONN(base);
	assert(type && event_id && hash && answer);
	return keyed_insert_error(c, pg_run(c, Q_BONUS_INSERT, NULL, "issiiss", member_id, type,
					    event_id, points, now, hash, answer));
}

int pg_bonus_count(struct kp_conn *base, int64_t member_id, const char *type, int64_t since,
		   int64_t *n)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	return one_int(c, pg_one(c, Q_BONUS_COUNT, &res, "isi", member_id, type, since), &res, n);
}
