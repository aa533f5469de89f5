/*
 * ledger.c — the operations of ledger.h on one member's lots and balances.
 *
 * Every operation runs in two phases. It first checks everything that can
 * fail (arguments, room in the plan, a balance leaving int64_t) without
 * writing anything; only then does it mutate, and every mutation goes through
 * post(), the one place that appends a posting and moves the balances and the
 * lot's remaining together. So a failing call changes nothing, and a lot's
 * remaining is by construction the sum of the lot deltas of its postings.
 *
 * Lots are visited in a fixed order by repeated linear selection (walk_next)
 * instead of sorting: it needs no memory at all, a member has at most a few
 * thousand lots, and an operation usually drains only the first few of them.
 *
 * Precondition of every operation: the member satisfies the invariants of
 * kp_ledger_check_member (asserted on entry and on exit).
 *
 * Entries of debt repayments: a credit repays with its own entry (the points
 * it issues go to the debt), a return repays with refund, and an activation
 * with activate, so the member's history shows the repayment as part of the
 * activation that made the points available.
 */
#include "ledger/ledger.h"

#include <assert.h>

#include "util/checked.h"
#include "util/error.h"

/* Which lots a walk visits, and which one it visits first. */
struct walk {
	bool pending;	   /* visit pending lots, else available ones */
	bool skip_expired; /* skip lots with expires_at <= now */
	int64_t now;
	int64_t own_lot_id; /* visited before the others; 0 = none (ids are > 0) */
};

/* Used by assert() only, so unused under NDEBUG. */
__attribute__((unused)) static bool member_ok(const struct kp_member_points *m)
{
	return kp_ledger_check_member(m, NULL, 0) == 0;
}

__attribute__((unused)) static bool entry_valid(enum kp_entry e)
{
	return e >= KP_ENTRY_EARN && e <= KP_ENTRY_TRANSFER;
}

__attribute__((unused)) static bool account_valid(enum kp_account a)
{
	return a >= KP_ACC_ISSUANCE && a <= KP_ACC_CHARITY;
}

/* The accounts whose balance is made of lots. */
static bool holds_lots(enum kp_account a)
{
	return a == KP_ACC_AVAILABLE || a == KP_ACC_PENDING;
}

/* The member account a lot's points are in. */
static enum kp_account lot_account(const struct kp_lot *lot)
{
	return lot->pending ? KP_ACC_PENDING : KP_ACC_AVAILABLE;
}

static int64_t *member_balance(struct kp_member_points *m, enum kp_account a)
{
	switch (a) {
	case KP_ACC_AVAILABLE:
		return &m->available;
	case KP_ACC_PENDING:
		return &m->pending;
	case KP_ACC_DEBT:
		return &m->debt;
	default:
		return NULL;
	}
}

static bool plan_has_room(const struct kp_member_points *m, const struct kp_plan *plan)
{
	assert(plan->n <= plan->cap);
	assert(plan->postings != NULL || plan->cap == 0);
	return plan->cap - plan->n >= kp_ledger_plan_bound(m);
}

/* Index of the lot with this id, or SIZE_MAX. */
static size_t lot_index(const struct kp_member_points *m, int64_t id)
{
	for (size_t i = 0; i < m->n_lots; i++)
		if (m->lots[i].id == id)
			return i;
	return SIZE_MAX;
}

/*
 * Append one posting and apply it to the member: the balances of member
 * accounts and the remaining of the lot it names. The caller has checked that
 * no balance leaves int64_t, so the asserts below are about programmer errors.
 */
static void post(struct kp_member_points *m, struct kp_plan *plan, enum kp_entry entry,
		 enum kp_account from, enum kp_account to, int64_t points, struct kp_lot *lot)
{
	assert(points > 0 && from != to && entry_valid(entry));
	assert(account_valid(from) && account_valid(to));
	assert(plan->n < plan->cap);
	/* A lot's points live in one account; a posting naming it must touch that one. */
	assert(lot == NULL || from == lot_account(lot) || to == lot_account(lot));
	assert(lot != NULL || (!holds_lots(from) && !holds_lots(to)));

