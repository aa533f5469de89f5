/*
 * program_campaigns.c — the "campaigns" section of a program document.
 *
 * A campaign's "kind" decides which of its keys are allowed, so it is read
 * first, whatever its place in the object; the other keys are then walked in
 * document order against one table that says, for each key, the kinds it is
 * valid for. A key valid for another kind is an error that says which kind
 * it belongs to, never silently ignored.
 *
 * Dates are turned into instants here, with the program's utc_offset ("to"
 * is the local midnight that ends the day, exclusive), and "tiers" filters
 * must name existing levels: so "utc_offset" and "tiers" are parsed first
 * when the document writes them after "campaigns".
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/document.h"
#include "rules/segments.h"
#include "util/timeutil.h"

#define MAX_POINTS 1000000000LL		      /* bonus_points: 10^9 */
#define MAX_BUDGET 1000000000000LL	      /* budget_points: 10^12 */
#define MAX_MIN_SUBTOTAL 100000000000000000LL /* 10^17: the largest basket */

#define KIND(k) (1u << (k))
#define POINTS_KINDS                                                                               \
	(KIND(KP_CAMPAIGN_MULTIPLIER) | KIND(KP_CAMPAIGN_BONUS_PERCENT) |                          \
	 KIND(KP_CAMPAIGN_BONUS_POINTS))
#define ALL_KINDS \
	(POINTS_KINDS | KIND(KP_CAMPAIGN_DISCOUNT_PERCENT) | KIND(KP_CAMPAIGN_CHARITY_PERCENT))

typedef int (*campaign_fn)(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c);

