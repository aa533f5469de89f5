/*
 * test_wal.c — the writer keeps SQLite's write-ahead log bounded
 * (store.h, bound_log) on a real database: commits that together write
 * several times the bound never leave more than the bound and one commit in
 * the log; a reader holding old frames lets the log grow, and past twice the
 * bound makes the writer give up after a short wait instead of stalling;
 * the log is bounded again once the reader is gone. Without bound_log the log only grows (the background
 * checkpoint copies pages but never starts the log again under load).
 * A background checkpoint that copied pages starts their write-back to the
 * disk (sync_file_range, interposed here), a fifth of the file at most every
 * 50 ms, so each page at most every 250 ms; within a sixteenth of the
 * bound it syncs the database file after each copy and asks to run again;
 * past the bound it leaves the copy to the writer for a few calls.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_tmpdb.h"

#define LIMIT (1024 * 1024)
#define DOC_BYTES (64 * 1024) /* about 17 pages a commit */

struct fixture {
	struct tmpdb db;
	struct kp_conn *w;
	char *doc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	tmpdb_create(&f->db, &f->w);
	assert_int_equal(f->w->ops->writer_mode(f->w), 0);
	f->doc = malloc(DOC_BYTES + 1);
	memset(f->doc, 'x', DOC_BYTES);
	f->doc[DOC_BYTES] = '\0';
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	f->w->ops->close(f->w);
	tmpdb_remove(&f->db);
	free(f->doc);
	free(f);
	return 0;
}

/* Frames in the log now, as another connection sees them. */
static int log_frames(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* a connection knows the log only once it has read */
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL),
			 SQLITE_OK);
	int nlog = -1, ncopied = -1;
	int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
	assert_true(rc == SQLITE_OK || rc == SQLITE_BUSY);
	sqlite3_close(db);
	return nlog;
}

static void commit_one(struct fixture *f, int i)
{
	f->doc[0] = (char)('a' + i % 26); /* every document its own row */
	int64_t version;
	assert_int_equal(f->w->ops->begin(f->w), 0);
	assert_int_equal(f->w->ops->program_insert(f->w, f->doc, i, &version), 0);
	assert_int_equal(f->w->ops->commit(f->w), 0);
}

static void test_log_stays_bounded(void **state)
{
	struct fixture *f = *state;
	int most = 0;
	for (int i = 0; i < 60; i++) { /* about 4 MiB written in all */
		commit_one(f, i);
		assert_int_equal(f->w->ops->bound_log(f->w, LIMIT), 0);
		int n = log_frames(f->db.path);
		most = n > most ? n : most;
	}
	/* the bound, plus the commit that crossed it */
	assert_true(most > 0);
	assert_true((int64_t)most * 4096 <= LIMIT + 2 * DOC_BYTES);
}

static void test_without_it_the_log_grows(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 60; i++)
		commit_one(f, i);
	/* the control: what the test above would see if bound_log did nothing */
	assert_true((int64_t)log_frames(f->db.path) * 4096 > 3 * LIMIT);
}

/* ---- write-back and syncs after a checkpoint ------------------------------ */

#define SLICES 5
static int writebacks;         /* sync_file_range calls on the watched file */
static ino_t watched_ino;      /* the watched file */
static unsigned writeback_flags;
static off64_t writeback_from[64], writeback_bytes[64];
static int own_syncs;          /* fdatasync of the watched file through a read-only descriptor */

static bool watched(int fd)
{
	struct stat st;
	return watched_ino && fstat(fd, &st) == 0 && st.st_ino == watched_ino;
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags)
{
	static int (*real)(int, off64_t, off64_t, unsigned int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sync_file_range");
	if (watched(fd) && writebacks < 64) {
		writeback_from[writebacks] = offset;
		writeback_bytes[writebacks] = nbytes;
		writebacks++;
		writeback_flags = flags;
	}
	return real(fd, offset, nbytes, flags);
}

/* SQLite syncs the database file through its own read-write descriptor when
 * a checkpoint copies the whole log; the checkpoint's own syncs near the
 * bound go through the read-only one it writes back with. */
int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	if (watched(fd) && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
		own_syncs++;
	return real(fd);
}

/* Checkpoints run in this process, the tests' own included. */
static int checkpoints;

int sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *name, int mode, int *log, int *copied)
{
	static int (*real)(sqlite3 *, const char *, int, int *, int *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_wal_checkpoint_v2");
	checkpoints++;
	return real(db, name, mode, log, copied);
}

static struct kp_conn *open_checkpointer(struct fixture *f)
{
	struct stat st;
	assert_int_equal(stat(f->db.path, &st), 0);
	watched_ino = st.st_ino;
	char err[256];
	struct kp_conn *cp;
	assert_int_equal(kp_store_open(f->db.path, false, &cp, err, sizeof err), 0);
	writebacks = own_syncs = 0;
	return cp;
}

static void close_checkpointer(struct kp_conn *cp)
{
	cp->ops->close(cp);
	watched_ino = 0;
}

static void test_checkpoint_writes_back_a_slice_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct kp_conn *cp = open_checkpointer(f);
	for (int i = 0; i < 3; i++)
		commit_one(f, i);
	bool again = true;
	assert_int_equal(cp->ops->checkpoint(cp, LIMIT * 64, &again), 0);
	assert_false(again); /* copied everything: nobody appended meanwhile */
	assert_int_equal(writebacks, 1);
	assert_int_equal(writeback_flags, SYNC_FILE_RANGE_WRITE); /* start it, do not wait */
	commit_one(f, 3);
	assert_int_equal(cp->ops->checkpoint(cp, LIMIT * 64, &again), 0);
	assert_int_equal(writebacks, 1); /* new pages, but too soon: with the next slice */
	struct timespec fifth = {0, 55 * 1000 * 1000};
	for (int i = 1; i < SLICES; i++) {
		nanosleep(&fifth, NULL);
		commit_one(f, 3 + i); /* the file grows meanwhile */
		assert_int_equal(cp->ops->checkpoint(cp, LIMIT * 64, &again), 0);
		assert_int_equal(writebacks, i + 1);
	}
	/* one round: contiguous slices of whole pages from the start, the last
	 * to the end of the file however it grew */
	assert_int_equal(writeback_from[0], 0);
	for (int i = 1; i < SLICES; i++) {
		assert_true(writeback_bytes[i - 1] > 0 && writeback_bytes[i - 1] % 4096 == 0);
		assert_int_equal(writeback_from[i], writeback_from[i - 1] + writeback_bytes[i - 1]);
	}
	assert_int_equal(writeback_bytes[SLICES - 1], 0);
	nanosleep(&fifth, NULL);
	commit_one(f, 9);
	assert_int_equal(cp->ops->checkpoint(cp, LIMIT * 64, &again), 0);
	assert_int_equal(writebacks, SLICES + 1);
	assert_int_equal(writeback_from[SLICES], 0); /* the next round */
	assert_int_equal(own_syncs, 0); /* far from the bound */
	close_checkpointer(cp);
}

