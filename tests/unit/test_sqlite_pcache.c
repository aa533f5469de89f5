/*
 * test_sqlite_pcache.c — store/sqlite_pcache.h: the store installs its page
 * cache before SQLite starts; B-trees that split again and again, moving
 * pages through the temporary number, come out whole and hold every row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_pcache.h"
#include "test_tmpdb.h"

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

#define ROWS 40000
#define PER_TRANSACTION 200

static void test_splitting_btrees_stay_whole(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_create(&t, NULL); /* the store's first open installs the cache */
	assert_true(kp_sqlite_pcache_installed());
	uint64_t renumbered_before = kp_sqlite_pcache_renumbered();
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	exec(db, "PRAGMA journal_mode = WAL; PRAGMA cache_size = -65536;"
		 "CREATE TABLE r (id INTEGER PRIMARY KEY, k BLOB NOT NULL, v TEXT NOT NULL);"
		 "CREATE INDEX r_k ON r(k)");
	sqlite3_stmt *ins;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO r (k, v) VALUES (?, ?)", -1, &ins, NULL),
			 SQLITE_OK);
	/* Random keys into the index: leaves split everywhere, often into pages
	 * out of order, which SQLite swaps through the temporary number. */
	srand(7);
	int64_t sum = 0;
	for (int i = 0; i < ROWS; i++) {
		if (i % PER_TRANSACTION == 0)
			exec(db, "BEGIN");
		unsigned char k[40];
		for (size_t b = 0; b < sizeof k; b++)
			k[b] = (unsigned char)rand();
		char v[64];
		int len = snprintf(v, sizeof v, "row %d", i);
		sum += len;
		sqlite3_bind_blob(ins, 1, k, sizeof k, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, v, len, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
		if (i % PER_TRANSACTION == PER_TRANSACTION - 1)
			exec(db, "COMMIT");
	}
	sqlite3_finalize(ins);
	assert_true(kp_sqlite_pcache_renumbered() > renumbered_before); /* the path ran */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(one_int(db, "SELECT count(*) FROM r INDEXED BY r_k WHERE k >= x''"), ROWS);
	assert_int_equal(one_int(db, "SELECT sum(length(v)) FROM r"), sum);
	/* and again from the file, through a cache that starts empty */
	sqlite3_close(db);
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	assert_int_equal(one_int(db, "SELECT count(*) FROM r INDEXED BY r_k WHERE k >= x''"), ROWS);
	assert_int_equal(one_int(db, "SELECT sum(length(v)) FROM r NOT INDEXED"), sum);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splitting_btrees_stay_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
