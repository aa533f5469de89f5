/*
 * pg.c — the store on PostgreSQL (libpq): connections, statements,
 * transactions, errors and migrations. The operations are in pg_members.c,
 * pg_ledger.c and pg_more.c; the SQL text of every statement in pg_sql.c.
 *
 * Why READ COMMITTED with row locks rather than REPEATABLE READ: a purchase
 * reads a handful of rows that decide it (the member, its coupons, its
 * certificates, the campaign budgets) and locks them as it reads them
 * (SELECT … FOR UPDATE). A second purchase on the same member waits for the
 * first to commit and then reads what it committed, so hot rows (a member
 * paying from several tills, a popular coupon) queue instead of aborting.
 * REPEATABLE READ would abort the later one with a serialization failure
 * and redo all its work. Deadlocks (40P01) and serialization failures
 * (40001) can still happen — two batches locking members in different
 * orders — and come back as KP_ERETRY; the writer then runs the batch again.
 *
 * A lost connection answers KP_EBUSY (the API's 503 with Retry-After). The
 * next use outside a transaction reconnects (PQreset) and prepares its
 * statements again, so a server recovers by itself when the database does.
 */
#include "store/pg_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"
#include "util/error.h"
#include "util/strcopy.h"

#define MAX_PARAMS 24
#define OID_INT8 20
#define OID_TEXT 25
/* The advisory lock key that serialises migrations ("kpmigr" in ASCII). */
#define MIGRATION_LOCK "118130616133490"

/* ---- errors and sessions --------------------------------------------------- */

/* Whether SQLSTATE says the server or the network is away (503, retry later). */
static bool state_unavailable(const char *s)
{
	return strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 ||
	       strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0 ||
	       strcmp(s, "55P03") == 0 /* lock_timeout */ || strcmp(s, "57014") == 0;
}

/* Map a failed result to a KP_E* code, and remember a broken session. */
static int result_error(struct pg_conn *c, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(c->db) != CONNECTION_OK || !state || state_unavailable(state)) {
		if (c->in_txn)
			c->lost = true;
		return KP_EBUSY;
	}
	if (strcmp(state, "23505") == 0)
		return KP_ECONFLICT;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return KP_ERETRY;
	fprintf(stderr, "postgres: %s: %s", state, PQresultErrorMessage(r));
	return KP_ESTORE;
}

/* Before a statement: a session that broke between transactions is reopened. */
static int session_ready(struct pg_conn *c)
{
	if (c->lost)
		return KP_EBUSY; /* until rollback: never reopen inside a transaction */
	if (PQstatus(c->db) == CONNECTION_OK)
		return 0;
	if (c->in_txn) {
		c->lost = true;
		return KP_EBUSY;
	}
	PQreset(c->db);
	memset(c->prepared, 0, sizeof c->prepared);
	return PQstatus(c->db) == CONNECTION_OK ? 0 : KP_EBUSY;
}

int pg_simple(struct pg_conn *c, const char *sql)
{
	int rc = session_ready(c);
	if (rc)
		return rc;
	PGresult *r = PQexec(c->db, sql);
	ExecStatusType st = PQresultStatus(r);
	rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : result_error(c, r);
	PQclear(r);
	return rc;
}

/* ---- statements ---------------------------------------------------------- */

