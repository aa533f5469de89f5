/*
 * ratelimit.c — failed authentications per client address (ratelimit.h).
 *
 * The table is a set-associative cache: an address hashes to one set of
 * WAYS slots; a miss takes an empty slot or evicts the slot of the set
 * seen least recently. The common case — no failures at all — costs one
 * atomic load and no lock.
 */
#include "api/ratelimit.h"

#include <assert.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "util/timeutil.h"

#define WAYS 4
#define SETS (KP_RATELIMIT_SLOTS / WAYS)

struct slot {
	unsigned char key[16]; /* IPv4 addresses as IPv4-mapped IPv6 */
	bool used;
	unsigned failures;     /* within the window that started at window_s */
	int64_t window_s, blocked_until_s, seen_s;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot table[SETS][WAYS];
static _Atomic unsigned long n_used; /* slots in use: 0 = nobody ever failed */
static unsigned max_failures = KP_RATELIMIT_FAILURES;

void kp_ratelimit_configure(unsigned failures)
{
	assert(failures >= 1);
	max_failures = failures;
}

static int64_t now_s(void)
{
	return kp_time_mono_ns() / 1000000000LL;
}

/* The address as 16 bytes; false for families without one (e.g. a Unix socket). */
static bool key_of(const struct sockaddr *addr, unsigned char key[16])
{
	if (!addr)
		return false;
	memset(key, 0, 16);
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)addr;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a->sin_addr, 4);
		return true;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)addr;
		memcpy(key, &a->sin6_addr, 16);
		return true;
	}
	return false;
}

static size_t set_of(const unsigned char key[16])
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h % SETS);
}

/* The slot of key, or NULL (lock held). */
static struct slot *find(const unsigned char key[16])
{
	struct slot *set = table[set_of(key)];
	for (int w = 0; w < WAYS; w++)
		if (set[w].used && memcmp(set[w].key, key, 16) == 0)
			return &set[w];
	return NULL;
}

int64_t kp_ratelimit_wait_s(const struct sockaddr *addr)
{
	unsigned char key[16];
	if (atomic_load_explicit(&n_used, memory_order_relaxed) == 0 || !key_of(addr, key))
		return 0;
	int64_t now = now_s(), wait = 0;
	pthread_mutex_lock(&lock);
	struct slot *s = find(key);
	if (s && s->blocked_until_s > now)
		wait = s->blocked_until_s - now;
	pthread_mutex_unlock(&lock);
	assert(wait >= 0 && wait <= KP_RATELIMIT_WINDOW_S);
	return wait;
}

void kp_ratelimit_failure(const struct sockaddr *addr)
{
	unsigned char key[16];
	if (!key_of(addr, key))
		return;
	int64_t now = now_s();
	pthread_mutex_lock(&lock);
	struct slot *s = find(key);
	if (!s) {
		struct slot *set = table[set_of(key)];
		s = &set[0]; /* an empty slot, else the one seen least recently */
		for (int w = 0; w < WAYS; w++) {
			if (!set[w].used) {
				s = &set[w];
				break;
			}
			if (set[w].seen_s < s->seen_s)
				s = &set[w];
		}
		if (!s->used)
			atomic_fetch_add(&n_used, 1);
		memset(s, 0, sizeof *s);
		memcpy(s->key, key, 16);
		s->used = true;
		s->window_s = now;
	}
	if (now - s->window_s >= KP_RATELIMIT_WINDOW_S) {
		s->window_s = now;
		s->failures = 0;
	}
	s->seen_s = now;
	s->failures++;
	if (s->blocked_until_s > now || s->failures >= max_failures)
		s->blocked_until_s = now + KP_RATELIMIT_WINDOW_S;
	pthread_mutex_unlock(&lock);
}
