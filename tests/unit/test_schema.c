/*
 * test_schema.c — in a database made by all the migrations, every foreign
 * key of the SQLite schema has an index that starts with its column, and no
 * INSERT builds a temporary B-tree to check a constraint, while the
 * constraints still refuse what they refused; and the reads a quote makes
 * once for each of the member's lots and purchases come from an index alone.
 *
 * Jobs write referring rows before the row they refer to (foreign keys are
 * deferred); SQLite then looks up the referring rows of each new referred
 * row, and without such an index scans the whole referring table on every
 * purchase (migration 0006 says what that cost). A CHECK with a list of
 * three or more values made every purchase build and drop a B-tree of the
 * list (migration 0007). Reading a member's open lots through an index
 * that lacked their columns searched the table once for each lot, the
 * largest cost of a quote in SQLite (migration 0008). Holds stored before
 * migration 0009 count no spend after it: a rolling tier window sums it.
 * Spending from a lot writes its row and the one index its readers use
 * (migration 0010), and the jobs' scan of due lots still reads that index.
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

#include "store/sql.h"
#include "store/sqlite_int.h"
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

/* Whether compiling sql on db gives a program that opens a temporary B-tree. */
static bool opens_ephemeral(sqlite3 *db, const char *sql)
{
	char explain[256];
	snprintf(explain, sizeof explain, "EXPLAIN %s", sql);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
	bool found = false;
	while (sqlite3_step(st) == SQLITE_ROW)
		found |= strcmp((const char *)sqlite3_column_text(st, 1), "OpenEphemeral") == 0;
	sqlite3_finalize(st);
	return found;
}

static void test_inserts_check_without_temporary_trees(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *c;
	tmpdb_create(&t, &c);
	/* the connection that migrated, as the writer is: it read the schema again */
	sqlite3 *db = ((struct sqlite_conn *)c)->db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_schema WHERE type = 'table' "
					    "AND name NOT LIKE 'sqlite_%' ORDER BY 1",
					    -1, &st, NULL),
			 SQLITE_OK);
	int tables = 0, with_trees = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(st, 0);
		char sql[128];
		snprintf(sql, sizeof sql, "INSERT INTO %s DEFAULT VALUES", table);
		tables++;
		if (opens_ephemeral(db, sql)) {
			print_error("an INSERT into %s builds a temporary B-tree\n", table);
			with_trees++;
		}
	}
	sqlite3_finalize(st);
	c->ops->close(c);
	tmpdb_remove(&t);
	assert_true(tables > 20);
	assert_int_equal(with_trees, 0);
}

/* Run sql on db; its result code (extended). */
static int run(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? rc : sqlite3_extended_errcode(db);
}

static void test_rewritten_checks_still_refuse(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_create(&t, NULL);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK); /* foreign keys off */
	static const char purchase[] =
		"INSERT INTO purchases (partner, receipt_id, program_version, at, request_hash, "
		"subtotal, discount, points_redeemed, certificates, to_pay, points_earned, answer, "
		"spend, status) VALUES ('main', '%s', 1, 0, '', 0, 0, 0, 0, 0, 0, '{}', 0, '%s')";
	static const char *const statuses[] = {"committed", "held", "cancelled"};
	char sql[512];
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof sql, purchase, statuses[i], statuses[i]);
		assert_int_equal(run(db, sql), SQLITE_OK);
	}
	snprintf(sql, sizeof sql, purchase, "r4", "refunded");
	assert_int_equal(run(db, sql), SQLITE_CONSTRAINT_CHECK);
	assert_int_equal(run(db, "UPDATE purchases SET status = 'open' WHERE receipt_id = 'held'"),
			 SQLITE_CONSTRAINT_CHECK);
	assert_int_equal(run(db, "INSERT INTO referrals (referee_id, referrer_id, status) "
				 "VALUES (1, 2, 'waiting')"),
			 SQLITE_OK);
	assert_int_equal(run(db, "INSERT INTO referrals (referee_id, referrer_id, status) "
				 "VALUES (3, 2, 'lost')"),
			 SQLITE_CONSTRAINT_CHECK);
	assert_int_equal(run(db, "INSERT INTO coupons (code, kind, value, max_uses, per_member, "
				 "valid_from, valid_to, min_subtotal, created_at) "
				 "VALUES ('A', 'gift', 1, 1, 1, 0, 0, 0, 0)"),
			 SQLITE_CONSTRAINT_CHECK);
	assert_int_equal(run(db, "INSERT INTO api_keys (hash, role, created_at) "
				 "VALUES ('h', 'root', 0)"),
			 SQLITE_CONSTRAINT_CHECK);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/* Whether SQLite plans sql as a search of one covering index (index, if not
 * NULL) and nothing else. */
