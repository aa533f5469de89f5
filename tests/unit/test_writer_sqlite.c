/*
 * test_writer_sqlite.c — repeatable jobs (writer.h) on a real SQLite store:
 * jobs in one batch run with no savepoint, and one that fails after writing
 * is taken out — the batch is rolled back and runs again without it, so its
 * rows are not committed and the others' are, once each, with the ids the
 * store hands out within the transaction (lot_next_id) counted again after
 * the rollback. test_writer.c checks the same logic on a fake store; this
 * one checks SQLite's side of it (total_changes, the rollback, the id cache).
 *
 * And that a job is answered only once its commit is on the disk: the
 * writer's connection commits without syncing (store.h, sync_log), so
 * fdatasync is interposed here to see which file each sync reached and how
 * much of it was written by then.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/writer.h"
#include "test_tmpdb.h"
#include "util/error.h"
#include "util/timeutil.h"

#define JOBS 6

/* ---- which syncs reached the WAL -------------------------------------------- */

static atomic_ullong wal_ino;     /* the WAL file watched; 0 = none */
static atomic_llong wal_durable;  /* its size when the last finished sync of it began */
static atomic_int wal_syncs;

int fdatasync(int fd);

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	struct stat st;
	bool wal = fstat(fd, &st) == 0 && (unsigned long long)st.st_ino == atomic_load(&wal_ino);
	int rc = real(fd);
	if (wal && rc == 0) {
		atomic_fetch_add(&wal_syncs, 1);
		atomic_store(&wal_durable, (long long)st.st_size);
	}
	return rc;
}

static int64_t member_id;

struct lot_job {
	int64_t points;    /* the lot's points: tells the jobs apart */
	bool fail_after;   /* insert, then refuse */
	bool fail_before;  /* refuse without writing */
	int runs, calls, rc;
	pthread_mutex_t *gate; /* the blocker holds the writer until the others are queued */
};

static int lot_job(struct kp_conn *c, void *arg)
{
	struct lot_job *j = arg;
	j->runs++;
	if (j->gate) {
		pthread_mutex_lock(j->gate);
		pthread_mutex_unlock(j->gate);
	}
	if (j->fail_before)
		return KP_EINVAL;
	int rc = tmpdb_add_lot(c, member_id, j->points);
	return rc ? rc : j->fail_after ? KP_EINVAL : 0;
}

static void told(void *arg, int rc)
{
	struct lot_job *j = arg;
	j->calls++;
	j->rc = rc;
}

static void test_repeatable_on_sqlite(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *w;
	member_id = tmpdb_create_with_member(&t, &w);
	assert_true(w->ops->changes(w) >= 1);

	assert_int_equal(w->ops->writer_mode(w), 0); /* as the engine hands it to the writer */
	struct kp_writer *writer;
	assert_int_equal(kp_writer_start(w, 64, 64, &writer), 0);
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&gate);
	struct lot_job blocker = {.points = 1000, .gate = &gate};
	kp_writer_submit_async(writer, KP_JOB_REPEATABLE, lot_job, &blocker, told);
	struct timespec pause = {0, 50 * 1000 * 1000};
	nanosleep(&pause, NULL); /* the writer is inside the blocker's batch */
	struct lot_job jobs[JOBS];
	for (int i = 0; i < JOBS; i++)
		jobs[i] = (struct lot_job){.points = 10 + i};
	jobs[1].fail_before = true;
	jobs[3].fail_after = true;
	for (int i = 0; i < JOBS; i++)
		kp_writer_submit_async(writer, KP_JOB_REPEATABLE, lot_job, &jobs[i], told);
	pthread_mutex_unlock(&gate);
	kp_writer_stop(writer); /* runs the queued batch, closes w */

	assert_int_equal(blocker.rc, 0);
	for (int i = 0; i < JOBS; i++)
		assert_int_equal(jobs[i].calls, 1);
	assert_int_equal(jobs[1].rc, KP_EINVAL);
	assert_int_equal(jobs[3].rc, KP_EINVAL);
	/* job 3 wrote, then failed: the batch rolled back and ran 0–2 again */
	assert_int_equal(jobs[0].runs, 2);
	assert_int_equal(jobs[2].runs, 2);
	assert_int_equal(jobs[3].runs, 1);
	assert_int_equal(jobs[4].runs, 1);

	/* Committed: the blocker's lot and those of jobs 0, 2, 4, 5; ids distinct. */
	char err[256];
	struct kp_conn *r;
	assert_int_equal(kp_store_open(t.path, false, &r, err, sizeof err), 0);
	struct kp_lot lots[16];
	size_t n = 0;
	assert_int_equal(r->ops->lots_load(r, member_id, NULL, 0, lots, 16, &n), 0);
	assert_int_equal(n, 5);
	int64_t points = 0;
	for (size_t i = 0; i < n; i++) {
		points += lots[i].points;
		for (size_t k = 0; k < i; k++)
			assert_true(lots[i].id != lots[k].id);
	}
	assert_int_equal(points, 1000 + 10 + 12 + 14 + 15);
	r->ops->close(r);
	tmpdb_remove(&t);
}

static int one_lot(struct kp_conn *c, void *arg)
{
	(void)arg;
	return tmpdb_add_lot(c, member_id, 7);
}

static void test_answered_once_on_disk(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *w;
	member_id = tmpdb_create_with_member(&t, &w);
	char wal[128];
	snprintf(wal, sizeof wal, "%s-wal", t.path);
	struct stat st;
	assert_int_equal(stat(wal, &st), 0);
	atomic_store(&wal_ino, (unsigned long long)st.st_ino);

	assert_int_equal(w->ops->writer_mode(w), 0);
	struct kp_writer *writer;
	assert_int_equal(kp_writer_start(w, 64, 64, &writer), 0);
	/* One job at a time, so when it is answered nothing was committed after
	 * it: the WAL's whole length must be durable, by a sync of the WAL. */
	for (int i = 0; i < 20; i++) {
		int syncs = atomic_load(&wal_syncs);
		assert_int_equal(kp_writer_submit(writer, one_lot, NULL), 0);
		assert_int_equal(stat(wal, &st), 0);
		assert_true(atomic_load(&wal_syncs) > syncs);
		assert_true(atomic_load(&wal_durable) >= (long long)st.st_size);
	}
	struct kp_writer_stats ws;
	kp_writer_stats(writer, &ws);
	assert_true(ws.syncs >= 20);
	assert_int_equal(ws.sync_failures, 0);
	kp_writer_stop(writer);
	atomic_store(&wal_ino, 0);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeatable_on_sqlite),
		cmocka_unit_test(test_answered_once_on_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
