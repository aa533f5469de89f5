/*
 * test_events.c — the program document's "events" section (one-off bonuses).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "rules/rules.h"
#include "util/error.h"

static struct kp_program *compile(const char *doc, char *err, size_t errlen)
{
	struct kp_program *p = NULL;
	err[0] = '\0';
	int rc = kp_rules_program_compile(doc, strlen(doc), &p, err, errlen);
	return rc == 0 ? p : NULL;
}

static void test_events_parsed(void **state)
{
	(void)state;
	char err[256];
	struct kp_program *p = compile(
		"{\"events\":{\"registration\":{\"points\":100},"
		"\"birthday\":{\"points\":500,\"days_before\":3},"
		"\"referral\":{\"referrer_points\":300,\"referee_points\":200},"
		"\"review\":{\"points\":50,\"per_month\":4},"
		"\"subscription\":{\"points\":50,\"once\":true},\"trade_in\":{\"points\":70}}}",
		err, sizeof err);
	assert_non_null(p);
	assert_int_equal(p->registration_points, 100);
	assert_int_equal(p->birthday_points, 500);
	assert_int_equal(p->birthday_days_before, 3);
	assert_int_equal(p->referrer_points, 300);
	assert_int_equal(p->referee_points, 200);
	assert_int_equal(p->n_events, 3);
	const struct kp_event_rule *r = kp_rules_event(p, "review");
	assert_non_null(r);
	assert_int_equal(r->points, 50);
	assert_int_equal(r->per_month, 4);
	assert_false(r->once);
	r = kp_rules_event(p, "subscription");
	assert_non_null(r);
	assert_true(r->once);
	assert_int_equal(kp_rules_event(p, "trade_in")->points, 70);
	assert_null(kp_rules_event(p, "birthday")); /* paid by the engine, not reported */
	assert_null(kp_rules_event(p, "unknown"));
	kp_rules_program_free(p);
}

static void test_no_events(void **state)
{
	(void)state;
	char err[256];
	struct kp_program *p = compile("{}", err, sizeof err);
	assert_non_null(p);
	assert_int_equal(p->registration_points, 0);
	assert_int_equal(p->n_events, 0);
	assert_null(kp_rules_event(p, "review"));
	kp_rules_program_free(p);
}

static void test_events_refused(void **state)
{
	(void)state;
	static const struct {
		const char *doc, *prefix;
	} bad[] = {
		{"{\"events\":[]}", "events: must be an object"},
		{"{\"events\":{\"review\":{}}}", "events.review.points: is required"},
		{"{\"events\":{\"review\":{\"points\":0}}}", "events.review.points: "},
		{"{\"events\":{\"review\":{\"points\":5,\"once\":1}}}", "events.review.once: "},
		{"{\"events\":{\"review\":{\"points\":5,\"per_month\":0}}}",
		 "events.review.per_month: "},
		{"{\"events\":{\"review\":{\"points\":5,\"x\":1}}}", "events.review.x: unknown field"},
		{"{\"events\":{\"Review\":{\"points\":5}}}", "events.Review: an event type is"},
		{"{\"events\":{\"registration\":{\"points\":5,\"once\":true}}}",
		 "events.registration.once: unknown field"},
		{"{\"events\":{\"birthday\":{\"points\":5,\"days_before\":31}}}",
		 "events.birthday.days_before: "},
		{"{\"events\":{\"referral\":{}}}", "events.referral: give referrer_points"},
		{"{\"events\":{\"referral\":{\"referrer_points\":-1}}}",
		 "events.referral.referrer_points: "},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[256];
		struct kp_program *p = compile(bad[i].doc, err, sizeof err);
		if (p || strncmp(err, bad[i].prefix, strlen(bad[i].prefix)) != 0)
			fail_msg("%s: got \"%s\", expected \"%s…\"", bad[i].doc, err, bad[i].prefix);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_parsed),
		cmocka_unit_test(test_no_events),
		cmocka_unit_test(test_events_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
