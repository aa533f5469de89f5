/*
 * stamps.c — stamp cards: every `every`-th unit of a card's SKUs is free.
 *
 * Counting goes on from the member's stamps, unit by unit in line order. All
 * units of a line have the same price, so a line's units are counted at
 * once: with count c before the line and q units, ⌊(c + q) / every⌋ of them
 * are free and the count becomes (c + q) mod every — the same as stepping
 * unit by unit, without a loop of up to KP_MAX_QTY steps per line. A SKU on
 * several cards counts on the first card only. Anonymous purchases collect
 * no stamps.
 */
#include "rules/rules.h"

#include <assert.h>

#include "rules/purchase.h"

/* The first card (document order) that lists sku, or −1. */
static int card_of(const struct kp_program *p, const char *sku)
{
	assert(sku != NULL && p->n_stamps <= KP_MAX_STAMPS);
	for (size_t k = 0; k < p->n_stamps; k++)
		if (kp_rules_in_sorted(sku, p->stamps[k].skus, p->stamps[k].n_skus))
			return (int)k;
	return -1;
}

void kp_rules_apply_stamps(struct purchase *x, struct kp_result *out)
{
	const struct kp_program *p = x->p;
	int64_t count[KP_MAX_STAMPS] = {0};

	x->stamps_used = 0;
	if (!x->m)
		return;
	for (size_t k = 0; k < p->n_stamps; k++)
		count[k] = x->m->stamps ? x->m->stamps[k] : 0;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		int k = card_of(p, x->b->lines[i].sku);
		int64_t units;

		if (k < 0)
			continue;
		/* count < every ≤ 1000 and qty ≤ KP_MAX_QTY: no overflow */
		units = count[k] + x->b->lines[i].qty;
		out->lines[i].free_units = units / p->stamps[k].every;
		count[k] = units % p->stamps[k].every;
		if (out->lines[i].free_units > 0)
			x->stamps_used |= 1u << k;
		assert(out->lines[i].free_units <= x->b->lines[i].qty);
	}
	for (size_t k = 0; k < p->n_stamps; k++) {
		out->stamps_after[k] = count[k];
		assert(count[k] >= 0 && count[k] < p->stamps[k].every);
	}
}