	struct kp_posting *p = &plan->postings[plan->n++];
	*p = (struct kp_posting){.entry = entry,
				 .from = from,
				 .to = to,
				 .points = points,
				 .lot_id = lot != NULL ? lot->id : 0};

	int64_t *debited = member_balance(m, from);
	int64_t *credited = member_balance(m, to);
	int rc = 0;
	if (debited != NULL)
		rc |= kp_sub(*debited, points, debited);
	if (credited != NULL)
		rc |= kp_add(*credited, points, credited);
	assert(rc == 0);
	(void)rc;

	if (lot != NULL) {
		lot->remaining += kp_ledger_lot_delta(p);
		lot->changed = true;
		assert(lot->remaining >= 0 && lot->remaining <= lot->points);
	}
}

static bool walk_visits(const struct walk *w, const struct kp_lot *lot)
{
	if (lot->pending != w->pending || lot->remaining <= 0)
		return false;
	return !w->skip_expired || lot->expires_at > w->now;
}

/*
 * The walk's order: the own lot, then earliest expiry, then lowest id. The
 * array position breaks the remaining ties, which makes the order strict even
 * if two lots share an id, so walk_next never skips or repeats a lot.
 */
static bool walk_before(const struct walk *w, const struct kp_lot *lots, size_t a, size_t b)
{
	bool own_a = lots[a].id == w->own_lot_id;
	bool own_b = lots[b].id == w->own_lot_id;

	if (own_a != own_b)
		return own_a;
	if (lots[a].expires_at != lots[b].expires_at)
		return lots[a].expires_at < lots[b].expires_at;
	if (lots[a].id != lots[b].id)
		return lots[a].id < lots[b].id;
	return a < b;
}

/* The first visited lot after lot `prev` (SIZE_MAX = from the start); SIZE_MAX if none. */
static size_t walk_next(const struct walk *w, const struct kp_member_points *m, size_t prev)
{
	size_t best = SIZE_MAX;

	assert(prev == SIZE_MAX || prev < m->n_lots);
	for (size_t i = 0; i < m->n_lots; i++) {
		if (!walk_visits(w, &m->lots[i]))
			continue;
		if (prev != SIZE_MAX && !walk_before(w, m->lots, prev, i))
			continue;
		if (best == SIZE_MAX || walk_before(w, m->lots, i, best))
			best = i;
	}
	assert(best == SIZE_MAX || walk_visits(w, &m->lots[best]));
	return best;
}

/*
 * Move up to `points` out of the lots the walk visits, in its order, one
 * posting per lot, to account `to`. Returns how many points moved.
 */
static int64_t drain(struct kp_member_points *m, const struct walk *w, int64_t points,
		     enum kp_account to, enum kp_entry entry, struct kp_plan *plan)
{
	enum kp_account from = w->pending ? KP_ACC_PENDING : KP_ACC_AVAILABLE;
	int64_t left = points;
	size_t i = SIZE_MAX;

	assert(points >= 0);
	/* Each step visits a lot after the previous one in a strict order. */
	for (size_t step = 0; step < m->n_lots && left > 0; step++) {
		i = walk_next(w, m, i);
		if (i == SIZE_MAX)
			break;
		int64_t take = kp_min64(left, m->lots[i].remaining);
		post(m, plan, entry, from, to, take, &m->lots[i]);
		left -= take;
	}
	assert(left >= 0 && left <= points);
	return points - left;
}

/*
 * A debt is repaid by the first available points: available → debt from
 * every available lot, earliest expiry first, until the debt or the available
 * points are gone. Lots past their expiry but not yet expired count too, so
 * that "debt < 0 only while available = 0" holds whatever the clock says.
 */
static void repay_debt(struct kp_member_points *m, enum kp_entry entry, struct kp_plan *plan)
{
	const struct walk w = {.pending = false, .skip_expired = false};

	if (m->debt >= 0 || m->available == 0)
		return;
	/* min(-debt, available) without negating INT64_MIN */
	int64_t owed = m->debt < -m->available ? m->available : -m->debt;
	int64_t repaid = drain(m, &w, owed, KP_ACC_DEBT, entry, plan);
	assert(repaid == owed);
	assert(m->debt == 0 || m->available == 0);
	(void)repaid;
}

