/*
 * rules.h — the program document and the arithmetic of a purchase.
 *
 * Pure C: data in, data out. No I/O, no clock (time is an argument), no
 * global state, and no heap allocation except the compiled program itself,
 * which kp_rules_program_compile allocates and kp_rules_program_free frees.
 * kp_rules_evaluate allocates nothing: the caller provides the per-line
 * output array, and scratch space is bounded on the stack (KP_MAX_LINES).
 *
 * The order of a purchase's arithmetic is part of the contract
 * (docs/rules.md, from DESIGN.md "Arithmetic of a purchase"):
 *   1. amount = qty × price per line; subtotal = Σ amount.
 *   2. discounts. Stamp cards first: counting the member's stamps on, unit
 *      by unit in line order, every `every`-th unit of a card's SKUs is free
 *      (a 100% discount on that unit). Then per line the highest applicable
 *      percentage — discount.percent, the highest discount.check_steps step
 *      whose min_subtotal ≤ subtotal, the member's tier discount, and every
 *      discount_percent campaign that applies to the line — on the line's
 *      amount less its free units; they do not stack. The total percentage
 *      discount is ⌊Σ a_i × pct_i / 100%⌋ (a_i = amount less free units),
 *      spread over lines by largest remainder with weights a_i × pct_i.
 *      Then the basket's coupons, in the order given, each on what is left
 *      of each line after every discount before it (a'_i = amount_i − the
 *      line's discount so far; excluded lines take coupons too):
 *        percent: d = ⌊Σ a'_i × bp / 100%⌋, weights a'_i × bp, caps a'_i;
 *        amount:  d = min(value, Σ a'_i), weights a'_i, caps a'_i — a coupon
 *                 worth more than the check takes it to 0, never below;
 *        points:  no money; `value` points join the fixed bonus points of
 *                 step 6 (members only: an anonymous purchase gets nothing).
 *      Coupon money counts in `discount` and in the lines' `discount` (but
 *      not in their discount_bp, which stays the percentage).
 *   3. redemption: cap = min(⌊burn.max_percent × E / point_value⌋,
 *      Σ ⌊e_i / point_value⌋) where e_i is a non-excluded line's amount after
 *      every discount (coupons included) and E = Σ e_i (a point is never split across lines, so no
 *      line pays a negative amount); max_redeemable = min(cap, available);
 *      points_redeemed = min(requested, max_redeemable); the points are spread
 *      over eligible lines by largest remainder with weights e_i and per-line
 *      caps ⌊e_i / point_value⌋.
 *   4. gift certificates pay next: certificates = min(certificate_funds,
 *      what is left to pay), spread over lines by largest remainder with
 *      weights "left to pay" per line.
 *   5. to_pay = subtotal − discount − points_redeemed × point_value − certificates.
 *   6. earned = round(Σ paid_i × rate_i / (100% × point_value)) + Σ bonus
 *      points, rounded once with the program's rounding mode. The line's
 *      base rate is the best of earn.percent, the highest earn.check_steps
 *      step whose min_subtotal ≤ subtotal, and the member's tier earn_percent;
 *      bonus_percent campaigns that apply to the line add to it, and
 *      multiplier campaigns that apply multiply the sum:
 *      rate_i = (base_i + Σ bonus_i) × Π factor_i (exact: factors have two
 *      decimals, at most KP_MAX_MULTIPLIERS). bonus_points campaigns and
 *      points coupons add their points once, unrounded and unmultiplied.
 *      A campaign with a budget applies only while its contribution (earned
 *      with it − earned without it, a coupon's points on both sides) fits in
 *      what is left of its budget; campaigns are considered in document order.
 *      The total is spread over lines by largest remainder, weights
 *      paid_i × rate_i (amount_i when nothing is paid).
 *      An anonymous purchase (no member) redeems and earns nothing.
 *
 * Invariants of every successful evaluation (asserted by the implementation
 * and by the property tests): Σ line.discount = discount, Σ line.points =
 * points_redeemed, Σ line.paid = to_pay, Σ line.earned = points_earned,
 * every line's paid ≥ 0, and the money coupons' coupon_value add up to the
 * discount beyond the stamp and percentage discounts.
 */
