/*
 * test_jsonw.c — the JSON text writer (util/jsonw.h) prints exactly what
 * jansson prints with JSON_COMPACT | JSON_SORT_KEYS: scalars at their
 * limits, every escape, UTF-8, nesting, embedded jansson values, then
 * random documents (seed printed) built both ways and compared byte for
 * byte. Errors are sticky and leak nothing.
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
#include "util/jsonw.h"

static char *jansson_text(json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(v);
	assert_non_null(t);
	return t;
}

static void assert_same(struct jw *w, json_t *v)
{
	char *mine = jw_finish(w), *theirs = jansson_text(v);
	assert_non_null(mine);
	assert_string_equal(mine, theirs);
	free(mine);
	free(theirs);
}

static void test_integers(void **state)
{
	(void)state;
	const int64_t values[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		struct jw w;
		jw_init(&w);
		jw_int(&w, values[i]);
		assert_same(&w, json_integer(values[i]));
	}
}

static void test_strings(void **state)
{
	(void)state;
	const char *values[] = {"", "plain", "quote \" and \\ backslash", "a/b",
				"\b\f\n\r\t", "\x01\x1f\x7f", "Молоко 3,2% «Простоквашино»",
				"emoji \xf0\x9f\x8d\x9e"};
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		struct jw w;
		jw_init(&w);
		jw_string(&w, values[i]);
		assert_same(&w, json_string(values[i]));
	}
	struct jw w;
	jw_init(&w);
	jw_string(&w, NULL);
	assert_same(&w, json_null());
}

static void test_nesting(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_object_begin(&w);
	jw_key(&w, "a"), jw_array_begin(&w), jw_array_end(&w);
	jw_key(&w, "b"), jw_object_begin(&w), jw_object_end(&w);
	jw_key(&w, "c");
	jw_array_begin(&w);
	jw_int(&w, 1), jw_bool(&w, true), jw_bool(&w, false), jw_null(&w);
	jw_object_begin(&w);
	jw_key(&w, "x"), jw_string(&w, "y");
	jw_object_end(&w);
	jw_array_end(&w);
	/* a jansson value whose keys were inserted out of order */
	json_t *inner = json_pack("{s:i,s:i,s:[]}", "z", 1, "m", 2, "a");
	jw_key(&w, "d"), jw_json(&w, inner);
	jw_key(&w, "e"), jw_json(&w, NULL);
	jw_object_end(&w);
	json_t *v = json_pack("{s:[],s:{},s:[i,b,b,n,{s:s}],s:O,s:n}", "a", "b", "c", 1, 1, 0,
			      "x", "y", "d", inner, "e");
	json_decref(inner);
	assert_same(&w, v);
}

static void test_errors_are_sticky(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	for (int i = 0; i < JW_MAX_DEPTH + 2; i++)
		jw_array_begin(&w);
	jw_int(&w, 1);
	assert_true(w.failed);
	assert_null(jw_finish(&w)); /* frees what was written */
	jw_init(&w);
	assert_null(jw_finish(&w)); /* nothing written is not JSON */
	jw_init(&w);
	jw_int(&w, 5);
	jw_discard(&w);
	assert_null(w.buf);
}

/* ---- random documents, built with both writers ------------------------- */

static void random_string(struct rng *g, char *out, size_t cap)
{
	static const char *const pieces[] = {"a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t",
					     "\x01", "\x1f", "\x7f", "ё", "€", "\xf0\x9f\x8d\x9e"};
	size_t len = 0, n = (size_t)pick(g, 0, 6);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[pick(g, 0, sizeof pieces / sizeof *pieces - 1)];
		if (len + strlen(p) + 1 > cap)
			break;
		strcpy(out + len, p);
		len += strlen(p);
	}
}

static int by_strcmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static json_t *random_value(struct rng *g, struct jw *w, int depth);

static json_t *random_object(struct rng *g, struct jw *w, int depth)
{
	char keys[5][32];
	size_t n = (size_t)pick(g, 0, 5), k = 0;
	for (size_t i = 0; i < n; i++)
		random_string(g, keys[i], sizeof keys[i]);
	qsort(keys, n, sizeof keys[0], by_strcmp);
	json_t *o = json_object();
	jw_object_begin(w);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(keys[i], keys[k]) == 0)
			continue; /* a key once */
		k = i;
		jw_key(w, keys[i]);
		json_object_set_new(o, keys[i], random_value(g, w, depth + 1));
	}
	jw_object_end(w);
	return o;
}

static json_t *random_value(struct rng *g, struct jw *w, int depth)
{
	char s[32];
	switch (pick(g, 0, depth >= 4 ? 3 : 6)) {
	case 0: {
		int64_t v = (int64_t)next_u64(g) >> pick(g, 0, 63);
		jw_int(w, v);
		return json_integer(v);
	}
	case 1:
		random_string(g, s, sizeof s);
		jw_string(w, s);
		return json_string(s);
	case 2: {
		bool b = chance(g, 50);
		jw_bool(w, b);
		return json_boolean(b);
	}
	case 3:
		jw_null(w);
		return json_null();
	case 4: {
		json_t *a = json_array();
		jw_array_begin(w);
		for (int64_t i = pick(g, 0, 4); i > 0; i--)
			json_array_append_new(a, random_value(g, w, depth + 1));
		jw_array_end(w);
		return a;
	}
	case 5:
		return random_object(g, w, depth);
	default: { /* a jansson value embedded whole */
		struct jw scratch;
		jw_init(&scratch);
		json_t *v = random_value(g, &scratch, depth + 1);
		jw_discard(&scratch);
		jw_json(w, v);
		return v;
	}
	}
}

static void test_random_documents(void **state)
{
	(void)state;
	unsigned seed = property_seed();
	printf("test_random_documents: KP_TEST_SEED=%u\n", seed);
	struct rng g = {seed};
	for (int i = 0; i < 2000; i++) {
		struct jw w;
		jw_init(&w);
		json_t *v = random_value(&g, &w, 0);
		assert_same(&w, v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),         cmocka_unit_test(test_strings),
		cmocka_unit_test(test_nesting),          cmocka_unit_test(test_errors_are_sticky),
		cmocka_unit_test(test_random_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
