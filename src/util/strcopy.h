/*
 * strcopy.h — a string into a fixed-size field, cut to fit: what
 * snprintf(dst, cap, "%s", src) does, without parsing a format; the one way
 * the code fills such a field. The writer copies a dozen strings a purchase
 * into its row structures, and the stores each text column they read;
 * without snprintf the writer runs 5.6% fewer instructions a purchase
 * (callgrind, docs/performance.md).
 */
#ifndef KP_UTIL_STRCOPY_H
#define KP_UTIL_STRCOPY_H

#include <assert.h>
#include <stddef.h>
#include <string.h>

/* Copies at most cap - 1 bytes of src and always ends dst with a NUL;
 * src NULL copies "". Returns strlen(src), so a result >= cap says it was cut. */
static inline size_t kp_strcopy(char *dst, size_t cap, const char *src)
{
	assert(dst && cap > 0);
	size_t len = src ? strlen(src) : 0;
	size_t n = len < cap ? len : cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return len;
}

#endif
