/*
 * metrics.h — counters for GET /metrics, in the Prometheus text format.
 *
 * Requests by route and status, latency histograms by route, open
 * connections (in all and by server thread) and refused ones, and the
 * engine's own figures (commits, batch sizes, queue depth, points issued
 * and redeemed) read at scrape time. Everything is a relaxed atomic
 * counter: recording costs a few nanoseconds and never takes a lock.
 */
#ifndef KP_API_METRICS_H
#define KP_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define KP_METRICS_MAX_ROUTES 64
#define KP_METRICS_MAX_THREADS 256 /* server threads counted one by one */

struct kp_metrics;

/* route_names: n_routes patterns ("GET /v1/members/{}"); the last slot counts unmatched
 * paths. threads: the server threads, whose open connections are shown one by one. */
struct kp_metrics *kp_metrics_new(const char *const *route_names, size_t n_routes,
				  unsigned threads);
void kp_metrics_free(struct kp_metrics *m);

/* One answered request: route index (n_routes = unmatched), HTTP status, duration. */
void kp_metrics_record(struct kp_metrics *m, size_t route, int status, int64_t duration_ns);

/* Connections: one opened (+1) or closed (-1) on server thread `thread`; one
 * refused at the limit. */
void kp_metrics_connection(struct kp_metrics *m, unsigned thread, int delta);
void kp_metrics_connection_refused(struct kp_metrics *m);
int64_t kp_metrics_connections_open(const struct kp_metrics *m);

/* The whole exposition text, malloc'ed (caller frees), or NULL when out of memory. */
char *kp_metrics_render(const struct kp_metrics *m, struct kp_engine *engine);

#endif
