/*
 * test_sqlite_config.c — the process-wide SQLite settings the store makes
 * before SQLite's first use (store/sqlite.c, configure_library): memory
 * statistics off, so that no allocation of any connection takes SQLite's
 * global memory mutex. The store must be the first to touch SQLite here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "test_tmpdb.h"

static void test_memory_statistics_are_off(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *c = NULL;
	tmpdb_create(&t, &c); /* the first SQLite call of this process */
	struct kp_member_row m;
	tmpdb_member(c, &m); /* a write transaction: many allocations */
	/* With the statistics on, SQLite counts every byte it holds. */
	assert_int_equal(sqlite3_memory_used(), 0);
	assert_int_equal(sqlite3_memory_highwater(0), 0);
	c->ops->close(c);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_statistics_are_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
