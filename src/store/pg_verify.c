/*
 * pg_verify.c — runs the shared ledger checks (verify_sql.c) on a PostgreSQL
 * database. verify runs inside the caller's read transaction when there is
 * one (REPEATABLE READ: one snapshot for every check).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/verify_sql.h"
#include "util/error.h"

static int run_check(struct pg_conn *c, const struct kp_verify_check *chk,
		     struct kp_verify_report *r)
{
	PGresult *res = PQexec(c->db, chk->sql);
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
		rc = run_check(c, &kp_verify_lines_pg, r);
	return rc;
}
