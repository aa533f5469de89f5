/*
 * ledger.h — the double-entry points ledger, as pure functions.
 *
 * Every movement of points is a posting: `points` (> 0) move from one account
 * to another, so the sum of all balances is always zero. Program accounts
 * (issuance, redeemed, expired, charity) are one each; member accounts (available,
 * pending, debt) are one each per member. Points enter a member as lots: a
 * lot remembers how many points it brought, how many remain, when it expires
 * and when it stops being pending. A posting that touches a lot names it;
 * its effect on the lot ("lot delta") is +points if it credits a member's
 * available or pending account and −points if it debits one, so a lot's
 * remaining is always the sum of the deltas of its postings.
 *
 * Invariants of a member (kp_ledger_check_member):
 *   available = Σ remaining of its lots that are not pending,
 *   pending   = Σ remaining of its pending lots,
 *   0 ≤ remaining ≤ points for every lot,
 *   debt ≤ 0, and debt < 0 only while available = 0 (a debt is repaid by the
 *   first points that become available).
 * A member's spendable balance is available + debt over lots not yet expired.
 * A debt arises only when a refund reverses points already spent.
 *
 * This module does no I/O, reads no clock (now is an argument) and allocates
 * nothing: the caller provides the member's lots (with room to append one new
 * lot) and the array the postings are written to. The functions update the
 * member in memory (balances, lots' remaining and pending, `changed` flags)
 * and append the postings; the engine persists both in one transaction.
 * A function that fails leaves the member and the plan exactly as they were.
 * Besides the errors listed below, any operation returns KP_EOVERFLOW when a
 * balance would not fit in int64_t.
 */
#ifndef KP_LEDGER_LEDGER_H
#define KP_LEDGER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kp_account {
	KP_ACC_ISSUANCE = 1,  /* program: where every point comes from (balance ≤ 0) */
	KP_ACC_REDEEMED = 2,  /* program: points spent on purchases */
	KP_ACC_EXPIRED = 3,   /* program: points burnt by expiry */
	KP_ACC_AVAILABLE = 4, /* member: spendable points */
	KP_ACC_PENDING = 5,   /* member: earned, held for the return period */
	KP_ACC_DEBT = 6,      /* member: ≤ 0, points reversed after they were spent */
	KP_ACC_CHARITY = 7,   /* program: points given to charity funds (ref "fund:<id>") */
};

/* What a posting is, as a member's history shows it. */
enum kp_entry {
	KP_ENTRY_EARN = 1,
	KP_ENTRY_REDEEM = 2,
	KP_ENTRY_EXPIRE = 3,
	KP_ENTRY_ACTIVATE = 4,
	KP_ENTRY_REFUND = 5,
	KP_ENTRY_BONUS = 6,
	KP_ENTRY_ADJUST = 7,
	KP_ENTRY_TRANSFER = 8,
};

struct kp_lot {
	int64_t id;           /* > 0, assigned by the caller */
	int64_t points;       /* credited when the lot was made, > 0 */
	int64_t remaining;    /* 0..points */
	int64_t expires_at;   /* instant; KP_NEVER (util/timeutil.h) = never */
	int64_t available_at; /* instant the hold ends (≤ created for no hold) */
	int64_t purchase_id;  /* the purchase that earned it, 0 if none */
	bool pending;         /* its points are in the pending account */
	bool changed;         /* set by the ledger when remaining or pending changed */
	bool created;         /* set by the ledger on a lot it appended */
};

struct kp_member_points {
	int64_t available; /* balance of the available account, ≥ 0 */
	int64_t pending;   /* balance of the pending account, ≥ 0 */
	int64_t debt;      /* balance of the debt account, ≤ 0 */
	struct kp_lot *lots; /* caller-owned, any order */
	size_t n_lots;
	size_t cap_lots;     /* operations that make a lot need n_lots < cap_lots */
};

struct kp_posting {
	enum kp_entry entry;
	enum kp_account from;
	enum kp_account to;
	int64_t points; /* > 0 */
	int64_t lot_id; /* 0 = touches no lot */
};

struct kp_plan {
	struct kp_posting *postings; /* caller-owned */
	size_t n;
	size_t cap; /* at least kp_ledger_plan_bound(member) free entries per operation */
};

/* True for the accounts that belong to a member. */
bool kp_ledger_is_member_account(enum kp_account a);

