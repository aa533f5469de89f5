#include "engine/writer.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util/error.h"

struct job {
	kp_write_fn fn;
	void *arg;
	int rc;
	bool done;
	pthread_cond_t done_cond; /* its own, so a batch wakes only its submitters */
	kp_write_done on_done;    /* async: told instead of waking anyone; the job is malloc'ed */
	bool repeatable;          /* KP_JOB_REPEATABLE */
	bool excluded;            /* failed after writing: its batch runs again without it */
	struct job *next;
};

struct kp_writer {
	struct kp_conn *conn;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t queued;   /* signalled when a job is queued or on stop */
	struct job *head, *tail;
	size_t depth, cap, batch_max;
	bool stopping;
	bool lose_first_attempts; /* kp_writer_lose_first_attempts (tests) */
	/* The sync thread, when the store's commits need sync_log (store.h):
	 * the jobs of committed batches waiting for it, oldest first. */
	bool pipelined;
	pthread_t syncer;
	pthread_cond_t committed; /* signalled when a batch joins unsynced, or on stop */
	struct job *unsynced, **unsynced_tail;
	bool syncer_stopping;
	struct kp_writer_stats stats; /* under lock */
	uint64_t retries;             /* batches run again (writer thread only) */
	unsigned seed;                /* for the backoff (writer thread only) */
};

/* Run one job in its own savepoint; its failure rolls back only its own writes. */
static void run_job(struct kp_conn *c, struct job *j)
{
	int rc = c->ops->savepoint(c);
	if (rc) {
		j->rc = rc;
		return;
	}
	j->rc = j->fn(c, j->arg);
	if (j->rc)
		rc = c->ops->rollback_to(c);
	if (!rc)
		rc = c->ops->release(c);
	if (rc && !j->rc)
		j->rc = rc;
}

static int64_t changes(struct kp_conn *c)
{
	return c->ops->changes ? c->ops->changes(c) : -1;
}

/* run_attempt's answer when a repeatable job failed after writing (not a KP_E* code). */
#define RUN_AGAIN 1

/*
 * Run repeatable jobs [first, end) with no savepoint (writer.h). A job that
 * fails without writing simply failed. One that fails after writing has left
 * rows in the transaction: it is excluded and the batch, all repeatable
 * (take_batch), is rolled back and run again without it (RUN_AGAIN;
 * run_batch), where the others write the same again. Returns 0, RUN_AGAIN,
 * or an error that ends the batch (the store lost the transaction;
 * KP_ERETRY).
 */
static int run_repeatable(struct kp_conn *c, struct job *first, struct job *end)
{
	for (struct job *j = first; j != end; j = j->next) {
		if (j->excluded)
			continue;
		if (!c->ops->in_transaction(c))
			return KP_EBUSY; /* as in run_attempt */
		int64_t before = changes(c);
		j->rc = j->fn(c, j->arg);
		if (j->rc == KP_ERETRY)
			return KP_ERETRY;
		if (j->rc && changes(c) != before) {
			j->excluded = true;
			return RUN_AGAIN;
		}
	}
	return 0;
}

/* One attempt at a batch: KP_ERETRY when a job or the commit met a
 * serialization failure or a deadlock (PostgreSQL), or when told to lose it
 * (kp_writer_lose_first_attempts); RUN_AGAIN when a repeatable job failed
 * after writing; in all those cases nothing is stored. */
static int run_attempt(struct kp_conn *c, struct job *batch, bool lose)
{
	int rc = c->ops->begin(c);
	bool counted = changes(c) >= 0; /* else every job is guarded */
	for (struct job *j = batch, *next; j; j = next) {
		next = j->next;
		/* If the store rolled the transaction back by itself (a full disk, an I/O
		 * error), the jobs before are lost and the rest must not run outside it. */
		if (!rc && !c->ops->in_transaction(c))
			rc = KP_EBUSY;
		if (rc) {
			if (!j->excluded) /* an excluded job keeps its own failure */
				j->rc = rc;
			continue;
		}
		if (j->repeatable && counted) {
			while (next && next->repeatable)
				next = next->next;
			rc = run_repeatable(c, j, next);
			continue; /* on an error, run_batch answers the jobs with it */
		}
		run_job(c, j);
		if (j->rc == KP_ERETRY)
			rc = KP_ERETRY; /* the transaction is lost: the rest waits for the next attempt */
	}
	if (!rc && !c->ops->in_transaction(c))
		rc = KP_EBUSY;
	if (!rc)
		rc = lose ? KP_ERETRY : c->ops->commit(c);
	if (rc)
		c->ops->rollback(c);
	return rc;
}

/* Bounded retries of a batch; then its jobs fail with KP_ERETRY (503). */
#define RETRY_MAX 5

/* A short random pause before attempt n (1…): up to 2^n × 4 ms. */
static void backoff(unsigned attempt, unsigned *seed)
{
	long max_us = 4000L << (attempt < 6 ? attempt : 6);
	long us = 500 + rand_r(seed) % max_us;
	struct timespec t = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	nanosleep(&t, NULL);
}