#ifndef KP_RULES_RULES_H
#define KP_RULES_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of one basket; the API documents them and refuses anything larger. */
#define KP_MAX_LINES 1000
#define KP_MAX_QTY 10000
#define KP_MAX_PRICE 10000000000LL /* minor units: 100,000,000.00 per unit */
/* rule ids one result can list: a discount and an earn rule, every campaign, card, coupon */
#define KP_MAX_APPLIED (2 + KP_MAX_CAMPAIGNS + KP_MAX_STAMPS + KP_MAX_COUPONS)
#define KP_MAX_STEPS 32
#define KP_MAX_EXCLUSIONS 256
#define KP_MAX_NAME 200 /* bytes of a program name, sku, category */
#define KP_MAX_TIERS 16
#define KP_MAX_CAMPAIGNS 64
#define KP_MAX_MULTIPLIERS 4 /* multiplier campaigns in one program */
#define KP_MAX_STAMPS 16
#define KP_MAX_THRESHOLDS 16
#define KP_MAX_FILTER_ITEMS 256 /* entries of one campaign filter list */
#define KP_MAX_COUPONS 20 /* coupons on one basket */
/* bytes of a coupon's rule id "coupon:<code>" with its NUL */
#define KP_COUPON_ID_SIZE (sizeof "coupon:" + KP_MAX_NAME)

enum kp_rounding {
	KP_ROUND_FLOOR = 0, /* "floor", the default */
	KP_ROUND_HALF_UP,   /* "half_up": .5 goes up */
	KP_ROUND_CEIL,      /* "ceil" */
};

enum kp_channel {
	KP_CHANNEL_STORE = 0, /* "store", the default */
	KP_CHANNEL_ONLINE,    /* "online" */
	KP_CHANNEL_APP,       /* "app" */
};

/* A check-size step: applies when the subtotal is at least min_subtotal. */
struct kp_step {
	int64_t min_subtotal; /* minor units, ≥ 0 */
	int64_t percent_bp;   /* basis points, 0..10000 */
	const char *rule_id;  /* "earn_step:500000", owned by the program */
};

/* A tier level. Levels are sorted by min_spend ascending; the first is 0. */
struct kp_tier {
	char *name;           /* unique, 1..KP_MAX_NAME bytes */
	int64_t min_spend;    /* minor units of after-discount spend */
	int64_t discount_bp;  /* 0 = none */
	int64_t earn_bp;      /* −1 = not set (earn.percent and steps apply) */
	const char *rule_id;  /* "tier:<name>", owned by the program */
};

enum kp_tier_basis { KP_TIER_LIFETIME = 0, KP_TIER_ROLLING };
enum kp_tier_review { KP_REVIEW_MONTHLY = 0, KP_REVIEW_YEARLY };

enum kp_campaign_kind {
	KP_CAMPAIGN_MULTIPLIER = 0,   /* "multiplier": factor × the line's earn rate */
	KP_CAMPAIGN_BONUS_PERCENT,    /* "bonus_percent": + percent to the line's earn rate */
	KP_CAMPAIGN_BONUS_POINTS,     /* "bonus_points": + points once per purchase */
	KP_CAMPAIGN_DISCOUNT_PERCENT, /* "discount_percent": a discount candidate per line */
	KP_CAMPAIGN_CHARITY_PERCENT,  /* "charity_percent": percent of to_pay to a fund (engine) */
};

/*
 * A campaign: a rule that applies while every filter it has matches.
 * Purchase filters: from/to, days_of_week, hours (local time, see
 * program->utc_offset_s), channels, tiers, segments, partners, min_subtotal.
 * Line filters: categories and skus — when either is given, the campaign
 * applies to a line whose category is listed or whose sku is listed; with
 * neither, to every line. Lists are sorted for bsearch.
 */
struct kp_campaign {
	char *id;                   /* unique in the program */
	const char *rule_id;        /* "campaign:<id>", owned by the program */
	enum kp_campaign_kind kind;
	int64_t factor_x100;        /* multiplier: 2 → 200, 1.5 → 150; 1..1000 */
	int64_t percent_bp;         /* bonus_percent, discount_percent: 1..10000 */
	int64_t points;             /* bonus_points: 1..10^9 */
	int64_t from;               /* instant, inclusive; INT64_MIN = no start */
	int64_t to;                 /* instant, exclusive; INT64_MAX = no end */
	unsigned days_of_week;      /* bit d set for ISO day d (1 = Mon … 7 = Sun); 0 = any */
	int hour_from, hour_to;     /* local [from, to) hours, 0..24; −1 = any; from > to wraps midnight */
	unsigned channels;          /* bit (1 << enum kp_channel); 0 = any */
	char **categories;
	size_t n_categories;
	char **skus;
	size_t n_skus;
	char **tiers;               /* tier names; the member's tier must be one */
	size_t n_tiers;
	char **segments;            /* segment names; the member must be in one (segments.h) */
	size_t n_segments;
	char **partners;
	size_t n_partners;
	int64_t min_subtotal;       /* 0 = any */
	int64_t budget_points;      /* −1 = no budget; only for points campaigns */
	char *fund;                 /* charity_percent: an id of program->funds; else NULL */
};