/* SQLite's '?' placeholders as PostgreSQL's $1, $2, … (not inside quotes). */
static int number_params(const char *sql, char *out, size_t cap)
{
	size_t o = 0;
	int n = 0;
	bool quoted = false;
	for (const char *p = sql; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (*p == '?' && !quoted) {
			int w = snprintf(out + o, cap - o, "$%d", ++n);
			if (w < 0 || (size_t)w >= cap - o)
				return -1;
			o += (size_t)w;
		} else {
			if (o + 1 >= cap)
				return -1;
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return n;
}

/* PostgreSQL's text of a statement: its own where the dialect differs, else the common one. */
static const char *pg_sql_of(enum kp_sql id)
{
	assert(id < Q_COUNT);
	return kp_pg_sql[id] ? kp_pg_sql[id] : kp_sql_common[id];
}

static int prepare(struct pg_conn *c, enum kp_sql id, const char *sig)
{
	if (c->prepared[id])
		return 0;
	char sql[4096];
	int placeholders = number_params(pg_sql_of(id), sql, sizeof sql);
	assert(placeholders == (int)strlen(sig)); /* the signature names every parameter */
	if (placeholders < 0)
		return KP_ESTORE;
	Oid types[MAX_PARAMS];
	int n = 0;
	for (const char *p = sig; *p; p++) {
		assert(n < MAX_PARAMS && (*p == 'i' || *p == 's'));
		types[n++] = *p == 'i' ? OID_INT8 : OID_TEXT;
	}
	char name[16];
	snprintf(name, sizeof name, "k%d", (int)id);
	PGresult *r = PQprepare(c->db, name, sql, n, types);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : result_error(c, r);
	if (rc == KP_ESTORE)
		fprintf(stderr, "postgres: prepare %d: %s\n", (int)id, pg_sql_of(id));
	PQclear(r);
	if (!rc)
		c->prepared[id] = true;
	return rc;
}

/*
 * The inserts whose unique violation the engine expects and recovers from in
 * the same job (a random card number or code that is taken, an event
 * recorded before). In PostgreSQL a failed statement aborts the whole
 * transaction, so these run inside a savepoint of their own and a conflict
 * rolls back only the statement, as in SQLite. None is on a purchase's path.
 */
static bool guarded(enum kp_sql id)
{
	switch (id) {
	case Q_MEMBER_INSERT:
	case Q_CARD_INSERT:
	case Q_COUPON_INSERT:
	case Q_CERT_INSERT:
	case Q_CERT_ISSUE:
	case Q_PARTNER_INSERT:
	case Q_KEY_INSERT:
	case Q_EVENT_INSERT:
	case Q_REFERRAL_INSERT:
		return true;
	default:
		return false;
	}
}

static int vrun(struct pg_conn *c, enum kp_sql id, struct pg_res *res, const char *sig,
		va_list ap)
{
	assert(id < Q_COUNT && pg_sql_of(id));
	if (res)
		*res = (struct pg_res){.row = -1};
	int rc = session_ready(c);
	if (!rc)
		rc = prepare(c, id, sig);
	if (rc)
		return rc;
	const char *values[MAX_PARAMS];
	char nums[MAX_PARAMS][24];
	int n = 0;
	for (const char *p = sig; *p; p++, n++) {
		if (*p == 'i') {
			snprintf(nums[n], sizeof nums[n], "%" PRId64, va_arg(ap, int64_t));
			values[n] = nums[n];
		} else {
			values[n] = va_arg(ap, const char *);
		}
	}
	char name[16];
	snprintf(name, sizeof name, "k%d", (int)id);
	bool guard = c->in_txn && guarded(id);
	if (guard && (rc = pg_simple(c, "SAVEPOINT kp_stmt")))
		return rc;
	PGresult *r = PQexecPrepared(c->db, name, n, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = result_error(c, r);
		PQclear(r);
		if (guard && rc == KP_ECONFLICT && pg_simple(c, "ROLLBACK TO kp_stmt"))
			return KP_EBUSY;
		return rc;
	}
	if (guard && (rc = pg_simple(c, "RELEASE kp_stmt"))) {
		PQclear(r);
		return rc;
	}
	if (res)
		*res = (struct pg_res){.r = r, .row = -1, .rows = PQntuples(r)};
	else
		PQclear(r);
	return 0;
}

int pg_run(struct pg_conn *c, enum kp_sql id, struct pg_res *res, const char *sig, ...)
{
	va_list ap;
	va_start(ap, sig);
	int rc = vrun(c, id, res, sig, ap);
	va_end(ap);
	return rc;
}

int pg_one(struct pg_conn *c, enum kp_sql id, struct pg_res *res, const char *sig, ...)
{
	assert(res);
	va_list ap;
	va_start(ap, sig);
	int rc = vrun(c, id, res, sig, ap);
	va_end(ap);
	if (rc)
		return rc;
	if (!pg_next(res)) {
		pg_clear(res);
		return KP_ENOTFOUND;
	}
	return 0;
}

int pg_exec_one(struct pg_conn *c, enum kp_sql id, const char *sig, ...)
{
	struct pg_res res;
	va_list ap;
	va_start(ap, sig);
	int rc = vrun(c, id, &res, sig, ap);
	va_end(ap);
	if (rc)
		return rc;
	const char *changed = PQcmdTuples(res.r);
	rc = strcmp(changed, "1") == 0 ? 0 : KP_ENOTFOUND;
	pg_clear(&res);
	return rc;
}

int pg_list_ids(struct pg_conn *c, enum kp_sql id, int64_t *ids, size_t cap, size_t *n,
		const char *sig, ...)
{
	assert(ids && n);
	struct pg_res res;
	va_list ap;
	va_start(ap, sig);
	int rc = vrun(c, id, &res, sig, ap);
	va_end(ap);
	*n = 0;
	if (rc)
		return rc;
	while (*n < cap && pg_next(&res))
		ids[(*n)++] = pg_int(&res, 0);
	pg_clear(&res);
	return 0;
}

bool pg_next(struct pg_res *r)
{
	if (!r->r || r->row + 1 >= r->rows)
		return false;
	r->row++;
	return true;
}

void pg_clear(struct pg_res *r)
{
	PQclear(r->r);
	r->r = NULL;
	r->rows = 0;
}

/* store op ints: the parameters go by count, each as 'i'. */
static int pg_ints(struct kp_conn *base, enum kp_sql id, const int64_t *p, size_t n_params,
		   int64_t *out, size_t n_out)
{
	struct pg_conn *c = (struct pg_conn *)base;
	struct pg_res res;
	assert(n_params <= 4 && n_out >= 1 && n_out <= 8);
	int rc = n_params == 0   ? pg_one(c, id, &res, "")
		 : n_params == 1 ? pg_one(c, id, &res, "i", p[0])
		 : n_params == 2 ? pg_one(c, id, &res, "ii", p[0], p[1])
		 : n_params == 3 ? pg_one(c, id, &res, "iii", p[0], p[1], p[2])
				 : pg_one(c, id, &res, "iiii", p[0], p[1], p[2], p[3]);
	if (rc)
		return rc;
	for (size_t i = 0; i < n_out; i++)
		out[i] = pg_int(&res, (int)i);
	pg_clear(&res);
	return 0;
}

int64_t pg_int(const struct pg_res *r, int col)
{
	assert(r->r && r->row >= 0 && r->row < r->rows);
	if (PQgetisnull(r->r, r->row, col))
		return 0;
	const char *s = PQgetvalue(r->r, r->row, col);
	if (s[0] == 't' && !s[1])
		return 1; /* a boolean: status = 'blocked' */
	if (s[0] == 'f' && !s[1])
		return 0;
	return strtoll(s, NULL, 10);
}

const char *pg_str(const struct pg_res *r, int col)
{
	assert(r->r && r->row >= 0 && r->row < r->rows);
	return PQgetvalue(r->r, r->row, col); /* "" for NULL */
}

bool pg_null(const struct pg_res *r, int col)
{
	assert(r->r && r->row >= 0 && r->row < r->rows);
	return PQgetisnull(r->r, r->row, col);
}

void pg_text(const struct pg_res *r, int col, char *dst, size_t cap)
{
	assert(dst && cap > 0);
	kp_strcopy(dst, cap, pg_str(r, col));
}

char *pg_dup(const struct pg_res *r, int col)
{
	return strdup(pg_str(r, col));
}

/* ---- transactions -------------------------------------------------------- */

static int pg_begin(struct kp_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	assert(!c->in_txn);
	int rc = pg_simple(c, "BEGIN ISOLATION LEVEL READ COMMITTED");
	if (!rc)
		c->in_txn = c->in_write = true;
	return rc;
}

static int pg_read_begin(struct kp_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	assert(!c->in_txn);
	int rc = pg_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (!rc)
		c->in_txn = true;
	return rc;
}

static void txn_over(struct pg_conn *c)
{
	c->in_txn = c->in_write = c->lost = false;
}

static int pg_commit(struct kp_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	int rc = pg_simple(c, "COMMIT");
	if (!rc)
		txn_over(c);
	return rc;
}

static int pg_rollback(struct kp_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	int rc = 0;
	if (!c->lost && PQstatus(c->db) == CONNECTION_OK &&
	    PQtransactionStatus(c->db) != PQTRANS_IDLE)
		rc = pg_simple(c, "ROLLBACK");
	txn_over(c);
	return rc == KP_EBUSY ? 0 : rc; /* a lost session rolled back on its own */
}

static int pg_savepoint(struct kp_conn *base)
{
	return pg_simple((struct pg_conn *)base, "SAVEPOINT op");
}

static int pg_release(struct kp_conn *base)
{
	return pg_simple((struct pg_conn *)base, "RELEASE op");
}

static int pg_rollback_to(struct kp_conn *base)
{
	return pg_simple((struct pg_conn *)base, "ROLLBACK TO op");
}

/* PostgreSQL checkpoints on its own; a writer connection is like any other. */
static int pg_noop(struct kp_conn *base)
{
	(void)base;
	return 0;
}

static int pg_checkpoint(struct kp_conn *base, int64_t limit_bytes, bool *again)
{
	(void)base, (void)limit_bytes;
	*again = false;
	return 0;
}

static int pg_bound_log(struct kp_conn *base, int64_t limit_bytes)
{
	(void)base, (void)limit_bytes; /* max_wal_size is the server's */
	return 0;
}

/* ---- opening and migrations ---------------------------------------------- */

static void pg_close(struct kp_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	if (!c)
		return;
	PQfinish(c->db);
	free(c);
}

/* Every SQLite migration has its PostgreSQL dialect under the same number and name. */
static int check_dialects(char *err, size_t errlen)
{
	if (kp_pg_migrations_count != kp_migrations_count) {
		snprintf(err, errlen, "schema: %u migrations but %u in the PostgreSQL dialect",
			 kp_migrations_count, kp_pg_migrations_count);
		return KP_ESTORE;
	}
	for (unsigned i = 0; i < kp_migrations_count; i++)
		if (strcmp(kp_migrations[i].name, kp_pg_migrations[i].name) != 0) {
			snprintf(err, errlen, "schema: migration %s has no PostgreSQL dialect",
				 kp_migrations[i].name);
			return KP_ESTORE;
		}
	return 0;
}

static int exec_err(struct pg_conn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c->db, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		kp_strcopy(err, errlen, PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
		rc = result_error(c, r);
		if (rc == KP_ECONFLICT)
			rc = KP_ESTORE;
	}
	PQclear(r);
	return rc;
}

/* The highest migration applied (0 for a new database). */
static int schema_version(struct pg_conn *c, unsigned *out, char *err, size_t errlen)
{
	int rc = exec_err(c, "CREATE TABLE IF NOT EXISTS schema_version ("
			     "version integer PRIMARY KEY, name text NOT NULL, "
			     "applied_at timestamptz NOT NULL DEFAULT now())",
			  err, errlen);
	if (rc)
		return rc;
	PGresult *r = PQexec(c->db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		kp_strcopy(err, errlen, PQresultErrorMessage(r));
		PQclear(r);
		return KP_ESTORE;
	}
	*out = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/*
 * Apply every migration above schema_version, each in its own transaction,
 * under a session advisory lock so that servers starting together migrate
 * once.
 */
static int migrate(struct pg_conn *c, char *err, size_t errlen)
{
	int rc = check_dialects(err, errlen);
	if (!rc)
		rc = exec_err(c, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", err, errlen);
	if (rc)
		return rc;
	unsigned version = 0;
	rc = schema_version(c, &version, err, errlen);
	for (unsigned i = 0; !rc && i < kp_pg_migrations_count; i++) {
		const struct kp_migration *m = &kp_pg_migrations[i];
		assert(m->number == i + 1);
		if (m->number <= version)
			continue;
		char mark[160];
		snprintf(mark, sizeof mark, "INSERT INTO schema_version (version, name) VALUES (%u, '%s')",
			 m->number, m->name);
		rc = exec_err(c, "BEGIN", err, errlen);
		if (!rc)
			rc = exec_err(c, m->sql, err, errlen);
		if (!rc)
			rc = exec_err(c, mark, err, errlen);
		if (!rc)
			rc = exec_err(c, "COMMIT", err, errlen);
		if (rc) {
			PQclear(PQexec(c->db, "ROLLBACK"));
			char what[200];
			kp_strcopy(what, sizeof what, err);
			snprintf(err, errlen, "migration %s: %s", m->name, what);
		}
	}
	PQclear(PQexec(c->db, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")"));
	return rc;
}

int pg_open(const char *uri, bool create, struct kp_conn **out, char *err, size_t errlen)
{
	assert(uri && out);
	struct pg_conn *c = calloc(1, sizeof *c);
	if (!c)
		return KP_ENOMEM;
	c->base.ops = &kp_pg_ops;
	/* A reconnect (PQreset) must not hang on a machine that is gone: a
	 * connect timeout and TCP keepalives, unless the URI sets its own. */
	const char *const keys[] = {"connect_timeout", "keepalives_idle", "dbname", NULL};
	const char *const values[] = {"5", "30", uri, NULL};
	c->db = PQconnectdbParams(keys, values, 1);
	if (!c->db || PQstatus(c->db) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
			 c->db ? PQerrorMessage(c->db) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		pg_close(&c->base);
		return KP_EBUSY;
	}
	/* Quiet NOTICEs (IF NOT EXISTS), UTC for the JSON timestamps, and a
	 * statement that waits on a lock for long is better answered with a 503. */
	int rc = exec_err(c, "SET client_min_messages = warning; SET TIME ZONE 'UTC'; "
			     "SET lock_timeout = '10s'",
			  err, errlen);
	if (!rc && create)
		rc = migrate(c, err, errlen);
	if (rc) {
		pg_close(&c->base);
		return rc;
	}
	*out = &c->base;
	return 0;
}

static bool pg_in_transaction(struct kp_conn *base)
{
	const struct pg_conn *c = (const struct pg_conn *)base;
	return c->in_txn && !c->lost;
}

const struct kp_store_ops kp_pg_ops = {
	.in_transaction = pg_in_transaction,
	.name = "postgres",
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.release = pg_release,
	.rollback_to = pg_rollback_to,
	.read_begin = pg_read_begin,
	.writer_mode = pg_noop,
	.checkpoint = pg_checkpoint,
	.bound_log = pg_bound_log,
	.program_insert = pg_program_insert,
	.program_get = pg_program_get,
	.partner_insert = pg_partner_insert,
	.partner_exists = pg_partner_exists,
	.key_insert = pg_key_insert,
	.key_find = pg_key_find,
	.member_insert = pg_member_insert,
	.member_get = pg_member_get,
	.member_get_id = pg_member_get_id,
	.member_ids = pg_member_ids,
	.member_set_balances = pg_member_set_balances,
	.lots_load = pg_lots_load,
	.lots_count_open = pg_lots_count_open,
	.lot_next_id = pg_lot_next_id,
	.lot_insert = pg_lot_insert,
	.lot_update = pg_lot_update,
	.transfer_insert = pg_transfer_insert,
	.history = pg_history,
	.purchase_spent_lots = pg_purchase_spent_lots,
	.purchase_find = pg_purchase_find,
	.purchase_insert = pg_purchase_insert,
	.purchase_next_id = pg_purchase_next_id,
	.purchase_set_answer = pg_purchase_set_answer,
	.purchase_lines = pg_purchase_lines,
	.purchase_set_lines = pg_purchase_set_lines,
	.purchase_refunds_json = pg_purchase_refunds_json,
	.refund_find = pg_refund_find,
	.refund_insert = pg_refund_insert,
	.idem_find = pg_idem_find,
	.idem_insert = pg_idem_insert,
	.verify = pg_verify,
	.member_set_tier = pg_member_set_tier,
	.member_add_spend = pg_member_add_spend,
	.member_spend_since = pg_member_spend_since,
	.purchase_add_spend = pg_purchase_add_spend,
	.stamp_get = pg_stamp_get,
	.stamp_set = pg_stamp_set,
	.budget_spent = pg_budget_spent,
	.budget_add = pg_budget_add,
	.certificate_insert = pg_certificate_insert,
	.event_insert = pg_event_insert,
	.members_with_due_lots = pg_members_with_due_lots,
	.job_period_get = pg_job_period_get,
	.job_period_set = pg_job_period_set,
	.card_insert = pg_card_insert,
	.card_get = pg_card_get,
	.card_block = pg_card_block,
	.member_set_card = pg_member_set_card,
	.member_update = pg_member_update,
	.member_erase = pg_member_erase,
	.consent_log = pg_consent_log,
	.consent_history_json = pg_consent_history_json,
	.member_cards_json = pg_member_cards_json,
	.bonus_find = pg_bonus_find,
	.bonus_insert = pg_bonus_insert,
	.bonus_count = pg_bonus_count,
	.members_born_on = pg_members_born_on,
	.referral_insert = pg_referral_insert,
	.referral_get = pg_referral_get,
	.referral_update = pg_referral_update,
	.referrals_due = pg_referrals_due,
	.coupon_insert = pg_coupon_insert,
	.coupon_get = pg_coupon_get,
	.coupon_member_uses = pg_coupon_member_uses,
	.coupon_use = pg_coupon_use,
	.coupon_release_purchase = pg_coupon_release_purchase,
	.certificate_get = pg_certificate_get,
	.certificate_issue = pg_certificate_issue,
	.certificate_move = pg_certificate_move,
	.certificate_uses = pg_certificate_uses,
	.purchase_set_status = pg_purchase_set_status,
	.purchase_status = pg_purchase_status,
	.purchase_set_earn_lot = pg_purchase_set_earn_lot,
	.holds_expired = pg_holds_expired,
	.purchase_by_id = pg_purchase_by_id,
	.audit = pg_audit,
	.partner_get = pg_partner_get,
	.partner_update = pg_partner_update,
	.partners_list = pg_partners_list,
	.key_get_id = pg_key_get_id,
	.key_revoke = pg_key_revoke,
	.keys_list = pg_keys_list,
	.receipt_elsewhere = pg_receipt_elsewhere,
	.settlement = pg_settlement,
	.ints = pg_ints,
	.charity = pg_charity,
	.audit_list = pg_audit_list,
	.close = pg_close,
};
