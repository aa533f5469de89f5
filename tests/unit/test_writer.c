/*
 * test_writer.c — the group-commit writer against a fake store: jobs of one
 * batch share a transaction, a job's failure rolls back only its savepoint,
 * and a batch whose transaction the store lost by itself stops at once, every
 * job of it answered KP_EBUSY and nothing committed. Jobs submitted without
 * waiting are told their result once, after their batch's commit, and at
 * once when the queue is full. Repeatable jobs share one savepoint; one that
 * fails after writing is taken out and the others run again, so exactly the
 * successful jobs' writes are committed, once each. With a store whose
 * commits need a sync (store.h, sync_log), a batch is answered only after a
 * sync that began after its commit, the writer commits the next batch while
 * a sync runs, and a failed sync fails the batches it was to make durable.
 * Told to lose every first attempt (tests), it runs each batch twice and
 * commits once. Jobs run on the thread named kp-writer, and a store's syncs
 * answer on kp-sync.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "engine/writer.h"
#include "util/error.h"

/* A store that only counts what the writer asks of it. */
struct fake {
	struct kp_conn base; /* first */
	pthread_mutex_t lock; /* commits and the sync fields: two threads use them */
	pthread_cond_t changed;
	bool sync_held;       /* sync_log waits while set */
	int syncs_started, synced_upto; /* commits made when the last finished sync began */
	int sync_fail_once;   /* the next sync_log returns this error */
	bool in_txn;
	int begins, commits, rollbacks, savepoints, rollback_tos;
	int outside; /* calls that needed a transaction and had none */
	/* What jobs wrote: their numbers, in the transaction and committed. A
	 * savepoint marks how much was written; rolling back to it drops the rest. */
	bool uncounted; /* changes() cannot tell: -1 */
	int64_t changes;
	int written[64], n_written, marks[8], n_marks;
	int committed[64], n_committed;
};

#define FAKE(c) ((struct fake *)(c))
#define FAKE_INIT(ops_) {.base = {.ops = (ops_)}, .lock = PTHREAD_MUTEX_INITIALIZER, \
			 .changed = PTHREAD_COND_INITIALIZER}

static int f_begin(struct kp_conn *c)
{
	FAKE(c)->begins++;
	FAKE(c)->in_txn = true;
	return 0;
}

static int f_commit(struct kp_conn *c)
{
	struct fake *f = FAKE(c);
	/* counted, not asserted: this runs on the writer's thread */
	f->outside += !f->in_txn;
	pthread_mutex_lock(&f->lock);
	f->commits++;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	f->in_txn = false;
	for (int i = 0; i < f->n_written && f->n_committed < 64; i++)
		f->committed[f->n_committed++] = f->written[i];
	f->n_written = f->n_marks = 0;
	return 0;
}

static int f_rollback(struct kp_conn *c)
{
	FAKE(c)->rollbacks++;
	FAKE(c)->in_txn = false;
	FAKE(c)->n_written = FAKE(c)->n_marks = 0;
	return 0;
}

static int f_savepoint(struct kp_conn *c)
{
	struct fake *f = FAKE(c);
	f->outside += !f->in_txn;
	f->savepoints++;
	if (f->n_marks < 8)
		f->marks[f->n_marks++] = f->n_written;
	return 0;
}

static int f_release(struct kp_conn *c)
{
	struct fake *f = FAKE(c);
	f->outside += f->n_marks == 0;
	f->n_marks -= f->n_marks > 0;
	return 0;
}

static int f_rollback_to(struct kp_conn *c)
{
	struct fake *f = FAKE(c);
	f->rollback_tos++;
	f->outside += f->n_marks == 0;
	if (f->n_marks > 0)
		f->n_written = f->marks[f->n_marks - 1]; /* the savepoint stays open */
	return 0;
}

static int64_t f_changes(struct kp_conn *c)
{
	return FAKE(c)->uncounted ? -1 : FAKE(c)->changes; /* grows only, as SQLite's */
}

static bool f_in_transaction(struct kp_conn *c)
{
	return FAKE(c)->in_txn;
}

