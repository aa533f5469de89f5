/*
 * timeutil.h — instants and calendar dates as plain integers.
 *
 * An instant is int64_t seconds since the Unix epoch, UTC. A date is int64_t
 * days since 1970-01-01. KP_NEVER is the instant "no expiry". Conversion is
 * pure arithmetic (no time zones, no locale, no libc time state), so rules
 * and the ledger can use it without touching the clock.
 */
#ifndef KP_UTIL_TIMEUTIL_H
#define KP_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define KP_NEVER INT64_MAX
#define KP_SECONDS_PER_DAY 86400

/* Days since 1970-01-01 for a proleptic Gregorian y-m-d (no validation). */
int64_t kp_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The y-m-d of a day number. */
void kp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Day of week of a day number: 1 = Monday … 7 = Sunday (ISO 8601). */
unsigned kp_iso_weekday(int64_t days);

/*
 * Parse "YYYY-MM-DDTHH:MM:SSZ" (also accepts a fraction of a second, which is
 * truncated, and "+00:00" for Z). Returns 0 or KP_EINVAL; *out is seconds.
 * Years 1970..9999 only.
 */
int kp_time_parse(const char *s, int64_t *out);

/* Parse "YYYY-MM-DD" (years 1900..9999; negative day numbers before 1970)
 * into a day number. Returns 0 or KP_EINVAL. */
int kp_date_parse(const char *s, int64_t *days_out);

/* Format an instant as "YYYY-MM-DDTHH:MM:SSZ"; buf must hold 21 bytes. */
void kp_time_format(int64_t t, char buf[21]);

/* Format a day number as "YYYY-MM-DD"; buf must hold 11 bytes. */
void kp_date_format(int64_t days, char buf[11]);

/* The wall clock, in seconds. Only the engine's clock calls this. */
int64_t kp_time_now_wall(void);

/* A monotonic clock in nanoseconds, for measuring durations. */
int64_t kp_time_mono_ns(void);

#endif