static int two_digits(const char *s)
{
	assert(s != NULL);
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static int parse_id(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_id(d, v, path, &c->id);
}

/* Read before the walk (see kind_of); nothing left to do. */
static int parse_kind(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	(void)d, (void)v, (void)path, (void)c;
	assert(c->kind <= KP_CAMPAIGN_CHARITY_PERCENT);
	return 0;
}

static int parse_factor(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	int64_t x100 = 0;

	/* a factor is a two-decimal number like a percentage, so it is exact in hundredths */
	if (kp_doc_hundredths(v, 10, &x100) || x100 == 0)
		return kp_doc_fail(d, path, "must be > 0 and at most 10 with at most two decimals");
	c->factor_x100 = x100;
	assert(c->factor_x100 >= 1 && c->factor_x100 <= 1000);
	return 0;
}

static int parse_percent(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	int64_t bp = 0;

	if (kp_doc_hundredths(v, 100, &bp) || bp == 0)
		return kp_doc_fail(d, path,
				   "must be a number from 0.01 to 100 with at most two decimals");
	c->percent_bp = bp;
	assert(c->percent_bp >= 1 && c->percent_bp <= 10000);
	return 0;
}

static int parse_points(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_integer(d, v, path, 1, MAX_POINTS, &c->points);
}

/* A date (a whole local day) or an exact UTC instant; *out is the instant. */
static int parse_instant(struct kp_doc *d, const json_t *v, const char *path, bool end,
			 int64_t *out)
{
	const char *s = json_string_value(v); /* NULL unless a string */
	int64_t days;

	if (s && json_string_length(v) == 10 && kp_date_parse(s, &days) == 0) {
		/* from = the local midnight starting the day, to = the one ending it */
		*out = (days + (end ? 1 : 0)) * KP_SECONDS_PER_DAY - d->prog->utc_offset_s;
		return 0;
	}
	if (s && kp_time_parse(s, out) == 0)
		return 0;
	return kp_doc_fail(d, path,
			   "must be a date \"YYYY-MM-DD\" or a UTC time \"YYYY-MM-DDTHH:MM:SSZ\"");
}

static int parse_from(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return parse_instant(d, v, path, false, &c->from);
}

static int parse_to(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return parse_instant(d, v, path, true, &c->to);
}

static int parse_days(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	size_t count = json_array_size(v);
	char sub[KP_DOC_PATH_MAX];

	if (!json_is_array(v) || count < 1 || count > 7)
		return kp_doc_fail(d, path, "must be an array of 1 to 7 days (1 = Monday)");
	for (size_t i = 0; i < count; i++) {
		int64_t day = 0;
		int err;

		kp_doc_index_path(sub, path, i);
		err = kp_doc_integer(d, json_array_get(v, i), sub, 1, 7, &day);
		if (err)
			return err;
		if (c->days_of_week & (1u << day))
			return kp_doc_fail(d, sub, "duplicate day");
		c->days_of_week |= 1u << day;
	}
	assert(c->days_of_week != 0 && (c->days_of_week & 1u) == 0);
	return 0;
}

static int parse_hours(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	const char *s = json_string_value(v); /* NULL unless a string */
	int from = -1, to = -1;

	if (s && json_string_length(v) == 5 && s[2] == '-') {
		from = two_digits(s);
		to = two_digits(s + 3);
	}
	if (from < 0 || to < 0 || from > 24 || to > 24 || from == to)
		return kp_doc_fail(d, path,
				   "must be \"HH-HH\", hours 00 to 24, from and to different");
	c->hour_from = from;
	c->hour_to = to;
	assert(c->hour_from != c->hour_to);
	return 0;
}

static int parse_channels(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	static const char *const names[] = {"store", "online", "app"};
	size_t count = json_array_size(v);
	char sub[KP_DOC_PATH_MAX];

	if (!json_is_array(v) || count < 1 || count > KP_MAX_FILTER_ITEMS)
		return kp_doc_fail(d, path, "must be an array of 1 to %d channels",
				   KP_MAX_FILTER_ITEMS);
	for (size_t i = 0; i < count; i++) {
		const char *s = json_string_value(json_array_get(v, i));
		size_t k = 0;

		while (s && k < 3 && strcmp(s, names[k]) != 0)
			k++;
		kp_doc_index_path(sub, path, i);
		if (!s || k == 3)
			return kp_doc_fail(d, sub, "must be \"store\", \"online\" or \"app\"");
		c->channels |= 1u << k; /* the index is the enum kp_channel value */
	}
	assert(c->channels != 0 && c->channels < 8);
	return 0;
}

static int parse_categories(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_string_set(d, v, path, 1, KP_MAX_FILTER_ITEMS, &c->categories,
				 &c->n_categories);
}

static int parse_skus(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_string_set(d, v, path, 1, KP_MAX_FILTER_ITEMS, &c->skus, &c->n_skus);
}

static int parse_partners(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_string_set(d, v, path, 1, KP_MAX_FILTER_ITEMS, &c->partners, &c->n_partners);
}

/* Level names, each of which must exist in "tiers" (parsed before campaigns). */
static int parse_tier_names(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	char sub[KP_DOC_PATH_MAX];
	int err = kp_doc_string_set(d, v, path, 1, KP_MAX_FILTER_ITEMS, &c->tiers, &c->n_tiers);

	if (err)
		return err;
	assert(d->tiers_done);
	/* checked on the document's array, so the message names the item as written */
	for (size_t i = 0; i < json_array_size(v); i++) {
		kp_doc_index_path(sub, path, i);
		if (kp_rules_tier_index(d->prog, json_string_value(json_array_get(v, i))) < 0)
			return kp_doc_fail(d, sub, "no such level in \"tiers\"");
	}
	return 0;
}

static int parse_min_subtotal(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_integer(d, v, path, 0, MAX_MIN_SUBTOTAL, &c->min_subtotal);
}

static int parse_budget(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	return kp_doc_integer(d, v, path, 1, MAX_BUDGET, &c->budget_points);
}

/* A charity campaign's fund: one of charity.funds (parsed ahead, see parse_prerequisites). */
static int parse_fund(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	const char *s = json_string_value(v); /* NULL unless a string */
	if (!s || !kp_rules_fund(d->prog, s))
		return kp_doc_fail(d, path, "must be the id of a fund in charity.funds");
	c->fund = kp_doc_copy_string(v);
	return c->fund ? 0 : kp_doc_out_of_memory(d);
}

/* Segment names (segments.h): members are put in segments through the API,
 * so a name no member has yet is allowed. */
static int parse_segment_names(struct kp_doc *d, json_t *v, const char *path,
			       struct kp_campaign *c)
{
	char sub[KP_DOC_PATH_MAX];
	int err = kp_doc_string_set(d, v, path, 1, KP_MAX_FILTER_ITEMS, &c->segments,
				    &c->n_segments);
	if (err)
		return err;
	for (size_t i = 0; i < json_array_size(v); i++) {
		kp_doc_index_path(sub, path, i);
		if (!kp_segment_json_valid(json_array_get(v, i)))
			return kp_doc_fail(d, sub, "must be 1 to %d bytes of a-z 0-9 _ -",
					   KP_SEGMENT_NAME_MAX);
	}
	return 0;
}

static const struct campaign_key {
	const char *key;
	unsigned kinds;	  /* KIND() bits the key is valid for */
	const char *only; /* the message when it is not */
	campaign_fn parse;
} campaign_keys[] = {
    {"id", ALL_KINDS, NULL, parse_id},
    {"kind", ALL_KINDS, NULL, parse_kind},
    {"factor", KIND(KP_CAMPAIGN_MULTIPLIER), "only for multiplier campaigns", parse_factor},
    {"percent",
     KIND(KP_CAMPAIGN_BONUS_PERCENT) | KIND(KP_CAMPAIGN_DISCOUNT_PERCENT) |
	 KIND(KP_CAMPAIGN_CHARITY_PERCENT),
     "only for bonus_percent, discount_percent and charity_percent campaigns", parse_percent},
    {"fund", KIND(KP_CAMPAIGN_CHARITY_PERCENT), "only for charity_percent campaigns", parse_fund},
    {"points", KIND(KP_CAMPAIGN_BONUS_POINTS), "only for bonus_points campaigns", parse_points},
    {"from", ALL_KINDS, NULL, parse_from},
    {"to", ALL_KINDS, NULL, parse_to},
    {"days_of_week", ALL_KINDS, NULL, parse_days},
    {"hours", ALL_KINDS, NULL, parse_hours},
    {"channels", ALL_KINDS, NULL, parse_channels},
    {"categories", ALL_KINDS, NULL, parse_categories},
    {"skus", ALL_KINDS, NULL, parse_skus},
    {"tiers", ALL_KINDS, NULL, parse_tier_names},
    {"partners", ALL_KINDS, NULL, parse_partners},
    {"min_subtotal", ALL_KINDS, NULL, parse_min_subtotal},
    {"budget_points", POINTS_KINDS,
     "only for points campaigns (multiplier, bonus_percent, bonus_points)", parse_budget},
    {"segments", ALL_KINDS, NULL, parse_segment_names},
};
#define N_CAMPAIGN_KEYS (sizeof campaign_keys / sizeof campaign_keys[0])

static int campaign_field(struct kp_doc *d, const char *key, json_t *v, const char *path,
			  struct kp_campaign *c)
{
	size_t i = 0;

	while (i < N_CAMPAIGN_KEYS && strcmp(campaign_keys[i].key, key) != 0)
		i++;
	if (i == N_CAMPAIGN_KEYS)
		return kp_doc_fail(d, path, "unknown field");
	if (!(campaign_keys[i].kinds & KIND(c->kind)))
		return kp_doc_fail(d, path, "%s", campaign_keys[i].only);
	assert(campaign_keys[i].parse != NULL);
	return campaign_keys[i].parse(d, v, path, c);
}

/* "kind" decides which keys are valid, so it is read before the others. */
static int kind_of(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c)
{
	static const char *const names[] = {"multiplier", "bonus_percent", "bonus_points",
					    "discount_percent", "charity_percent"};
	json_t *kind = json_object_get(v, "kind");
	const char *s = json_string_value(kind); /* NULL unless a string */
	char sub[KP_DOC_PATH_MAX];

	kp_doc_child_path(sub, path, "kind");
	if (!kind)
		return kp_doc_fail(d, sub, "is required");
	for (size_t k = 0; s && k < sizeof names / sizeof names[0]; k++) {
		if (strcmp(s, names[k]) == 0) {
			c->kind = (enum kp_campaign_kind)k;
			return 0;
		}
	}
	return kp_doc_fail(d, sub,
			   "must be \"multiplier\", \"bonus_percent\", "
			   "\"bonus_points\", \"discount_percent\" or \"charity_percent\"");
}

/* The keys a kind cannot do without, and a time window that is not empty. */
static int check_campaign(struct kp_doc *d, const char *path, const struct kp_campaign *c)
{
	char sub[KP_DOC_PATH_MAX];
	const char *missing = !c->id ? "id" : NULL;

	if (!missing && c->kind == KP_CAMPAIGN_MULTIPLIER && c->factor_x100 == 0)
		missing = "factor";
	if (!missing &&
	    (c->kind == KP_CAMPAIGN_BONUS_PERCENT || c->kind == KP_CAMPAIGN_DISCOUNT_PERCENT ||
	     c->kind == KP_CAMPAIGN_CHARITY_PERCENT) &&
	    c->percent_bp == 0)
		missing = "percent";
	if (!missing && c->kind == KP_CAMPAIGN_CHARITY_PERCENT && !c->fund)
		missing = "fund";
	if (!missing && c->kind == KP_CAMPAIGN_BONUS_POINTS && c->points == 0)
		missing = "points";
	kp_doc_child_path(sub, path, missing ? missing : "to");
	if (missing)
		return kp_doc_fail(d, sub, "is required");
	if (c->from >= c->to)
		return kp_doc_fail(d, sub, "must be after from");
	return 0;
}

static int parse_campaign(struct kp_doc *d, json_t *v, const char *path, struct kp_campaign *c,
			  size_t *n_multipliers)
{
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];
	int err;

	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	err = kind_of(d, v, path, c);
	if (err)
		return err;
	if (c->kind == KP_CAMPAIGN_MULTIPLIER && ++*n_multipliers > KP_MAX_MULTIPLIERS)
		return kp_doc_fail(d, path, "at most %d multiplier campaigns in a program",
				   KP_MAX_MULTIPLIERS);
	json_object_foreach(v, key, value)
	{
		kp_doc_child_path(sub, path, key);
		err = campaign_field(d, key, value, sub, c);
		if (err)
			return err;
	}
	err = check_campaign(d, path, c);
	if (err)
		return err;
	c->rule_id = kp_doc_rule_id("campaign", c->id);
	if (!c->rule_id)
		return kp_doc_out_of_memory(d);
	assert(c->from < c->to);
	return 0;
}