static int f_bound_log(struct kp_conn *c, int64_t limit_bytes)
{
	(void)c, (void)limit_bytes;
	return 0;
}

static void f_close(struct kp_conn *c)
{
	(void)c; /* the fake lives on the test's stack */
}

/* Runs on the writer's sync thread: what it makes durable is every commit
 * made before it began. */
static int f_sync_log(struct kp_conn *c)
{
	struct fake *f = FAKE(c);
	pthread_mutex_lock(&f->lock);
	int upto = f->commits;
	f->syncs_started++;
	pthread_cond_broadcast(&f->changed);
	while (f->sync_held)
		pthread_cond_wait(&f->changed, &f->lock);
	int rc = f->sync_fail_once;
	f->sync_fail_once = 0;
	if (!rc)
		f->synced_upto = upto;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static const struct kp_store_ops fake_ops = {
	.name = "fake",
	.begin = f_begin,
	.commit = f_commit,
	.rollback = f_rollback,
	.savepoint = f_savepoint,
	.release = f_release,
	.rollback_to = f_rollback_to,
	.in_transaction = f_in_transaction,
	.changes = f_changes,
	.bound_log = f_bound_log,
	.close = f_close,
};

/* The same store, with commits that are durable only after sync_log. */
static const struct kp_store_ops *fake_sync_ops(void)
{
	static struct kp_store_ops ops;
	ops = fake_ops;
	ops.name = "fake-sync";
	ops.sync_log = f_sync_log;
	return &ops;
}

/* ---- jobs ------------------------------------------------------------------- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t open_cond;
	bool open;
};

struct job_arg {
	struct fake *store;
	struct gate *gate;    /* wait for it before returning (to fill the next batch) */
	int result;           /* what the job returns */
	bool lose;            /* the first job of its batch to run drops the transaction */
	int *ran;             /* how many of the losing kind ran */
	int rc;               /* kp_writer_submit's answer */
	struct kp_writer *w;
	int number;           /* written when it writes */
	bool writes;          /* writes its number (before it returns its result) */
	int runs;             /* how many times it ran */
	char ran_on[16];      /* the name of the thread it ran on */
};

static int job_fn(struct kp_conn *c, void *arg)
{
	struct job_arg *a = arg;
	assert_ptr_equal(&a->store->base, c);
	if (a->gate) {
		pthread_mutex_lock(&a->gate->lock);
		while (!a->gate->open)
			pthread_cond_wait(&a->gate->open_cond, &a->gate->lock);
		pthread_mutex_unlock(&a->gate->lock);
	}
	if (a->lose) {
		(*a->ran)++;
		a->store->in_txn = false; /* as SQLite does on a full disk mid-statement */
	}
	a->runs++;
	pthread_getname_np(pthread_self(), a->ran_on, sizeof a->ran_on);
	if (a->writes && a->store->n_written < 64) {
		a->store->written[a->store->n_written++] = a->number;
		a->store->changes++;
	}
	return a->result;
}

static void *submit_thread(void *arg)
{
	struct job_arg *a = arg;
	a->rc = kp_writer_submit(a->w, job_fn, a);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec t = {0, ms * 1000000L};
	nanosleep(&t, NULL);
}

