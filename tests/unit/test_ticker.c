/*
 * test_ticker.c — engine/ticker.h: the function is called every period, at
 * once again while it says there is work left, never after stop returned,
 * on a thread with the name given and at the nice value given (its own, not
 * the process's); stopping a ticker that never started does nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/ticker.h"

struct counter {
	atomic_int calls;
	int busy_calls; /* the first this many calls say there is more to do */
};

static bool count(void *arg)
{
	struct counter *c = arg;
	return atomic_fetch_add(&c->calls, 1) + 1 <= c->busy_calls;
}

static void sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

static void test_called_every_period(void **state)
{
	(void)state;
	struct counter c = {0};
	struct kp_ticker t;
	assert_int_equal(kp_ticker_start(&t, "kp-test", 20, 0, count, &c), 0);
	sleep_ms(300);
	kp_ticker_stop(&t);
	int calls = atomic_load(&c.calls);
	assert_true(calls >= 3);  /* ~15 on an idle machine; a loaded one is slower */
	assert_true(calls <= 16); /* never faster than the period */
	sleep_ms(60);
	assert_int_equal(atomic_load(&c.calls), calls); /* none after stop */
	kp_ticker_stop(&t); /* stopped already: nothing */
}

static void test_again_at_once_while_busy(void **state)
{
	(void)state;
	struct counter c = {.busy_calls = 1000};
	struct kp_ticker t;
	assert_int_equal(kp_ticker_start(&t, "kp-test", 60000, 0, count, &c), 0);
	/* The first call comes after one period (a minute): only a stop would end the wait. */
	sleep_ms(50);
	assert_int_equal(atomic_load(&c.calls), 0);
	kp_ticker_stop(&t);
	assert_int_equal(atomic_load(&c.calls), 0);
	/* With a short period, the busy calls follow each other without waiting. */
	assert_int_equal(kp_ticker_start(&t, "kp-test", 10, 0, count, &c), 0);
	for (int i = 0; i < 200 && atomic_load(&c.calls) < 1001; i++)
		sleep_ms(10);
	kp_ticker_stop(&t);
	assert_true(atomic_load(&c.calls) > 1000); /* 1,000 calls in far less than 1,000 periods */
}

struct thread_name {
	char name[16];
	atomic_bool noted; /* name is written */
};

/* What the thread calling it is called, as top -H and /proc show it. */
static bool note_name(void *arg)
{
	struct thread_name *n = arg;
	if (!atomic_load(&n->noted)) {
		pthread_getname_np(pthread_self(), n->name, sizeof n->name);
		atomic_store(&n->noted, true);
	}
	return false;
}

static void test_thread_has_its_name(void **state)
{
	(void)state;
	struct thread_name n = {.name = ""};
	struct kp_ticker t;
	assert_int_equal(kp_ticker_start(&t, "kp-named", 10, 0, note_name, &n), 0);
	for (int i = 0; i < 200 && !atomic_load(&n.noted); i++)
		sleep_ms(10);
	kp_ticker_stop(&t);
	assert_true(atomic_load(&n.noted));
	assert_string_equal(n.name, "kp-named");
}

struct thread_nice {
	int nice;
	atomic_bool noted;
};

/* The nice value of the thread calling it (on Linux each thread has its own). */
static bool note_nice(void *arg)
{
	struct thread_nice *n = arg;
	if (!atomic_load(&n->noted)) {
		errno = 0;
		n->nice = getpriority(PRIO_PROCESS, (id_t)gettid());
		assert_int_equal(errno, 0);
		atomic_store(&n->noted, true);
	}
	return false;
}

static int ticker_nice(int nice)
{
	struct thread_nice n = {0};
	struct kp_ticker t;
	assert_int_equal(kp_ticker_start(&t, "kp-nice", 10, nice, note_nice, &n), 0);
	for (int i = 0; i < 200 && !atomic_load(&n.noted); i++)
		sleep_ms(10);
	kp_ticker_stop(&t);
	assert_true(atomic_load(&n.noted));
	return n.nice;
}

/* A background ticker runs below the process; the others at its priority. */
static void test_nice_is_the_threads_own(void **state)
{
	(void)state;
	errno = 0;
	int process = getpriority(PRIO_PROCESS, 0);
	assert_int_equal(errno, 0);
	assert_int_equal(ticker_nice(0), process);
	int expected = process + 10 > 19 ? 19 : process + 10; /* the kernel's bound */
	assert_int_equal(ticker_nice(10), expected);
	errno = 0;
	assert_int_equal(getpriority(PRIO_PROCESS, 0), process); /* this thread: untouched */
	assert_int_equal(errno, 0);
}

static void test_stop_without_start(void **state)
{
	(void)state;
	struct kp_ticker t = {0};
	kp_ticker_stop(&t);
	assert_false(t.running);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_called_every_period),
		cmocka_unit_test(test_again_at_once_while_busy),
		cmocka_unit_test(test_thread_has_its_name),
		cmocka_unit_test(test_nice_is_the_threads_own),
		cmocka_unit_test(test_stop_without_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
