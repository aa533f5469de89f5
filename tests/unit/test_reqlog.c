/*
 * test_reqlog.c — the request log's buffer (api/reqlog.h): lines from
 * several threads arrive whole and each thread's in its order; an urgent
 * line is in the file when the call returns; an ordinary one within the
 * flush interval, without more lines or a stop; and everything at stop.
 * A write that cannot go on (a full pipe) holds up no thread that only adds
 * a line, and a line too long for the buffer comes after those before it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/reqlog.h"

#define THREADS 4
#define LINES 20000

struct file {
	char path[64];
	int fd;
};

static void file_open(struct file *f)
{
	snprintf(f->path, sizeof f->path, "/tmp/kopilka-reqlog.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
}

/* The whole file, NUL-terminated (malloc'ed). */
static char *file_text(const struct file *f, size_t *len)
{
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	char *text = malloc((size_t)st.st_size + 1);
	assert_non_null(text);
	assert_int_equal(pread(f->fd, text, (size_t)st.st_size, 0), st.st_size);
	text[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return text;
}

static void file_close(struct file *f)
{
	close(f->fd);
	unlink(f->path);
}

struct writer {
	struct kp_reqlog *log;
	int id;
};

/* Line i of thread id: of varying length, so that lines straddle the buffer's end. */
static int make_line(char *line, size_t cap, int id, int i)
{
	static const char pad[] = "................................................................"
				  "................................................................";
	return snprintf(line, cap, "t%d n%d %.*s|\n", id, i, (i * 7 + id) % 120, pad);
}

static void *write_lines(void *arg)
{
	struct writer *w = arg;
	char line[256];
	for (int i = 0; i < LINES; i++) {
		int n = make_line(line, sizeof line, w->id, i);
		kp_reqlog_line(w->log, line, (size_t)n, false);
	}
	return NULL;
}

static void test_lines_whole_and_in_order(void **state)
{
	(void)state;
	struct file f;
	file_open(&f);
	struct kp_reqlog *log = kp_reqlog_start(f.fd);
	assert_non_null(log);
	pthread_t t[THREADS];
	struct writer w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct writer){log, i};
		pthread_create(&t[i], NULL, write_lines, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	kp_reqlog_stop(log);
	size_t len;
	char *text = file_text(&f, &len);
	int next[THREADS] = {0}, lines = 0;
	for (char *p = text, *end; *p; p = end + 1) {
		end = strchr(p, '\n');
		assert_non_null(end);
		*end = '\0';
		int id = -1, n = -1;
		assert_int_equal(sscanf(p, "t%d n%d", &id, &n), 2);
		assert_true(id >= 0 && id < THREADS);
		assert_int_equal(n, next[id]); /* in its thread's order, none missing */
		next[id]++;
		char want[256];
		make_line(want, sizeof want, id, n);
		want[strlen(want) - 1] = '\0';
		assert_string_equal(p, want); /* whole, nothing of another line inside */
		lines++;
	}
	assert_int_equal(lines, THREADS * LINES);
	free(text);
	file_close(&f);
}

static void test_urgent_now_others_soon(void **state)
{
	(void)state;
	struct file f;
	file_open(&f);
	struct kp_reqlog *log = kp_reqlog_start(f.fd);
	assert_non_null(log);
	size_t len;
	kp_reqlog_line(log, "first\n", 6, false);
	kp_reqlog_line(log, "error\n", 6, true);
	char *text = file_text(&f, &len); /* at once: the urgent line and all before it */
	assert_string_equal(text, "first\nerror\n");
	free(text);
	kp_reqlog_line(log, "later\n", 6, false);
	struct timespec wait = {0, 4 * KP_REQLOG_FLUSH_MS * 1000000L};
	nanosleep(&wait, NULL); /* no more lines, no stop: the thread writes it */
	text = file_text(&f, &len);
	assert_string_equal(text, "first\nerror\nlater\n");
	free(text);
	kp_reqlog_line(log, "last\n", 5, false);
	kp_reqlog_stop(log);
	text = file_text(&f, &len);
	assert_string_equal(text, "first\nerror\nlater\nlast\n");
	free(text);
	file_close(&f);
}

struct urgent_line {
	struct kp_reqlog *log;
	const char *text;
	bool urgent;
	bool done; /* under done_lock */
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;
};

static void *add_line(void *arg)
{
	struct urgent_line *u = arg;
	kp_reqlog_line(u->log, u->text, strlen(u->text), u->urgent);
	pthread_mutex_lock(&u->done_lock);
	u->done = true;
	pthread_cond_signal(&u->done_cond);
	pthread_mutex_unlock(&u->done_lock);
	return NULL;
}

/* Whether u's call returned within ms milliseconds. */
static bool returns_within(struct urgent_line *u, long ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&u->done_lock);
	while (!u->done && pthread_cond_timedwait(&u->done_cond, &u->done_lock, &until) == 0)
		;
	bool done = u->done;
	pthread_mutex_unlock(&u->done_lock);
	return done;
}

static void test_a_stuck_write_holds_up_no_line(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* The pipe is full: the log's next write waits until the test reads. */
	int size = fcntl(p[1], F_SETPIPE_SZ, 4096);
	assert_true(size >= 4096);
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	char fill[4096];
	memset(fill, '.', sizeof fill);
	ssize_t filled = 0, w;
	while ((w = write(p[1], fill, sizeof fill)) > 0)
		filled += w;
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
	struct kp_reqlog *log = kp_reqlog_start(p[1]);
	assert_non_null(log);
	struct urgent_line stuck = {log, "stuck\n", true, false, PTHREAD_MUTEX_INITIALIZER,
				    PTHREAD_COND_INITIALIZER};
	struct urgent_line next = {log, "next\n", false, false, PTHREAD_MUTEX_INITIALIZER,
				   PTHREAD_COND_INITIALIZER};
	pthread_t ts, tn;
	pthread_create(&ts, NULL, add_line, &stuck);
	assert_false(returns_within(&stuck, 100)); /* its write waits for the reader */
	pthread_create(&tn, NULL, add_line, &next);
	assert_true(returns_within(&next, 2000)); /* buffered meanwhile, not held up */
	/* A line too long to buffer, added now, must come after both. */
	char *longer = malloc(70 * 1024 + 2);
	assert_non_null(longer);
	memset(longer, 'L', 70 * 1024);
	memcpy(longer + 70 * 1024, "\n", 2);
	struct urgent_line big = {log, longer, false, false, PTHREAD_MUTEX_INITIALIZER,
				  PTHREAD_COND_INITIALIZER};
	pthread_t tb;
	pthread_create(&tb, NULL, add_line, &big);
	size_t want = (size_t)filled + 6 + 5 + 70 * 1024 + 1, got = 0;
	char *text = malloc(want + 1);
	assert_non_null(text);
	while (got < want) {
		ssize_t r = read(p[0], text + got, want - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	text[got] = '\0';
	pthread_join(ts, NULL);
	pthread_join(tn, NULL);
	pthread_join(tb, NULL);
	kp_reqlog_stop(log);
	assert_memory_equal(text, fill, (size_t)filled < sizeof fill ? (size_t)filled : sizeof fill);
	assert_memory_equal(text + filled, "stuck\nnext\n", 11);
	assert_memory_equal(text + filled + 11, longer, 70 * 1024 + 1);
	free(text);
	free(longer);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_whole_and_in_order),
		cmocka_unit_test(test_urgent_now_others_soon),
		cmocka_unit_test(test_a_stuck_write_holds_up_no_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