static bool from_index_alone(sqlite3 *db, const char *sql, const char *index)
{
	char explain[1024];
	snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
	int steps = 0, covered = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(st, 3);
		steps++;
		static const char covering[] = " USING COVERING INDEX ";
		const char *using = strstr(detail, covering);
		if (strncmp(detail, "SEARCH ", 7) == 0 && using &&
		    (!index || strncmp(using + strlen(covering), index, strlen(index)) == 0))
			covered++;
		else
			print_error("%s: %s\n", sql, detail);
	}
	sqlite3_finalize(st);
	return steps == 1 && covered == 1;
}

static void test_per_row_reads_of_a_quote_use_an_index_alone(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_create(&t, NULL);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	assert_true(from_index_alone(db, kp_sql_common[Q_LOTS_OPEN], NULL));
	assert_true(from_index_alone(db, kp_sql_common[Q_MEMBER_SPEND_SINCE], NULL));
	/* and it is a search of the member's lots, not of every open lot */
	assert_true(from_index_alone(db, kp_sql_common[Q_LOTS_COUNT_OPEN], NULL));
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/* How many times the program of sql writes an index entry (OP_IdxInsert). */
static int index_writes(sqlite3 *db, const char *sql)
{
	char explain[1024];
	snprintf(explain, sizeof explain, "EXPLAIN %s", sql);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
	int writes = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		writes += strcmp((const char *)sqlite3_column_text(st, 1), "IdxInsert") == 0;
	sqlite3_finalize(st);
	return writes;
}

static void test_spending_from_a_lot_writes_one_index(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_create(&t, NULL);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	/* lots_member_open carries remaining; lots_expiry and lots_pending did too
	 * (in their WHERE), and no query read them */
	assert_int_equal(index_writes(db, kp_sql_common[Q_LOT_UPDATE]), 1);
	/* the scan of due lots walks the members in order on that index, and
	 * sorts nothing */
	assert_true(from_index_alone(db, kp_sql_common[Q_DUE_MEMBERS],
				     "lots_member_open (member_id>?)"));
	sqlite3_close(db);
	tmpdb_remove(&t);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void test_holds_stored_before_0009_count_no_spend(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_create(&t, NULL);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	/* three purchases as a version-8 database held them, each with its spend
	 * (the migrations made partner "main") */
	exec(db, "INSERT INTO programs (version, document, created_at) VALUES (1, '{}', 0)");
	static const char *const statuses[] = {"committed", "held", "cancelled"};
	for (int i = 0; i < 3; i++) {
		char sql[512];
		snprintf(sql, sizeof sql,
			 "INSERT INTO purchases (id, partner, receipt_id, program_version, at, "
			 "request_hash, subtotal, discount, points_redeemed, certificates, to_pay, "
			 "points_earned, answer, spend, status) VALUES (%d, 'main', 'R-%d', 1, 0, "
			 "'h', 1000, 100, 0, 0, 900, 0, '{}', 900, '%s')",
			 i + 1, i + 1, statuses[i]);
		exec(db, sql);
	}
	exec(db, "ALTER TABLE purchases DROP COLUMN lines");  /* added by 0011 */
	exec(db, "ALTER TABLE members DROP COLUMN segments"); /* added by 0012 */
	exec(db, "PRAGMA user_version = 8");
	sqlite3_close(db);
	struct kp_conn *c;
	char err[256];
	assert_int_equal(kp_store_open(t.path, true, &c, err, sizeof err), 0); /* migrates */
	c->ops->close(c);
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT status, spend FROM purchases ORDER BY id",
					    -1, &st, NULL),
			 SQLITE_OK);
	static const int64_t spend[] = {900, 0, 0}; /* the committed one keeps its spend */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), statuses[i]);
		assert_int_equal(sqlite3_column_int64(st, 1), spend[i]);
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_foreign_key_is_indexed),
		cmocka_unit_test(test_inserts_check_without_temporary_trees),
		cmocka_unit_test(test_rewritten_checks_still_refuse),
		cmocka_unit_test(test_per_row_reads_of_a_quote_use_an_index_alone),
		cmocka_unit_test(test_holds_stored_before_0009_count_no_spend),
		cmocka_unit_test(test_spending_from_a_lot_writes_one_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
