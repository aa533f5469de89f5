/*
 * test_csv.c — the strict RFC 4180 reader (util/csv.h): quoting, escapes,
 * line ends, empty fields, the bounds, and every malformed input it refuses
 * with the line it names. Ends with random inputs (seed printed) that must
 * never break the reader's bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/csv.h"
#include "util/error.h"

enum { MAX_FIELDS = 8, MAX_RECORDS = 16 };

/* Every record of a text, fields joined with '|' and records with '/'. */
struct parsed {
	char text[1024];
	size_t records;
	int rc;                /* the last kp_csv_next result: 0 at a clean end */
	struct kp_csv r;
	int64_t lines[MAX_RECORDS];
};

static void parse(const char *in, size_t len, size_t max_field, struct parsed *out)
{
	static char arena[4096];
	const char *fields[MAX_FIELDS];
	size_t lens[MAX_FIELDS];
	struct kp_csv_record rec = {.arena = arena, .arena_cap = len + 1, .fields = fields,
				    .lens = lens, .cap_fields = MAX_FIELDS};
	assert_true(len + 1 <= sizeof arena);
	memset(out, 0, sizeof *out);
	kp_csv_init(&out->r, in, len, max_field);
	size_t used = 0;
	while ((out->rc = kp_csv_next(&out->r, &rec)) == 1) {
		assert_true(out->records < MAX_RECORDS);
		out->lines[out->records++] = rec.line;
		for (size_t i = 0; i < rec.n; i++) {
			assert_int_equal(strlen(fields[i]), lens[i]); /* NUL-terminated, no NUL */
			const char *sep = i ? "|" : out->records > 1 ? "/" : "";
			used += (size_t)snprintf(out->text + used, sizeof out->text - used,
						 "%s%s", sep, fields[i]);
		}
	}
}

static void expect(const char *in, const char *text, size_t records)
{
	struct parsed p;
	parse(in, strlen(in), 100, &p);
	if (p.rc != 0)
		fail_msg("%s: %s at line %lld", in, p.r.err_msg, (long long)p.r.err_line);
	assert_string_equal(p.text, text);
	assert_int_equal(p.records, records);
}

static void expect_error(const char *in, size_t max_field, int64_t line, const char *msg)
{
	struct parsed p;
	parse(in, strlen(in), max_field, &p);
	assert_int_equal(p.rc, KP_EINVAL);
	assert_int_equal(p.r.err_line, line);
	assert_string_equal(p.r.err_msg, msg);
}

static void test_plain(void **state)
{
	(void)state;
	expect("a,b,c\n1,2,3\n", "a|b|c/1|2|3", 2);
	expect("", "", 0);
	expect("x", "x", 1);
	expect("Анна,Ёлка 🎄\n", "Анна|Ёлка 🎄", 1); /* UTF-8 passes through */
}

static void test_quoting(void **state)
{
	(void)state;
	expect("\"a,b\",c\n", "a,b|c", 1);
	expect("\"say \"\"hi\"\"\",x\n", "say \"hi\"|x", 1);
	expect("\"\"\"\"\n", "\"", 1);
	expect("\"\"\n", "", 1);
	expect("\"two\nlines\",z\nnext\n", "two\nlines|z/next", 2);
	expect("\"cr\r\nlf\"\r\n", "cr\r\nlf", 1);
	expect("\"end\"", "end", 1);
}

static void test_line_ends(void **state)
{
	(void)state;
	expect("a,b\r\nc,d\r\n", "a|b/c|d", 2);
	expect("a,b\nc,d\r\n", "a|b/c|d", 2);
	expect("a,b\nc,d", "a|b/c|d", 2); /* no final newline */
	struct parsed p;
	const char *in = "h\n\"x\ny\"\nz\r\nw";
	parse(in, strlen(in), 100, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.records, 4);
	assert_int_equal(p.lines[0], 1);
	assert_int_equal(p.lines[1], 2);
	assert_int_equal(p.lines[2], 4); /* the quoted newline counts as a line */
	assert_int_equal(p.lines[3], 5);
}

static void test_empty_fields(void **state)
{
	(void)state;
	expect(",\n", "|", 1);
	expect("a,,c\n", "a||c", 1);
	expect("a,b,\n", "a|b|", 1);
	expect("a,b,", "a|b|", 1);
	expect("\n", "", 1);          /* an empty line is one empty field */
	expect("a\n\nb\n", "a//b", 3);
}

static void test_ragged_rows(void **state)
{
	(void)state;
	/* The reader does not judge field counts; the caller sees them. */
	struct parsed p;
	parse("a,b,c\n1,2\n", 10, 100, &p);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.text, "a|b|c/1|2");
	expect_error("1,2,3,4,5,6,7,8,9\n", 100, 1, "more fields than the limit");
	expect("1,2,3,4,5,6,7,8\n", "1|2|3|4|5|6|7|8", 1);
}

static void test_bounds(void **state)
{
	(void)state;
	expect_error("ok\nabcdef\n", 5, 2, "field longer than the limit");
	expect_error("\"abc\"\"def\"\n", 5, 1, "field longer than the limit");
	struct parsed p;
	parse("abcde\n", 6, 5, &p);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.text, "abcde");
	/* An arena too small for the record. */
	char arena[4];
	const char *fields[2];
	size_t lens[2];
	struct kp_csv r;
	struct kp_csv_record rec = {.arena = arena, .arena_cap = sizeof arena, .fields = fields,
				    .lens = lens, .cap_fields = 2};
	kp_csv_init(&r, "abcdef", 6, 100);
	assert_int_equal(kp_csv_next(&r, &rec), KP_ETOOLARGE);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_error("a,b\nx\"y,z\n", 100, 2, "quote inside an unquoted field");
	expect_error("a,b\"\n", 100, 1, "quote inside an unquoted field");
	expect_error("\"abc\"x,y\n", 100, 1, "text after a closing quote");
	expect_error("a\n\"open\nstill open", 100, 2, "quoted field not closed");
	expect_error("a\rb\n", 100, 1, "CR not followed by LF");
	expect_error("a,b\r", 100, 1, "CR not followed by LF");
	struct parsed p;
	parse("a,b\nc\0d\n", 8, 100, &p);
	assert_int_equal(p.rc, KP_EINVAL);
	assert_string_equal(p.r.err_msg, "NUL byte");
	assert_int_equal(p.r.err_line, 2);
	assert_int_equal(p.r.err_field, 1);
}

/* Random bytes from a small alphabet: the reader ends, within its bounds, every time. */
static void test_random(void **state)
{
	(void)state;
	unsigned seed = (unsigned)time(NULL);
	printf("test_random seed %u\n", seed);
	srand(seed);
	static const char alphabet[] = "a,\"\r\n\0x";
	char in[64];
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)rand() % sizeof in;
		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rand() % (int)(sizeof alphabet - 1)];
		struct parsed p;
		parse(in, len, 8, &p);
		assert_true(p.rc == 0 || p.rc == KP_EINVAL);
		assert_true(p.r.pos <= len);
		if (p.rc == 0)
			assert_int_equal(p.r.pos, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),        cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_line_ends),    cmocka_unit_test(test_empty_fields),
		cmocka_unit_test(test_ragged_rows),  cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_malformed),    cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
