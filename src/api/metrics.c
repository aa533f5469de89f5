#include "api/metrics.h"

#include <assert.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429,
			       500, 503};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])
#define OTHER_STATUS N_STATUSES

/* Upper bounds of the latency buckets, in seconds and nanoseconds. */
static const char *const bucket_text[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
					  "0.025",  "0.05",  "0.1",    "0.25",  "1"};
static const int64_t bucket_ns[] = {500000,   1000000,   2500000,   5000000,   10000000,
				    25000000, 50000000, 100000000, 250000000, 1000000000};
#define N_BUCKETS (sizeof bucket_ns / sizeof bucket_ns[0])

struct route_stats {
	_Atomic uint64_t by_status[N_STATUSES + 1];
	_Atomic uint64_t buckets[N_BUCKETS + 1]; /* last: above every bound */
	_Atomic uint64_t sum_ns;
};

struct kp_metrics {
	const char *const *names;
	size_t n_routes;
	struct route_stats routes[KP_METRICS_MAX_ROUTES + 1];
	_Atomic int64_t connections_open;
	_Atomic uint64_t connections_refused;
	unsigned threads;
	_Atomic int64_t open_by_thread[KP_METRICS_MAX_THREADS];
};

struct kp_metrics *kp_metrics_new(const char *const *route_names, size_t n_routes,
				  unsigned threads)
{
	assert(route_names && n_routes <= KP_METRICS_MAX_ROUTES);
	assert(threads >= 1 && threads <= KP_METRICS_MAX_THREADS);
	struct kp_metrics *m = calloc(1, sizeof *m);
	if (m) {
		m->names = route_names;
		m->n_routes = n_routes;
		m->threads = threads;
	}
	return m;
}

void kp_metrics_free(struct kp_metrics *m)
{
	free(m);
}

void kp_metrics_record(struct kp_metrics *m, size_t route, int status, int64_t duration_ns)
{
	assert(route <= m->n_routes);
	struct route_stats *r = &m->routes[route];
	size_t s = OTHER_STATUS, b = N_BUCKETS;
	for (size_t i = 0; i < N_STATUSES; i++)
		if (statuses[i] == status)
			s = i;
	for (size_t i = 0; i < N_BUCKETS && b == N_BUCKETS; i++)
		if (duration_ns <= bucket_ns[i])
			b = i;
	atomic_fetch_add_explicit(&r->by_status[s], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_ns, (uint64_t)(duration_ns > 0 ? duration_ns : 0),
				  memory_order_relaxed);
}

void kp_metrics_connection(struct kp_metrics *m, unsigned thread, int delta)
{
	assert(delta == 1 || delta == -1);
	assert(thread < m->threads);
	atomic_fetch_add_explicit(&m->connections_open, delta, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->open_by_thread[thread], delta, memory_order_relaxed);
}

void kp_metrics_connection_refused(struct kp_metrics *m)
{
	atomic_fetch_add_explicit(&m->connections_refused, 1, memory_order_relaxed);
}

int64_t kp_metrics_connections_open(const struct kp_metrics *m)
{
	return atomic_load_explicit(&m->connections_open, memory_order_relaxed);
}

/* A growing text buffer; on failure it stays NULL and further appends do nothing. */
struct text {
	char *buf;
	size_t len, cap;
};

static void append(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct text *t, const char *fmt, ...)
{
	if (!t->buf)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			free(t->buf);
			t->buf = NULL;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		char *grown = realloc(t->buf, t->cap * 2 + (size_t)n);
		if (!grown) {
			free(t->buf);
			t->buf = NULL;
			return;
		}
		t->buf = grown;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

static const char *route_name(const struct kp_metrics *m, size_t i)
{
	return i < m->n_routes ? m->names[i] : "unmatched";
}

static void render_requests(struct text *t, const struct kp_metrics *m)
{
	append(t, "# HELP kopilka_requests_total HTTP requests answered, by route and status.\n"
		  "# TYPE kopilka_requests_total counter\n");
	for (size_t i = 0; i <= m->n_routes; i++)
		for (size_t s = 0; s <= N_STATUSES; s++) {
			uint64_t n = atomic_load(&m->routes[i].by_status[s]);
			if (n == 0)
				continue;
			char status[8];
			snprintf(status, sizeof status, "%d", s < N_STATUSES ? statuses[s] : 0);
			append(t, "kopilka_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
			       route_name(m, i), s < N_STATUSES ? status : "other",
			       (unsigned long long)n);
		}
}

static void render_latency(struct text *t, const struct kp_metrics *m)
{
	append(t, "# HELP kopilka_request_duration_seconds Time to answer a request.\n"
		  "# TYPE kopilka_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= m->n_routes; i++) {
		const struct route_stats *r = &m->routes[i];
		uint64_t cumulative = 0;
		for (size_t b = 0; b <= N_BUCKETS; b++)
			cumulative += atomic_load(&r->buckets[b]);
		if (cumulative == 0)
			continue;
		uint64_t total = cumulative;
		cumulative = 0;
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cumulative += atomic_load(&r->buckets[b]);
			append(t, "kopilka_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} "
				  "%llu\n", route_name(m, i), bucket_text[b],
			       (unsigned long long)cumulative);
		}
		append(t, "kopilka_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
			  "kopilka_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
			  "kopilka_request_duration_seconds_count{route=\"%s\"} %llu\n",
		       route_name(m, i), (unsigned long long)total, route_name(m, i),
		       (double)atomic_load(&r->sum_ns) / 1e9, route_name(m, i),
		       (unsigned long long)total);
	}
}