bool kp_ledger_is_member_account(enum kp_account a)
{
	return a == KP_ACC_AVAILABLE || a == KP_ACC_PENDING || a == KP_ACC_DEBT;
}

int64_t kp_ledger_lot_delta(const struct kp_posting *p)
{
	int64_t delta = 0;

	assert(p != NULL);
	assert(p->points > 0);
	if (p->lot_id == 0)
		return 0;
	if (holds_lots(p->to))
		delta += p->points;
	if (holds_lots(p->from))
		delta -= p->points;
	return delta;
}

const char *kp_ledger_entry_name(enum kp_entry e)
{
	switch (e) {
	case KP_ENTRY_EARN:
		return "earn";
	case KP_ENTRY_REDEEM:
		return "redeem";
	case KP_ENTRY_EXPIRE:
		return "expire";
	case KP_ENTRY_ACTIVATE:
		return "activate";
	case KP_ENTRY_REFUND:
		return "refund";
	case KP_ENTRY_BONUS:
		return "bonus";
	case KP_ENTRY_ADJUST:
		return "adjust";
	case KP_ENTRY_TRANSFER:
		return "transfer";
	}
	return "unknown";
}

/*
 * The worst case is kp_ledger_return: per lot a return, an immediate expiry
 * and a debt repayment. Activate needs 2 per lot, reverse one per lot plus
 * the debt, debit and expire one per lot, credit 2; the +1 covers credit on
 * a member without lots.
 */
size_t kp_ledger_plan_bound(const struct kp_member_points *m)
{
	assert(m != NULL);
	assert(m->n_lots <= m->cap_lots && m->n_lots < SIZE_MAX / 4);
	return 3 * (m->n_lots + 1);
}

int64_t kp_ledger_spendable(const struct kp_member_points *m, int64_t now)
{
	assert(m != NULL);
	assert(m->n_lots == 0 || m->lots != NULL);
	/* n_lots int64_t values cannot overflow 128 bits; clamp the exact sum. */
	__int128 sum = m->debt;
	for (size_t i = 0; i < m->n_lots; i++) {
		const struct kp_lot *lot = &m->lots[i];
		if (!lot->pending && lot->expires_at > now)
			sum += lot->remaining;
	}
	if (sum > INT64_MAX)
		return INT64_MAX;
	if (sum < INT64_MIN)
		return INT64_MIN;
	return (int64_t)sum;
}

/* Append a copy of the template with `points` points and nothing remaining yet. */
static struct kp_lot *append_lot(struct kp_member_points *m, const struct kp_lot *tmpl,
				 int64_t points)
{
	assert(m->n_lots < m->cap_lots);
	assert(points > 0);
	struct kp_lot *lot = &m->lots[m->n_lots++];
	*lot = (struct kp_lot){.id = tmpl->id,
			       .points = points,
			       .remaining = 0,
			       .expires_at = tmpl->expires_at,
			       .available_at = tmpl->available_at,
			       .purchase_id = tmpl->purchase_id,
			       .pending = tmpl->pending,
			       .changed = true,
			       .created = true};
	return lot;
}

int kp_ledger_credit(struct kp_member_points *m, int64_t points, const struct kp_lot *lot,
		     enum kp_entry entry, struct kp_plan *plan)
{
	assert(m != NULL && lot != NULL && plan != NULL);
	assert(member_ok(m) && entry_valid(entry));
	assert(lot->id > 0 && lot_index(m, lot->id) == SIZE_MAX);
	if (points <= 0 || !plan_has_room(m, plan))
		return KP_EINVAL;

	int64_t repay = 0;
	if (!lot->pending && m->debt < 0)
		repay = m->debt < -points ? points : -m->debt;
	int64_t left = points - repay;
	enum kp_account to = lot->pending ? KP_ACC_PENDING : KP_ACC_AVAILABLE;
	if (left > 0) {
		int64_t sum;
		if (m->n_lots >= m->cap_lots)
			return KP_EINVAL;
		if (kp_add(*member_balance(m, to), left, &sum) != 0)
			return KP_EOVERFLOW;
	}

