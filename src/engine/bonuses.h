/*
 * bonuses.h — one-off bonuses: registration, birthday, referral, and the
 * events a shop reports (review, subscription, trade-in, …), with the
 * program's once / per_month limits. Each bonus is a credit through the
 * ledger (entry bonus) recorded in the bonuses table under an event id,
 * which makes it idempotent: the same event id never pays twice.
 */
#ifndef KP_ENGINE_BONUSES_H
#define KP_ENGINE_BONUSES_H

#include "engine/mechanics.h"

/*
 * Pay `points` to the member in ms as a bonus of `type` under event_id (a
 * new lot, thresholds after). answer (may be NULL) is stored with it for
 * repeats; request_hash "" when no request stands behind it. Returns
 * KP_ECONFLICT if this event id was paid already.
 */
int pay_bonus(struct kp_conn *c, const struct kp_program *p, struct member_state *ms,
	      const char *type, const char *event_id, int64_t points, int64_t now,
	      const char *request_hash, json_t *answer);

/* At registration: the registration bonus and a referral to wait for. */
int bonuses_on_registration(struct kp_conn *c, const struct kp_program *p,
			    const struct kp_member_row *m, int64_t now);

/* After a member's purchase counts (committed or confirmed): start their referral's clock. */
int referral_on_purchase(struct kp_conn *c, const struct kp_program *p, int64_t member_id,
			 int64_t purchase_id, int64_t now);

/* Jobs: pay the referrals whose hold passed; birthdays of today (once per day). */
int pay_due_referrals(struct kp_engine *e, const struct kp_program *p, int64_t now,
		      int64_t *count);
int pay_birthdays(struct kp_engine *e, const struct kp_program *p, int64_t now, int64_t *count);

#endif
