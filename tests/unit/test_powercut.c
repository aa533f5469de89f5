/*
 * test_powercut.c — an answered write survives a power cut, with the
 * writer's sync thread (writer.h): the writer commits without syncing and
 * the sync thread answers a batch only after an fdatasync of the WAL.
 *
 * A power cut keeps of each file what was on the disk: what it held when it
 * was last synced, at the latest. fsync and fdatasync are interposed here
 * and, before the real call, copy the file as it is then into a "durable"
 * directory — the image a power cut at that moment would leave (the
 * kernel's unsynced pages are lost; SQLite's checksums make a torn tail of
 * the WAL count as absent, which this image shows the same way). While jobs
 * run, the test "cuts the power" a few times: under the same lock, it copies
 * the durable images aside and notes which jobs had been answered. Then each
 * image is opened as a database (SQLite recovers the WAL) and must hold
 * every job answered before its cut, and be intact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/writer.h"
#include "test_tmpdb.h"
#include "util/error.h"
#include "util/timeutil.h"

#define JOBS 400
#define CUTS 3

static pthread_mutex_t disk = PTHREAD_MUTEX_INITIALIZER; /* syncs and cuts */
static char watched[64];   /* the test's directory: its files are imaged */
static int images_taken;

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		unlink(to); /* no file: none in the image either */
		return;
	}
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char buf[1 << 16];
	ssize_t n;
	while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	if (out >= 0)
		close(out);
	close(in);
}

/* The file behind fd, if it is one of the test's (not the durable copies). */
static bool watched_path(int fd, char *path, size_t cap)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, cap - 1);
	if (n <= 0 || !watched[0])
		return false;
	path[n] = '\0';
	size_t dir = strlen(watched);
	return strncmp(path, watched, dir) == 0 && path[dir] == '/' && !strchr(path + dir + 1, '/');
}

/* Before a sync: what the file holds now is on the disk once it returns. */
static void image(int fd)
{
	char path[PATH_MAX], to[PATH_MAX + 16];
	if (!watched_path(fd, path, sizeof path))
		return;
	snprintf(to, sizeof to, "%s/durable/%s", watched, strrchr(path, '/') + 1);
	pthread_mutex_lock(&disk);
	copy_file(path, to);
	images_taken++;
	pthread_mutex_unlock(&disk);
}

int fsync(int fd);
int fdatasync(int fd);

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fsync");
	image(fd);
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	image(fd);
	return real(fd);
}

/* ---- jobs: each adds one lot of its own number of points ------------------- */

static int64_t member_id;

struct lot_job {
	int64_t points;
	atomic_bool answered; /* 0 and told */
	atomic_int calls;
};

static int lot_job(struct kp_conn *c, void *arg)
{
	return tmpdb_add_lot(c, member_id, ((struct lot_job *)arg)->points);
}

static void told(void *arg, int rc)
{
	struct lot_job *j = arg;
	atomic_fetch_add(&j->calls, 1);
	if (rc == 0)
		atomic_store(&j->answered, true);
}

static struct lot_job jobs[JOBS];

struct cut {
	char dir[96];
	bool answered[JOBS];
	int n_answered;
};

/* The power goes: the disk's image now, and the jobs answered by now. */
static void cut_power(struct cut *cut, int k)
{
	snprintf(cut->dir, sizeof cut->dir, "%s/cut%d", watched, k);
	assert_int_equal(mkdir(cut->dir, 0700), 0);
	static const char *const files[] = {"k.db", "k.db-wal"};
	pthread_mutex_lock(&disk);
	for (int i = 0; i < 2; i++) {
		char from[PATH_MAX], to[PATH_MAX];
		snprintf(from, sizeof from, "%s/durable/%s", watched, files[i]);
		snprintf(to, sizeof to, "%s/%s", cut->dir, files[i]);
		copy_file(from, to);
	}
	cut->n_answered = 0;
	for (int i = 0; i < JOBS; i++) {
		cut->answered[i] = atomic_load(&jobs[i].answered);
		cut->n_answered += cut->answered[i];
	}
	pthread_mutex_unlock(&disk);
}