	if (repay > 0)
		post(m, plan, entry, KP_ACC_ISSUANCE, KP_ACC_DEBT, repay, NULL);
	if (left > 0)
		post(m, plan, entry, KP_ACC_ISSUANCE, to, left, append_lot(m, lot, left));
	assert(member_ok(m));
	return 0;
}

int kp_ledger_debit(struct kp_member_points *m, int64_t points, int64_t now, enum kp_account to,
		    enum kp_entry entry, struct kp_plan *plan)
{
	const struct walk w = {.pending = false, .skip_expired = true, .now = now};

	assert(m != NULL && plan != NULL);
	assert(member_ok(m) && entry_valid(entry));
	assert(account_valid(to) && !kp_ledger_is_member_account(to));
	if (points <= 0 || !plan_has_room(m, plan))
		return KP_EINVAL;
	if (points > kp_ledger_spendable(m, now))
		return KP_EINSUFFICIENT;

	/* spendable ≤ Σ of the lots the walk visits, since debt ≤ 0 */
	int64_t taken = drain(m, &w, points, to, entry, plan);
	assert(taken == points);
	assert(member_ok(m));
	(void)taken;
	return 0;
}

int kp_ledger_reverse(struct kp_member_points *m, int64_t points, int64_t own_lot_id,
		      struct kp_plan *plan)
{
	struct walk w = {.pending = true, .skip_expired = false, .own_lot_id = own_lot_id};

	assert(m != NULL && plan != NULL);
	assert(member_ok(m));
	if (points <= 0 || !plan_has_room(m, plan))
		return KP_EINVAL;
	/* The balances equal the sums of their lots, so they tell the shortfall. */
	int64_t rest = points - kp_min64(points, m->pending);
	int64_t shortfall = rest - kp_min64(rest, m->available);
	int64_t debt_after;
	if (kp_sub(m->debt, shortfall, &debt_after) != 0)
		return KP_EOVERFLOW;

	int64_t left = points;
	left -= drain(m, &w, left, KP_ACC_ISSUANCE, KP_ENTRY_REFUND, plan);
	w.pending = false;
	left -= drain(m, &w, left, KP_ACC_ISSUANCE, KP_ENTRY_REFUND, plan);
	assert(left == shortfall);
	if (left > 0)
		post(m, plan, KP_ENTRY_REFUND, KP_ACC_DEBT, KP_ACC_ISSUANCE, left, NULL);
	assert(m->debt == debt_after && member_ok(m));
	return 0;
}

/* True if no earlier return names the same lot as returns[i]. */
static bool first_of_lot(const struct kp_lot_return *returns, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (returns[j].lot_id == returns[i].lot_id)
			return false;
	return true;
}

/* Σ points of returns[i..n) naming the lot of returns[i], or KP_EINVAL on overflow. */
static int lot_return_total(const struct kp_lot_return *returns, size_t n, size_t i, int64_t *total)
{
	int64_t sum = 0;

	assert(i < n);
	for (size_t j = i; j < n; j++) {
		if (returns[j].lot_id != returns[i].lot_id)
			continue;
		if (kp_add(sum, returns[j].points, &sum) != 0)
			return KP_EINVAL; /* more than any lot can hold */
	}
	assert(sum > 0);
	*total = sum;
	return 0;
}

/*
 * Check every return before anything moves. Returns naming the same lot are
 * added up, so together they must fit in the lot. The returned points must
 * also fit in the available balance, even those that expire again at once.
 */
static int check_returns(const struct kp_member_points *m, const struct kp_lot_return *returns,
			 size_t n)
{
	int64_t available = m->available;

	for (size_t i = 0; i < n; i++) {
		size_t at = lot_index(m, returns[i].lot_id);
		if (returns[i].points <= 0 || at == SIZE_MAX)
			return KP_EINVAL;
		/* Points were spent from available lots only, never from a pending one. */
		if (m->lots[at].pending)
			return KP_EINVAL;
		if (!first_of_lot(returns, i))
			continue;
		int64_t total;
		if (lot_return_total(returns, n, i, &total) != 0)
			return KP_EINVAL;
		if (total > m->lots[at].points - m->lots[at].remaining)
			return KP_EINVAL;
		if (kp_add(available, total, &available) != 0)
			return KP_EOVERFLOW;
	}
	return 0;
}