/* Before the batch runs again: every job's result is forgotten, and with
 * forget_excluded the jobs excluded by the last attempt run again too. */
static void reset_jobs(struct job *batch, bool forget_excluded)
{
	for (struct job *j = batch; j; j = j->next) {
		if (forget_excluded)
			j->excluded = false;
		if (!j->excluded)
			j->rc = 0;
	}
}

/*
 * Run a batch; returns whether it committed. A batch of repeatable jobs in
 * which one failed after writing runs again at once without it: each time
 * one job fewer, so at most as many times as it has jobs. With PostgreSQL
 * several servers write at once: a batch that lost a deadlock or a
 * serialization race is rolled back whole and run again (the jobs are
 * functions of the database, they compute their answers again), at most
 * RETRY_MAX times.
 * SQLite never answers KP_ERETRY: one writer per database. With lose_first
 * (tests), the first attempt that would commit is rolled back instead, as a
 * lost race is, and the batch runs again at once.
 */
static bool run_batch(struct kp_writer *w, struct job *batch, bool lose_first)
{
	struct kp_conn *c = w->conn;
	unsigned attempt = 0;
	size_t excluded = 0, jobs = 0;
	for (struct job *j = batch; j; j = j->next)
		jobs++;
	int rc;
	for (;;) {
		rc = run_attempt(c, batch, lose_first);
		if (rc == RUN_AGAIN) {
			excluded++;
			assert(excluded <= jobs);
			reset_jobs(batch, false);
			continue;
		}
		if (rc != KP_ERETRY || attempt == RETRY_MAX)
			break;
		w->retries++;
		if (lose_first)
			lose_first = false; /* a loss made up (tests): no pause, no attempt spent */
		else
			backoff(++attempt, &w->seed);
		reset_jobs(batch, true);
		excluded = 0;
	}
	if (rc)
		for (struct job *j = batch; j; j = j->next)
			if (!j->rc || rc == KP_ERETRY)
				j->rc = rc;
	return rc == 0;
}

/*
 * The next batch: the jobs at the head of the queue, up to batch_max, all of
 * one kind. A batch in which a repeatable job fails after writing runs again
 * whole (run_batch), and only repeatable jobs promise to run again as they
 * ran; a guarded job is never in such a batch.
 */
static struct job *take_batch(struct kp_writer *w, size_t *taken)
{
	struct job *batch = w->head, *last = w->head;
	size_t n = 1;
	while (last->next && n < w->batch_max && last->next->repeatable == batch->repeatable) {
		last = last->next;
		n++;
	}
	w->head = last->next;
	if (!w->head)
		w->tail = NULL;
	last->next = NULL;
	w->depth -= n;
	*taken = n;
	return batch;
}

/*
 * Wake the waiting submitters of a finished batch and tell the others.
 * Called with the lock held; returns with it released (callbacks run
 * without it: they may submit again).
 */
static void answer_batch(struct kp_writer *w, struct job *batch)
{
	/* next pointers may be reused by submitters once done is seen */
	struct job *told = NULL;
	for (struct job *j = batch, *next; j; j = next) {
		next = j->next;
		if (j->on_done) {
			j->next = told;
			told = j;
			continue;
		}
		j->done = true;
		pthread_cond_signal(&j->done_cond);
	}
	pthread_mutex_unlock(&w->lock);
	for (struct job *j = told, *next; j; j = next) {
		next = j->next;
		j->on_done(j->arg, j->rc);
		free(j);
	}
}

/*
 * A committed batch goes to the sync thread, which answers it after its
 * next sync; one that failed is answered at once (nothing of it is stored,
 * so there is nothing to wait for). Called with the lock held; returns with
 * it released.
 */
static void hand_over(struct kp_writer *w, struct job *batch, bool committed)
{
	if (!w->pipelined || !committed) {
		answer_batch(w, batch);
		return;
	}
	*w->unsynced_tail = batch;
	struct job *last = batch;
	while (last->next)
		last = last->next;
	w->unsynced_tail = &last->next;
	pthread_cond_signal(&w->committed);
	pthread_mutex_unlock(&w->lock);
}

/*
 * The sync thread: takes every committed batch waiting, syncs once, then
 * answers them. A batch joins the list only after its commit returned, so
 * the sync that follows covers it; batches committed while a sync runs
 * wait for the next one, and share it. If the sync fails, what those
 * batches wrote may not be on the disk: their jobs fail with its error (the
 * tills try again, and a purchase that was stored after all is answered as
 * a replay).
 */
