/*
 * verify.c — `kopilka verify`: every ledger invariant over a whole database.
 *
 * The store checks what needs the postings (balances recomputed from
 * transfers, the zero sum, lots against their postings, purchases and
 * refunds against theirs); then every member's lots are loaded and checked
 * with the ledger's own kp_ledger_check_member, so the database is held to
 * exactly the invariants the ledger maintains in memory. All of it reads one
 * snapshot, so verify may run while a server writes.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/error.h"

static int check_members(struct kp_conn *c, struct kp_verify_report *r)
{
	int64_t ids[256], after = 0;
	size_t n;
	do {
		int rc = c->ops->member_ids(c, after, ids, 256, &n);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++) {
			struct kp_member_row m;
			struct kp_member_points pts;
			char why[256];
			if ((rc = c->ops->member_get_id(c, ids[i], &m)) ||
			    (rc = load_member_points(c, &m, NULL, 0, 0, &pts)))
				return rc;
			if (kp_ledger_check_member(&pts, why, sizeof why) != 0) {
				if (r->problems == 0)
					snprintf(r->first_problem, sizeof r->first_problem,
						 "member %lld: %s", (long long)m.id, why);
				r->problems++;
			}
			free(pts.lots);
		}
		after = n ? ids[n - 1] : after;
	} while (n == 256);
	return 0;
}

int kp_engine_verify(struct kp_engine *e, struct kp_verify_report *report)
{
	assert(report);
	/* One snapshot for every check, so a server writing meanwhile cannot make
	 * two queries disagree. */
	struct kp_conn *c;
	int rc = snapshot_acquire(e, &c);
	if (rc)
		return rc;
	rc = c->ops->verify(c, report);
	if (!rc)
		rc = check_members(c, report);
	snapshot_release(e, c);
	return rc;
}
