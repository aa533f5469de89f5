/*
 * invariants.c — kp_ledger_check_member: the member invariants of ledger.h.
 *
 * The operations assert these on entry and exit; `kopilka verify` and the
 * tests call the check on whatever a store or a random sequence produced, so
 * it must never assume them: every sum is checked, and the first broken
 * invariant is reported with its numbers, the way an operator reads it.
 */
#include "ledger/ledger.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "util/checked.h"
#include "util/error.h"

/* Write the reason (if the caller wants one) and return KP_EINTERNAL. */
__attribute__((format(printf, 3, 4))) static int broken(char *why, size_t whylen, const char *fmt,
							...)
{
	va_list ap;

	assert(fmt != NULL);
	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return KP_EINTERNAL;
}

static int check_lot(const struct kp_lot *lot, char *why, size_t whylen)
{
	assert(lot != NULL);
	if (lot->id <= 0)
		return broken(why, whylen, "lot id %" PRId64 " <= 0", lot->id);
	if (lot->points <= 0)
		return broken(why, whylen, "lot %" PRId64 ": points %" PRId64 " <= 0", lot->id,
			      lot->points);
	if (lot->remaining < 0 || lot->remaining > lot->points)
		return broken(why, whylen,
			      "lot %" PRId64 ": remaining %" PRId64 " not in 0..points %" PRId64,
			      lot->id, lot->remaining, lot->points);
	return 0;
}

/* Σ remaining of the pending (or of the available) lots, or KP_EOVERFLOW. */
static int sum_lots(const struct kp_member_points *m, bool pending, int64_t *sum)
{
	int64_t s = 0;

	for (size_t i = 0; i < m->n_lots; i++)
		if (m->lots[i].pending == pending && kp_add(s, m->lots[i].remaining, &s) != 0)
			return KP_EOVERFLOW;
	assert(s >= 0);
	*sum = s;
	return 0;
}

int kp_ledger_check_member(const struct kp_member_points *m, char *why, size_t whylen)
{
	int64_t sum_available, sum_pending;

	assert(m != NULL);
	assert(why != NULL || whylen == 0);
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (m->n_lots > m->cap_lots)
		return broken(why, whylen, "n_lots %zu > cap_lots %zu", m->n_lots, m->cap_lots);
	if (m->n_lots > 0 && m->lots == NULL)
		return broken(why, whylen, "lots NULL with n_lots %zu", m->n_lots);
	for (size_t i = 0; i < m->n_lots; i++) {
		int rc = check_lot(&m->lots[i], why, whylen);
		if (rc != 0)
			return rc;
	}

	if (sum_lots(m, false, &sum_available) != 0)
		return broken(why, whylen, "sum of available lots overflows");
	if (sum_lots(m, true, &sum_pending) != 0)
		return broken(why, whylen, "sum of pending lots overflows");
	if (m->available != sum_available)
		return broken(why, whylen,
			      "available %" PRId64 " != sum of available lots %" PRId64,
			      m->available, sum_available);
	if (m->pending != sum_pending)
		return broken(why, whylen, "pending %" PRId64 " != sum of pending lots %" PRId64,
			      m->pending, sum_pending);
	if (m->debt > 0)
		return broken(why, whylen, "debt %" PRId64 " > 0", m->debt);
	if (m->debt < 0 && m->available != 0)
		return broken(why, whylen, "debt %" PRId64 " < 0 while available %" PRId64 " != 0",
			      m->debt, m->available);
	return 0;
}
