/*
 * ticker.h — a thread that calls a function every so often until stopped.
 *
 * The engine's housekeeping (the checkpointer, the program watcher) and
 * serve's job scheduler run this way: fn(arg) is called every period_ms, or
 * again at once while it returns true (work left over), and not after
 * kp_ticker_stop returned.
 *
 * A ticker may run at a lower CPU priority than the rest of the process
 * (nice > 0): on a busy machine its work then waits for the threads that
 * answer requests, and takes the CPU they leave.
 */
#ifndef KP_ENGINE_TICKER_H
#define KP_ENGINE_TICKER_H

#include <pthread.h>
#include <stdbool.h>

typedef bool (*kp_tick_fn)(void *arg);

struct kp_ticker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* stop */
	bool stopping, running;
	long period_ms;
	int nice; /* 0 = its starter's priority; 1..19 lower */
	const char *name;
	kp_tick_fn fn;
	void *arg;
};

/* Start calling fn(arg) on a thread called name (at most 15 bytes: what top -H
 * and /proc/PID/task/TID/comm show), at the nice value of the thread that
 * starts it (a new thread inherits it) plus nice (0..19); 0, or KP_ENOMEM when
 * no thread could be made. */
int kp_ticker_start(struct kp_ticker *t, const char *name, long period_ms, int nice,
		    kp_tick_fn fn, void *arg);

/* Wake the thread and wait for it to end (a call in progress finishes first).
 * A ticker never started, or already stopped, is left as it is. */
void kp_ticker_stop(struct kp_ticker *t);

#endif