/* Run `blocker` first; the others are queued behind it and form the next batch. */
static void run_behind(struct kp_writer *w, struct job_arg *blocker, struct job_arg *jobs,
		       size_t n)
{
	pthread_t tb, t[8];
	assert_true(n <= 8);
	blocker->w = w;
	pthread_create(&tb, NULL, submit_thread, blocker);
	sleep_ms(50);
	for (size_t i = 0; i < n; i++) {
		jobs[i].w = w;
		pthread_create(&t[i], NULL, submit_thread, &jobs[i]);
	}
	sleep_ms(100);
	pthread_mutex_lock(&blocker->gate->lock);
	blocker->gate->open = true;
	pthread_cond_broadcast(&blocker->gate->open_cond);
	pthread_mutex_unlock(&blocker->gate->lock);
	pthread_join(tb, NULL);
	for (size_t i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static void test_batch_and_savepoints(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct kp_writer *w;
	assert_int_equal(kp_writer_start(&f.base, 16, 16, &w), 0);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct job_arg blocker = {.store = &f, .gate = &g};
	struct job_arg jobs[3] = {{.store = &f}, {.store = &f, .result = KP_EINVAL}, {.store = &f}};
	run_behind(w, &blocker, jobs, 3);
	kp_writer_stop(w);
	assert_int_equal(blocker.rc, 0);
	assert_int_equal(jobs[0].rc, 0);
	assert_int_equal(jobs[1].rc, KP_EINVAL); /* its own error, its savepoint rolled back */
	assert_int_equal(jobs[2].rc, 0);
	assert_int_equal(f.begins, 2);           /* the blocker's batch, then the three */
	assert_int_equal(f.commits, 2);
	assert_int_equal(f.savepoints, 4);
	assert_int_equal(f.rollback_tos, 1);
	assert_int_equal(f.outside, 0);
}

static void test_lost_transaction_stops_the_batch(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct kp_writer *w;
	int ran = 0;
	assert_int_equal(kp_writer_start(&f.base, 16, 16, &w), 0);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct job_arg blocker = {.store = &f, .gate = &g};
	struct job_arg jobs[3];
	for (int i = 0; i < 3; i++)
		jobs[i] = (struct job_arg){.store = &f, .lose = true, .ran = &ran};
	run_behind(w, &blocker, jobs, 3);
	kp_writer_stop(w);
	assert_int_equal(blocker.rc, 0);
	/* The first job lost the transaction: no other job ran outside it, none
	 * of the batch reports success, and the batch was not committed. */
	assert_int_equal(f.outside, 0);
	assert_int_equal(ran, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(jobs[i].rc, KP_EBUSY);
	assert_int_equal(f.commits, 1); /* the blocker's batch only */
}

/* ---- submitting without waiting ----------------------------------------------- */

struct told {
	struct job_arg job;
	int calls;          /* done calls: exactly one */
	int rc;
	int commits_then;   /* the store's commits when told */
	int synced_then;    /* the store's synced_upto when told */
	bool on_writer;     /* told from another thread than the submitter's */
	pthread_t submitter;
	char told_on[16];   /* the name of the thread that told it */
};

static void told_done(void *arg, int rc)
{
	struct told *t = arg;
	struct fake *f = t->job.store;
	pthread_mutex_lock(&f->lock);
	t->calls++;
	t->rc = rc;
	t->commits_then = f->commits;
	t->synced_then = f->synced_upto;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	t->on_writer = !pthread_equal(pthread_self(), t->submitter);
	pthread_getname_np(pthread_self(), t->told_on, sizeof t->told_on);
}

static void test_async_told_after_commit(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct kp_writer *w;
	assert_int_equal(kp_writer_start(&f.base, 3, 16, &w), 0);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct job_arg blocker = {.store = &f, .gate = &g, .w = w};
	pthread_t tb;
	pthread_create(&tb, NULL, submit_thread, &blocker);
	sleep_ms(50); /* the writer runs the blocker; the queue is empty again */
	struct told t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct told){.job = {.store = &f, .result = i == 1 ? KP_EINVAL : 0},
				     .submitter = pthread_self()};
		kp_writer_submit_async(w, KP_JOB_GUARDED, job_fn, &t[i], told_done);
	}
	/* The queue holds 3: the fourth was refused before submit returned. */
	assert_int_equal(t[3].calls, 1);
	assert_int_equal(t[3].rc, KP_EBUSY);
	assert_false(t[3].on_writer);
	for (int i = 0; i < 3; i++)
		assert_int_equal(t[i].calls, 0); /* waiting behind the blocker */
	pthread_mutex_lock(&g.lock);
	g.open = true;
	pthread_cond_broadcast(&g.open_cond);
	pthread_mutex_unlock(&g.lock);
	pthread_join(tb, NULL);
	kp_writer_stop(w); /* runs what is queued, then returns */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_true(t[i].on_writer);
		assert_int_equal(t[i].commits_then, 2); /* after their own batch's commit */
	}
	assert_int_equal(t[0].rc, 0);
	assert_int_equal(t[1].rc, KP_EINVAL);
	assert_int_equal(t[2].rc, 0);
	assert_int_equal(f.begins, 2);
	assert_int_equal(f.rollback_tos, 1);
}

