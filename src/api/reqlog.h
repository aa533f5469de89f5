/*
 * reqlog.h — the request log's lines, written to a file descriptor in
 * blocks rather than one write(2) each.
 *
 * A server answering 20,000 requests a second wrote 20,000 lines a second
 * to an unbuffered stderr, one system call each: 9–13% of its quotes/s
 * (measured, docs/performance.md). Lines are gathered in one buffer and
 * written when it is full, when a line says it must not wait (an error
 * answer), every KP_REQLOG_FLUSH_MS by a thread of the log's own, and at
 * stop. Each line is written whole and lines keep their order; a process
 * killed outright loses at most the last KP_REQLOG_FLUSH_MS of lines. Lines
 * go on filling a second buffer while one is written, so a write that waits
 * holds up no request thread unless that buffer fills too.
 */
#ifndef KP_API_REQLOG_H
#define KP_API_REQLOG_H

#include <stdbool.h>
#include <stddef.h>

#define KP_REQLOG_FLUSH_MS 50

struct kp_reqlog;

/* Start a log writing to fd (which it does not close); NULL when out of memory. */
struct kp_reqlog *kp_reqlog_start(int fd);

/* Add one line (with its newline). urgent: write it, and all before it, now. */
void kp_reqlog_line(struct kp_reqlog *l, const char *line, size_t len, bool urgent);

/* Write what is left, stop the thread, free. NULL does nothing. */
void kp_reqlog_stop(struct kp_reqlog *l);

#endif
