/*
 * segments.c — a member's segments as an API array and as stored text
 * (segments.h).
 */
#include "rules/segments.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/purchase.h"

bool kp_segment_name_valid(const char *name)
{
	size_t n = 0;
	for (const char *s = name; *s; s++, n++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
			  *s == '-';
		if (!ok || n >= KP_SEGMENT_NAME_MAX)
			return false;
	}
	return n > 0;
}

bool kp_segment_json_valid(const json_t *v)
{
	const char *name = json_string_value(v);
	return name && strlen(name) == json_string_length(v) && kp_segment_name_valid(name);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int kp_segments_from_json(const json_t *array, const char *path,
			  char text[KP_SEGMENTS_TEXT_MAX + 1], char *err, size_t errlen)
{
	const char *names[KP_MAX_MEMBER_SEGMENTS];
	size_t n = json_array_size(array);
	if (!json_is_array(array) || n > KP_MAX_MEMBER_SEGMENTS) {
		snprintf(err, errlen, "%s: must be an array of at most %d segment names", path,
			 KP_MAX_MEMBER_SEGMENTS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *item = json_array_get(array, i);
		const char *name = json_string_value(item);
		if (!kp_segment_json_valid(item)) {
			snprintf(err, errlen, "%s[%zu]: must be 1 to %d bytes of a-z 0-9 _ -", path,
				 i, KP_SEGMENT_NAME_MAX);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(names[k], name) == 0) {
				snprintf(err, errlen, "%s[%zu]: %s is listed twice", path, i, name);
				return -1;
			}
		names[i] = name;
	}
	qsort(names, n, sizeof *names, compare_names);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t part = strlen(names[i]);
		if (i)
			text[len++] = ',';
		memcpy(text + len, names[i], part);
		len += part;
	}
	assert(len <= KP_SEGMENTS_TEXT_MAX);
	text[len] = '\0';
	return 0;
}

/*
 * The next name of a stored text from *cursor into name, moving *cursor past
 * it; false at the end (a NULL text has none). A part longer than any valid
 * name (a damaged text) is skipped rather than cut, so it matches nothing.
 */
static bool next_name(const char **cursor, char name[KP_SEGMENT_NAME_MAX + 1])
{
	while (*cursor && **cursor) {
		const char *start = *cursor, *end = strchr(start, ',');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		*cursor = end ? end + 1 : start + len;
		if (len > 0 && len <= KP_SEGMENT_NAME_MAX) {
			memcpy(name, start, len);
			name[len] = '\0';
			return true;
		}
	}
	return false;
}

json_t *kp_segments_to_json(const char *text)
{
	char name[KP_SEGMENT_NAME_MAX + 1];
	json_t *array = json_array();
	for (const char *s = text; array && next_name(&s, name);)
		if (json_array_append_new(array, json_string(name)) != 0) {
			json_decref(array);
			return NULL;
		}
	return array;
}

bool kp_segments_any(const char *text, char *const *sorted, size_t n)
{
	char name[KP_SEGMENT_NAME_MAX + 1];
	for (const char *s = text; n > 0 && next_name(&s, name);)
		if (kp_rules_in_sorted(name, sorted, n))
			return true;
	return false;
}