/* A charity fund members may donate to ("charity": {"funds": [...]}). */
struct kp_fund {
	char *id;   /* unique, 1..KP_MAX_FUND_ID bytes of a-z A-Z 0-9 - _ . */
	char *name; /* 1..KP_MAX_NAME bytes */
};
#define KP_MAX_FUNDS 64
#define KP_MAX_FUND_ID 59 /* so that "fund:<id>" fits a transfer's ref */

/* A stamp card: every `every`-th unit of the listed SKUs is free. */
struct kp_stamp_card {
	char *id;
	const char *rule_id; /* "stamp:<id>" */
	char **skus;         /* sorted */
	size_t n_skus;
	int64_t every;       /* 2..1000 */
};

/* Reaching `points` spendable points converts them into a certificate. */
struct kp_threshold {
	int64_t points;           /* > 0 */
	int64_t gift_certificate; /* minor units, > 0 */
};

/* A one-off bonus for an event a shop reports (review, subscription, trade-in, …). */
struct kp_event_rule {
	char *type;        /* 1..32 bytes of a-z 0-9 _ ; not registration, birthday, referral */
	int64_t points;    /* 1..10^9 */
	bool once;         /* at most once per member, ever */
	int64_t per_month; /* at most this many per calendar month (local time); 0 = no limit */
};

#define KP_MAX_EVENT_TYPES 32

/*
 * A compiled program. Immutable after kp_rules_program_compile; any number of
 * threads may read it at once. Steps are sorted by min_subtotal ascending,
 * with distinct min_subtotal values. String arrays are sorted (strcmp) so
 * membership is a binary search.
 */
struct kp_program {
	char *name;                  /* never NULL; "" by default */
	char currency[4];            /* ISO 4217 letters, "RUB" by default */
	int64_t point_value;         /* minor units per point, > 0; 100 by default */
	enum kp_rounding rounding;

	int64_t earn_percent_bp;     /* 500 (5%) by default */
	struct kp_step *earn_steps;
	size_t n_earn_steps;
	int64_t hold_days;           /* earned points stay pending this long; 0 by default */

	int64_t burn_max_percent_bp; /* 5000 (50%) by default */
	char **excluded_categories;
	size_t n_excluded_categories;
	char **excluded_skus;
	size_t n_excluded_skus;

	int64_t expiry_days;         /* 0 = points never expire (default) */
	int64_t remind_days_before;  /* 0 by default */

	int64_t discount_percent_bp; /* 0 by default */
	struct kp_step *discount_steps;
	size_t n_discount_steps;

	int64_t hold_minutes;        /* two-phase purchase hold; 30 by default */

	int64_t utc_offset_s;        /* the shop's local time: "utc_offset": "+03:00"; 0 by default */

	struct kp_tier *tiers;       /* n_tiers = 0: no tiers */
	size_t n_tiers;
	enum kp_tier_basis tier_basis;
	int64_t tier_window_days;    /* rolling basis: 1..3650 */
	enum kp_tier_review tier_review;

	struct kp_campaign *campaigns; /* in document order */
	size_t n_campaigns;

	struct kp_stamp_card *stamps;
	size_t n_stamps;

	struct kp_threshold *thresholds; /* sorted by points descending */
	size_t n_thresholds;

	/* "events": one-off bonuses (0 points = the event gives nothing) */
	int64_t registration_points;
	int64_t birthday_points;
	int64_t birthday_days_before; /* the bonus comes this many days early; 0..30 */
	int64_t referrer_points, referee_points;
	struct kp_event_rule *events; /* the other types, sorted by type */
	size_t n_events;

	struct kp_fund *funds;        /* "charity": {"funds": [...]}, in document order */
	size_t n_funds;
};

