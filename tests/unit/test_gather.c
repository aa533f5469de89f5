/*
 * test_gather.c — the gathering VFS (store/sqlite_gather.h): a commit's WAL
 * frames reach the file in a few large writes instead of two per frame, and
 * SQLite's guarantees stay: another connection sees each commit as soon as it
 * returns, a transaction larger than the cache reads back what it spilled, a
 * failed write fails the commit and loses nothing committed before, and the
 * file holds the same database whoever opens it next.
 *
 * Under the gathering VFS sits a counting one, over the default VFS, which
 * records the WAL writes that reach it and can be told to fail them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_gather.h"
#include "test_tmpdb.h"

#define COUNTING "test-counting"
#define GATHERING "test-gathering"
#define FRAME_BYTES (4096 + 24)
#define UNIX_WRITE_LIMIT 0x1ffff /* os_unix.c masks a write's length with this */

/* ---- the counting VFS ---------------------------------------------------- */

static struct {
	int wal_writes;
	long long wal_bytes;
	int largest;
	int fail_writes; /* fail this many WAL writes from now */
} seen;

struct counting_file {
	sqlite3_file file;
	sqlite3_file *real;
};

static sqlite3_io_methods counting_methods;
static const sqlite3_io_methods *real_methods;

static int c_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 offset)
{
	struct counting_file *f = (struct counting_file *)file;
	if (seen.fail_writes > 0) {
		seen.fail_writes--;
		return SQLITE_IOERR_WRITE;
	}
	seen.wal_writes++;
	seen.wal_bytes += n;
	if (n > seen.largest)
		seen.largest = n;
	return real_methods->xWrite(f->real, data, n, offset);
}

#define FORWARD(name, params, args)                                                  \
	static int c_##name params                                                   \
	{                                                                            \
		struct counting_file *f = (struct counting_file *)file;              \
		return real_methods->x##name args;                                   \
	}
FORWARD(Close, (sqlite3_file * file), (f->real))
FORWARD(Read, (sqlite3_file * file, void *p, int n, sqlite3_int64 o), (f->real, p, n, o))
FORWARD(Truncate, (sqlite3_file * file, sqlite3_int64 size), (f->real, size))
FORWARD(Sync, (sqlite3_file * file, int flags), (f->real, flags))
FORWARD(FileSize, (sqlite3_file * file, sqlite3_int64 *size), (f->real, size))
FORWARD(Lock, (sqlite3_file * file, int level), (f->real, level))
FORWARD(Unlock, (sqlite3_file * file, int level), (f->real, level))
FORWARD(CheckReservedLock, (sqlite3_file * file, int *out), (f->real, out))
FORWARD(FileControl, (sqlite3_file * file, int op, void *arg), (f->real, op, arg))
FORWARD(SectorSize, (sqlite3_file * file), (f->real))
FORWARD(DeviceCharacteristics, (sqlite3_file * file), (f->real))

static sqlite3_vfs counting_vfs;

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	if (!(flags & SQLITE_OPEN_WAL))
		return real->xOpen(real, name, file, flags, out);
	struct counting_file *f = (struct counting_file *)file;
	f->real = (sqlite3_file *)(f + 1);
	int rc = real->xOpen(real, name, f->real, flags, out);
	if (rc != SQLITE_OK)
		return rc;
	real_methods = f->real->pMethods;
	counting_methods = (sqlite3_io_methods){
		.iVersion = 1, .xClose = c_Close, .xRead = c_Read, .xWrite = c_write,
		.xTruncate = c_Truncate, .xSync = c_Sync, .xFileSize = c_FileSize,
		.xLock = c_Lock, .xUnlock = c_Unlock, .xCheckReservedLock = c_CheckReservedLock,
		.xFileControl = c_FileControl, .xSectorSize = c_SectorSize,
		.xDeviceCharacteristics = c_DeviceCharacteristics};
	f->file.pMethods = &counting_methods;
	return SQLITE_OK;
}

static void register_vfs(void)
{
	static bool done;
	if (done)
		return;
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	assert_non_null(real);
	counting_vfs = *real;
	counting_vfs.zName = COUNTING;
	counting_vfs.pAppData = real;
	counting_vfs.szOsFile = (int)sizeof(struct counting_file) + real->szOsFile;
	counting_vfs.xOpen = c_open;
	assert_int_equal(sqlite3_vfs_register(&counting_vfs, 0), SQLITE_OK);
	assert_int_equal(kp_sqlite_gather_register(GATHERING, COUNTING), SQLITE_OK);
	done = true;
}

/* ---- helpers --------------------------------------------------------------- */

static void exec_ok(sqlite3 *db, const char *sql)
{
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static sqlite3 *open_db(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 vfs),
			 SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		    "PRAGMA wal_autocheckpoint = 0;");
	return db;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Insert n rows of `bytes` random bytes each, in one transaction; the rc of COMMIT. */
