#include "engine/writer.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/error.h"

struct job {
	kp_write_fn fn;
	void *arg;
	int rc;
	bool done;
	pthread_cond_t done_cond; /* its own, so a batch wakes only its submitters */
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

static void run_batch(struct kp_writer *w, struct job *batch)
{
	struct kp_conn *c = w->conn;
	int rc = c->ops->begin(c);
	for (struct job *j = batch; j; j = j->next) {
		if (rc)
			j->rc = rc;
		else
			run_job(c, j);
	}
	if (!rc)
		rc = c->ops->commit(c);
	if (rc) {
		c->ops->rollback(c);
		for (struct job *j = batch; j; j = j->next)
			if (!j->rc)
				j->rc = rc;
	}
}

static struct job *take_batch(struct kp_writer *w)
{
	struct job *batch = w->head, *last = w->head;
	size_t n = 1;
	while (last->next && n < w->batch_max) {
		last = last->next;
		n++;
	}
	w->head = last->next;
	if (!w->head)
		w->tail = NULL;
	last->next = NULL;
	w->depth -= n;
	return batch;
}

static void *writer_main(void *arg)
{
	struct kp_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->queued, &w->lock);
		if (!w->head)
			break; /* stopping, and everything queued has run */
		struct job *batch = take_batch(w);
		pthread_mutex_unlock(&w->lock);
		run_batch(w, batch);
		pthread_mutex_lock(&w->lock);
		/* next pointers may be reused by submitters once done is seen */
		for (struct job *j = batch, *next; j; j = next) {
			next = j->next;
			j->done = true;
			pthread_cond_signal(&j->done_cond);
		}
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
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->queued, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->queued);
		free(w);
		return KP_ENOMEM;
	}
	*out = w;
	return 0;
}

int kp_writer_submit(struct kp_writer *w, kp_write_fn fn, void *arg)
{
	assert(w && fn);
	struct job j = {.fn = fn, .arg = arg};
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->depth >= w->cap) {
		pthread_mutex_unlock(&w->lock);
		return KP_EBUSY;
	}
	pthread_cond_init(&j.done_cond, NULL);
	if (w->tail)
		w->tail->next = &j;
	else
		w->head = &j;
	w->tail = &j;
	w->depth++;
	pthread_cond_signal(&w->queued);
	while (!j.done)
		pthread_cond_wait(&j.done_cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&j.done_cond);
	return j.rc;
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
	assert(!w->head && w->depth == 0);
	w->conn->ops->close(w->conn);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->queued);
	free(w);
}
