/*
 * test_util.c — time and date conversion, phone normalisation, card numbers,
 * the error table and strings copied into fixed-size fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "util/error.h"
#include "util/phone.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

static void test_time_round_trip(void **state)
{
	(void)state;
	int64_t t;
	char buf[21];
	assert_int_equal(kp_time_parse("2026-12-01T10:00:00Z", &t), 0);
	assert_int_equal(t, 1796119200);
	kp_time_format(t, buf);
	assert_string_equal(buf, "2026-12-01T10:00:00Z");
	assert_int_equal(kp_time_parse("2026-12-01T10:00:00.123Z", &t), 0);
	assert_int_equal(t, 1796119200);
	assert_int_equal(kp_time_parse("2026-12-01T10:00:00+00:00", &t), 0);
	assert_int_equal(kp_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	/* every day of four years round-trips, leap days included */
	for (int64_t d = 20000; d < 20000 + 4 * 366; d++) {
		char date[11];
		int64_t back;
		kp_date_format(d, date);
		assert_int_equal(kp_date_parse(date, &back), 0);
		assert_int_equal(back, d);
	}
}

static void test_time_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "2026-12-01", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
		"2026-12-01T24:00:00Z", "2026-12-01T10:00:00", "2026-12-01T10:00:00+03:00",
		"2026-12-01 10:00:00Z", "1969-12-31T23:59:59Z", "2026-12-01T10:00:00Zjunk",
		"2026-12-01T10:00:00.Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t t;
		assert_int_equal(kp_time_parse(bad[i], &t), KP_EINVAL);
	}
	int64_t d;
	assert_int_equal(kp_date_parse("2024-02-29", &d), 0);
	assert_int_equal(kp_date_parse("2023-02-29", &d), KP_EINVAL);
	assert_int_equal(kp_date_parse("2024-2-29", &d), KP_EINVAL);
	/* birthdays: people were born before 1970 */
	assert_int_equal(kp_date_parse("1955-03-08", &d), 0);
	char back[11];
	kp_date_format(d, back);
	assert_string_equal(back, "1955-03-08");
	assert_int_equal(kp_date_parse("1899-12-31", &d), KP_EINVAL);
}

static void test_weekday(void **state)
{
	(void)state;
	int64_t d;
	assert_int_equal(kp_date_parse("2026-11-22", &d), 0); /* a Sunday */
	assert_int_equal(kp_iso_weekday(d), 7);
	assert_int_equal(kp_iso_weekday(d + 1), 1);
}

static void test_phone(void **state)
{
	(void)state;
	static const char *const same[] = {"+79001234567", "8 900 123-45-67", "89001234567",
					   "7 (900) 123.45.67", "9001234567", " 79001234567"};
	char out[KP_PHONE_E164_MAX + 1];
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		assert_int_equal(kp_phone_normalize(same[i], out), 0);
		assert_string_equal(out, "+79001234567");
	}
	assert_int_equal(kp_phone_normalize("+4915112345678", out), 0);
	assert_string_equal(out, "+4915112345678");
	assert_int_equal(kp_phone_normalize(" 4915112345678", out), 0); /* '+' lost in a query */
	assert_string_equal(out, "+4915112345678");
	static const char *const bad[] = {"", "+", "12345", "+7900abc4567", "+1234567890123456",
					  "++79001234567", "0123456789012", "900-12"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(kp_phone_normalize(bad[i], out), KP_EINVAL);
}

static void test_card_check_digit(void **state)
{
	(void)state;
	assert_true(kp_card_is_valid("2222381772233"));
	assert_false(kp_card_is_valid("2222381772234"));  /* one digit off */
	assert_false(kp_card_is_valid("2222831772233"));  /* two digits swapped */
	assert_false(kp_card_is_valid("222238177223"));   /* too short */
	assert_false(kp_card_is_valid("222238177223a"));
}

static void test_error_table(void **state)
{
	(void)state;
	assert_int_equal(kp_error_status(KP_EINVAL), 400);
	assert_string_equal(kp_error_code(KP_EIDEMPOTENCY), "idempotency_conflict");
	assert_int_equal(kp_error_status(KP_EREFUND), 422);
	assert_int_equal(kp_error_status(KP_EBUSY), 503);
	assert_int_equal(kp_error_status(-1), 500);
	assert_string_equal(kp_error_code(-1), "internal");
	for (int e = KP_ERROR_BASE_ + 1; e < KP_ERROR_END_; e++)
		assert_true(kp_error_status(e) >= 400 && strlen(kp_strerror(e)) > 0);
}

/* kp_strcopy does what snprintf(dst, cap, "%s", src) did, byte for byte,
 * including the bytes after the NUL left as they were. */
static void test_strcopy(void **state)
{
	(void)state;
	const char *srcs[] = {"", "a", "held", "committed", "0123456789", "жёлтый", NULL};
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++)
		for (size_t cap = 1; cap <= 14; cap++) {
			char got[16], want[16];
			memset(got, 'x', sizeof got);
			memset(want, 'x', sizeof want);
			size_t len = kp_strcopy(got, cap, srcs[i]);
			int n = snprintf(want, cap, "%s", srcs[i] ? srcs[i] : "");
			assert_int_equal(len, (size_t)n);
			assert_memory_equal(got, want, sizeof got);
		}
	char field[4];
	assert_true(kp_strcopy(field, sizeof field, "committed") >= sizeof field); /* cut */
	assert_string_equal(field, "com");
	assert_int_equal(kp_strcopy(field, sizeof field, NULL), 0);
	assert_string_equal(field, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_round_trip), cmocka_unit_test(test_time_rejects),
		cmocka_unit_test(test_weekday),         cmocka_unit_test(test_phone),
		cmocka_unit_test(test_card_check_digit), cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_strcopy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
