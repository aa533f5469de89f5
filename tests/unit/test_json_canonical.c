/*
 * test_json_canonical.c — kp_json_canonical prints exactly what
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) prints: every stored
 * idempotency hash was taken over jansson's bytes. Fixed cases for each
 * rule (key order, escapes, numbers, nesting, a large object) and random
 * trees compared byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_random.h"
#include "util/json_canonical.h"

/* v is consumed. */
static void assert_as_jansson(json_t *v)
{
	assert_non_null(v);
	char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(want);
	size_t len = 0;
	char *got = kp_json_canonical(v, &len);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	free(want);
	json_decref(v);
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_ALLOW_NUL, &err);
	if (!v)
		fail_msg("%s: %s", text, err.text);
	return v;
}

static void test_a_purchase_body(void **state)
{
	(void)state;
	assert_as_jansson(parse(
		"{\"receipt_id\": \"R-1\", \"member\": \"42\", \"redeem_points\": 1000,\n"
		" \"lines\": [{\"sku\": \"milk\", \"qty\": 2, \"price\": 8990, \"category\": \"dairy\"},\n"
		"  {\"price\": 0, \"sku\": \"bag\", \"qty\": 1}], \"coupons\": [\"SPRING\"],\n"
		" \"hold\": false, \"channel\": \"store\", \"phone\": null}"));
	assert_as_jansson(parse("{}"));
	assert_as_jansson(parse("[]"));
	assert_as_jansson(parse("{\"a\":{},\"b\":[],\"c\":[{}],\"d\":[[]]}"));
}

static void test_key_order_is_bytes_then_length(void **state)
{
	(void)state;
	json_t *v = json_object();
	const char *keys[] = {"b", "a", "ab", "A", "aa", "", "a b", "\xd0\xb0", "~", "Z", "a0"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		json_object_set_new(v, keys[i], json_integer((json_int_t)i));
	/* keys with NUL inside: "a" < "a\0" < "a\0b" < "a\1" */
	json_object_setn_new(v, "a\0b", 3, json_true());
	json_object_setn_new(v, "a\0", 2, json_false());
	json_object_setn_new(v, "a\1", 2, json_null());
	assert_as_jansson(v);
}

static void test_strings_escape_as_jansson(void **state)
{
	(void)state;
	char all[0x80 + 1];
	for (int i = 0; i < 0x80; i++)
		all[i] = (char)(i + 1 == 0x80 ? 0x7f : i + 1);
	all[0x80] = '\0';
	json_t *v = json_object();
	json_object_set_new(v, "ascii", json_string(all));
	json_object_setn_new(v, "nul", 3, json_stringn("a\0b\0", 4));
	json_object_set_new(v, "quote\"key\\", json_string("\"\\/\b\f\n\r\t"));
	json_object_set_new(v, "utf8", json_string("молоко \xe2\x80\xa8 \xf0\x9f\x9b\x92 \xc2\x80"));
	json_object_set_new(v, "empty", json_string(""));
	assert_as_jansson(v);
	assert_as_jansson(parse("[\"\\u0000\\u001f\\u007f\\ud83d\\uded2\\/\"]"));
}

static void test_numbers(void **state)
{
	(void)state;
	json_t *v = json_array();
	const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 1000000000000LL, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		json_array_append_new(v, json_integer(ints[i]));
	const double reals[] = {0.0, -0.0, 1.0, 0.1, 3.0, -2.5, 1e300, 1.5e-7, 123456789012345678.0,
				1.0 / 3.0};
	for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
		json_array_append_new(v, json_real(reals[i]));
	assert_as_jansson(v);
	assert_as_jansson(parse("{\"n\":[1.0,2e3,-0,1E-2,9223372036854775807]}"));
}

static void test_deep_and_large(void **state)
{
	(void)state;
	json_t *deep = json_array(), *inner = deep;
	for (int i = 0; i < 500; i++) {
		json_t *next = i % 2 ? json_array() : json_object();
		if (json_is_array(inner))
			json_array_append_new(inner, next);
		else
			json_object_set_new(inner, "k", next);
		inner = next;
	}
	assert_as_jansson(deep);
	/* more keys than the insertion sort takes: the qsort path */
	json_t *large = json_object();
	for (int i = 0; i < 2000; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", (i * 7919) % 2000);
		json_object_set_new(large, key, json_integer(i));
	}
	assert_as_jansson(large);
}

/* Pieces of strings: plain text, every escape, multi-byte UTF-8. */
static const char *const pieces[] = {"a", "b", "sku", "\"", "\\", "/", "\n", "\t", "\x01",
				     "\x1f", "\x7f", " ", "0", "\xd0\xbc", "\xe2\x82\xbd",
				     "\xf0\x9f\x8d\x9e", "", "ab", "a\\b"};
#define N_PIECES (sizeof pieces / sizeof pieces[0])

static json_t *random_string(struct rng *g)
{
	char buf[64] = "";
	size_t len = 0;
	for (int64_t n = pick(g, 0, 6); n > 0; n--) {
		const char *p = pieces[pick(g, 0, N_PIECES - 1)];
		if (len + strlen(p) < sizeof buf) {
			memcpy(buf + len, p, strlen(p));
			len += strlen(p);
		}
	}
	if (chance(g, 5) && len + 1 < sizeof buf)
		buf[len++] = '\0'; /* a NUL inside, as "\u0000" parses */
	return json_stringn(buf, len);
}

static json_t *random_value(struct rng *g, int depth)
{
	int64_t kind = pick(g, 0, depth > 4 ? 5 : 7);
	switch (kind) {
	case 0: return json_integer((json_int_t)(next_u64(g) >> pick(g, 0, 63)) *
				    (chance(g, 30) ? -1 : 1));
	case 1: return json_real((double)pick(g, -1000000, 1000000) / (double)pick(g, 1, 1000));
	case 2: return random_string(g);
	case 3: return json_boolean(chance(g, 50));
	case 4: return json_null();
	case 5: return random_string(g);
	case 6: {
		json_t *a = json_array();
		for (int64_t n = pick(g, 0, 5); n > 0; n--)
			json_array_append_new(a, random_value(g, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (int64_t n = pick(g, 0, 20); n > 0; n--) {
			json_t *k = random_string(g);
			json_object_setn_new(o, json_string_value(k), json_string_length(k),
					     random_value(g, depth + 1));
			json_decref(k);
		}
		return o;
	}
	}
}

static void test_random_trees_match_jansson(void **state)
{
	(void)state;
	unsigned seed = property_seed();
	printf("# seed %u\n", seed);
	struct rng g = {seed};
	for (int i = 0; i < 5000; i++) {
		json_t *v = chance(&g, 50) ? json_object() : json_array();
		for (int64_t n = pick(&g, 0, 8); n > 0; n--) {
			json_t *item = random_value(&g, 1);
			if (json_is_array(v)) {
				json_array_append_new(v, item);
			} else {
				json_t *k = random_string(&g);
				json_object_setn_new(v, json_string_value(k), json_string_length(k),
						     item);
				json_decref(k);
			}
		}
		assert_as_jansson(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_purchase_body),
		cmocka_unit_test(test_key_order_is_bytes_then_length),
		cmocka_unit_test(test_strings_escape_as_jansson),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_deep_and_large),
		cmocka_unit_test(test_random_trees_match_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
