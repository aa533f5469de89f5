/*
 * csv.c — the strict RFC 4180 reader of csv.h.
 *
 * One field at a time: read_field copies the field's unescaped bytes into the
 * arena and stops at its terminator (',', LF, CRLF or the end of the
 * buffer), which decides whether the record goes on.
 */
#include <assert.h>
#include <string.h>

#include "util/csv.h"
#include "util/error.h"

enum { END_FIELD = ',', END_RECORD = '\n', END_BUFFER = 0 };

void kp_csv_init(struct kp_csv *r, const char *buf, size_t len, size_t max_field)
{
	assert(r && (buf || len == 0) && max_field >= 1);
	memset(r, 0, sizeof *r);
	r->buf = buf;
	r->len = len;
	r->line = 1;
	r->max_field = max_field;
}

static int fail(struct kp_csv *r, int64_t line, size_t field, const char *msg)
{
	r->err_line = line;
	r->err_field = field;
	r->err_msg = msg;
	return KP_EINVAL;
}

/* Append one byte of field text; *n counts the field's bytes so far. */
static int put(struct kp_csv *r, struct kp_csv_record *rec, size_t *n, char c)
{
	if (c == '\0')
		return fail(r, r->line, rec->n + 1, "NUL byte");
	if (*n >= r->max_field)
		return fail(r, r->line, rec->n + 1, "field longer than the limit");
	/* Keep one byte for the NUL that ends the field. */
	if (rec->arena_used + *n + 1 >= rec->arena_cap) {
		fail(r, r->line, rec->n + 1, "no room left in the arena");
		return KP_ETOOLARGE;
	}
	rec->arena[rec->arena_used + (*n)++] = c;
	return 0;
}

/* After a field: consume its terminator and say which it was. */
static int terminator(struct kp_csv *r, struct kp_csv_record *rec, const char *after_what)
{
	if (r->pos == r->len)
		return END_BUFFER;
	char c = r->buf[r->pos];
	if (c == ',') {
		r->pos++;
		return END_FIELD;
	}
	if (c == '\n' || (c == '\r' && r->pos + 1 < r->len && r->buf[r->pos + 1] == '\n')) {
		r->pos += c == '\r' ? 2 : 1;
		r->line++;
		return END_RECORD;
	}
	if (c == '\r')
		return fail(r, r->line, rec->n + 1, "CR not followed by LF");
	return fail(r, r->line, rec->n + 1, after_what);
}

static int read_quoted(struct kp_csv *r, struct kp_csv_record *rec, size_t *n)
{
	int64_t opened = r->line;
	assert(r->buf[r->pos] == '"');
	r->pos++;
	for (;;) { /* bounded: every turn consumes at least one byte */
		if (r->pos == r->len)
			return fail(r, opened, rec->n + 1, "quoted field not closed");
		char c = r->buf[r->pos];
		if (c == '"' && (r->pos + 1 == r->len || r->buf[r->pos + 1] != '"')) {
			r->pos++;
			return terminator(r, rec, "text after a closing quote");
		}
		int rc = put(r, rec, n, c);
		if (rc)
			return rc;
		r->pos += c == '"' ? 2 : 1; /* "" is one quote */
		if (c == '\n')
			r->line++;
	}
}

static int read_unquoted(struct kp_csv *r, struct kp_csv_record *rec, size_t *n)
{
	while (r->pos < r->len) {
		char c = r->buf[r->pos];
		if (c == ',' || c == '\n' || c == '\r')
			break;
		if (c == '"')
			return fail(r, r->line, rec->n + 1, "quote inside an unquoted field");
		int rc = put(r, rec, n, c);
		if (rc)
			return rc;
		r->pos++;
	}
	return terminator(r, rec, "unexpected byte"); /* not reached: the loop stops only at one */
}

/* Read one field into the arena and add it to rec; returns its terminator or an error. */
static int read_field(struct kp_csv *r, struct kp_csv_record *rec)
{
	if (rec->n == rec->cap_fields)
		return fail(r, r->line, rec->n + 1, "more fields than the limit");
	if (rec->arena_used >= rec->arena_cap) {
		fail(r, r->line, rec->n + 1, "no room left in the arena");
		return KP_ETOOLARGE;
	}
	size_t n = 0;
	int end = r->pos < r->len && r->buf[r->pos] == '"' ? read_quoted(r, rec, &n)
							   : read_unquoted(r, rec, &n);
	if (end < 0)
		return end;
	char *text = rec->arena + rec->arena_used;
	text[n] = '\0';
	rec->fields[rec->n] = text;
	rec->lens[rec->n] = n;
	rec->n++;
	rec->arena_used += n + 1;
	assert(rec->arena_used <= rec->arena_cap && n <= r->max_field);
	return end;
}

int kp_csv_next(struct kp_csv *r, struct kp_csv_record *rec)
{
	assert(r && rec && rec->arena && rec->fields && rec->lens && rec->cap_fields >= 1);
	assert(r->pos <= r->len && rec->arena_used <= rec->arena_cap);
	if (r->pos == r->len)
		return 0;
	rec->n = 0;
	rec->line = r->line;
	size_t start = r->pos;
	int end;
	do /* bounded by cap_fields */
		end = read_field(r, rec);
	while (end == END_FIELD);
	if (end < 0)
		return end;
	assert(r->pos > start && rec->n >= 1);
	return 1;
}