/* ---- repeatable jobs ------------------------------------------------------------ */

/* Hand jobs t[0..n) to the writer without waiting, all queued behind a
 * blocker; kinds[i] says how each runs. After the blocker's, the writer
 * should begin `begins` transactions and roll `rollbacks` of them back.
 * Returns after the writer stopped. */
static void one_batch(struct fake *f, struct told *t, const enum kp_job_kind *kinds, int n,
		      int begins, int rollbacks)
{
	struct kp_writer *w;
	assert_int_equal(kp_writer_start(&f->base, 64, 64, &w), 0);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct job_arg blocker = {.store = f, .gate = &g, .w = w};
	pthread_t tb;
	pthread_create(&tb, NULL, submit_thread, &blocker);
	sleep_ms(50);
	for (int i = 0; i < n; i++) {
		t[i].job.store = f;
		t[i].submitter = pthread_self();
		kp_writer_submit_async(w, kinds[i], job_fn, &t[i], told_done);
	}
	pthread_mutex_lock(&g.lock);
	g.open = true;
	pthread_cond_broadcast(&g.open_cond);
	pthread_mutex_unlock(&g.lock);
	pthread_join(tb, NULL);
	kp_writer_stop(w);
	assert_int_equal(blocker.rc, 0);
	assert_int_equal(f->begins, 1 + begins); /* the blocker's batch, then these */
	assert_int_equal(f->rollbacks, rollbacks);
	assert_int_equal(f->outside, 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(t[i].calls, 1);
}

/* n jobs that each write their number and succeed, unless a test says otherwise. */
static void writing_jobs(struct told *t, int n)
{
	for (int i = 0; i < n; i++)
		t[i] = (struct told){.job = {.number = i, .writes = true}};
}

/* The store committed exactly these numbers, in this order. */
static void assert_committed(const struct fake *f, const int *want, int n)
{
	assert_int_equal(f->n_committed, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(f->committed[i], want[i]);
}

static const enum kp_job_kind four_repeatable[] = {KP_JOB_REPEATABLE, KP_JOB_REPEATABLE,
						    KP_JOB_REPEATABLE, KP_JOB_REPEATABLE};

static void test_repeatable_jobs_run_without_a_savepoint(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct told t[4];
	writing_jobs(t, 4);
	t[2].job.result = KP_EINVAL; /* refuses after writing: see the next test */
	t[2].job.writes = false;     /* here it refuses before writing */
	one_batch(&f, t, four_repeatable, 4, 1, 0);
	assert_int_equal(f.savepoints, 1); /* the blocker's only */
	assert_int_equal(f.rollback_tos, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(t[i].job.runs, 1);
	assert_int_equal(t[2].rc, KP_EINVAL);
	assert_committed(&f, (const int[]){0, 1, 3}, 3);
}

static void test_repeatable_job_failing_after_writing(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct told t[4];
	writing_jobs(t, 4);
	t[2].job.result = KP_EINVAL; /* writes, then refuses */
	one_batch(&f, t, four_repeatable, 4, 2, 1);
	/* The batch rolled back whole; the two before it ran again, without it. */
	assert_int_equal(f.savepoints, 1);
	assert_int_equal(t[0].job.runs, 2);
	assert_int_equal(t[1].job.runs, 2);
	assert_int_equal(t[2].job.runs, 1);
	assert_int_equal(t[3].job.runs, 1);
	assert_int_equal(t[0].rc, 0);
	assert_int_equal(t[1].rc, 0);
	assert_int_equal(t[2].rc, KP_EINVAL);
	assert_int_equal(t[3].rc, 0);
	/* exactly the others' writes, once each */
	assert_committed(&f, (const int[]){0, 1, 3}, 3);
}

/* kp_writer_lose_first_attempts: each batch runs, is rolled back, runs again
 * and commits; what is committed and answered is what one run gives. */
static void test_lost_first_attempts_run_again(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct kp_writer *w;
	assert_int_equal(kp_writer_start(&f.base, 16, 16, &w), 0);
	kp_writer_lose_first_attempts(w);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct job_arg blocker = {.store = &f, .gate = &g};
	struct job_arg jobs[3] = {{.store = &f, .number = 1, .writes = true},
				  {.store = &f, .number = 2, .writes = true, .result = KP_EINVAL},
				  {.store = &f, .number = 3, .writes = true}};
	run_behind(w, &blocker, jobs, 3);
	kp_writer_stop(w);
	assert_int_equal(blocker.rc, 0);
	assert_int_equal(jobs[0].rc, 0);
	assert_int_equal(jobs[1].rc, KP_EINVAL);
	assert_int_equal(jobs[2].rc, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(jobs[i].runs, 2);
	assert_int_equal(f.begins, 4); /* two batches, two attempts each */
	assert_int_equal(f.rollbacks, 2);
	assert_int_equal(f.commits, 2);
	assert_committed(&f, (const int[]){1, 3}, 2);
}

static void test_a_batch_holds_one_kind(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	const enum kp_job_kind kinds[] = {KP_JOB_REPEATABLE, KP_JOB_GUARDED, KP_JOB_REPEATABLE,
					  KP_JOB_REPEATABLE};
	struct told t[4];
	writing_jobs(t, 4);
	t[3].job.result = KP_EINVAL; /* writes, then refuses: its batch again without it */
	/* batches 0 | 1 | 2-3, and 2-3 once more as 2: the guarded job runs once */
	one_batch(&f, t, kinds, 4, 4, 1);
	assert_int_equal(f.savepoints, 1 + 1); /* the blocker's; job 1's */
	assert_int_equal(f.rollback_tos, 0);
	assert_int_equal(t[0].job.runs, 1);
	assert_int_equal(t[1].job.runs, 1);
	assert_int_equal(t[2].job.runs, 2);
	assert_int_equal(t[3].job.runs, 1);
	assert_int_equal(t[3].rc, KP_EINVAL);
	assert_committed(&f, (const int[]){0, 1, 2}, 3);
}

static void test_each_failure_after_writing_excludes_one(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	struct told t[4];
	writing_jobs(t, 4);
	t[0].job.result = KP_EINVAL;    /* the first attempt ends at once */
	t[2].job.result = KP_ECONFLICT; /* the second ends here */
	one_batch(&f, t, four_repeatable, 4, 3, 2);
	assert_int_equal(t[0].job.runs, 1);
	assert_int_equal(t[1].job.runs, 2);
	assert_int_equal(t[2].job.runs, 1);
	assert_int_equal(t[3].job.runs, 1);
	/* each keeps its own failure through the attempts after it */
	assert_int_equal(t[0].rc, KP_EINVAL);
	assert_int_equal(t[1].rc, 0);
	assert_int_equal(t[2].rc, KP_ECONFLICT);
	assert_int_equal(t[3].rc, 0);
	assert_committed(&f, (const int[]){1, 3}, 2);
}

static void test_uncounted_store_guards_every_job(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(&fake_ops);
	f.uncounted = true;
	struct told t[4];
	writing_jobs(t, 4);
	t[1].job.result = KP_EINVAL;
	one_batch(&f, t, four_repeatable, 4, 1, 0);
	assert_int_equal(f.savepoints, 1 + 4); /* a savepoint each */
	assert_int_equal(f.rollback_tos, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(t[i].job.runs, 1);
	assert_committed(&f, (const int[]){0, 2, 3}, 3);
}

/* ---- a store whose commits need a sync ----------------------------------------- */

/* Wait (at most 5 s) until *value reaches want, under f's lock. */
static void await_count(struct fake *f, const int *value, int want)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&f->lock);
	while (*value < want && pthread_cond_timedwait(&f->changed, &f->lock, &until) == 0)
		;
	int reached = *value;
	pthread_mutex_unlock(&f->lock);
	assert_true(reached >= want);
}

static int calls_of(struct fake *f, const struct told *t)
{
	pthread_mutex_lock(&f->lock);
	int calls = t->calls;
	pthread_mutex_unlock(&f->lock);
	return calls;
}

static void test_pipelined_answers_after_the_sync(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(fake_sync_ops());
	f.sync_held = true;
	struct kp_writer *w;
	assert_int_equal(kp_writer_start(&f.base, 16, 16, &w), 0);
	struct told a = {.job = {.store = &f}, .submitter = pthread_self()};
	struct told b = {.job = {.store = &f}, .submitter = pthread_self()};
	kp_writer_submit_async(w, KP_JOB_REPEATABLE, job_fn, &a, told_done);
	await_count(&f, &f.syncs_started, 1); /* a's batch committed, its sync held */
	assert_int_equal(calls_of(&f, &a), 0);
	/* The writer does not wait for the disk: b's batch commits meanwhile. */
	kp_writer_submit_async(w, KP_JOB_REPEATABLE, job_fn, &b, told_done);
	await_count(&f, &f.commits, 2);
	assert_int_equal(calls_of(&f, &a), 0);
	assert_int_equal(calls_of(&f, &b), 0);
	pthread_mutex_lock(&f.lock);
	f.sync_held = false;
	pthread_cond_broadcast(&f.changed);
	pthread_mutex_unlock(&f.lock);
	kp_writer_stop(w);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	/* Each was told only after a sync that began after its commit: the first
	 * sync began before b's commit, so b needed a second one. */
	assert_true(a.synced_then >= 1);
	assert_int_equal(b.synced_then, 2);
	assert_int_equal(f.syncs_started, 2);
	assert_true(a.on_writer && b.on_writer);
	/* by the names top -H shows and bench/engine counts CPU time by */
	assert_string_equal(a.job.ran_on, "kp-writer");
	assert_string_equal(a.told_on, "kp-sync");
}

static void test_failed_sync_fails_its_batch(void **state)
{
	(void)state;
	struct fake f = FAKE_INIT(fake_sync_ops());
	f.sync_fail_once = KP_ESTORE;
	struct kp_writer *w;
	assert_int_equal(kp_writer_start(&f.base, 16, 16, &w), 0);
	struct told a = {.job = {.store = &f}, .submitter = pthread_self()};
	struct told b = {.job = {.store = &f, .result = KP_EINVAL}, .submitter = pthread_self()};
	kp_writer_submit_async(w, KP_JOB_GUARDED, job_fn, &a, told_done);
	await_count(&f, &a.calls, 1);
	assert_int_equal(a.rc, KP_ESTORE); /* committed, but perhaps not on the disk */
	kp_writer_submit_async(w, KP_JOB_GUARDED, job_fn, &b, told_done);
	struct job_arg c = {.store = &f};
	assert_int_equal(kp_writer_submit(w, job_fn, &c), 0); /* the next sync worked */
	struct kp_writer_stats st;
	kp_writer_stats(w, &st);
	kp_writer_stop(w);
	assert_int_equal(b.rc, KP_EINVAL); /* a job's own refusal stays its own */
	assert_true(st.syncs >= 2);
	assert_int_equal(st.sync_failures, 1);
	assert_true(f.commits >= 2); /* a's batch, then b and c (together, or one each) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_and_savepoints),
		cmocka_unit_test(test_lost_transaction_stops_the_batch),
		cmocka_unit_test(test_lost_first_attempts_run_again),
		cmocka_unit_test(test_async_told_after_commit),
		cmocka_unit_test(test_repeatable_jobs_run_without_a_savepoint),
		cmocka_unit_test(test_repeatable_job_failing_after_writing),
		cmocka_unit_test(test_a_batch_holds_one_kind),
		cmocka_unit_test(test_each_failure_after_writing_excludes_one),
		cmocka_unit_test(test_uncounted_store_guards_every_job),
		cmocka_unit_test(test_pipelined_answers_after_the_sync),
		cmocka_unit_test(test_failed_sync_fails_its_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