/* The lot delta of a posting (see above); 0 if it names no lot. */
int64_t kp_ledger_lot_delta(const struct kp_posting *p);

/* History name of an entry: "earn", "redeem", … Never NULL. */
const char *kp_ledger_entry_name(enum kp_entry e);

/*
 * Upper bound of postings any single operation below appends for member m:
 * 3 × (n_lots + 1). Each operation first checks plan->cap − plan->n ≥ this
 * bound and otherwise returns KP_EINVAL (expire and activate as their
 * int64_t result) without changing anything.
 */
size_t kp_ledger_plan_bound(const struct kp_member_points *m);

/* Points the member can spend at `now`: Σ remaining of non-pending lots with
 * expires_at > now, plus debt (so it may be negative). */
int64_t kp_ledger_spendable(const struct kp_member_points *m, int64_t now);

/*
 * Credit `points` (> 0) from issuance as `entry` (earn, bonus, adjust).
 * A debt is repaid first when the points are available at once
 * (lot->pending false): issuance → debt. What is left goes to a new lot,
 * copied from *lot (id, expires_at, available_at, pending, purchase_id; its
 * points and remaining are set here), appended to m->lots: issuance →
 * pending or available. No lot is made when nothing is left.
 * Returns 0, or KP_EINVAL if points ≤ 0 or no room for the lot.
 */
int kp_ledger_credit(struct kp_member_points *m, int64_t points, const struct kp_lot *lot,
		     enum kp_entry entry, struct kp_plan *plan);

/*
 * Spend `points` (> 0) for a purchase: available → `to` (KP_ACC_REDEEMED for
 * a purchase, KP_ACC_ISSUANCE for a negative adjustment), from non-pending
 * lots with expires_at > now, earliest expiry first, then lowest id.
 * Returns 0, KP_EINSUFFICIENT if fewer points are spendable, KP_EINVAL if
 * points ≤ 0.
 */
int kp_ledger_debit(struct kp_member_points *m, int64_t points, int64_t now,
		    enum kp_account to, enum kp_entry entry, struct kp_plan *plan);

/*
 * Take back `points` (> 0) that a purchase earned, for a refund (entry
 * refund): first from pending lots — the lot own_lot_id first, then the
 * others by earliest expiry — then from available lots in the same order,
 * back to issuance; whatever is still missing becomes debt (debt → issuance).
 * Always succeeds for points > 0 (KP_EINVAL otherwise).
 */
int kp_ledger_reverse(struct kp_member_points *m, int64_t points, int64_t own_lot_id,
		      struct kp_plan *plan);

/* One lot to give points back to. */
struct kp_lot_return {
	int64_t lot_id; /* must be in m->lots */
	int64_t points; /* > 0; remaining + points ≤ the lot's points */
};

/*
 * Give back points spent on a purchase, for a refund: redeemed → available
 * into each named lot, keeping its original expiry. A lot whose expires_at
 * ≤ now is expired again at once (available → expired, entry expire). Then a
 * debt is repaid from the returned points (available → debt).
 * Returns 0, or KP_EINVAL if a lot is unknown, pending or would exceed its
 * points (returns naming the same lot count together).
 */
int kp_ledger_return(struct kp_member_points *m, const struct kp_lot_return *returns,
		     size_t n, int64_t now, struct kp_plan *plan);

/*
 * Expire every lot with remaining > 0 and expires_at ≤ now: its pending or
 * available points → expired. Returns the number of points expired (≥ 0),
 * or a negative KP_E* code.
 */
int64_t kp_ledger_expire(struct kp_member_points *m, int64_t now, struct kp_plan *plan);

/*
 * Make pending lots with available_at ≤ now (and not expired) available:
 * pending → available (entry activate), then repay a debt from them
 * (available → debt). Returns the number of points activated (≥ 0), or a
 * negative KP_E* code.
 */
int64_t kp_ledger_activate(struct kp_member_points *m, int64_t now, struct kp_plan *plan);

/*
 * Check the member invariants above. Returns 0, or KP_EINTERNAL and a
 * message in why (NUL-terminated, at most whylen bytes) naming the first
 * broken invariant, e.g. "available 150 != sum of available lots 140".
 */
int kp_ledger_check_member(const struct kp_member_points *m, char *why, size_t whylen);

#endif
