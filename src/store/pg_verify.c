/*
 * pg_verify.c — runs the shared ledger checks (verify_sql.c) on a PostgreSQL
 * database. verify runs inside the caller's read transaction when there is
 * one (REPEATABLE READ: one snapshot for every check).
 */
#include <assert.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/verify_sql.h"
#include "util/error.h"

/* Adds a check's answer res (which it clears) to the report. */
static int take_result(struct pg_conn *c, const struct kp_verify_check *chk, PGresult *res,
		       struct kp_verify_report *r)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "verify: %s: %s", chk->what, PQresultErrorMessage(res));
		PQclear(res);
		return PQstatus(c->db) == CONNECTION_OK ? KP_ESTORE : KP_EBUSY;
	}
	const char *v = PQgetvalue(res, 0, 0);
	int64_t bad = strcmp(v, "t") == 0 ? 1 : strcmp(v, "f") == 0 ? 0 : strtoll(v, NULL, 10);
	if (bad > 0) {
		if (r->problems == 0)
			snprintf(r->first_problem, sizeof r->first_problem, "%s: %s", chk->what,
				 PQgetvalue(res, 0, 1));
		r->problems += bad;
	}
	PQclear(res);
	return 0;
}

static int run_check(struct pg_conn *c, const struct kp_verify_check *chk,
		     struct kp_verify_report *r)
{
	return take_result(c, chk, PQexec(c->db, chk->sql), r);
}

/*
 * Counts the purchases whose lines' text is not JSON, paging by id, and names
 * the first. Only after the lines check failed on such a text: at full size
 * this reads every purchase row.
 */
static int count_unreadable_lines(struct pg_conn *c, struct kp_verify_report *r)
{
	int64_t after = 0, bad = 0;
	char first[128] = ""; /* "purchase <id> (<receipt, up to 64 bytes>)" */
	for (;;) {
		char after_text[24];
		snprintf(after_text, sizeof after_text, "%lld", (long long)after);
		const char *params[1] = {after_text};
		PGresult *res = PQexecParams(
			c->db,
			"SELECT id, receipt_id, lines FROM purchases WHERE lines IS NOT NULL "
			"AND id > $1::bigint ORDER BY id LIMIT 5000",
			1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "verify: %s: %s", kp_verify_lines_readable,
				PQresultErrorMessage(res));
			PQclear(res);
			return PQstatus(c->db) == CONNECTION_OK ? KP_ESTORE : KP_EBUSY;
		}
		int n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			json_error_t err;
			json_t *doc = json_loadb(PQgetvalue(res, i, 2),
						 (size_t)PQgetlength(res, i, 2),
						 JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
			if (!doc && bad++ == 0)
				snprintf(first, sizeof first, "purchase %s (%s)",
					 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
			json_decref(doc);
		}
		if (n > 0)
			after = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
		PQclear(res);
		if (n < 5000)
			break;
	}
	if (bad > 0 && r->problems == 0)
		snprintf(r->first_problem, sizeof r->first_problem, "%s: %s",
			 kp_verify_lines_readable, first);
	r->problems += bad;
	return 0;
}

/*
 * The lines check, which PostgreSQL cannot run past a text that is not JSON
 * (22P02): then the unreadable lines are counted instead, and the others'
 * sums are not checked in this run. A savepoint keeps the caller's
 * transaction usable after the failed query.
 */
static int run_lines_check(struct pg_conn *c, struct kp_verify_report *r)
{
	bool in_tx = PQtransactionStatus(c->db) == PQTRANS_INTRANS;
	int rc = in_tx ? pg_simple(c, "SAVEPOINT kp_verify_lines") : 0;
	if (rc)
		return rc;
	PGresult *res = PQexec(c->db, kp_verify_lines_pg.sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	bool not_json = PQresultStatus(res) == PGRES_FATAL_ERROR && state &&
			strcmp(state, "22P02") == 0;
	if (!not_json) {
		rc = take_result(c, &kp_verify_lines_pg, res, r);
		if (!rc && in_tx)
			rc = pg_simple(c, "RELEASE kp_verify_lines");
		return rc;
	}
	PQclear(res);
	if (in_tx && (rc = pg_simple(c, "ROLLBACK TO kp_verify_lines")))
		return rc;
	int64_t before = r->problems;
	rc = count_unreadable_lines(c, r);
	if (!rc && r->problems == before) /* not the lines after all: say what failed */
		rc = run_check(c, &kp_verify_lines_pg, r);
	return rc;
}

static int count_rows(struct pg_conn *c, const char *table, int64_t *out)
{
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	PGresult *res = PQexec(c->db, sql);
	int rc = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? 0 : KP_ESTORE;
	if (!rc)
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else if (PQstatus(c->db) != CONNECTION_OK)
		rc = KP_EBUSY;
	PQclear(res);
	return rc;
}

int pg_verify(struct kp_conn *base, struct kp_verify_report *r)
{
	struct pg_conn *c = (struct pg_conn *)base;
	assert(r);
	memset(r, 0, sizeof *r);
	int rc = pg_simple(c, "SELECT 1"); /* reconnects a session that broke */
	if (!rc)
		rc = count_rows(c, "members", &r->members);
	if (!rc)
		rc = count_rows(c, "transfers", &r->transfers);
	if (!rc)
		rc = count_rows(c, "lots", &r->lots);
	if (!rc)
		rc = count_rows(c, "purchases", &r->purchases);
	for (size_t i = 0; !rc && i < kp_verify_checks_count; i++)
		rc = run_check(c, &kp_verify_checks[i], r);
	if (!rc)
		rc = run_lines_check(c, r);
	return rc;
}
