/*
 * test_random.h — random numbers for the property tests: splitmix64, with
 * its state in the test (not in libc), so a whole run follows from one seed.
 * property_seed() takes KP_TEST_SEED when it is set (to replay a failure)
 * and a fresh seed otherwise; each test prints the seed it used.
 */
#ifndef KP_TEST_RANDOM_H
#define KP_TEST_RANDOM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct rng {
	uint64_t state;
};

static inline uint64_t next_u64(struct rng *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [lo, hi] for a test. */
static inline int64_t pick(struct rng *g, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next_u64(g) % (uint64_t)(hi - lo + 1));
}

static inline bool chance(struct rng *g, int percent)
{
	return pick(g, 1, 100) <= percent;
}

static inline unsigned property_seed(void)
{
	const char *env = getenv("KP_TEST_SEED");
	if (env != NULL && *env != '\0')
		return (unsigned)strtoul(env, NULL, 10);
	return (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
}

#endif
