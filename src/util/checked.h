/*
 * checked.h — overflow-checked integer arithmetic for money and points.
 *
 * Money (minor units) and points are int64_t. Every sum or product that can
 * overflow goes through these helpers, which return KP_EOVERFLOW instead of
 * wrapping. Percentages are basis points (1% = 100 bp) held in int64_t.
 * Intermediate products of two 63-bit values are exact in __int128.
 */
#ifndef KP_UTIL_CHECKED_H
#define KP_UTIL_CHECKED_H

#include <stdint.h>

#include "util/error.h"

#define KP_BP_ONE 10000 /* 100% in basis points */

/* *out = a + b, or KP_EOVERFLOW (then *out is unchanged). */
static inline int kp_add(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return KP_EOVERFLOW;
	*out = r;
	return 0;
}

/* *out = a - b, or KP_EOVERFLOW (then *out is unchanged). */
static inline int kp_sub(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	if (__builtin_sub_overflow(a, b, &r))
		return KP_EOVERFLOW;
	*out = r;
	return 0;
}

/* *out = a * b, or KP_EOVERFLOW (then *out is unchanged). */
static inline int kp_mul(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return KP_EOVERFLOW;
	*out = r;
	return 0;
}

/* Narrow an exact 128-bit intermediate to int64_t, or KP_EOVERFLOW. */
static inline int kp_narrow(__int128 v, int64_t *out)
{
	if (v > INT64_MAX || v < INT64_MIN)
		return KP_EOVERFLOW;
	*out = (int64_t)v;
	return 0;
}

static inline int64_t kp_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t kp_max64(int64_t a, int64_t b) { return a > b ? a : b; }

#endif
