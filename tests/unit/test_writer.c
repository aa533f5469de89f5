/*
 * test_writer.c — the group-commit writer against a fake store: jobs of one
 * batch share a transaction, a job's failure rolls back only its savepoint,
 * and a batch whose transaction the store lost by itself stops at once, every
 * job of it answered KP_EBUSY and nothing committed. Jobs submitted without
 * waiting are told their result once, after their batch's commit, and at
 * once when the queue is full.
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
	pthread_mutex_t lock;
	bool in_txn;
	int begins, commits, rollbacks, savepoints, rollback_tos;
	int outside; /* calls that needed a transaction and had none */
};

#define FAKE(c) ((struct fake *)(c))

static int f_begin(struct kp_conn *c)
{
	FAKE(c)->begins++;
	FAKE(c)->in_txn = true;
	return 0;
}

static int f_commit(struct kp_conn *c)
{
	/* counted, not asserted: this runs on the writer's thread */
	FAKE(c)->outside += !FAKE(c)->in_txn;
	FAKE(c)->commits++;
	FAKE(c)->in_txn = false;
	return 0;
}

static int f_rollback(struct kp_conn *c)
{
	FAKE(c)->rollbacks++;
	FAKE(c)->in_txn = false;
	return 0;
}

static int f_savepoint(struct kp_conn *c)
{
	FAKE(c)->outside += !FAKE(c)->in_txn;
	FAKE(c)->savepoints++;
	return 0;
}

static int f_release(struct kp_conn *c)
{
	(void)c;
	return 0;
}

static int f_rollback_to(struct kp_conn *c)
{
	FAKE(c)->rollback_tos++;
	return 0;
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

static const struct kp_store_ops fake_ops = {
	.name = "fake",
	.begin = f_begin,
	.commit = f_commit,
	.rollback = f_rollback,
	.savepoint = f_savepoint,
	.release = f_release,
	.rollback_to = f_rollback_to,
	.in_transaction = f_in_transaction,
	.bound_log = f_bound_log,
	.close = f_close,
};

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
	struct fake f = {.base = {.ops = &fake_ops}};
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
	struct fake f = {.base = {.ops = &fake_ops}};
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
	bool on_writer;     /* told from another thread than the submitter's */
	pthread_t submitter;
};

static void told_done(void *arg, int rc)
{
	struct told *t = arg;
	t->calls++;
	t->rc = rc;
	t->commits_then = t->job.store->commits;
	t->on_writer = !pthread_equal(pthread_self(), t->submitter);
}

static void test_async_told_after_commit(void **state)
{
	(void)state;
	struct fake f = {.base = {.ops = &fake_ops}};
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
		kp_writer_submit_async(w, job_fn, &t[i], told_done);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_and_savepoints),
		cmocka_unit_test(test_lost_transaction_stops_the_batch),
		cmocka_unit_test(test_async_told_after_commit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