static void *syncer_main(void *arg)
{
	struct kp_writer *w = arg;
	pthread_setname_np(pthread_self(), "kp-sync");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->unsynced && !w->syncer_stopping)
			pthread_cond_wait(&w->committed, &w->lock);
		if (!w->unsynced)
			break; /* stopping, and every committed batch is answered */
		struct job *batch = w->unsynced;
		w->unsynced = NULL;
		w->unsynced_tail = &w->unsynced;
		pthread_mutex_unlock(&w->lock);
		int rc = w->conn->ops->sync_log(w->conn);
		if (rc) {
			fprintf(stderr, "kopilka: writer: syncing the log: %s\n", kp_strerror(rc));
			for (struct job *j = batch; j; j = j->next)
				if (!j->rc)
					j->rc = rc;
		}
		pthread_mutex_lock(&w->lock);
		w->stats.syncs++;
		if (rc)
			w->stats.sync_failures++;
		answer_batch(w, batch);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void *writer_main(void *arg)
{
	struct kp_writer *w = arg;
	pthread_setname_np(pthread_self(), "kp-writer");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->queued, &w->lock);
		if (!w->head)
			break; /* stopping, and everything queued has run */
		size_t n;
		struct job *batch = take_batch(w, &n);
		bool lose_first = w->lose_first_attempts;
		pthread_mutex_unlock(&w->lock);
		bool committed = run_batch(w, batch, lose_first);
		pthread_mutex_lock(&w->lock);
		if (committed) {
			w->stats.commits++;
			w->stats.jobs += n;
			if (n > w->stats.batch_max)
				w->stats.batch_max = n;
		}
		hand_over(w, batch, committed);
		/* After the answers (or the hand-over), before the next batch. */
		int rc = committed ? w->conn->ops->bound_log(w->conn, KP_WAL_LIMIT_BYTES) : 0;
		if (rc)
			fprintf(stderr, "kopilka: writer: bounding the log: %s\n", kp_strerror(rc));
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int kp_writer_start(struct kp_conn *c, size_t queue_cap, size_t batch_max, struct kp_writer **out)
{
	assert(c && queue_cap > 0 && batch_max > 0 && out);
	struct kp_writer *w = calloc(1, sizeof *w);
	if (!w)
		return KP_ENOMEM;
	w->conn = c;
	w->cap = queue_cap;
	w->batch_max = batch_max;
	w->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
	w->pipelined = c->ops->sync_log != NULL;
	w->unsynced_tail = &w->unsynced;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->queued, NULL);
	pthread_cond_init(&w->committed, NULL);
	if (w->pipelined && pthread_create(&w->syncer, NULL, syncer_main, w) != 0)
		goto fail;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		if (w->pipelined) {
			w->syncer_stopping = true; /* nothing was committed: it ends at once */
			pthread_cond_signal(&w->committed);
			pthread_join(w->syncer, NULL);
		}
		goto fail;
	}
	*out = w;
	return 0;
fail:
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->queued);
	pthread_cond_destroy(&w->committed);
	free(w);
	return KP_ENOMEM;
}

/* Queue j, or refuse at once (full, stopping); the caller holds the lock. */
static bool enqueue(struct kp_writer *w, struct job *j)
{
	if (w->stopping || w->depth >= w->cap) {
		w->stats.rejected++;
		return false;
	}
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->depth++;
	pthread_cond_signal(&w->queued);
	return true;
}

void kp_writer_submit_async(struct kp_writer *w, enum kp_job_kind kind, kp_write_fn fn, void *arg,
			    kp_write_done done)
{
	assert(w && fn && done);
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		done(arg, KP_ENOMEM);
		return;
	}
	*j = (struct job){.fn = fn, .arg = arg, .on_done = done,
			  .repeatable = kind == KP_JOB_REPEATABLE};
	pthread_mutex_lock(&w->lock);
	bool queued = enqueue(w, j);
	pthread_mutex_unlock(&w->lock);
	if (!queued) {
		free(j);
		done(arg, KP_EBUSY);
	}
}

int kp_writer_submit(struct kp_writer *w, kp_write_fn fn, void *arg)
{
	assert(w && fn);
	struct job j = {.fn = fn, .arg = arg};
	pthread_cond_init(&j.done_cond, NULL);
	pthread_mutex_lock(&w->lock);
	if (!enqueue(w, &j)) {
		pthread_mutex_unlock(&w->lock);
		pthread_cond_destroy(&j.done_cond);
		return KP_EBUSY;
	}
	while (!j.done)
		pthread_cond_wait(&j.done_cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&j.done_cond);
	return j.rc;
}

void kp_writer_lose_first_attempts(struct kp_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->lose_first_attempts = true;
	pthread_mutex_unlock(&w->lock);
}

void kp_writer_stats(struct kp_writer *w, struct kp_writer_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	out->queue_depth = w->depth;
	pthread_mutex_unlock(&w->lock);
}

void kp_writer_stop(struct kp_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->queued);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	if (w->pipelined) {
		/* Every batch is committed now; the sync thread answers the last ones. */
		pthread_mutex_lock(&w->lock);
		w->syncer_stopping = true;
		pthread_cond_signal(&w->committed);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->syncer, NULL);
	}
	assert(!w->head && w->depth == 0 && !w->unsynced);
	w->conn->ops->close(w->conn);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->queued);
	pthread_cond_destroy(&w->committed);
	free(w);
}
