/*
 * test_segments.c — a member's segments (rules/segments.h): names, the
 * stored text made from the API's array (sorted, each once), the array made
 * back from it, every refused array, and matching against a campaign's list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "rules/segments.h"

static int from(const char *json, char text[KP_SEGMENTS_TEXT_MAX + 1], char *err, size_t errlen)
{
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	int rc = kp_segments_from_json(v, "segments", text, err, errlen);
	json_decref(v);
	return rc;
}

static void test_names(void **state)
{
	(void)state;
	assert_true(kp_segment_name_valid("vip"));
	assert_true(kp_segment_name_valid("club-2027_a"));
	assert_true(kp_segment_name_valid("a"));
	assert_true(kp_segment_name_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
	assert_false(kp_segment_name_valid("abcdefghijklmnopqrstuvwxyz0123456"));
	assert_false(kp_segment_name_valid(""));
	assert_false(kp_segment_name_valid("VIP"));
	assert_false(kp_segment_name_valid("a,b"));
	assert_false(kp_segment_name_valid("a b"));
	assert_false(kp_segment_name_valid("\xd0\xb2"));
}

static void test_round_trip(void **state)
{
	char text[KP_SEGMENTS_TEXT_MAX + 1], err[160];
	(void)state;
	assert_int_equal(from("[\"vip\",\"club\",\"a-1\"]", text, err, sizeof err), 0);
	assert_string_equal(text, "a-1,club,vip");
	json_t *back = kp_segments_to_json(text);
	char *dump = json_dumps(back, JSON_COMPACT);
	assert_string_equal(dump, "[\"a-1\",\"club\",\"vip\"]");
	free(dump);
	json_decref(back);
	assert_int_equal(from("[]", text, err, sizeof err), 0);
	assert_string_equal(text, "");
	back = kp_segments_to_json("");
	assert_int_equal(json_array_size(back), 0);
	json_decref(back);
	back = kp_segments_to_json(NULL);
	assert_int_equal(json_array_size(back), 0);
	json_decref(back);
}

/* Sixteen names of 32 bytes: the longest text fits exactly. */
static void test_longest(void **state)
{
	char json[1024] = "[", text[KP_SEGMENTS_TEXT_MAX + 1], err[160];
	(void)state;
	for (int i = 0; i < KP_MAX_MEMBER_SEGMENTS; i++)
		snprintf(json + strlen(json), sizeof json - strlen(json), "%s\"%c%031d\"",
			 i ? "," : "", 'a' + i, 0);
	strcat(json, "]");
	assert_int_equal(from(json, text, err, sizeof err), 0);
	assert_int_equal(strlen(text), KP_SEGMENTS_TEXT_MAX);
	json_t *back = kp_segments_to_json(text);
	assert_int_equal(json_array_size(back), KP_MAX_MEMBER_SEGMENTS);
	assert_int_equal(strlen(json_string_value(json_array_get(back, 15))), 32);
	json_decref(back);
}

static void test_refused(void **state)
{
	static const struct {
		const char *json, *message;
	} cases[] = {
	    {"\"vip\"", "segments: must be an array of at most 16 segment names"},
	    {"null", "segments: must be an array of at most 16 segment names"},
	    {"[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\","
	     "\"o\",\"p\",\"q\"]",
	     "segments: must be an array of at most 16 segment names"},
	    {"[\"vip\",1]", "segments[1]: must be 1 to 32 bytes of a-z 0-9 _ -"},
	    {"[\"\"]", "segments[0]: must be 1 to 32 bytes of a-z 0-9 _ -"},
	    {"[\"Vip\"]", "segments[0]: must be 1 to 32 bytes of a-z 0-9 _ -"},
	    {"[\"a,b\"]", "segments[0]: must be 1 to 32 bytes of a-z 0-9 _ -"},
	    {"[\"vip\",\"staff\",\"vip\"]", "segments[2]: vip is listed twice"},
	};
	char text[KP_SEGMENTS_TEXT_MAX + 1], err[160];
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strcpy(text, "untouched");
		assert_int_equal(from(cases[i].json, text, err, sizeof err), -1);
		assert_string_equal(err, cases[i].message);
	}
}

/* A NUL inside a string (jansson refuses "\u0000" unless asked to allow it): not a name
 * that only looks like its first part. */
static void test_nul_inside(void **state)
{
	char text[KP_SEGMENTS_TEXT_MAX + 1], err[160];
	(void)state;
	json_t *array = json_pack("[o]", json_stringn("vip\0x", 5));
	assert_non_null(array);
	assert_false(kp_segment_json_valid(json_array_get(array, 0)));
	assert_int_equal(kp_segments_from_json(array, "segments", text, err, sizeof err), -1);
	assert_string_equal(err, "segments[0]: must be 1 to 32 bytes of a-z 0-9 _ -");
	json_decref(array);
	json_t *plain = json_string("vip");
	assert_true(kp_segment_json_valid(plain));
	json_decref(plain);
}

static void test_any(void **state)
{
	char *club[] = {"staff", "vip"}; /* sorted */
	(void)state;
	assert_true(kp_segments_any("vip", club, 2));
	assert_true(kp_segments_any("a,staff", club, 2));
	assert_true(kp_segments_any("a,b,vip", club, 2));
	assert_false(kp_segments_any("a,b", club, 2));
	assert_false(kp_segments_any("vi,vipp,staf", club, 2));
	assert_false(kp_segments_any("", club, 2));
	assert_false(kp_segments_any(NULL, club, 2));
	assert_false(kp_segments_any("vip", club, 0));
	/* a damaged text: empty names and an overlong one match nothing, the rest still do */
	assert_true(kp_segments_any(",,vip,", club, 2));
	assert_false(kp_segments_any("vipvipvipvipvipvipvipvipvipvipvip1", club, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_longest),  cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_nul_inside), cmocka_unit_test(test_any),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
