#include "util/jsonw.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof *w);
}

static inline bool reserve(struct jw *w, size_t more)
{
	if (w->failed)
		return false;
	if (w->len + more + 1 <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 1024;
	while (cap < w->len + more + 1)
		cap *= 2;
	char *b = realloc(w->buf, cap);
	if (!b) {
		w->failed = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

/* The text is NUL-terminated only by jw_finish; reserve keeps room for it. */
static void put(struct jw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

/* What jansson escapes: ", \ and control characters, NUL among them. */
static inline bool needs_escape(unsigned char ch)
{
	return ch == '"' || ch == '\\' || ch < 0x20;
}

static bool plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (needs_escape((unsigned char)s[i]))
			return false;
	return true;
}

/* Before a value: the comma after the previous one, unless a key just came. */
static void before_value(struct jw *w)
{
	if (w->need_comma[w->depth] && reserve(w, 1))
		w->buf[w->len++] = ',';
	w->need_comma[w->depth] = true;
}

static void open_container(struct jw *w, char c)
{
	before_value(w);
	if (w->depth >= JW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	put(w, &c, 1);
	w->depth++;
	w->need_comma[w->depth] = false;
	w->last_key[w->depth] = NULL;
}

static void close_container(struct jw *w, char c)
{
	assert(w->failed || w->depth > 0);
	if (w->depth > 0)
		w->depth--;
	put(w, &c, 1);
}

void jw_object_begin(struct jw *w) { open_container(w, '{'); }
void jw_object_end(struct jw *w) { close_container(w, '}'); }
void jw_array_begin(struct jw *w) { open_container(w, '['); }
void jw_array_end(struct jw *w) { close_container(w, ']'); }

/* jansson's escaping: ", \, and control characters (NUL too, as \u0000); the rest as is. */
void jw_piece_string(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF"; /* jansson prints \\u%04X */
	if (plain(s, n)) { /* the usual string: nothing to escape, one copy */
		if (reserve(w, n + 2)) {
			char *p = w->buf + w->len;
			*p++ = '"';
			memcpy(p, s, n);
			p[n] = '"';
			w->len += n + 2;
		}
		return;
	}
	put(w, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!needs_escape(ch))
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			put(w, u, sizeof u);
		}
		}
	}
	put(w, s + run, n - run);
	put(w, "\"", 1);
}

void jw_piece(struct jw *w, const char *text, size_t n)
{
	put(w, text, n);
}

void jw_piece_int(struct jw *w, int64_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	/* through uint64_t: INT64_MIN has no positive int64_t */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	size_t n = (size_t)(tmp + sizeof tmp - p);
	if (reserve(w, n)) { /* put, without its call to memcpy for a few bytes */
		for (size_t i = 0; i < n; i++)
			w->buf[w->len + i] = p[i];
		w->len += n;
	}
}

void jw_key(struct jw *w, const char *key)
{
	assert(w->failed || w->depth > 0);
	/* jansson prints sorted keys; the same bytes need the same order */
	assert(!w->last_key[w->depth] || strcmp(w->last_key[w->depth], key) < 0);
	w->last_key[w->depth] = key;
	size_t n = strlen(key);
	if (plain(key, n) && reserve(w, n + 4)) { /* the usual name: one copy */
		char *p = w->buf + w->len;
		if (w->need_comma[w->depth])
			*p++ = ',';
		*p++ = '"';
		memcpy(p, key, n);
		p += n;
		*p++ = '"';
		*p++ = ':';
		w->len = (size_t)(p - w->buf);
	} else {
		before_value(w);
		jw_piece_string(w, key, n);
		put(w, ":", 1);
	}
	w->need_comma[w->depth] = false; /* the value follows the colon */
}

void jw_int(struct jw *w, int64_t v)
{
	before_value(w);
	jw_piece_int(w, v);
}

void jw_string(struct jw *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	before_value(w);
	jw_piece_string(w, s, strlen(s));
}

void jw_bool(struct jw *w, bool v)
{
	before_value(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
	before_value(w);
	put(w, "null", 4);
}

void jw_json(struct jw *w, const json_t *v)
{
	if (!v) {
		jw_null(w);
		return;
	}
	/* the common empty cases without a round through jansson's printer */
	if (json_is_array(v) && json_array_size(v) == 0) {
		before_value(w);
		put(w, "[]", 2);
		return;
	}
	if (json_is_object(v) && json_object_size(v) == 0) {
		before_value(w);
		put(w, "{}", 2);
		return;
	}
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!text) {
		w->failed = true;
		return;
	}
	before_value(w);
	put(w, text, strlen(text));
	free(text);
}

char *jw_finish(struct jw *w)
{
	assert(w->failed || w->depth == 0);
	if (!w->failed && w->buf)
		w->buf[w->len] = '\0'; /* reserve always left room for it */
	char *text = w->failed ? NULL : w->buf;
	if (w->failed)
		free(w->buf);
	if (text && !w->len) { /* nothing written: not JSON */
		free(text);
		text = NULL;
	}
	jw_init(w);
	return text;
}

void jw_discard(struct jw *w)
{
	free(w->buf);
	jw_init(w);
}
