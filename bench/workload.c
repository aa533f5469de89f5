/*
 * workload.c — the synthetic shop (see workload.h): members with
 * heavy-tailed purchase counts, a catalogue, baskets and their JSON.
 */
#include "workload.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const categories[] = {"grocery", "dairy", "bakery", "drinks",
					  "household", "cosmetics", "toys", "electronics",
					  "clothing", "pets", "garden", "tobacco"};
#define N_CATEGORIES (sizeof categories / sizeof categories[0])

void bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
}

uint64_t bench_rng_next(struct bench_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

double bench_rng_unit(struct bench_rng *r)
{
	return ((double)(bench_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(struct bench_rng *r)
{
	double u = bench_rng_unit(r), v = bench_rng_unit(r);
	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

int bench_members_init(struct bench_members *m, size_t n, uint64_t seed)
{
	assert(n > 0);
	struct bench_rng r;
	bench_rng_seed(&r, seed ^ 0x6d656d62ull);
	m->n = n;
	m->cum = malloc(n * sizeof *m->cum);
	if (!m->cum)
		return -1;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		sum += exp(1.2 * normal(&r));
		m->cum[i] = sum;
	}
	return 0;
}

void bench_members_release(struct bench_members *m)
{
	free(m->cum);
	m->cum = NULL;
	m->n = 0;
}

int64_t bench_members_pick(const struct bench_members *m, struct bench_rng *r)
{
	double x = bench_rng_unit(r) * m->cum[m->n - 1];
	size_t lo = 0, hi = m->n - 1;
	while (lo < hi) { /* the first i with cum[i] >= x: at most log2(n) steps */
		size_t mid = lo + (hi - lo) / 2;
		if (m->cum[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int64_t)lo + 1;
}

/* A SKU's price is fixed by its number: lognormal, median 150.00, in 0.10 steps. */
static int64_t sku_price(unsigned sku)
{
	struct bench_rng r;
	bench_rng_seed(&r, 0x70726963ull + sku);
	int64_t p = (int64_t)(15000.0 * exp(0.9 * normal(&r)));
	p -= p % 10;
	return p < 990 ? 990 : p > 5000000 ? 5000000 : p;
}

void bench_basket_make(struct bench_basket *b, const struct bench_members *m,
		       struct bench_rng *r)
{
	b->member = bench_members_pick(m, r);
	b->redeem_points = bench_rng_next(r) % 4 == 0 ? 1000 : 0;
	b->n_lines = 1 + (size_t)(bench_rng_next(r) % BENCH_MAX_LINES);
	for (size_t i = 0; i < b->n_lines; i++) {
		/* i * 7919 keeps the SKUs of one basket distinct (7919 is prime) */
		unsigned sku = (unsigned)((bench_rng_next(r) + i * 7919) % BENCH_SKUS);
		uint64_t q = bench_rng_next(r) % 10;
		snprintf(b->skus[i], sizeof b->skus[i], "sku-%04u", sku);
		b->lines[i] = (struct kp_line_in){
			.sku = b->skus[i],
			.category = categories[sku % N_CATEGORIES],
			.qty = q < 7 ? 1 : q < 9 ? 2 : 3 + (int64_t)(q % 3),
			.price = sku_price(sku),
		};
	}
}

size_t bench_basket_json(const struct bench_basket *b, const char *receipt, char *buf,
			 size_t cap)
{
	size_t len = 0;
	int n = snprintf(buf, cap, "{");
#define PUT(...)                                                                           \
	do {                                                                               \
		if (n < 0 || (size_t)n >= cap - len)                                       \
			return 0;                                                          \
		len += (size_t)n;                                                          \
		n = snprintf(buf + len, cap - len, __VA_ARGS__);                           \
	} while (0)
	if (receipt)
		PUT("\"receipt_id\":\"%s\",", receipt);
	PUT("\"member\":\"%lld\",\"lines\":[", (long long)b->member);
	for (size_t i = 0; i < b->n_lines; i++)
		PUT("%s{\"sku\":\"%s\",\"category\":\"%s\",\"qty\":%lld,\"price\":%lld}",
		    i ? "," : "", b->lines[i].sku, b->lines[i].category,
		    (long long)b->lines[i].qty, (long long)b->lines[i].price);
	PUT("]");
	if (b->redeem_points)
		PUT(",\"redeem_points\":%lld", (long long)b->redeem_points);
	PUT("}");
	PUT("%s", "");
#undef PUT
	return len;
}