/* Campaign dates need utc_offset and tier filters need levels: parse those first. */
static int parse_prerequisites(struct kp_doc *d)
{
	json_t *offset = json_object_get(d->root, "utc_offset");
	json_t *tiers = json_object_get(d->root, "tiers");
	json_t *charity = json_object_get(d->root, "charity");
	int err = 0;

	assert(d->root != NULL);
	if (offset && !d->offset_done)
		err = kp_doc_parse_utc_offset(d, offset, "utc_offset");
	if (!err && tiers && !d->tiers_done)
		err = kp_doc_parse_tiers(d, tiers, "tiers");
	if (!err && charity && !d->charity_done)
		err = kp_doc_parse_charity(d, charity, "charity");
	d->offset_done = true;
	d->tiers_done = true; /* absent: a tier filter then names no level */
	d->charity_done = true; /* absent: a charity campaign names no fund */
	return err;
}

static int check_unique_id(struct kp_doc *d, const char *path, const struct kp_campaign *all,
			   size_t i)
{
	char sub[KP_DOC_PATH_MAX];

	assert(all[i].id != NULL);
	kp_doc_child_path(sub, path, "id");
	for (size_t j = 0; j < i; j++)
		if (strcmp(all[j].id, all[i].id) == 0)
			return kp_doc_fail(d, sub, "duplicate campaign id");
	return 0;
}

