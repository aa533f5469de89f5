/*
 * writer.h — group commit: one thread owns the write connection.
 *
 * Request threads submit jobs; the writer takes up to batch_max of them,
 * opens one transaction, runs each job inside its own savepoint (a job that
 * returns an error is rolled back to its savepoint alone; repeatable jobs
 * share one, below), commits once, and only once the commit is durable
 * wakes the submitters, or tells those that did not wait. If the commit
 * fails, every job of the batch fails with the commit's error and nothing of
 * the batch is stored. Between batches it keeps the store's log bounded
 * (bound_log).
 *
 * Where the store's commit is not durable by itself (SQLite's writer, store.h
 * sync_log), a second thread makes it so: the writer hands each committed
 * batch over and goes on with the next, while the sync thread syncs the log
 * once for every batch committed since its last sync and then answers them.
 * The disk's wait and the next batch's work overlap. Readers may see a batch
 * in that interval, before its submitters are answered; a power cut then can
 * take back only batches nobody was told were stored.
 *
 * The queue is bounded: a submit that finds it full fails at once with
 * KP_EBUSY instead of waiting, so overload turns into quick 503s.
 */
#ifndef KP_ENGINE_WRITER_H
#define KP_ENGINE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct kp_writer;

/* A job: runs on the writer thread with the write connection, inside a savepoint. */
typedef int (*kp_write_fn)(struct kp_conn *c, void *arg);

/* Start the writer on connection c (the writer closes it at kp_writer_stop). */
int kp_writer_start(struct kp_conn *c, size_t queue_cap, size_t batch_max,
		    struct kp_writer **out);

/*
 * Run fn(c, arg) on the writer and wait until its batch is committed.
 * Returns fn's result if fn failed; otherwise 0 once durable, or the
 * commit's error (KP_EBUSY, KP_ESTORE); KP_EBUSY at once if the queue is full
 * or the writer is stopping.
 */
int kp_writer_submit(struct kp_writer *w, kp_write_fn fn, void *arg);

/*
 * How a job runs in its batch. A guarded job has a savepoint of its own. A
 * repeatable job promises two things: it writes nothing before its own
 * checks have passed (a job that refuses, refuses before its first write),
 * and run again from the start on the same database it writes the same rows
 * and gives the same answer. Repeatable jobs then run with no savepoint at
 * all: an open savepoint makes SQLite copy every page the transaction
 * touches into a savepoint journal, and the writer's purchases/s rose 5-16%
 * without it (paired runs, docs/performance.md). If one fails after writing all the same,
 * the writer rolls the whole batch back and runs it again without that job;
 * so a batch holds jobs of one kind, and a guarded job never runs again
 * because another failed. Stores that cannot count their writes (store.h,
 * changes) run every job guarded.
 */
enum kp_job_kind {
	KP_JOB_GUARDED,
	KP_JOB_REPEATABLE,
};

/* Told a job's result (as kp_writer_submit returns it) once its batch ended. */
typedef void (*kp_write_done)(void *arg, int rc);

/*
 * The same without waiting: done(arg, rc) is called exactly once — on the
 * writer's sync thread once the batch's commit is durable, on the writer
 * thread if the batch failed (or the store needs no sync), or before this
 * returns when the queue refuses the job (KP_EBUSY) or memory runs out. arg
 * must stay valid until then. So a server can hand the writer more
 * purchases than it has threads, and batches grow with the load.
 */
void kp_writer_submit_async(struct kp_writer *w, enum kp_job_kind kind, kp_write_fn fn, void *arg,
			    kp_write_done done);

/*
 * Tests only: from now on every batch's first attempt runs its jobs and is
 * then rolled back instead of committed, as PostgreSQL rolls back a batch
 * that lost a serialization race, and the batch runs again at once. On
 * SQLite, where no race is ever lost, this runs the path every job must
 * survive: run twice, it must store and answer exactly what one run would.
 */
void kp_writer_lose_first_attempts(struct kp_writer *w);

struct kp_writer_stats {
	uint64_t commits;     /* transactions committed */
	uint64_t jobs;        /* jobs those transactions carried */
	uint64_t batch_max;   /* the largest batch so far */
	uint64_t queue_depth; /* jobs waiting now */
	uint64_t rejected;    /* submits refused because the queue was full */
	uint64_t syncs;       /* syncs of the log by the sync thread (0 without one) */
	uint64_t sync_failures; /* of those, the ones that failed */
};

void kp_writer_stats(struct kp_writer *w, struct kp_writer_stats *out);

/* Run the jobs already queued, then stop the thread and close the connection. */
void kp_writer_stop(struct kp_writer *w);

#endif
