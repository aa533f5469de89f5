/*
 * test_reqlog.c — the request log's buffer (api/reqlog.h): lines from
 * several threads arrive whole and each thread's in its order; an urgent
 * line is in the file when the call returns; an ordinary one within the
 * flush interval, without more lines or a stop; and everything at stop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_whole_and_in_order),
		cmocka_unit_test(test_urgent_now_others_soon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
