/*
 * campaigns.c — which campaigns apply to a purchase, and to which lines.
 *
 * A campaign applies while every filter it has matches. The purchase
 * filters are decided once per purchase: the time window on the instant
 * basket->now, days of the week and hours on the shop's local time (now
 * shifted by program->utc_offset_s), then channel, the member's tier,
 * partner and the subtotal before discounts. The line filter (categories or
 * skus) is decided per line. The answer is a set of bits per line, which
 * the discount and earn steps read.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/purchase.h"
#include "rules/segments.h"
#include "util/timeutil.h"

/* The local weekday (1 = Monday) and hour (0..23) of a purchase. */
struct local_time {
	unsigned weekday;
	int hour;
};

static int compare_key_to_string(const void *key, const void *elem)
{
	const char *k = key;
	const char *const *s = elem;

	assert(k != NULL && *s != NULL);
	return strcmp(k, *s);
}

bool kp_rules_in_sorted(const char *key, char *const *set, size_t n)
{
	assert(key != NULL);
	assert(n == 0 || set != NULL);
	if (n == 0)
		return false;
	return bsearch(key, set, n, sizeof set[0], compare_key_to_string) != NULL;
}

static struct local_time local_time_of(int64_t now, int64_t utc_offset_s)
{
	/* 128 bits: any int64_t now plus an offset of ±14 hours cannot wrap */
	__int128 local = (__int128)now + utc_offset_s;
	__int128 day = local / KP_SECONDS_PER_DAY;
	struct local_time t;

	if (local % KP_SECONDS_PER_DAY < 0)
		day--; /* floor division: instants before 1970 belong to the day before */
	t.weekday = kp_iso_weekday((int64_t)day);
	t.hour = (int)((local - day * KP_SECONDS_PER_DAY) / 3600);
	assert(t.weekday >= 1 && t.weekday <= 7);
	assert(t.hour >= 0 && t.hour <= 23);
	return t;
}

/* [from, to) hours; from > to wraps midnight ("22-02" is 22, 23, 0 and 1). */
static bool in_hours(const struct kp_campaign *c, int hour)
{
	assert(hour >= 0 && hour < 24);
	if (c->hour_from < 0)
		return true;
	assert(c->hour_from != c->hour_to);
	if (c->hour_from < c->hour_to)
		return hour >= c->hour_from && hour < c->hour_to;
	return hour >= c->hour_from || hour < c->hour_to;
}

static bool when_matches(const struct kp_campaign *c, int64_t now, struct local_time t)
{
	assert(c->from < c->to);
	if (now < c->from || now >= c->to)
		return false;
	if (c->days_of_week != 0 && !(c->days_of_week & (1u << t.weekday)))
		return false;
	return in_hours(c, t.hour);
}

static bool who_matches(const struct kp_campaign *c, const struct purchase *x, int64_t subtotal)
{
	assert(x->partner != NULL);
	if (c->channels != 0 && !(c->channels & (1u << x->b->channel)))
		return false;
	/* a closed club: only members whose level is listed; anonymous buyers have none */
	if (c->n_tiers > 0 &&
	    (!x->tier || !kp_rules_in_sorted(x->tier->name, c->tiers, c->n_tiers)))
		return false;
	/* the same for segments: a shop's own groups of members */
	if (c->n_segments > 0 &&
	    (!x->m || !kp_segments_any(x->m->segments, c->segments, c->n_segments)))
		return false;
	if (c->n_partners > 0 && !kp_rules_in_sorted(x->partner, c->partners, c->n_partners))
		return false;
	return subtotal >= c->min_subtotal;
}

/* With neither list every line is taken; otherwise its category or its sku must be listed. */
static bool line_matches(const struct kp_campaign *c, const struct kp_line_in *l)
{
	assert(l->sku != NULL);
	if (c->n_categories == 0 && c->n_skus == 0)
		return true;
	if (l->category && l->category[0] &&
	    kp_rules_in_sorted(l->category, c->categories, c->n_categories))
		return true;
	return kp_rules_in_sorted(l->sku, c->skus, c->n_skus);
}

void kp_rules_match_campaigns(struct purchase *x, const struct kp_result *out)
{
	const struct kp_program *p = x->p;
	struct local_time t = local_time_of(x->b->now, p->utc_offset_s);
	uint64_t purchase = 0;

	assert(p->n_campaigns <= KP_MAX_CAMPAIGNS);
	for (size_t c = 0; c < p->n_campaigns; c++)
		if (when_matches(&p->campaigns[c], x->b->now, t) &&
		    who_matches(&p->campaigns[c], x, out->subtotal))
			purchase |= (uint64_t)1 << c;
	for (size_t i = 0; i < x->b->n_lines; i++) {
		x->line_campaigns[i] = 0;
		for (size_t c = 0; c < p->n_campaigns; c++)
			if ((purchase >> c & 1) && line_matches(&p->campaigns[c], &x->b->lines[i]))
				x->line_campaigns[i] |= (uint64_t)1 << c;
		assert((x->line_campaigns[i] & ~purchase) == 0);
	}
}
