#include "api/reqlog.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES (64 * 1024)

struct kp_reqlog {
	int fd;
	pthread_mutex_t lock; /* the buffer; held while it is written, so lines keep their order */
	pthread_cond_t wake;  /* stop */
	pthread_t thread;
	bool stopping;
	size_t len;
	char buf[BUF_BYTES];
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

/* With the lock held. */
static void flush_locked(struct kp_reqlog *l)
{
	write_all(l->fd, l->buf, l->len);
	l->len = 0;
}

static void *flusher_main(void *arg)
{
	struct kp_reqlog *l = arg;
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
		flush_locked(l);
	}
	flush_locked(l); /* stopped before it ever waited */
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

struct kp_reqlog *kp_reqlog_start(int fd)
{
	struct kp_reqlog *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->fd = fd;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	if (pthread_create(&l->thread, NULL, flusher_main, l) != 0) {
		pthread_mutex_destroy(&l->lock);
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
	if (l->len + len > sizeof l->buf)
		flush_locked(l);
	if (len > sizeof l->buf)
		write_all(l->fd, line, len); /* cannot be buffered: after the lines before it */
	else {
		memcpy(l->buf + l->len, line, len);
		l->len += len;
	}
	if (urgent)
		flush_locked(l);
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
	pthread_cond_destroy(&l->wake);
	free(l);
}
