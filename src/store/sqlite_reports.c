/*
 * sqlite_reports.c — coalitions and charity on SQLite: partners with their
 * own terms, listing and revoking keys, the receipt lookup behind the
 * cross-partner check, the settlement and charity reports and the audit
 * log. Every statement is in sqlite.c's table; see store.h for the contract.
 */
#include <assert.h>
#include <string.h>

#include "store/sqlite_int.h"
#include "util/error.h"

#define CONN(base) ((struct sqlite_conn *)(base))

static void read_partner(sqlite3_stmt *st, struct kp_partner_row *out)
{
	memset(out, 0, sizeof *out);
	sqlite_copy_text(st, 0, out->id, sizeof out->id);
	sqlite_copy_text(st, 1, out->name, sizeof out->name);
	out->active = sqlite3_column_int64(st, 2) != 0;
	out->earn_percent_bp = sqlite3_column_int64(st, 3);
	out->accrual_cost = sqlite3_column_int64(st, 4);
	out->created_at = sqlite3_column_int64(st, 5);
	assert(out->earn_percent_bp >= -1 && out->accrual_cost >= -1);
}

static void read_key(sqlite3_stmt *st, struct kp_key_row *out)
{
	out->id = sqlite3_column_int64(st, 0);
	sqlite_copy_text(st, 1, out->hash, sizeof out->hash);
	sqlite_copy_text(st, 2, out->role, sizeof out->role);
	sqlite_copy_text(st, 3, out->partner, sizeof out->partner);
	out->created_at = sqlite3_column_int64(st, 4);
	out->revoked_at = sqlite3_column_int64(st, 5);
}

/* Step st to its end: every row to `row`; a non-zero return stops. */
static int each_row(struct sqlite_conn *c, sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *),
		    void *arg)
{
	if (!st)
		return KP_ESTORE;
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = row(st, arg);
	sqlite3_reset(st);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : sqlite_error(c, rc);
}

int sqlite_partner_get(struct kp_conn *base, const char *id, struct kp_partner_row *out)
{
	struct sqlite_conn *c = CONN(base);
	assert(id && out);
	sqlite3_stmt *st = sqlite_bind(c, Q_PARTNER_GET, "s", id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	read_partner(st, out);
	sqlite3_reset(st);
	return 0;
}

int sqlite_partner_update(struct kp_conn *base, const struct kp_partner_row *p)
{
	struct sqlite_conn *c = CONN(base);
	assert(p && p->id[0] && p->name[0]);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_PARTNER_UPDATE, "siiis", p->name,
						 (int64_t)p->active, p->earn_percent_bp,
						 p->accrual_cost, p->id));
	if (!rc && sqlite3_changes(c->db) != 1)
		return KP_ENOTFOUND;
	return rc;
}

struct partner_list {
	struct kp_partner_row *out;
	size_t cap, n;
};

static int partner_list_row(sqlite3_stmt *st, void *arg)
{
	struct partner_list *l = arg;
	if (l->n == l->cap)
		return KP_ETOOLARGE;
	read_partner(st, &l->out[l->n++]);
	return 0;
}

int sqlite_partners_list(struct kp_conn *base, struct kp_partner_row *out, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(out && n);
	struct partner_list l = {.out = out, .cap = cap};
	int rc = each_row(c, sqlite_bind(c, Q_PARTNERS_LIST, ""), partner_list_row, &l);
	*n = l.n;
	return rc;
}

int sqlite_key_get_id(struct kp_conn *base, int64_t id, struct kp_key_row *out)
{
	struct sqlite_conn *c = CONN(base);
	assert(out);
	sqlite3_stmt *st = sqlite_bind(c, Q_KEY_GET_ID, "i", id);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	read_key(st, out);
	sqlite3_reset(st);
	return 0;
}

int sqlite_key_revoke(struct kp_conn *base, int64_t id, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_KEY_REVOKE, "ii", now, id));
}

struct key_list {
	struct kp_key_row *out;
	size_t cap, n;
};

static int key_list_row(sqlite3_stmt *st, void *arg)
{
	struct key_list *l = arg;
	assert(l->n < l->cap); /* the statement's LIMIT is cap */
	read_key(st, &l->out[l->n++]);
	return 0;
}

int sqlite_keys_list(struct kp_conn *base, int64_t after_id, struct kp_key_row *out, size_t cap,
		     size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(out && n && cap > 0);
	struct key_list l = {.out = out, .cap = cap};
	int rc = each_row(c, sqlite_bind(c, Q_KEYS_LIST, "ii", after_id, (int64_t)cap),
			  key_list_row, &l);
	*n = l.n;
	return rc;
}

