/*
 * test_lines_json.c — a purchase's lines as stored in its row
 * (store/lines_json.h): the exact text of the documented form, a round trip
 * of every field with strings that need escapes, PostgreSQL's spaced
 * output, and every way a damaged text is refused rather than misread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/lines_json.h"
#include "util/error.h"
#include "util/strcopy.h"

static struct kp_purchase_line_row sample(int64_t no, const char *sku, const char *category)
{
	struct kp_purchase_line_row l = {
		.line_no = no, .qty = 3, .price = 1990, .amount = 5970, .discount = 597,
		.points = 100, .certificates = 73, .paid = 5200, .earned = 52, .refunded_qty = 1,
		.free_units = 1,
	};
	kp_strcopy(l.sku, sizeof l.sku, sku);
	kp_strcopy(l.category, sizeof l.category, category);
	return l;
}

static void assert_same_line(const struct kp_purchase_line_row *a,
			     const struct kp_purchase_line_row *b)
{
	assert_int_equal(a->line_no, b->line_no);
	assert_string_equal(a->sku, b->sku);
	assert_string_equal(a->category, b->category);
	const int64_t x[] = {a->qty, a->price, a->amount, a->discount, a->points, a->certificates,
			     a->paid, a->earned, a->refunded_qty, a->free_units};
	const int64_t y[] = {b->qty, b->price, b->amount, b->discount, b->points, b->certificates,
			     b->paid, b->earned, b->refunded_qty, b->free_units};
	for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
		assert_int_equal(x[i], y[i]);
	assert_string_equal(a->stamp_card, b->stamp_card);
}

static void test_the_documented_form(void **state)
{
	(void)state;
	struct kp_purchase_line_row lines[2] = {sample(0, "milk-1", "dairy"),
						sample(1, "bun", NULL)};
	kp_strcopy(lines[1].stamp_card, sizeof lines[1].stamp_card, "coffee");
	char *text = kp_lines_json(lines, 2);
	assert_non_null(text);
	assert_string_equal(text, "[[\"milk-1\",\"dairy\",3,1990,5970,597,100,73,5200,52,1,\"\",1],"
				  "[\"bun\",null,3,1990,5970,597,100,73,5200,52,1,\"coffee\",1]]");
	free(text);
	text = kp_lines_json(NULL, 0);
	assert_string_equal(text, "[]");
	struct kp_purchase_line_row out[1];
	size_t n = 99;
	assert_int_equal(kp_lines_parse(text, out, 1, &n), 0);
	assert_int_equal(n, 0);
	free(text);
}

static void test_round_trip(void **state)
{
	(void)state;
	enum { N = 4 };
	struct kp_purchase_line_row in[N] = {
		sample(0, "quote\"back\\slash", "tab\there"),
		sample(1, "newline\nctl\x01", NULL),
		sample(2, "\xd0\xbc\xd0\xbe\xd0\xbb\xd0\xbe\xd0\xba\xd0\xbe", "\xe2\x82\xbd"),
		sample(3, "", ""),
	};
	memset(in[2].sku + 12, 'x', KP_SKU_MAX - 12); /* the longest SKU */
	in[2].sku[KP_SKU_MAX] = '\0';
	kp_strcopy(in[3].stamp_card, sizeof in[3].stamp_card, "card \"A\"");
	in[3].qty = INT64_MAX;
	in[3].amount = INT64_MIN;
	char *text = kp_lines_json(in, N);
	assert_non_null(text);
	struct kp_purchase_line_row out[N];
	memset(out, 0x5a, sizeof out);
	size_t n = 0;
	assert_int_equal(kp_lines_parse(text, out, N, &n), 0);
	assert_int_equal(n, N);
	for (size_t i = 0; i < N; i++)
		assert_same_line(&out[i], &in[i]);
	assert_int_equal(kp_lines_parse(text, out, N - 1, &n), KP_ETOOLARGE);
	free(text);
}

static void test_spaced_text_from_postgresql(void **state)
{
	(void)state;
	/* json_agg(json_build_array(...)) prints with spaces */
	const char *text = "[[\"a\", \"c\", 2, 10, 20, 0, 0, 0, 20, 1, 0, \"\", 0], \n "
			   "[\"b\", null, 1, 5, 5, 0, 0, 0, 5, 0, 1, \"s\", 0]]";
	struct kp_purchase_line_row out[2];
	size_t n = 0;
	assert_int_equal(kp_lines_parse(text, out, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].category, "c");
	assert_int_equal(out[0].amount, 20);
	assert_int_equal(out[1].line_no, 1);
	assert_string_equal(out[1].category, "");
	assert_int_equal(out[1].refunded_qty, 1);
	assert_string_equal(out[1].stamp_card, "s");
}

static void test_damaged_texts_are_refused(void **state)
{
	(void)state;
	char long_sku[KP_SKU_MAX + 64];
	snprintf(long_sku, sizeof long_sku, "[[\"%0*d\",null,1,1,1,0,0,0,1,0,0,\"\",0]]",
		 KP_SKU_MAX + 1, 0);
	const char *bad[] = {
		"",
		"not json",
		"{\"sku\":\"a\"}",
		"[[\"a\",null,1,1,1,0,0,0,1,0,0,\"\",0]",     /* cut short */
		"[[\"a\",null,1,1,1,0,0,0,1,0,0,\"\"]]",       /* a field missing */
		"[[\"a\",null,1,1,1,0,0,0,1,0,0,\"\",0,7]]",   /* a field too many */
		"[[\"a\",null,\"1\",1,1,0,0,0,1,0,0,\"\",0]]", /* qty as a string */
		"[[\"a\",null,1,1.5,1,0,0,0,1,0,0,\"\",0]]",   /* a fraction */
		"[[null,null,1,1,1,0,0,0,1,0,0,\"\",0]]",      /* no SKU */
		"[[\"a\",7,1,1,1,0,0,0,1,0,0,\"\",0]]",        /* category a number */
		"[[\"a\",null,1,1,1,0,0,0,1,0,0,null,0]]",     /* stamp card null */
		"[[\"a\",null,0,1,1,0,0,0,1,0,0,\"\",0]]",     /* no units */
		"[[\"a\",null,2,1,2,0,0,0,2,0,3,\"\",0]]",     /* refunded beyond qty */
		"[[\"a\",null,2,1,2,0,0,0,2,0,-1,\"\",0]]",    /* refunded below zero */
		"[\"a\"]",
		long_sku,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct kp_purchase_line_row out[2];
		size_t n = 99;
		int rc = kp_lines_parse(bad[i], out, 2, &n);
		if (rc != KP_ESTORE)
			fail_msg("text %zu (%s): %d, not KP_ESTORE", i, bad[i], rc);
		assert_int_equal(n, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_documented_form),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_spaced_text_from_postgresql),
		cmocka_unit_test(test_damaged_texts_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
