/*
 * ratelimit.h — slowing down guessing of API keys, per client address.
 *
 * A failed authentication is a request that presents a Bearer key that is
 * unknown or revoked (a request with no key guesses nothing and is not
 * counted). After `failures` of them from one address within the window,
 * the address is refused (429 too_many_requests, with Retry-After) for
 * every request during the next window; each failure while refused
 * extends that to a full window from then. Addresses live in a bounded
 * table (KP_RATELIMIT_SLOTS, in sets of 4): a new address evicts the
 * oldest of its set, so a flood of addresses cannot grow memory. State is
 * per process and uses the monotonic clock, never the engine's test clock.
 */
#ifndef KP_API_RATELIMIT_H
#define KP_API_RATELIMIT_H

#include <stdint.h>

struct sockaddr;

#define KP_RATELIMIT_SLOTS 4096
#define KP_RATELIMIT_FAILURES 10 /* default */
#define KP_RATELIMIT_WINDOW_S 60

/* Failures that trigger the limit (≥ 1); call before serving. */
void kp_ratelimit_configure(unsigned failures);

/* Seconds the address must still wait (0 = it may go on). addr may be NULL. */
int64_t kp_ratelimit_wait_s(const struct sockaddr *addr);

/* Count a failed authentication from addr (NULL: nothing to count). */
void kp_ratelimit_failure(const struct sockaddr *addr);

#endif
