/*
 * sqlite_verify.c — runs the shared ledger checks (verify_sql.c) on an
 * SQLite database.
 *
 * The member-level invariant over lots is
 * also checked row by row by the engine with kp_ledger_check_member; the
 * queries here cover what needs the transfers: balances recomputed from the
 * postings, lot remaining recomputed from lot deltas, the zero sum, and each
 * purchase's and refund's postings adding up to its totals.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite_int.h"
#include "store/verify_sql.h"
#include "util/error.h"

static int run_check(struct sqlite_conn *c, const struct kp_verify_check *chk,
		     struct kp_verify_report *r)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db, chk->sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "verify: %s: %s\n", chk->what, sqlite3_errmsg(c->db));
		return KP_ESTORE;
	}
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int err = sqlite_error(c, rc);
		sqlite3_finalize(st);
		return err;
	}
	int64_t bad = sqlite3_column_int64(st, 0);
	if (bad > 0) {
		if (r->problems == 0) {
			const unsigned char *ex = sqlite3_column_text(st, 1);
			snprintf(r->first_problem, sizeof r->first_problem, "%s: %s",
				 chk->what, ex ? (const char *)ex : "");
		}
		r->problems += bad;
	}
	sqlite3_finalize(st);
	return 0;
}

static int count_rows(struct sqlite_conn *c, const char *table, int64_t *out)
{
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return KP_ESTORE;
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : KP_ESTORE;
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

int sqlite_verify(struct kp_conn *base, struct kp_verify_report *r)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	assert(r);
	memset(r, 0, sizeof *r);
	int rc = count_rows(c, "members", &r->members);
	if (!rc)
		rc = count_rows(c, "transfers", &r->transfers);
	if (!rc)
		rc = count_rows(c, "lots", &r->lots);
	if (!rc)
		rc = count_rows(c, "purchases", &r->purchases);
	for (size_t i = 0; !rc && i < kp_verify_checks_count; i++)
		rc = run_check(c, &kp_verify_checks[i], r);
	if (!rc)
		rc = run_check(c, &kp_verify_lines_readable_sqlite, r);
	if (!rc)
		rc = run_check(c, &kp_verify_lines_sqlite, r);
	return rc;
}
