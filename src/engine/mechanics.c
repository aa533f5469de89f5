/*
 * mechanics.c — tiers, thresholds, stamps and budgets around a purchase.
 */
#include "engine/mechanics.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

void member_state_release(struct member_state *ms)
{
	free(ms->points.lots);
	ms->points.lots = NULL;
}

int basis_spend(struct kp_conn *c, const struct kp_program *p, const struct kp_member_row *row,
		int64_t now, int64_t *out)
{
	if (p->n_tiers == 0 || p->tier_basis == KP_TIER_LIFETIME) {
		*out = row->lifetime_spend;
		return 0;
	}
	assert(p->tier_window_days > 0);
	return c->ops->member_spend_since(c, row->id,
					  now - p->tier_window_days * KP_SECONDS_PER_DAY, out);
}

int effective_tier(const struct kp_program *p, const struct kp_member_row *row, int64_t spend)
{
	if (p->n_tiers == 0)
		return -1;
	int stored = row->tier[0] ? kp_rules_tier_index(p, row->tier) : -1;
	int tier = stored >= 0 ? stored : kp_rules_tier_for_spend(p, spend);
	assert(tier >= 0 && (size_t)tier < p->n_tiers);
	return tier;
}

int member_state_load(struct kp_conn *c, const struct kp_program *p, int64_t now,
		      const struct kp_member_row *row, size_t spare, struct member_state *ms)
{
	memset(ms, 0, sizeof *ms);
	ms->row = *row;
	ms->loaded_at = now;
	int rc = load_member_points(c, row, NULL, 0, spare, &ms->points);
	bool tier_from_spend = p->n_tiers > 0 && kp_rules_tier_index(p, row->tier) < 0;
	bool row_has_it = p->n_tiers == 0 || p->tier_basis == KP_TIER_LIFETIME; /* no query */
	if (!rc && (tier_from_spend || row_has_it))
		rc = member_state_spend(c, p, ms);
	ms->tier = effective_tier(p, row, ms->basis_spend);
	assert(ms->spend_loaded || !tier_from_spend || rc);
	for (size_t i = 0; !rc && i < p->n_stamps; i++) {
		rc = c->ops->stamp_get(c, row->id, p->stamps[i].id, &ms->stamps[i]);
		/* a card whose `every` shrank in a new program version */
		ms->stamps[i] %= p->stamps[i].every;
	}
	if (rc)
		member_state_release(ms);
	return rc;
}

int member_state_spend(struct kp_conn *c, const struct kp_program *p, struct member_state *ms)
{
	if (ms->spend_loaded)
		return 0;
	int rc = basis_spend(c, p, &ms->row, ms->loaded_at, &ms->basis_spend);
	ms->spend_loaded = rc == 0;
	return rc;
}

int budgets_left(struct kp_conn *c, const struct kp_program *p, int64_t *left)
{
	for (size_t i = 0; i < p->n_campaigns; i++) {
		const struct kp_campaign *cp = &p->campaigns[i];
		left[i] = INT64_MAX;
		if (cp->budget_points < 0)
			continue;
		int64_t spent;
		int rc = c->ops->budget_spent(c, cp->id, &spent);
		if (rc)
			return rc;
		left[i] = spent >= cp->budget_points ? 0 : cp->budget_points - spent;
	}
	return 0;
}

const char *tier_name(const struct kp_program *p, int tier)
{
	return tier >= 0 && (size_t)tier < p->n_tiers ? p->tiers[tier].name : NULL;
}

int set_tier(struct kp_conn *c, const struct kp_program *p, struct member_state *ms, int tier,
	     int64_t now, const char *why)
{
	const char *name = tier_name(p, tier);
	assert(name && ms->spend_loaded); /* the event names the spend */
	if (strcmp(ms->row.tier, name) == 0)
		return 0;
	const char *from = ms->row.tier[0] ? ms->row.tier : NULL;
	json_t *payload = json_pack("{s:s?,s:s,s:s,s:I}", "from", from, "to", name, "why", why,
				    "spend", (json_int_t)ms->basis_spend);
	char *text = payload ? json_text(payload) : NULL;
	json_decref(payload);
	char ref[64];
	snprintf(ref, sizeof ref, "%lld:%lld", (long long)ms->row.id, (long long)now);
	int rc = text ? c->ops->member_set_tier(c, ms->row.id, name, now) : KP_ENOMEM;
	/* Two changes in the same second keep the first event; the row is what counts. */
	if (!rc) {
		rc = c->ops->event_insert(c, ms->row.id, "tier_changed", ref, text, now);
		rc = rc == KP_ECONFLICT ? 0 : rc;
	}
	free(text);
	if (!rc) {
		kp_strcopy(ms->row.tier, sizeof ms->row.tier, name);
		ms->row.tier_since = now;
		ms->tier = tier;
	}
	return rc;
}