static int answered_now(void)
{
	int n = 0;
	for (int i = 0; i < JOBS; i++)
		n += atomic_load(&jobs[i].answered);
	return n;
}

/* After the cut: SQLite recovers the image; every answered lot is there. */
static void check_cut(const struct cut *cut)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/k.db", cut->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	static bool present[JOBS];
	memset(present, 0, sizeof present);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT points FROM lots WHERE member_id = ?", -1,
					    &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, member_id);
	int found = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t p = sqlite3_column_int64(st, 0) - 1000;
		assert_true(p >= 0 && p < JOBS);
		assert_false(present[p]); /* each at most once */
		present[p] = true;
		found++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	int lost = 0;
	for (int i = 0; i < JOBS; i++)
		if (cut->answered[i] && !present[i]) {
			fprintf(stderr, "# %s: job %d was answered and is not on the disk\n", cut->dir,
				i);
			lost++;
		}
	fprintf(stderr, "# %s: %d answered, %d on the disk\n", cut->dir, cut->n_answered, found);
	assert_int_equal(lost, 0);
}

static void test_answered_writes_survive_a_power_cut(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *w;
	member_id = tmpdb_create_with_member(&t, &w);
	char durable[96];
	snprintf(durable, sizeof durable, "%s/durable", t.dir);
	assert_int_equal(mkdir(durable, 0700), 0);
	/* The database as created is on the disk (tmpdb synced it, unwatched). */
	char from[PATH_MAX], to[PATH_MAX];
	snprintf(from, sizeof from, "%s/k.db", t.dir);
	snprintf(to, sizeof to, "%s/k.db", durable);
	copy_file(from, to);
	snprintf(from, sizeof from, "%s/k.db-wal", t.dir);
	snprintf(to, sizeof to, "%s/k.db-wal", durable);
	copy_file(from, to);
	snprintf(watched, sizeof watched, "%s", t.dir);

	assert_int_equal(w->ops->writer_mode(w), 0);
	struct kp_writer *writer;
	assert_int_equal(kp_writer_start(w, JOBS, 16, &writer), 0);
	static struct cut cuts[CUTS];
	int k = 0;
	for (int i = 0; i < JOBS; i++) {
		jobs[i].points = 1000 + i;
		kp_writer_submit_async(writer, KP_JOB_REPEATABLE, lot_job, &jobs[i], told);
		/* Cut while jobs are in flight: some committed and not yet answered. */
		if (k < CUTS && i == (k + 1) * JOBS / (CUTS + 1)) {
			int64_t until = kp_time_mono_ns() + 10 * INT64_C(1000000000);
			while (answered_now() < i / 2 && kp_time_mono_ns() < until)
				sched_yield();
			assert_true(answered_now() >= i / 2);
			cut_power(&cuts[k], k);
			k++;
		}
	}
	kp_writer_stop(writer);
	watched[0] = '\0';
	assert_int_equal(k, CUTS);
	for (int i = 0; i < JOBS; i++) {
		assert_int_equal(atomic_load(&jobs[i].calls), 1);
		assert_true(atomic_load(&jobs[i].answered));
	}
	assert_true(images_taken > 0);
	for (int c = 0; c < CUTS; c++) {
		assert_true(cuts[c].n_answered > 0);
		check_cut(&cuts[c]);
	}
	/* leave no files behind: the cuts, the images, the database */
	for (int c = 0; c < CUTS; c++) {
		static const char *const files[] = {"k.db", "k.db-wal", "k.db-shm"};
		for (int i = 0; i < 3; i++) {
			snprintf(from, sizeof from, "%s/%s", cuts[c].dir, files[i]);
			unlink(from);
		}
		rmdir(cuts[c].dir);
	}
	static const char *const images[] = {"k.db", "k.db-wal", "k.db-shm"};
	for (int i = 0; i < 3; i++) {
		snprintf(from, sizeof from, "%s/%s", durable, images[i]);
		unlink(from);
	}
	rmdir(durable);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answered_writes_survive_a_power_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
