/*
 * test_schema.c — every foreign key of the SQLite schema has an index that
 * starts with its column, in a database made by all the migrations.
 *
 * Jobs write referring rows before the row they refer to (foreign keys are
 * deferred); SQLite then looks up the referring rows of each new referred
 * row, and without such an index scans the whole referring table on every
 * purchase (migration 0006 says what that cost).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_tmpdb.h"

/* Whether an index of table starts with column (partial ones count: the
 * lookup "column = ?" implies "column IS NOT NULL"). */
static bool indexed(sqlite3 *db, const char *table, const char *column)
{
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT 1 FROM pragma_index_list('%s') AS l, pragma_index_info(l.name) AS i "
		 "WHERE i.seqno = 0 AND i.name = '%s'",
		 table, column);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static void test_every_foreign_key_is_indexed(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_create(&t, NULL);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT m.name, f.\"from\", f.\"table\" FROM sqlite_master m, "
					    "pragma_foreign_key_list(m.name) f WHERE m.type = 'table' "
					    "ORDER BY 1, 2",
					    -1, &st, NULL),
			 SQLITE_OK);
	int keys = 0, missing = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(st, 0);
		const char *column = (const char *)sqlite3_column_text(st, 1);
		keys++;
		/* an INTEGER PRIMARY KEY is the table's own key: no index needed */
		char pk[256];
		snprintf(pk, sizeof pk,
			 "SELECT 1 FROM pragma_table_info('%s') WHERE name = '%s' AND pk = 1 AND "
			 "type = 'INTEGER' AND (SELECT count(*) FROM pragma_table_info('%s') "
			 "WHERE pk > 0) = 1",
			 table, column, table);
		sqlite3_stmt *p;
		assert_int_equal(sqlite3_prepare_v2(db, pk, -1, &p, NULL), SQLITE_OK);
		bool rowid = sqlite3_step(p) == SQLITE_ROW;
		sqlite3_finalize(p);
		/* Programs are written by a job of their own, never while a reference
		 * is pending; an index on every purchase's version would cost each
		 * purchase an insert for nothing. */
		bool exempt = strcmp(table, "purchases") == 0 && strcmp(column, "program_version") == 0;
		if (!rowid && !exempt && !indexed(db, table, column)) {
			print_error("%s.%s refers to %s and has no index\n", table, column,
				    (const char *)sqlite3_column_text(st, 2));
			missing++;
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	tmpdb_remove(&t);
	assert_true(keys > 20); /* the schema has them: the query found them */
	assert_int_equal(missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_foreign_key_is_indexed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