static void test_near_the_bound_the_checkpoint_syncs_the_database(void **state)
{
	struct fixture *f = *state;
	struct kp_conn *cp = open_checkpointer(f);
	for (int i = 0; i < 3; i++)
		commit_one(f, i);
	int64_t log_bytes = (int64_t)log_frames(f->db.path) * 4096;
	bool again = true;
	/* four times the log: far from it */
	assert_int_equal(cp->ops->checkpoint(cp, 4 * log_bytes, &again), 0);
	assert_false(again);
	assert_int_equal(own_syncs, 0);
	/* the log just at the bound: within a sixteenth of it */
	commit_one(f, 3);
	log_bytes = (int64_t)log_frames(f->db.path) * 4096;
	assert_int_equal(cp->ops->checkpoint(cp, log_bytes, &again), 0);
	assert_true(again);
	assert_int_equal(own_syncs, 1);
	/* nothing new since: neither a sync nor a call again (no busy loop) */
	assert_int_equal(cp->ops->checkpoint(cp, log_bytes, &again), 0);
	assert_false(again);
	assert_int_equal(own_syncs, 1);
	/* past the bound the writer copies (bound_log): this one keeps out of
	 * its way, not even trying for the next four calls */
	commit_one(f, 4); /* all was copied: the log started again */
	log_bytes = (int64_t)log_frames(f->db.path) * 4096;
	int64_t bound = log_bytes * 3 / 4;
	assert_int_equal(cp->ops->checkpoint(cp, bound, &again), 0);
	assert_false(again);
	assert_int_equal(own_syncs, 1);
	int before = checkpoints;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cp->ops->checkpoint(cp, bound, &again), 0);
		assert_false(again);
	}
	assert_int_equal(checkpoints, before);
	assert_int_equal(cp->ops->checkpoint(cp, bound, &again), 0);
	assert_int_equal(checkpoints, before + 1); /* tried, still past it: four more */
	for (int i = 0; i < 4; i++)
		assert_int_equal(cp->ops->checkpoint(cp, bound, &again), 0);
	assert_int_equal(checkpoints, before + 1);
	/* past twice the bound readers hold the log: both copy */
	assert_int_equal(cp->ops->checkpoint(cp, log_bytes / 4, &again), 0);
	assert_int_equal(cp->ops->checkpoint(cp, log_bytes / 4, &again), 0);
	assert_int_equal(checkpoints, before + 3);
	close_checkpointer(cp);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_a_long_reader_does_not_stall_the_writer(void **state)
{
	struct fixture *f = *state;
	commit_one(f, 0);
	sqlite3 *reader;
	assert_int_equal(sqlite3_open(f->db.path, &reader), SQLITE_OK);
	assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM programs;", NULL,
				      NULL, NULL), SQLITE_OK); /* holds the first commit's frames */
	double slowest = 0;
	for (int i = 1; i < 40; i++) {
		commit_one(f, i);
		double t0 = now_s();
		assert_int_equal(f->w->ops->bound_log(f->w, LIMIT), 0);
		double took = now_s() - t0;
		slowest = took > slowest ? took : slowest;
	}
	assert_true(slowest < 1.0); /* gave up after a short wait, not the 5 s busy timeout */
	assert_true((int64_t)log_frames(f->db.path) * 4096 > LIMIT); /* could not start again */
	sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(reader);
	for (int i = 40; i < 60; i++) {
		commit_one(f, i);
		assert_int_equal(f->w->ops->bound_log(f->w, LIMIT), 0);
	}
	assert_true((int64_t)log_frames(f->db.path) * 4096 <= LIMIT + 2 * DOC_BYTES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_stays_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_it_the_log_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_long_reader_does_not_stall_the_writer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_writes_back_a_slice_at_a_time, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_near_the_bound_the_checkpoint_syncs_the_database,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