/*
 * Parse, validate and compile a program document (JSON text of len bytes).
 * On success returns 0 and *out owns a new program (free with
 * kp_rules_program_free). On a document that is not valid returns
 * KP_EPROGRAM and writes into errbuf (always NUL-terminated, truncated to
 * errlen) a message that starts with the path of the offending field:
 *   "earn.percent: must be a number from 0 to 100 with at most two decimals"
 *   "burn.excluded_skus[3]: must be a string"
 *   "campaigns: not supported by this version"
 * Unknown keys are errors. The campaign filter "segments" is not supported
 * yet and is refused by name, never silently ignored.
 * Returns KP_ENOMEM if memory runs out. Never crashes on any input.
 */
int kp_rules_program_compile(const char *json, size_t len, struct kp_program **out,
			     char *errbuf, size_t errlen);

/* Free a compiled program; NULL is a no-op. */
void kp_rules_program_free(struct kp_program *program);

/*
 * Parse a percentage written as a JSON number (5, 2.5, 12.75) or a decimal
 * string ("5", "2.5"): at most two decimal places, 0 ≤ value ≤ max_percent.
 * Returns 0 and *bp_out in basis points, or KP_EINVAL.
 */
int kp_rules_parse_percent_text(const char *text, int64_t max_percent, int64_t *bp_out);

/* One basket line as the till sent it. Strings are borrowed, NUL-terminated. */
struct kp_line_in {
	const char *sku;      /* never NULL */
	const char *category; /* NULL or "" when the till sent none */
	int64_t qty;          /* 1..KP_MAX_QTY */
	int64_t price;        /* 0..KP_MAX_PRICE minor units per unit */
};

enum kp_coupon_kind { KP_COUPON_PERCENT = 0, KP_COUPON_AMOUNT, KP_COUPON_POINTS };

/*
 * A coupon the engine has already checked (known, valid now, not used up,
 * this member's). The rules only do its arithmetic; anything outside these
 * ranges makes the whole basket KP_EINVAL.
 */
struct kp_coupon_in {
	const char *code; /* never NULL; 1..KP_MAX_NAME bytes; rule id "coupon:<code>" */
	enum kp_coupon_kind kind;
	int64_t value;    /* percent: basis points 1..10000; amount: minor units ≥ 1; points: ≥ 1 */
};

struct kp_basket {
	const struct kp_line_in *lines;
	size_t n_lines;               /* 1..KP_MAX_LINES */
	int64_t redeem_points;        /* requested, ≥ 0 */
	int64_t certificate_funds;    /* total balance of presented certificates, ≥ 0 */
	enum kp_channel channel;
	int64_t now;                  /* seconds since the epoch: campaigns' time filters */
	const char *partner;          /* the partner the purchase is at; never NULL */
	/* Points left in each campaign's budget (program->n_campaigns entries,
	 * read only for campaigns with budget_points ≥ 0); NULL = full budgets. */
	const int64_t *campaign_budget_left;
	/* Coupons, applied in this order; n_coupons 0..KP_MAX_COUPONS (zero: none).
	 * The array and its codes are borrowed for the call only. */
	const struct kp_coupon_in *coupons;
	size_t n_coupons;
	/* The partner's own base earn rate: when has_partner_earn, partner_earn_bp
	 * (0..10000) replaces earn.percent as the base candidate (steps and the
	 * tier rate still compete with it). Zero-initialised: not set. */
	bool has_partner_earn;
	int64_t partner_earn_bp;
};

/* What the rules need to know about the customer. NULL member = anonymous. */
struct kp_member_in {
	int64_t available; /* spendable points now; may be negative (debt) */
	int tier;          /* index into program->tiers; −1 = none */
	/* Units stamped so far on each stamp card (program->n_stamps entries,
	 * each 0..every−1); NULL = all 0. */
	const int64_t *stamps;
	/* The member's segments as stored (segments.h); NULL or "" = none. */
	const char *segments;
};

struct kp_line_result {
	int64_t amount;   /* qty × price */
	int64_t discount; /* money */
	int64_t points;   /* points redeemed on this line */
	int64_t certificates; /* money paid by certificates on this line */
	int64_t paid;     /* amount − discount − points × point_value − certificates */
	int64_t earned;   /* points earned on this line */
	int64_t discount_bp; /* the percentage that applied to this line (coupons not included) */
	int64_t earn_bp;     /* the earn rate that applied to this line */
	bool redeemable;     /* not excluded from redemption */
	int64_t free_units;  /* units made free by stamp cards (part of discount) */
};

