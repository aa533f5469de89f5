/*
 * ledger_io.c — moving a member's points between the store and the pure
 * ledger: load the lots, persist the planned postings, lots and balances.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/error.h"
#include "util/strcopy.h"

/* Open lots read without counting them first (load_member_points). */
#define LOTS_USUALLY 32
/* Reads of a member's lots after counting them: a reader outside a
 * transaction counts and reads in two snapshots, and purchases committed
 * in between can add lots, so each count leaves room and is tried again. */
#define LOTS_COUNTS 8

int load_member_points(struct kp_conn *c, const struct kp_member_row *row, const int64_t *extra,
		       size_t n_extra, size_t spare, struct kp_member_points *m)
{
	assert(row && m && row->id > 0);
	memset(m, 0, sizeof *m);
	m->available = row->available;
	m->pending = row->pending;
	m->debt = row->debt;
	/* Most members have a few open lots: read them in one go, and count
	 * first only when they do not fit. The spare slots stay free. */
	size_t n_open = LOTS_USUALLY;
	int counts = 0;
	int rc;
	for (;;) {
		m->cap_lots = n_open + n_extra + spare;
		m->lots = calloc(m->cap_lots ? m->cap_lots : 1, sizeof *m->lots);
		if (!m->lots)
			return KP_ENOMEM;
		m->n_lots = 0;
		rc = c->ops->lots_load(c, row->id, extra, n_extra, m->lots, m->cap_lots - spare,
				       &m->n_lots);
		if (rc != KP_ETOOLARGE || counts == LOTS_COUNTS)
			break;
		free(m->lots);
		m->lots = NULL;
		if ((rc = c->ops->lots_count_open(c, row->id, &n_open)))
			return rc;
		n_open += n_open / 4 + LOTS_USUALLY; /* lots committed since the count */
		counts++;
	}
	if (rc) {
		free(m->lots);
		m->lots = NULL;
	}
	return rc;
}

int persist_plan(struct kp_conn *c, const struct posting_ctx *ctx, struct kp_member_points *m,
		 struct kp_plan *plan)
{
	assert(ctx && m && plan && ctx->member_id > 0);
	int rc = 0;
	/* Lots first: transfers reference them. */
	for (size_t i = 0; !rc && i < m->n_lots; i++) {
		struct kp_lot *lot = &m->lots[i];
		if (lot->created)
			rc = c->ops->lot_insert(c, ctx->member_id, lot, ctx->now);
		else if (lot->changed)
			rc = c->ops->lot_update(c, lot);
		lot->created = lot->changed = false;
	}
	for (size_t i = 0; !rc && i < plan->n; i++) {
		struct kp_transfer_row t = {
			.at = ctx->now,
			.member_id = ctx->member_id,
			.posting = plan->postings[i],
			.purchase_id = ctx->purchase_id,
			.refund_id = ctx->refund_id,
		};
		if (ctx->ref)
			kp_strcopy(t.ref, sizeof t.ref, ctx->ref);
		rc = c->ops->transfer_insert(c, &t);
	}
	if (!rc && plan->n > 0)
		rc = c->ops->member_set_balances(c, ctx->member_id, m->available, m->pending,
						 m->debt);
	plan->n = 0;
	return rc;
}

/* An erased member keeps their history but takes part in nothing new. */
static int refuse_erased(const struct kp_member_row *m, struct kp_why *why)
{
	if (!m->erased_at)
		return 0;
	return kp_why(why, KP_ENOTFOUND, "member %lld was erased", (long long)m->id);
}

int find_member(struct kp_conn *c, enum kp_member_ref who, const char *value,
		struct kp_member_row *out, struct kp_why *why)
{
	static const enum kp_member_key keys[] = {
		[KP_REF_MEMBER] = KP_MEMBER_BY_ID,
		[KP_REF_CARD] = KP_MEMBER_BY_CARD,
		[KP_REF_PHONE] = KP_MEMBER_BY_PHONE,
	};
	static const char *const names[] = {
		[KP_REF_MEMBER] = "id", [KP_REF_CARD] = "card", [KP_REF_PHONE] = "phone"};
	assert(who != KP_REF_NONE && value);
	if (who == KP_REF_CARD) {
		struct kp_card_row card;
		int rc = c->ops->card_get(c, value, &card);
		if (rc == KP_ENOTFOUND)
			return kp_why(why, rc, "no member with card %s", value);
		if (!rc && card.status == KP_CARD_BLOCKED)
			return kp_why(why, KP_ECARDBLOCKED, "card %s is blocked; use the member's "
							    "new card", value);
		if (!rc)
			rc = c->ops->member_get_id(c, card.member_id, out);
		return rc ? rc : refuse_erased(out, why);
	}
	int rc = c->ops->member_get(c, keys[who], value, out);
	if (rc == KP_ENOTFOUND)
		return kp_why(why, rc, "no member with %s %s", names[who], value);
	return rc ? rc : refuse_erased(out, why);
}
