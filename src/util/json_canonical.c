/*
 * json_canonical.c — jansson's compact, key-sorted text of a JSON value,
 * written into one buffer (see json_canonical.h).
 */
#include "util/json_canonical.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct canon {
	char *buf;
	size_t len, cap;
	bool failed;
};

static bool reserve(struct canon *c, size_t n)
{
	if (c->failed)
		return false;
	if (c->len + n + 1 <= c->cap)
		return true;
	size_t cap = c->cap ? c->cap : 256;
	while (cap < c->len + n + 1)
		cap *= 2;
	char *buf = realloc(c->buf, cap);
	if (!buf) {
		c->failed = true;
		return false;
	}
	c->buf = buf;
	c->cap = cap;
	return true;
}

static void put(struct canon *c, const char *s, size_t n)
{
	if (reserve(c, n)) {
		memcpy(c->buf + c->len, s, n);
		c->len += n;
	}
}

static void put_char(struct canon *c, char ch)
{
	if (reserve(c, 1))
		c->buf[c->len++] = ch;
}

/* jansson's dump_string without its flags: only '"', '\\' and bytes below 0x20 escaped. */
static void put_string(struct canon *c, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	put_char(c, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch != '"' && ch != '\\' && ch >= 0x20)
			continue;
		put(c, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"': put(c, "\\\"", 2); break;
		case '\\': put(c, "\\\\", 2); break;
		case '\b': put(c, "\\b", 2); break;
		case '\f': put(c, "\\f", 2); break;
		case '\n': put(c, "\\n", 2); break;
		case '\r': put(c, "\\r", 2); break;
		case '\t': put(c, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			put(c, u, sizeof u);
		}
		}
	}
	put(c, s + run, n - run);
	put_char(c, '"');
}

static void put_integer(struct canon *c, json_int_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	/* through uint64_t: INT64_MIN has no positive json_int_t */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	put(c, p, (size_t)(tmp + sizeof tmp - p));
}

/* A real as jansson prints it (%.17g, and ".0" when that looks like an integer). */
static void put_real(struct canon *c, const json_t *v)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text) {
		c->failed = true;
		return;
	}
	put(c, text, strlen(text));
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

static void put_value(struct canon *c, const json_t *v);

static void put_object(struct canon *c, const json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	struct key small[16];
	struct key *keys = n <= 16 ? small : malloc(n * sizeof *keys);
	if (!keys) {
		c->failed = true;
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
	put_char(c, '{');
	for (i = 0; i < n && !c->failed; i++) {
		if (i)
			put_char(c, ',');
		put_string(c, keys[i].s, keys[i].len);
		put_char(c, ':');
		put_value(c, keys[i].value);
	}
	put_char(c, '}');
	if (keys != small)
		free(keys);
}

static void put_value(struct canon *c, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put_object(c, v);
		break;
	case JSON_ARRAY:
		put_char(c, '[');
		for (size_t i = 0; i < json_array_size(v) && !c->failed; i++) {
			if (i)
				put_char(c, ',');
			put_value(c, json_array_get(v, i));
		}
		put_char(c, ']');
		break;
	case JSON_STRING:
		put_string(c, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put_integer(c, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(c, v);
		break;
	case JSON_TRUE:
		put(c, "true", 4);
		break;
	case JSON_FALSE:
		put(c, "false", 5);
		break;
	case JSON_NULL:
		put(c, "null", 4);
		break;
	}
}

char *kp_json_canonical(const json_t *v, size_t *len)
{
	assert(v && len && (json_is_object(v) || json_is_array(v)));
	struct canon c = {0};
	put_value(&c, v);
	if (c.failed || !reserve(&c, 0)) {
		free(c.buf);
		return NULL;
	}
	c.buf[c.len] = '\0';
	*len = c.len;
	return c.buf;
}