static int insert_rows(sqlite3 *db, int n, int bytes)
{
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (randomblob(?))", -1,
					    &st, NULL),
			 SQLITE_OK);
	int rc = SQLITE_OK;
	for (int i = 0; i < n && rc == SQLITE_OK; i++) {
		sqlite3_bind_int(st, 1, bytes);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static void check_intact(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* A new database through the gathering VFS, with table t(id, v). */
static sqlite3 *open_with_table(struct tmpdb *t)
{
	register_vfs();
	tmpdb_make_dir(t); /* the database itself is made through the VFS */
	sqlite3 *db = open_db(t->path, GATHERING);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
	return db;
}

/* Opened afresh with SQLite's own VFS, the file holds rows rows and is intact. */
static void check_reopened(const char *path, int64_t rows)
{
	sqlite3 *db = open_db(path, NULL);
	assert_int_equal(one_int(db, "SELECT count(*) FROM t"), rows);
	check_intact(db);
	sqlite3_close(db);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_a_commit_is_written_in_few_writes(void **state)
{
	(void)state;
	struct tmpdb t;
	sqlite3 *db = open_with_table(&t);
	seen.wal_writes = 0;
	seen.wal_bytes = 0;
	seen.largest = 0;
	/* 200 rows of 3,000 bytes: a page each, so 200 frames and more. */
	assert_int_equal(insert_rows(db, 200, 3000), SQLITE_OK);
	long long frames = seen.wal_bytes / FRAME_BYTES;
	assert_true(frames >= 200);
	/* Two writes a frame without gathering; with it, one per 124 KiB or so. */
	assert_true(seen.wal_writes <= seen.wal_bytes / (100 * 1024) + 2);
	assert_true(seen.largest <= UNIX_WRITE_LIMIT);
	assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 200);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

static void test_another_connection_sees_each_commit(void **state)
{
	(void)state;
	struct tmpdb t;
	sqlite3 *w = open_with_table(&t);
	sqlite3 *r = open_db(t.path, NULL); /* SQLite's own VFS: reads the file as it is */
	int64_t rows = 0, bytes = 0;
	for (int i = 1; i <= 60; i++) {
		int n = 1 + (i * 7) % 23, size = 100 + (i * 977) % 5000;
		assert_int_equal(insert_rows(w, n, size), SQLITE_OK);
		rows += n;
		bytes += (int64_t)n * size;
		assert_int_equal(one_int(r, "SELECT count(*) FROM t"), rows);
		assert_int_equal(one_int(r, "SELECT sum(length(v)) FROM t"), bytes);
		if (i % 20 == 0) /* the WAL starts again: writes from offset 0 */
			assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL,
								   SQLITE_CHECKPOINT_RESTART,
								   NULL, NULL),
					 SQLITE_OK);
	}
	check_intact(r);
	sqlite3_close(r);
	sqlite3_close(w);
	check_reopened(t.path, rows);
	tmpdb_remove(&t);
}

static void test_a_transaction_larger_than_the_cache(void **state)
{
	(void)state;
	struct tmpdb t;
	sqlite3 *db = open_with_table(&t);
	/* A 20-page cache: the transaction spills pages to the WAL and reads
	 * them back; 12 MiB of rows also overflows the VFS's buffer. */
	exec_ok(db, "PRAGMA cache_size = 20; CREATE INDEX t_v ON t(v);");
	assert_int_equal(insert_rows(db, 4000, 3000), SQLITE_OK);
	assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 4000);
	assert_int_equal(one_int(db, "SELECT sum(length(v)) FROM t"), 4000 * 3000);
	check_intact(db);
	sqlite3_close(db);
	check_reopened(t.path, 4000);
	tmpdb_remove(&t);
}

static void test_a_failed_write_fails_the_commit_alone(void **state)
{
	(void)state;
	struct tmpdb t;
	sqlite3 *db = open_with_table(&t);
	assert_int_equal(insert_rows(db, 10, 2000), SQLITE_OK);
	sqlite3 *r = open_db(t.path, NULL);
	seen.fail_writes = 1; /* the commit's gathered write */
	assert_int_not_equal(insert_rows(db, 30, 2000), SQLITE_OK);
	seen.fail_writes = 0;
	assert_int_equal(one_int(r, "SELECT count(*) FROM t"), 10);
	/* The connection goes on: the next commit writes where that one failed. */
	assert_int_equal(insert_rows(db, 5, 2000), SQLITE_OK);
	assert_int_equal(one_int(r, "SELECT count(*) FROM t"), 15);
	assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 15);
	check_intact(r);
	sqlite3_close(r);
	sqlite3_close(db);
	check_reopened(t.path, 15);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_commit_is_written_in_few_writes),
		cmocka_unit_test(test_another_connection_sees_each_commit),
		cmocka_unit_test(test_a_transaction_larger_than_the_cache),
		cmocka_unit_test(test_a_failed_write_fails_the_commit_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
