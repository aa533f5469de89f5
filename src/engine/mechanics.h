/*
 * mechanics.h — what a member carries from purchase to purchase, and the
 * program mechanics that act on it outside the rules' arithmetic: tier
 * upgrades, thresholds that turn points into gift certificates, stamp
 * counts and campaign budgets. Used by purchases, refunds and jobs, always
 * on the writer's connection inside the caller's job (readers for quotes).
 */
#ifndef KP_ENGINE_MECHANICS_H
#define KP_ENGINE_MECHANICS_H

#include "engine/engine_int.h"

/* A member as the rules and the ledger need them. */
struct member_state {
	struct kp_member_row row;
	struct kp_member_points points; /* lots malloc'ed: free with member_state_release */
	int64_t basis_spend;            /* lifetime, or within the rolling window */
	bool spend_loaded;              /* basis_spend is set (member_state_spend) */
	int64_t loaded_at;              /* the `now` the state was loaded for */
	int tier;                       /* effective tier index; −1 = no tiers */
	int64_t stamps[KP_MAX_STAMPS];  /* by program->stamps index */
};

/*
 * Load row's lots (room for `spare` new ones), tier and stamps, and the spend
 * that counts for tiers where the tier depends on it (no stored tier) or it
 * costs nothing (a lifetime basis). A rolling window's spend is a range scan
 * over the member's purchases in it, which a quote of a member with a stored
 * tier never needs: member_state_spend reads it when it is wanted.
 */
int member_state_load(struct kp_conn *c, const struct kp_program *p, int64_t now,
		      const struct kp_member_row *row, size_t spare, struct member_state *ms);

/* Make ms->basis_spend the spend that counts for tiers at ms->loaded_at (reads it once). */
int member_state_spend(struct kp_conn *c, const struct kp_program *p, struct member_state *ms);

void member_state_release(struct member_state *ms);

/* Spend that counts for tiers: lifetime, or the rolling window ending now. */
int basis_spend(struct kp_conn *c, const struct kp_program *p, const struct kp_member_row *row,
		int64_t now, int64_t *out);

/* The member's tier: the stored name if the program has it, else what the spend reaches. */
int effective_tier(const struct kp_program *p, const struct kp_member_row *row, int64_t spend);

/* Budget left per campaign (program->n_campaigns entries). */
int budgets_left(struct kp_conn *c, const struct kp_program *p, int64_t *left);

/*
 * Record a tier change to `tier` (an index of p->tiers) as the member's tier,
 * with a "tier_changed" event. No-op when it is already the stored tier.
 */
int set_tier(struct kp_conn *c, const struct kp_program *p, struct member_state *ms, int tier,
	     int64_t now, const char *why);

/*
 * Thresholds: while the member's spendable points reach a threshold (the
 * highest first), spend them (available → redeemed, entry redeem) and issue a
 * gift certificate of the threshold's amount. Persists its own postings (ref =
 * the certificate's code). Appends {"code","amount"} to issued (may be NULL)
 * and adds the number issued to *count (may be NULL).
 */
int apply_thresholds(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
		     int64_t now, json_t *issued, int64_t *count);

/*
 * Credit points a purchase earned as a new lot (pending for the program's
 * hold_days, expiring after expiry_days), into plan. The lot's id comes from
 * the store; the caller sets its purchase_id before persisting.
 */
int credit_earned(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
		  int64_t points, int64_t now, struct kp_plan *plan);

/* What a purchase adds to tier spend: its after-discount subtotal. A hold adds it
 * at its confirm, not before (purchase.c, holds.c). */
static inline int64_t purchase_spend(int64_t subtotal, int64_t discount)
{
	return subtotal - discount;
}

/* Add a purchase's after-discount spend and upgrade the tier at once if it reaches
 * a higher level (a downgrade waits for the review). */
int add_spend(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
	      int64_t spend, int64_t now);

/* A member's tier as the API shows it: the name, or NULL without tiers. */
const char *tier_name(const struct kp_program *p, int tier);

/* {"spend","next_tier","remaining"} for the balance answer; JSON null without tiers. */
json_t *tier_progress_json(const struct kp_program *p, int tier, int64_t spend);

#endif
