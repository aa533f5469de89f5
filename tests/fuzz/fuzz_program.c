/*
 * fuzz_program.c — libFuzzer target: the program document parser.
 *
 * The input is a program document as PUT /v1/program and --program give it.
 * kp_rules_program_compile must answer every input with a compiled program
 * or KP_EPROGRAM / KP_ENOMEM and a NUL-terminated message, and never crash,
 * hang or leak (rules.h). A program it accepts is also evaluated on a small
 * basket, which walks every rule the document set up.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "rules/rules.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void evaluate(const struct kp_program *p)
{
	static const struct kp_line_in lines[] = {
		{.sku = "lip-001", .category = "new", .qty = 3, .price = 99900},
		{.sku = "gift-1", .category = "gift-sets", .qty = 1, .price = 0},
		{.sku = "coffee", .category = NULL, .qty = 10000, .price = 10000000000LL},
	};
	static struct kp_line_result line_out[3];
	static struct kp_result r; /* large: not on the stack */
	struct kp_basket basket = {.lines = lines, .n_lines = 3, .redeem_points = 500,
				   .channel = KP_CHANNEL_APP, .now = 1780308000,
				   .partner = "main"};
	struct kp_member_in member = {.available = 1000,
				      .tier = kp_rules_tier_for_spend(p, 5000000)};
	memset(&r, 0, sizeof r);
	r.lines = line_out;
	int rc = kp_rules_evaluate(p, &basket, &member, &r);
	assert(rc == 0 || rc == KP_EINVAL || rc == KP_EOVERFLOW);
	if (rc == 0)
		assert(r.points_redeemed <= r.max_redeemable && r.to_pay >= 0);
	r.lines = line_out;
	rc = kp_rules_evaluate(p, &basket, NULL, &r);
	assert(rc == 0 || rc == KP_EINVAL || rc == KP_EOVERFLOW);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0; /* the body limit */
	struct kp_program *p = NULL;
	char err[256];
	memset(err, 'x', sizeof err);
	int rc = kp_rules_program_compile((const char *)data, size, &p, err, sizeof err);
	assert(rc == 0 || rc == KP_EPROGRAM || rc == KP_ENOMEM);
	assert(rc == 0 ? p != NULL : p == NULL);
	if (rc)
		assert(memchr(err, '\0', sizeof err) != NULL);
	else
		evaluate(p);
	kp_rules_program_free(p);
	return 0;
}