int sqlite_receipt_elsewhere(struct kp_conn *base, const char *partner, const char *receipt_id)
{
	struct sqlite_conn *c = CONN(base);
	assert(partner && receipt_id);
	sqlite3_stmt *st = sqlite_bind(c, Q_RECEIPT_ELSEWHERE, "ss", receipt_id, partner);
	int rc = sqlite_step_row(c, st);
	if (!rc)
		sqlite3_reset(st);
	return rc;
}

struct row_cb {
	void *fn;
	void *arg;
};

static int settlement_row(sqlite3_stmt *st, void *arg)
{
	struct row_cb *cb = arg;
	struct kp_settlement_row r;
	memset(&r, 0, sizeof r);
	sqlite_copy_text(st, 0, r.partner, sizeof r.partner);
	sqlite_copy_text(st, 1, r.receipt_id, sizeof r.receipt_id);
	r.at = sqlite3_column_int64(st, 2);
	r.issued = sqlite3_column_int64(st, 3);
	r.redeemed = sqlite3_column_int64(st, 4);
	int (*fn)(void *, const struct kp_settlement_row *) = cb->fn;
	return fn(cb->arg, &r);
}

int sqlite_settlement(struct kp_conn *base, int64_t from, int64_t to,
		      int (*fn)(void *arg, const struct kp_settlement_row *row), void *arg)
{
	struct sqlite_conn *c = CONN(base);
	assert(fn && from <= to);
	struct row_cb cb = {.fn = (void *)fn, .arg = arg};
	return each_row(c, sqlite_bind(c, Q_SETTLEMENT, "ii", from, to), settlement_row, &cb);
}

static int charity_row(sqlite3_stmt *st, void *arg)
{
	struct row_cb *cb = arg;
	struct kp_charity_row r;
	memset(&r, 0, sizeof r);
	sqlite_copy_text(st, 0, r.fund, sizeof r.fund);
	r.donated = sqlite3_column_int64(st, 1);
	r.campaigns = sqlite3_column_int64(st, 2);
	int (*fn)(void *, const struct kp_charity_row *) = cb->fn;
	return fn(cb->arg, &r);
}

int sqlite_charity(struct kp_conn *base, int64_t from, int64_t to,
		   int (*fn)(void *arg, const struct kp_charity_row *row), void *arg)
{
	struct sqlite_conn *c = CONN(base);
	assert(fn && from <= to);
	struct row_cb cb = {.fn = (void *)fn, .arg = arg};
	return each_row(c, sqlite_bind(c, Q_CHARITY, "ii", from, to), charity_row, &cb);
}

static int audit_row(sqlite3_stmt *st, void *arg)
{
	struct row_cb *cb = arg;
	struct kp_audit_row r;
	memset(&r, 0, sizeof r);
	r.id = sqlite3_column_int64(st, 0);
	r.at = sqlite3_column_int64(st, 1);
	r.key_id = sqlite3_column_int64(st, 2);
	sqlite_copy_text(st, 3, r.action, sizeof r.action);
	sqlite_copy_text(st, 4, r.target, sizeof r.target);
	const unsigned char *details = sqlite3_column_text(st, 5);
	r.details = details ? (const char *)details : "{}";
	int (*fn)(void *, const struct kp_audit_row *) = cb->fn;
	return fn(cb->arg, &r);
}

int sqlite_audit_list(struct kp_conn *base, int64_t before_id, size_t limit,
		      int (*fn)(void *arg, const struct kp_audit_row *row), void *arg)
{
	struct sqlite_conn *c = CONN(base);
	assert(fn && limit > 0);
	struct row_cb cb = {.fn = (void *)fn, .arg = arg};
	return each_row(c,
			sqlite_bind(c, Q_AUDIT_LIST, "ii", before_id > 0 ? before_id : INT64_MAX,
				    (int64_t)limit),
			audit_row, &cb);
}

int sqlite_ints(struct kp_conn *base, enum kp_sql id, const int64_t *params, size_t n_params,
		int64_t *out, size_t n_out)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	assert(n_params <= 4 && n_out >= 1 && n_out <= 8);
	sqlite3_stmt *st = sqlite_stmt(c, id);
	if (!st)
		return KP_ESTORE;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (size_t i = 0; i < n_params; i++)
		if (sqlite3_bind_int64(st, (int)i + 1, params[i]) != SQLITE_OK)
			return KP_ESTORE;
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	for (size_t i = 0; i < n_out; i++)
		out[i] = sqlite3_column_int64(st, (int)i);
	sqlite3_reset(st);
	return 0;
}
