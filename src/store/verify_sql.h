/*
 * verify_sql.h — the invariants `kopilka verify` checks with queries, in
 * SQL that both stores run as it is, and the one check each words its own way.
 */
#ifndef KP_STORE_VERIFY_SQL_H
#define KP_STORE_VERIFY_SQL_H

#include <stddef.h>

struct kp_verify_check {
	const char *what; /* the invariant, in words */
	const char *sql;  /* one row: count of violations, example text */
};

extern const struct kp_verify_check kp_verify_checks[];
extern const size_t kp_verify_checks_count;
/* The lines kept in a purchase's row, read with each dialect's JSON functions. */
extern const struct kp_verify_check kp_verify_lines_sqlite, kp_verify_lines_pg;
/*
 * Damaged lines' text would make the check above fail as a query. SQLite counts
 * it first (json_valid); PostgreSQL 15 has no such test, so pg_verify looks for
 * it row by row only when its lines check fails on a text that is not JSON.
 */
extern const char kp_verify_lines_readable[];
extern const struct kp_verify_check kp_verify_lines_readable_sqlite;

#endif