static void render_connections(struct text *t, const struct kp_metrics *m)
{
	append(t, "# HELP kopilka_connections_open HTTP connections open now.\n"
		  "# TYPE kopilka_connections_open gauge\nkopilka_connections_open %lld\n"
		  "# HELP kopilka_connections_refused_total Connections closed at once: the "
		  "limit of open connections was reached.\n"
		  "# TYPE kopilka_connections_refused_total counter\n"
		  "kopilka_connections_refused_total %llu\n",
	       (long long)kp_metrics_connections_open(m),
	       (unsigned long long)atomic_load(&m->connections_refused));
}

/* Each thread's share: the listener deals connections out in turn, so they
 * differ by one at most while connections close at random. */
static void render_threads(struct text *t, const struct kp_metrics *m)
{
	append(t, "# HELP kopilka_thread_connections_open HTTP connections open now, by server "
		  "thread.\n# TYPE kopilka_thread_connections_open gauge\n");
	for (unsigned i = 0; i < m->threads; i++)
		append(t, "kopilka_thread_connections_open{thread=\"%u\"} %lld\n", i,
		       (long long)atomic_load_explicit(&m->open_by_thread[i], memory_order_relaxed));
}

static void render_engine(struct text *t, struct kp_engine *e)
{
	struct kp_engine_stats s;
	kp_engine_stats(e, &s);
	append(t, "# HELP kopilka_commits_total Durable transactions committed by the writer.\n"
		  "# TYPE kopilka_commits_total counter\nkopilka_commits_total %llu\n"
		  "# HELP kopilka_committed_jobs_total Writes those transactions carried.\n"
		  "# TYPE kopilka_committed_jobs_total counter\nkopilka_committed_jobs_total %llu\n"
		  "# HELP kopilka_batch_size_max The largest batch committed in one transaction.\n"
		  "# TYPE kopilka_batch_size_max gauge\nkopilka_batch_size_max %llu\n"
		  "# HELP kopilka_queue_depth Writes waiting for the writer now.\n"
		  "# TYPE kopilka_queue_depth gauge\nkopilka_queue_depth %llu\n"
		  "# HELP kopilka_queue_rejected_total Writes refused with 503: the queue was full.\n"
		  "# TYPE kopilka_queue_rejected_total counter\nkopilka_queue_rejected_total %llu\n"
		  "# HELP kopilka_log_syncs_total Syncs of the log that made committed batches durable.\n"
		  "# TYPE kopilka_log_syncs_total counter\nkopilka_log_syncs_total %llu\n"
		  "# HELP kopilka_log_sync_failures_total Of those, the ones that failed.\n"
		  "# TYPE kopilka_log_sync_failures_total counter\nkopilka_log_sync_failures_total %llu\n"
		  "# HELP kopilka_points_issued_total Points earned by purchases committed here.\n"
		  "# TYPE kopilka_points_issued_total counter\nkopilka_points_issued_total %llu\n"
		  "# HELP kopilka_points_redeemed_total Points spent by purchases committed here.\n"
		  "# TYPE kopilka_points_redeemed_total counter\nkopilka_points_redeemed_total %llu\n",
	       (unsigned long long)s.commits, (unsigned long long)s.jobs,
	       (unsigned long long)s.batch_max, (unsigned long long)s.queue_depth,
	       (unsigned long long)s.rejected, (unsigned long long)s.log_syncs,
	       (unsigned long long)s.log_sync_failures, (unsigned long long)s.points_issued,
	       (unsigned long long)s.points_redeemed);
}

char *kp_metrics_render(const struct kp_metrics *m, struct kp_engine *engine)
{
	struct text t = {.cap = 16384};
	t.buf = malloc(t.cap);
	render_requests(&t, m);
	render_latency(&t, m);
	render_connections(&t, m);
	render_threads(&t, m);
	render_engine(&t, engine);
	return t.buf;
}