int kp_ledger_return(struct kp_member_points *m, const struct kp_lot_return *returns, size_t n,
		     int64_t now, struct kp_plan *plan)
{
	assert(m != NULL && plan != NULL);
	assert(returns != NULL || n == 0);
	assert(member_ok(m));
	if (!plan_has_room(m, plan))
		return KP_EINVAL;
	int rc = check_returns(m, returns, n);
	if (rc != 0)
		return rc;

	for (size_t i = 0; i < n; i++) {
		if (!first_of_lot(returns, i))
			continue;
		struct kp_lot *lot = &m->lots[lot_index(m, returns[i].lot_id)];
		int64_t total = 0;
		rc = lot_return_total(returns, n, i, &total);
		assert(rc == 0);
		post(m, plan, KP_ENTRY_REFUND, KP_ACC_REDEEMED, KP_ACC_AVAILABLE, total, lot);
		/* Only the returned points: any older rest of the lot is the expiry job's. */
		if (lot->expires_at <= now)
			post(m, plan, KP_ENTRY_EXPIRE, KP_ACC_AVAILABLE, KP_ACC_EXPIRED, total,
			     lot);
	}
	repay_debt(m, KP_ENTRY_REFUND, plan);
	assert(member_ok(m));
	return 0;
}

static bool expires(const struct kp_lot *lot, int64_t now)
{
	return lot->remaining > 0 && lot->expires_at <= now;
}

int64_t kp_ledger_expire(struct kp_member_points *m, int64_t now, struct kp_plan *plan)
{
	int64_t total = 0;

	assert(m != NULL && plan != NULL);
	assert(member_ok(m));
	if (!plan_has_room(m, plan))
		return KP_EINVAL;
	for (size_t i = 0; i < m->n_lots; i++)
		if (expires(&m->lots[i], now) && kp_add(total, m->lots[i].remaining, &total) != 0)
			return KP_EOVERFLOW;

	for (size_t i = 0; i < m->n_lots; i++) {
		struct kp_lot *lot = &m->lots[i];
		if (expires(lot, now))
			post(m, plan, KP_ENTRY_EXPIRE, lot_account(lot), KP_ACC_EXPIRED,
			     lot->remaining, lot);
		assert(!expires(lot, now));
	}
	assert(member_ok(m));
	return total;
}

static bool activates(const struct kp_lot *lot, int64_t now)
{
	return lot->pending && lot->available_at <= now && lot->expires_at > now;
}

int64_t kp_ledger_activate(struct kp_member_points *m, int64_t now, struct kp_plan *plan)
{
	int64_t total = 0;
	int64_t available_after;

	assert(m != NULL && plan != NULL);
	assert(member_ok(m));
	if (!plan_has_room(m, plan))
		return KP_EINVAL;
	for (size_t i = 0; i < m->n_lots; i++)
		if (activates(&m->lots[i], now) && kp_add(total, m->lots[i].remaining, &total) != 0)
			return KP_EOVERFLOW;
	if (kp_add(m->available, total, &available_after) != 0)
		return KP_EOVERFLOW;

	for (size_t i = 0; i < m->n_lots; i++) {
		struct kp_lot *lot = &m->lots[i];
		if (!activates(lot, now))
			continue;
		if (lot->remaining > 0)
			post(m, plan, KP_ENTRY_ACTIVATE, KP_ACC_PENDING, KP_ACC_AVAILABLE,
			     lot->remaining, lot);
		/* The hold is over even for a lot a refund has emptied. */
		lot->pending = false;
		lot->changed = true;
	}
	assert(m->available == available_after);
	repay_debt(m, KP_ENTRY_ACTIVATE, plan);
	assert(member_ok(m));
	return total;
}
