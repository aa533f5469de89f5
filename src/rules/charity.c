/*
 * charity.c — what charity_percent campaigns send to their funds.
 *
 * Computed after an evaluation, from its result: a charity campaign changes
 * nothing the customer pays or earns, so it is not one of the steps of
 * kp_rules_evaluate. It uses the very same campaign matching
 * (kp_rules_match_campaigns), so its filters mean what they mean for every
 * other campaign. Like the evaluation, its state lives on the stack.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "rules/purchase.h"
#include "util/checked.h"

int kp_rules_charity(const struct kp_program *program, const struct kp_basket *basket,
		     const struct kp_member_in *member, const struct kp_result *result,
		     int64_t points[KP_MAX_CAMPAIGNS])
{
	assert(program && basket && result && points);
	assert(basket->n_lines >= 1 && basket->n_lines <= KP_MAX_LINES);
	memset(points, 0, KP_MAX_CAMPAIGNS * sizeof points[0]);
	bool any = false;
	for (size_t c = 0; c < program->n_campaigns; c++)
		any |= program->campaigns[c].kind == KP_CAMPAIGN_CHARITY_PERCENT;
	if (!any)
		return 0; /* the common case: no 90 KB of matching state */
	struct purchase x; /* as in kp_rules_evaluate: on the caller's stack */
	memset(&x, 0, offsetof(struct purchase, line_campaigns));
	x.p = program;
	x.b = basket;
	x.m = member;
	x.tier = member && member->tier >= 0 && (size_t)member->tier < program->n_tiers
			 ? &program->tiers[member->tier]
			 : NULL;
	x.partner = basket->partner ? basket->partner : "main";
	kp_rules_match_campaigns(&x, result);
	for (size_t c = 0; c < program->n_campaigns; c++) {
		const struct kp_campaign *k = &program->campaigns[c];
		if (k->kind != KP_CAMPAIGN_CHARITY_PERCENT)
			continue;
		__int128 paid = 0;
		for (size_t i = 0; i < basket->n_lines; i++)
			if (x.line_campaigns[i] >> c & 1)
				paid += result->lines[i].paid;
		assert(paid >= 0 && k->percent_bp > 0);
		__int128 n = paid * k->percent_bp / ((__int128)KP_BP_ONE * program->point_value);
		if (n > INT64_MAX)
			return KP_EOVERFLOW;
		points[c] = (int64_t)n;
	}
	return 0;
}
