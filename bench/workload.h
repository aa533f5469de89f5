/*
 * workload.h — the synthetic shop every benchmark draws from.
 *
 * One model, shared by the data generator (gen.c), the in-process engine
 * benchmark (engine.c) and the HTTP load generator (load.c), so the three
 * measure the same purchases:
 *
 *   - members: each has a weight drawn from a lognormal (sigma 1.2), so the
 *     number of purchases per member is heavy-tailed (most members buy a few
 *     times, a few buy hundreds of times); a purchase picks its member in
 *     proportion to the weights;
 *   - a catalogue of 2,000 SKUs in 12 categories with lognormal prices
 *     (median 150.00, in kopecks);
 *   - baskets of 1–10 lines (uniform), quantity mostly 1; a quarter of the
 *     purchases ask to spend 1,000 points (the engine clamps the request).
 *
 * Everything is a pure function of a seed: the same seed gives the same
 * data. Nothing here allocates except bench_members_init.
 */
#ifndef KP_BENCH_WORKLOAD_H
#define KP_BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"

#define BENCH_MAX_LINES 10
#define BENCH_SKUS 2000
#define BENCH_SKU_LEN 16

struct bench_rng {
	uint64_t s;
};

/* splitmix64: fast, and any seed (0 included) is a good one. */
void bench_rng_seed(struct bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(struct bench_rng *r);
double bench_rng_unit(struct bench_rng *r); /* in (0, 1) */

/* Cumulative member weights; members are numbered 1..n (their database ids). */
struct bench_members {
	size_t n;
	double *cum; /* cum[i] = weight of members 1..i+1 */
};

/* Returns 0, or -1 when out of memory. */
int bench_members_init(struct bench_members *m, size_t n, uint64_t seed);
void bench_members_release(struct bench_members *m);
int64_t bench_members_pick(const struct bench_members *m, struct bench_rng *r);

struct bench_basket {
	int64_t member;           /* 1..n */
	int64_t redeem_points;    /* 0 or 1000 */
	size_t n_lines;           /* 1..BENCH_MAX_LINES */
	struct kp_line_in lines[BENCH_MAX_LINES];
	char skus[BENCH_MAX_LINES][BENCH_SKU_LEN];
};

/* A basket for a member picked from m. lines[i].sku points into b->skus. */
void bench_basket_make(struct bench_basket *b, const struct bench_members *m,
		       struct bench_rng *r);

/*
 * The purchase as a request body: {"receipt_id":…,"member":…,"lines":[…],…};
 * receipt NULL leaves out receipt_id (a quote). Returns the length written
 * (excluding the NUL), or 0 if cap is too small.
 */
size_t bench_basket_json(const struct bench_basket *b, const char *receipt, char *buf,
			 size_t cap);

#endif
