#include "util/timeutil.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/error.h"

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar. */
int64_t kp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void kp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

unsigned kp_iso_weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (4). */
	int64_t w = (days + 3) % 7;
	if (w < 0)
		w += 7;
	return (unsigned)w + 1;
}

static int digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return KP_EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int64_t y, unsigned m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return dm[m - 1] + (m == 2 && leap);
}

static int parse_ymd(const char *s, unsigned min_year, int64_t *days)
{
	unsigned y, m, d;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &m) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return KP_EINVAL;
	if (y < min_year || m < 1 || m > 12 || d < 1 || (int)d > days_in_month(y, m))
		return KP_EINVAL;
	*days = kp_days_from_civil(y, m, d);
	return 0;
}

int kp_date_parse(const char *s, int64_t *days_out)
{
	assert(s && days_out);
	if (strlen(s) != 10)
		return KP_EINVAL;
	/* dates are also birthdays: customers were born before 1970 */
	return parse_ymd(s, 1900, days_out);
}

int kp_time_parse(const char *s, int64_t *out)
{
	assert(s && out);
	size_t len = strlen(s);
	int64_t days;
	unsigned hh, mm, ss;
	if (len < 20 || parse_ymd(s, 1970, &days) || (s[10] != 'T' && s[10] != 't'))
		return KP_EINVAL;
	if (digits(s + 11, 2, &hh) || s[13] != ':' || digits(s + 14, 2, &mm) || s[16] != ':' ||
	    digits(s + 17, 2, &ss) || hh > 23 || mm > 59 || ss > 59)
		return KP_EINVAL;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		const char *start = p;
		while (*p >= '0' && *p <= '9' && p - start < 9)
			p++;
		if (p == start)
			return KP_EINVAL;
	}
	if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
		return KP_EINVAL;
	*out = days * KP_SECONDS_PER_DAY + hh * 3600 + mm * 60 + ss;
	return 0;
}

void kp_time_format(int64_t t, char buf[21])
{
	int64_t days = t / KP_SECONDS_PER_DAY, rem = t % KP_SECONDS_PER_DAY;
	if (rem < 0) {
		rem += KP_SECONDS_PER_DAY;
		days--;
	}
	int64_t y;
	unsigned m, d;
	kp_civil_from_days(days, &y, &m, &d);
	char tmp[96]; /* roomy, so the compiler can see nothing is cut */
	snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)(y % 10000), m, d,
		 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	memcpy(buf, tmp, 20);
	buf[20] = '\0';
}

void kp_date_format(int64_t days, char buf[11])
{
	int64_t y;
	unsigned m, d;
	kp_civil_from_days(days, &y, &m, &d);
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%04d-%02u-%02u", (int)(y % 10000), m, d);
	memcpy(buf, tmp, 10);
	buf[10] = '\0';
}

int64_t kp_time_now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t kp_time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
