#include "engine/ticker.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"

static void *ticker_main(void *arg)
{
	struct kp_ticker *t = arg;
	pthread_setname_np(pthread_self(), t->name);
	/* On Linux a nice value belongs to a thread, named by its id. Lowering
	 * it needs no privilege; if it fails the ticker runs as before. */
	if (t->nice > 0) {
		pid_t self = gettid();
		errno = 0;
		int now = getpriority(PRIO_PROCESS, (id_t)self);
		if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)self, now + t->nice) != 0)
			fprintf(stderr, "kopilka: %s: lowering its priority: %s\n", t->name,
				strerror(errno));
	}
	bool again = false;
	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		if (!again) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += t->period_ms / 1000;
			until.tv_nsec += (t->period_ms % 1000) * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&t->wake, &t->lock, &until);
			if (t->stopping)
				break;
		}
		pthread_mutex_unlock(&t->lock);
		again = t->fn(t->arg);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int kp_ticker_start(struct kp_ticker *t, const char *name, long period_ms, int nice,
		    kp_tick_fn fn, void *arg)
{
	assert(t && name && strlen(name) < 16 && period_ms > 0 && nice >= 0 && nice <= 19 && fn);
	*t = (struct kp_ticker){
	    .period_ms = period_ms, .nice = nice, .name = name, .fn = fn, .arg = arg};
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	t->running = pthread_create(&t->thread, NULL, ticker_main, t) == 0;
	if (!t->running) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->wake);
	}
	return t->running ? 0 : KP_ENOMEM;
}

void kp_ticker_stop(struct kp_ticker *t)
{
	if (!t->running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
	t->running = false;
}
