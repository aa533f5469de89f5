/*
 * csv.h — a small strict RFC 4180 CSV reader, as a pure function over a buffer.
 *
 * Records are separated by LF or CRLF; fields by ','. A field is either
 * unquoted (no '"', CR or LF in it) or quoted ("…", where "" stands for one
 * '"' and CR, LF and ',' are plain text). Bytes are passed through as they
 * are: the reader knows nothing of UTF-8, it only refuses NUL. The last
 * record may end without a newline. An empty line is a record with one
 * empty field, as RFC 4180 reads it; the caller decides what that means.
 *
 * Bounds: a field's unescaped text is at most max_field bytes and a record
 * has at most cap_fields fields; beyond either the reader stops with an
 * error. It never allocates: each record's fields are written, unescaped and
 * NUL-terminated, into the caller's text buffer (the arena), one after the
 * other; fields[i] points into it and stays valid while the arena does. A
 * record takes at most as many arena bytes as it has in the input, newline
 * included, and one more for a last record without a newline; so an arena of
 * len + 1 bytes holds every record of a buffer of len bytes at once.
 *
 * The reader never reads outside buf[0..len) and never writes outside the
 * arena and the fields array; no input makes it loop forever (each call
 * consumes at least one byte or reports the end). Fuzz it as it is.
 */
#ifndef KP_UTIL_CSV_H
#define KP_UTIL_CSV_H

#include <stddef.h>
#include <stdint.h>

struct kp_csv {
	/* Set by kp_csv_init; not changed by the caller afterwards. */
	const char *buf;
	size_t len;
	size_t pos;       /* next byte to read */
	int64_t line;     /* 1-based line of buf[pos] */
	size_t max_field; /* bytes of one unescaped field */

	/* The last error (kp_csv_next returned KP_EINVAL). */
	int64_t err_line;    /* the line where the problem is */
	size_t err_field;    /* 1-based field of the record */
	const char *err_msg; /* static text, e.g. "quote inside an unquoted field" */
};

/* One record, written by kp_csv_next into the caller's memory. */
struct kp_csv_record {
	char *arena;          /* caller's: fields go here */
	size_t arena_cap;
	size_t arena_used;    /* advanced by each record; the caller may reset it to 0 */
	const char **fields;  /* caller's array of cap_fields pointers */
	size_t *lens;         /* caller's array of cap_fields lengths (NUL excluded) */
	size_t cap_fields;
	size_t n;             /* fields of the record, ≥ 1 */
	int64_t line;         /* the line the record starts on */
};

/* Start reading buf[0..len). max_field ≥ 1. buf need not be NUL-terminated. */
void kp_csv_init(struct kp_csv *r, const char *buf, size_t len, size_t max_field);

/*
 * Read the next record into rec. Returns 1 with a record, 0 at the end of the
 * buffer (nothing consumed), or KP_EINVAL with r->err_* set: an unterminated
 * quoted field, a quote inside an unquoted field, text after a closing quote,
 * a CR not followed by LF outside quotes, a NUL byte, a field over max_field
 * bytes, more than cap_fields fields, or KP_ETOOLARGE when the arena is full.
 * After an error the reader must not be used again.
 */
int kp_csv_next(struct kp_csv *r, struct kp_csv_record *rec);

#endif
