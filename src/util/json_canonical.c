/*
 * json_canonical.c — jansson's compact, key-sorted text of a JSON value,
 * written into one buffer (see json_canonical.h) with util/jsonw.h's pieces:
 * the structure is laid out here, since keys may hold NUL and nest deeper
 * than jsonw's own objects allow.
 */
#include "util/json_canonical.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"

/* A real as jansson prints it (%.17g, and ".0" when that looks like an integer). */
static void put_real(struct jw *w, const json_t *v)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text) {
		w->failed = true;
		return;
	}
	jw_piece(w, text, strlen(text));
	free(text);
}

struct key {
	const char *s;
	size_t len;
	const json_t *value;
};

/* jansson's compare_keys: bytes first, then the shorter key. */
static int key_order(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int rc = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (rc)
		return rc;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void put_value(struct jw *w, const json_t *v);

static void put_object(struct jw *w, const json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	struct key small[16];
	struct key *keys = n <= 16 ? small : malloc(n * sizeof *keys);
	if (!keys) {
		w->failed = true;
		return;
	}
	const char *k;
	size_t klen;
	json_t *value;
	json_object_keylen_foreach((json_t *)obj, k, klen, value) {
		keys[i++] = (struct key){k, klen, value};
	}
	assert(i == n);
	/* Bodies have a handful of keys: insertion sort for those, qsort for a
	 * large object, which a 1 MiB body could make quadratic otherwise. */
	if (n > 16)
		qsort(keys, n, sizeof *keys, key_order);
	for (size_t a = 1; a < n && n <= 16; a++)
		for (size_t b = a; b > 0 && key_order(&keys[b - 1], &keys[b]) > 0; b--) {
			struct key t = keys[b];
			keys[b] = keys[b - 1];
			keys[b - 1] = t;
		}
	jw_piece(w, "{", 1);
	for (i = 0; i < n && !w->failed; i++) {
		if (i)
			jw_piece(w, ",", 1);
		jw_piece_string(w, keys[i].s, keys[i].len);
		jw_piece(w, ":", 1);
		put_value(w, keys[i].value);
	}
	jw_piece(w, "}", 1);
	if (keys != small)
		free(keys);
}

static void put_value(struct jw *w, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put_object(w, v);
		break;
	case JSON_ARRAY:
		jw_piece(w, "[", 1);
		for (size_t i = 0; i < json_array_size(v) && !w->failed; i++) {
			if (i)
				jw_piece(w, ",", 1);
			put_value(w, json_array_get(v, i));
		}
		jw_piece(w, "]", 1);
		break;
	case JSON_STRING:
		jw_piece_string(w, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jw_piece_int(w, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(w, v);
		break;
	case JSON_TRUE:
		jw_piece(w, "true", 4);
		break;
	case JSON_FALSE:
		jw_piece(w, "false", 5);
		break;
	case JSON_NULL:
		jw_piece(w, "null", 4);
		break;
	}
}

char *kp_json_canonical(const json_t *v, size_t *len)
{
	assert(v && len && (json_is_object(v) || json_is_array(v)));
	struct jw w;
	jw_init(&w);
	put_value(&w, v);
	*len = w.len;
	return jw_finish(&w); /* NULL after an error */
}