static void new_certificate_code(char code[24])
{
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	memcpy(code, "GC-", 3);
	for (int i = 0; i < 16; i++)
		code[3 + i] = alphabet[kp_crypto_uniform(sizeof alphabet - 1)];
	code[19] = '\0';
}

/* Convert points into one certificate of threshold t. */
static int convert_once(struct kp_conn *c, const struct kp_threshold *t, struct member_state *ms,
			int64_t now, json_t *issued)
{
	struct kp_plan plan = {.cap = kp_ledger_plan_bound(&ms->points)};
	plan.postings = calloc(plan.cap, sizeof *plan.postings);
	if (!plan.postings)
		return KP_ENOMEM;
	char code[24];
	new_certificate_code(code);
	int rc = kp_ledger_debit(&ms->points, t->points, now, KP_ACC_REDEEMED, KP_ENTRY_REDEEM,
				 &plan);
	struct posting_ctx ctx = {.member_id = ms->row.id, .now = now, .ref = code};
	if (!rc)
		rc = persist_plan(c, &ctx, &ms->points, &plan);
	free(plan.postings);
	if (!rc)
		rc = c->ops->certificate_insert(c, code, t->gift_certificate, ms->row.id,
						"threshold", now);
	if (!rc && issued)
		json_array_append_new(issued, json_pack("{s:s,s:I,s:I}", "code", code, "amount",
							(json_int_t)t->gift_certificate,
							"points", (json_int_t)t->points));
	return rc;
}

int apply_thresholds(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
		     int64_t now, json_t *issued, int64_t *count)
{
	/* Bounded: each round spends at least the smallest threshold's points. */
	for (size_t i = 0; i < p->n_thresholds; i++) {
		const struct kp_threshold *t = &p->thresholds[i];
		assert(t->points > 0);
		while (kp_ledger_spendable(&ms->points, now) >= t->points) {
			int rc = convert_once(c, t, ms, now, issued);
			if (rc)
				return rc;
			if (count)
				(*count)++;
		}
	}
	return 0;
}

json_t *tier_progress_json(const struct kp_program *p, int tier, int64_t spend)
{
	if (tier < 0)
		return json_null();
	bool top = (size_t)tier + 1 >= p->n_tiers;
	const struct kp_tier *next = top ? NULL : &p->tiers[tier + 1];
	return json_pack("{s:I,s:s?,s:o}", "spend", (json_int_t)spend, "next_tier",
			 next ? next->name : NULL, "remaining",
			 next ? json_integer(kp_max64(0, next->min_spend - spend)) : json_null());
}

int credit_earned(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
		  int64_t points, int64_t now, struct kp_plan *plan)
{
	assert(points > 0);
	struct kp_lot lot = {
		.expires_at = p->expiry_days > 0 ? now + p->expiry_days * KP_SECONDS_PER_DAY
						 : KP_NEVER,
		.available_at = now + p->hold_days * KP_SECONDS_PER_DAY,
		.pending = p->hold_days > 0,
	};
	int rc = c->ops->lot_next_id(c, &lot.id);
	return rc ? rc : kp_ledger_credit(&ms->points, points, &lot, KP_ENTRY_EARN, plan);
}

int add_spend(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
	      int64_t spend, int64_t now)
{
	int rc = c->ops->member_add_spend(c, ms->row.id, spend);
	if (rc || p->n_tiers == 0)
		return rc;
	/* A rolling window sums some of the member's committed spend, lifetime
	 * spend all of it (both less refunds; an import adds to lifetime alone):
	 * when even lifetime reaches no tier above the member's, neither does the
	 * window, and the member's purchases need not be summed (a heavy buyer's
	 * are many: 5% of the writer's time went to that sum). */
	if (!ms->spend_loaded && kp_rules_tier_for_spend(p, ms->row.lifetime_spend + spend) <= ms->tier)
		return 0;
	/* the window as it was loaded, before this purchase's row counts in it */
	if ((rc = member_state_spend(c, p, ms)))
		return rc;
	ms->basis_spend += spend;
	int reached = kp_rules_tier_for_spend(p, ms->basis_spend);
	return set_tier(c, p, ms, reached > ms->tier ? reached : ms->tier, now, "purchase");
}
