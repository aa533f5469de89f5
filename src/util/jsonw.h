/*
 * jsonw.h — writing JSON text straight from C values, for hot answers.
 *
 * jansson builds a tree, then sorts and prints it; for the purchase answer,
 * written on every quote and commit, that was a quarter of a commit's
 * instructions in the writer thread. This writer appends to one growing
 * buffer instead. Its output is exactly what
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) prints for the same value —
 * no spaces, jansson's escapes, raw UTF-8 — so an answer written here and
 * one parsed and printed again by jansson are the same bytes. That holds
 * only if keys come in strcmp order within each object: the caller writes
 * them sorted and jw_key asserts it.
 *
 * Errors (out of memory, nesting deeper than JW_MAX_DEPTH) are sticky:
 * every call after one does nothing and jw_finish returns NULL.
 */
#ifndef KP_UTIL_JSONW_H
#define KP_UTIL_JSONW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 16

struct jw {
	char *buf;
	size_t len, cap;
	bool failed;
	int depth;                             /* open objects and arrays */
	bool need_comma[JW_MAX_DEPTH + 1];     /* a value was written at this depth */
	const char *last_key[JW_MAX_DEPTH + 1]; /* objects: the previous key, for the order check */
};

void jw_init(struct jw *w);
void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_end(struct jw *w);
/* The next member's name; must sort after the previous one of this object.
 * The name must stay valid until the object ends. */
void jw_key(struct jw *w, const char *key);
void jw_int(struct jw *w, int64_t v);
void jw_string(struct jw *w, const char *s);   /* NULL writes null */
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* A jansson value, printed with JSON_COMPACT | JSON_SORT_KEYS. */
void jw_json(struct jw *w, const json_t *v);
/*
 * Pieces of text without the writer's commas, nesting or key order, for a
 * caller that lays out the structure itself (util/json_canonical.c): text as
 * it is, a string of n bytes quoted with jansson's escapes (a NUL in it as
 * \u0000), an integer in decimal.
 */
void jw_piece(struct jw *w, const char *text, size_t n);
void jw_piece_string(struct jw *w, const char *s, size_t n);
void jw_piece_int(struct jw *w, int64_t v);
/* The text (malloc'ed, the caller frees) or NULL after an error; resets w. */
char *jw_finish(struct jw *w);
/* Drop what was written (after an error elsewhere). */
void jw_discard(struct jw *w);

#endif