static struct kp_campaign campaign_defaults(void)
{
	struct kp_campaign c;

	memset(&c, 0, sizeof c);
	c.from = INT64_MIN;
	c.to = INT64_MAX;
	c.hour_from = -1;
	c.hour_to = -1;
	c.budget_points = -1;
	return c;
}

int kp_doc_parse_campaigns(struct kp_doc *d, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	size_t count = json_array_size(v), n_multipliers = 0;
	char sub[KP_DOC_PATH_MAX];
	int err = parse_prerequisites(d);

	assert(p->campaigns == NULL && p->n_campaigns == 0);
	if (err)
		return err;
	if (!json_is_array(v) || count > KP_MAX_CAMPAIGNS)
		return kp_doc_fail(d, path, "must be an array of at most %d campaigns",
				   KP_MAX_CAMPAIGNS);
	if (count == 0)
		return 0;
	p->campaigns = calloc(count, sizeof *p->campaigns);
	if (!p->campaigns)
		return kp_doc_out_of_memory(d);
	for (size_t i = 0; i < count; i++) {
		kp_doc_index_path(sub, path, i);
		p->campaigns[i] = campaign_defaults();
		/* counted first, so a half-parsed campaign is freed with the program */
		p->n_campaigns++;
		err =
		    parse_campaign(d, json_array_get(v, i), sub, &p->campaigns[i], &n_multipliers);
		if (!err)
			err = check_unique_id(d, sub, p->campaigns, i);
		if (err)
			return err;
	}
	assert(p->n_campaigns == count && n_multipliers <= KP_MAX_MULTIPLIERS);
	return 0;
}

void kp_doc_free_campaigns(struct kp_program *p)
{
	assert(p != NULL);
	assert(p->n_campaigns == 0 || p->campaigns != NULL);
	for (size_t i = 0; i < p->n_campaigns; i++) {
		struct kp_campaign *c = &p->campaigns[i];

		free(c->id);
		free((char *)c->rule_id);
		kp_doc_free_strings(c->categories, c->n_categories);
		kp_doc_free_strings(c->skus, c->n_skus);
		kp_doc_free_strings(c->tiers, c->n_tiers);
		kp_doc_free_strings(c->segments, c->n_segments);
		kp_doc_free_strings(c->partners, c->n_partners);
		free(c->fund);
	}
	free(p->campaigns);
}
