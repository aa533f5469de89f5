#include "api/reqlog.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES (64 * 1024)

/*
 * Two buffers: lines fill one while the other is written, so a write that
 * waits (a slow disk, the kernel holding back a process with many dirty
 * pages, a full pipe) holds up a request thread only once the other buffer
 * is full too.
 */
struct kp_reqlog {
	int fd;
	pthread_mutex_t lock;       /* fill and len */
	pthread_mutex_t write_lock; /* the write in progress; taken before lock, never under it */
	pthread_cond_t wake;        /* stop */
	pthread_t thread;
	bool stopping;
	char *fill, *spare;         /* spare: being written, or free once write_lock is */
	size_t len;
	char bufs[2][BUF_BYTES];
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a log that cannot be written is not a reason to stop serving */
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Called with lock held; returns with it held, though released meanwhile.
 * Writes the lines buffered so far and then `extra` (a line too long for a
 * buffer), after every earlier write and before every later one, while
 * other threads fill the other buffer. No thread waits for write_lock while
 * it holds lock: a write that waits holds up only those that need a buffer.
 */
static void write_out(struct kp_reqlog *l, const char *extra, size_t extra_len)
{
	if (l->len == 0 && !extra)
		return;
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_lock(&l->write_lock); /* the earlier write is done: spare is free */
	pthread_mutex_lock(&l->lock);
	/* fill holds the lines added since the last swap: maybe none, when another
	 * thread's write took the caller's while it waited. */
	char *out = l->fill;
	size_t n = l->len;
	l->fill = l->spare;
	l->spare = out;
	l->len = 0;
	pthread_mutex_unlock(&l->lock);
	write_all(l->fd, out, n);
	if (extra)
		write_all(l->fd, extra, extra_len);
	pthread_mutex_unlock(&l->write_lock);
	pthread_mutex_lock(&l->lock);
}

static void *flusher_main(void *arg)
{
	struct kp_reqlog *l = arg;
	pthread_setname_np(pthread_self(), "kp-reqlog");
	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += KP_REQLOG_FLUSH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&l->wake, &l->lock, &until);
		write_out(l, NULL, 0);
	}
	write_out(l, NULL, 0); /* stopped before it ever waited */
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

struct kp_reqlog *kp_reqlog_start(int fd)
{
	struct kp_reqlog *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->fd = fd;
	l->fill = l->bufs[0];
	l->spare = l->bufs[1];
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->write_lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	if (pthread_create(&l->thread, NULL, flusher_main, l) != 0) {
		pthread_mutex_destroy(&l->lock);
		pthread_mutex_destroy(&l->write_lock);
		pthread_cond_destroy(&l->wake);
		free(l);
		return NULL;
	}
	return l;
}

void kp_reqlog_line(struct kp_reqlog *l, const char *line, size_t len, bool urgent)
{
	assert(l && line);
	pthread_mutex_lock(&l->lock);
	if (len > BUF_BYTES) {
		write_out(l, line, len); /* cannot be buffered: after the lines before it */
	} else {
		while (l->len + len > BUF_BYTES) /* others may fill it again while it is written */
			write_out(l, NULL, 0);
		memcpy(l->fill + l->len, line, len);
		l->len += len;
		if (urgent)
			write_out(l, NULL, 0);
	}
	pthread_mutex_unlock(&l->lock);
}

void kp_reqlog_stop(struct kp_reqlog *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL); /* it writes what is left as it ends */
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->write_lock);
	pthread_cond_destroy(&l->wake);
	free(l);
}