struct kp_result {
	int64_t subtotal;
	int64_t discount;
	int64_t points_redeemed;
	int64_t max_redeemable;  /* points; min(cap, available), 0 if anonymous */
	bool redeem_clamped;     /* the request asked for more than points_redeemed */
	int64_t certificates;
	int64_t to_pay;
	int64_t points_earned;
	/* Rule ids that changed the result, in this order: discount rules, stamp
	 * cards, coupons (basket order), the base earn rate, points campaigns.
	 * Borrowed from the program, except a coupon's, which points into
	 * coupon_rule_id below: valid while this struct is (a copy of the struct
	 * still points into the original). */
	const char *applied[KP_MAX_APPLIED];
	size_t n_applied;
	struct kp_line_result *lines; /* caller-provided, basket->n_lines entries */
	/* Points each campaign added to points_earned (its budget cost), by
	 * program->campaigns index; 0 for campaigns that did not apply. */
	int64_t campaign_points[KP_MAX_CAMPAIGNS];
	/* Each stamp card's count after this purchase (0..every−1). */
	int64_t stamps_after[KP_MAX_STAMPS];
	/* Per basket coupon, in basket order: the money it took off (percent,
	 * amount) or the points it added to points_earned (points); 0 when it
	 * changed nothing (nothing left to take off, an anonymous purchase). */
	int64_t coupon_value[KP_MAX_COUPONS];
	/* "coupon:<code>" per basket coupon, the storage applied[] points into:
	 * the codes are the basket's, borrowed only during the call. */
	char coupon_rule_id[KP_MAX_COUPONS][KP_COUPON_ID_SIZE];
};

/* The index of the tier a spend reaches (the highest min_spend ≤ spend); −1 if none. */
int kp_rules_tier_for_spend(const struct kp_program *program, int64_t spend);

/* The rule for a reported event type, or NULL if the program has none. */
const struct kp_event_rule *kp_rules_event(const struct kp_program *program, const char *type);

/* The index of the tier named `name`; −1 if none. */
int kp_rules_tier_index(const struct kp_program *program, const char *name);

/*
 * Compute a purchase. The caller sets out->lines to an array of
 * basket->n_lines entries; everything else in *out is written here.
 * member is NULL for an anonymous purchase.
 * Returns 0, KP_EINVAL (a basket outside the limits above, a coupon code
 * empty or longer than KP_MAX_NAME, a coupon kind or value out of range), or
 * KP_EOVERFLOW (an amount that does not fit; nothing is partially valid).
 */
int kp_rules_evaluate(const struct kp_program *program, const struct kp_basket *basket,
		      const struct kp_member_in *member, struct kp_result *out);

/*
 * Spread total over n parts in proportion to weights by the largest-remainder
 * method: out[i] = ⌊total × w_i / W⌋, then the units left go one each to the
 * parts with the largest remainders (ties: the lower index), skipping parts
 * already at caps[i]; if units are still left they go, in index order, to
 * parts below their cap. caps may be NULL (no caps).
 * Requires total ≥ 0, weights ≥ 0, n ≤ KP_MAX_LINES. Σ out = total exactly.
 * Returns 0; KP_EINVAL if W = 0 and total > 0, or if caps are given and
 * total > Σ caps, or if n > KP_MAX_LINES.
 */
int kp_rules_allocate(int64_t total, const int64_t *weights, const int64_t *caps, size_t n,
		      int64_t *out);

/*
 * Charity campaigns (kind charity_percent) of an evaluated purchase: for
 * each campaign c of that kind whose filters match (the same matching as
 * every campaign), points[c] = ⌊Σ paid_i of its lines × percent /
 * (100% × point_value)⌋; every other entry is 0. result must be the
 * evaluation of this basket and member. The points go from issuance to the
 * campaign's fund, never to the member. Returns 0, or KP_EOVERFLOW.
 */
int kp_rules_charity(const struct kp_program *program, const struct kp_basket *basket,
		     const struct kp_member_in *member, const struct kp_result *result,
		     int64_t points[KP_MAX_CAMPAIGNS]);

/* The fund with this id, or NULL. */
const struct kp_fund *kp_rules_fund(const struct kp_program *program, const char *id);

/* Round num / den (den > 0, num ≥ 0) with the given mode. */
int64_t kp_rules_round_div(__int128 num, __int128 den, enum kp_rounding mode);

#endif
