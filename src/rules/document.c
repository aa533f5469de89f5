/*
 * document.c — helpers shared by the program-document parsers (document.h).
 *
 * Paths, error messages, integers, percentages and string lists: the pieces
 * every section of the program document is made of, so that each section's
 * parser reads as the list of its fields and their ranges.
 */
#include "rules/document.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"

static void write_error(struct kp_doc *d, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void write_error(struct kp_doc *d, const char *path, const char *fmt, va_list ap)
{
	int used;

	assert(path != NULL && fmt != NULL);
	if (d->errlen == 0)
		return;
	assert(d->errbuf != NULL);
	used = snprintf(d->errbuf, d->errlen, "%s: ", path);
	if (used >= 0 && (size_t)used < d->errlen)
		vsnprintf(d->errbuf + used, d->errlen - (size_t)used, fmt, ap);
}

int kp_doc_fail(struct kp_doc *d, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_error(d, path, fmt, ap);
	va_end(ap);
	return KP_EPROGRAM;
}

int kp_doc_out_of_memory(struct kp_doc *d)
{
	kp_doc_fail(d, "document", "out of memory");
	return KP_ENOMEM;
}

/* Bounded append: only an absurdly long unknown key fills KP_DOC_PATH_MAX. */
static void append(char *buf, size_t *used, const char *s)
{
	assert(*used < KP_DOC_PATH_MAX);
	while (*s && *used + 1 < KP_DOC_PATH_MAX)
		buf[(*used)++] = *s++;
	buf[*used] = '\0';
	assert(*used < KP_DOC_PATH_MAX);
}

/* "earn" + "percent" → "earn.percent"; the root's children have no prefix. */
void kp_doc_child_path(char *buf, const char *path, const char *key)
{
	size_t used = 0;

	assert(buf != NULL && path != NULL && key != NULL);
	buf[0] = '\0';
	if (path[0] != '\0') {
		append(buf, &used, path);
		append(buf, &used, ".");
	}
	append(buf, &used, key);
}

void kp_doc_index_path(char *buf, const char *path, size_t index)
{
	char suffix[32];
	size_t used = 0;

	assert(buf != NULL && path != NULL);
	snprintf(suffix, sizeof suffix, "[%zu]", index);
	append(buf, &used, path);
	append(buf, &used, suffix);
}

/* An integer in [min, max]; reals and booleans are not integers here. */
int kp_doc_integer(struct kp_doc *d, const json_t *v, const char *path, int64_t min, int64_t max,
		   int64_t *out)
{
	assert(min <= max);
	assert(out != NULL);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return kp_doc_fail(d, path, "must be an integer from %lld to %lld", (long long)min,
				   (long long)max);
	*out = json_integer_value(v);
	return 0;
}

int kp_doc_hundredths(const json_t *v, int64_t max_percent, int64_t *bp)
{
	char text[64];

	assert(max_percent >= 0 && max_percent <= INT64_MAX / KP_BP_ONE);
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > max_percent)
			return KP_EINVAL;
		*bp = json_integer_value(v) * (KP_BP_ONE / 100);
		return 0;
	}
	if (json_is_string(v))
		return kp_rules_parse_percent_text(json_string_value(v), max_percent, bp);
	if (!json_is_real(v))
		return KP_EINVAL;
	/* ten significant digits turn 0.1 + 0.2 back into "0.3" but keep 2.555 as is */
	snprintf(text, sizeof text, "%.10g", json_real_value(v));
	return kp_rules_parse_percent_text(text, max_percent, bp);
}

int kp_doc_percent(struct kp_doc *d, const json_t *v, const char *path, int64_t max_percent,
		   int64_t *bp)
{
	int64_t value = 0;

	assert(bp != NULL);
	if (kp_doc_hundredths(v, max_percent, &value))
		return kp_doc_fail(d, path,
				   "must be a number from 0 to %lld with at most two decimals",
				   (long long)max_percent);
	assert(value >= 0 && value <= max_percent * (KP_BP_ONE / 100));
	*bp = value;
	return 0;
}

char *kp_doc_copy_string(const json_t *v)
{
	size_t len = json_string_length(v);
	char *s = malloc(len + 1);

	assert(json_is_string(v));
	if (s) {
		memcpy(s, json_string_value(v), len);
		s[len] = '\0';
	}
	return s;
}

static int compare_strings(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	assert(*x != NULL && *y != NULL);
	return strcmp(*x, *y);
}

/* The message names the bounds the caller asked for ("at most 256", "1 to 256"). */
static int bad_array(struct kp_doc *d, const char *path, size_t min, size_t max)
{
	assert(min <= max);
	if (min == 0)
		return kp_doc_fail(d, path, "must be an array of at most %zu strings", max);
	return kp_doc_fail(d, path, "must be an array of %zu to %zu strings", min, max);
}

int kp_doc_string_set(struct kp_doc *d, json_t *v, const char *path, size_t min, size_t max,
		      char ***set, size_t *n)
{
	char sub[KP_DOC_PATH_MAX];
	size_t count = json_array_size(v);

	assert(*set == NULL && *n == 0);
	if (!json_is_array(v) || count < min || count > max)
		return bad_array(d, path, min, max);
	if (count == 0)
		return 0;
	*set = calloc(count, sizeof **set);
	if (!*set)
		return kp_doc_out_of_memory(d);
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(v, i);

		kp_doc_index_path(sub, path, i);
		if (!json_is_string(item))
			return kp_doc_fail(d, sub, "must be a string");
		if (json_string_length(item) < 1 || json_string_length(item) > KP_MAX_NAME)
			return kp_doc_fail(d, sub, "must be 1 to %d bytes", KP_MAX_NAME);
		(*set)[i] = kp_doc_copy_string(item);
		if (!(*set)[i])
			return kp_doc_out_of_memory(d);
		(*n)++;
	}
	qsort(*set, count, sizeof **set, compare_strings);
	assert(*n == count);
	return 0;
}

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

int kp_doc_id(struct kp_doc *d, const json_t *v, const char *path, char **out)
{
	const char *s = json_string_value(v); /* NULL unless a string */
	size_t len = json_string_length(v);
	bool ok = s != NULL && len >= 1 && len <= KP_DOC_MAX_ID;

	assert(out != NULL && *out == NULL);
	for (size_t i = 0; ok && i < len; i++)
		ok = id_char(s[i]);
	if (!ok)
		return kp_doc_fail(d, path, "must be 1 to %d characters of a-z A-Z 0-9 - _ .",
				   KP_DOC_MAX_ID);
	*out = kp_doc_copy_string(v);
	if (!*out)
		return kp_doc_out_of_memory(d);
	assert(strlen(*out) == len);
	return 0;
}

char *kp_doc_rule_id(const char *prefix, const char *name)
{
	size_t a = strlen(prefix), b = strlen(name);
	char *id = malloc(a + 1 + b + 1);

	assert(a > 0 && b <= KP_MAX_NAME);
	if (id) {
		memcpy(id, prefix, a);
		id[a] = ':';
		memcpy(id + a + 1, name, b + 1);
	}
	return id;
}

void kp_doc_free_strings(char **set, size_t n)
{
	assert(n == 0 || set != NULL);
	for (size_t i = 0; i < n; i++)
		free(set[i]);
	free(set);
}
