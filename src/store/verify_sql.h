/*
 * verify_sql.h — the invariants `kopilka verify` checks with queries, in
 * SQL that both stores run as it is (see verify_sql.c).
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

#endif
