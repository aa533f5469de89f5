/*
 * load.c — HTTP/1.1 load generator for Kopilka over loopback.
 *
 * Usage: load --port P --key KEY [--mode commit|quote] [--connections C]
 *             [--seconds S] [--rate R] [--members N] [--warmup S]
 *             [--trace FILE]
 *
 * One thread, epoll, non-blocking keep-alive connections, one request in
 * flight per connection.
 *
 *   closed loop (--rate 0): every connection sends its next request as soon
 *     as the previous answer arrives; throughput = answers / S.
 *   open loop (--rate R): request i is due at t0 + i / R, whatever happened
 *     before; a due request goes out on the first idle connection, and its
 *     latency is measured from its *scheduled* time, so time spent queued
 *     behind a slow server counts (no coordinated omission).
 *
 * Bodies are workload.h baskets built before the clock starts (a pool of
 * 4,096 requests, headers included); a commit's receipt id is a fixed-width
 * field stamped in place per send, unique per run. Answers are parsed by
 * Content-Length; every status must be 200 or 201, anything else (or a
 * closed connection, or an answer that never came) counts as an error.
 * Latencies are all kept and sorted: p50, p99 and max are exact. --trace
 * writes each measured answer as "due_ms latency_ms" (due time from the start
 * of the measured loop, whose CLOCK_MONOTONIC time the first line gives), to
 * see *when* the slow answers came and line them up with the server's threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define POOL 4096
#define MAX_CONNS 1024
#define REQ_MAX 4096
#define IN_MAX 65536
#define RECEIPT_W 24 /* the receipt id's width: 12 chars of run tag + 12 digits */

struct req_tpl {
	char *text;
	size_t len, receipt_at; /* receipt_at = 0: no receipt to stamp */
};

struct conn {
	int fd;
	char out[REQ_MAX];
	size_t out_len, out_off;
	char in[IN_MAX];
	size_t in_len;
	int64_t due_ns;  /* when the request in flight was scheduled (open) or sent (closed) */
	int busy;
};

struct load {
	int port, epfd, n_conns;
	const char *key, *mode;
	struct req_tpl pool[POOL];
	struct conn *conns;
	char tag[16];
	uint64_t seq;
	int64_t *lat, *due; /* latency and due time (ns from t0) of each answer */
	size_t n_lat, cap_lat;
	int64_t t0;
	long long ok, errors, reconnects, s2xx[2];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void build_pool(struct load *l, size_t members, int commit)
{
	struct bench_members m;
	if (bench_members_init(&m, members, 1)) /* seed 1: gen's member weights */
		exit(1);
	struct bench_rng r;
	bench_rng_seed(&r, (uint64_t)now_ns());
	char body[3072], placeholder[RECEIPT_W + 1];
	memset(placeholder, 'X', RECEIPT_W);
	placeholder[RECEIPT_W] = '\0';
	for (size_t i = 0; i < POOL; i++) {
		struct bench_basket b;
		bench_basket_make(&b, &m, &r);
		size_t blen = bench_basket_json(&b, commit ? placeholder : NULL, body, sizeof body);
		char *t = malloc(REQ_MAX);
		int n = t ? snprintf(t, REQ_MAX,
				     "POST /v1/purchases%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				     "Authorization: Bearer %s\r\n"
				     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				     commit ? "" : "/quote", l->key, blen, body) : -1;
		if (blen == 0 || n < 0 || n >= REQ_MAX) {
			fprintf(stderr, "load: request too large\n");
			exit(1);
		}
		char *at = strstr(t, placeholder);
		l->pool[i] = (struct req_tpl){t, (size_t)n, at ? (size_t)(at - t) : 0};
	}
	bench_members_release(&m);
}

static void conn_open(struct load *l, struct conn *c)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS)) {
		perror("load: connect");
		exit(1);
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev);
	c->busy = 0, c->in_len = 0, c->out_len = 0, c->out_off = 0;
}

static void conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n <= 0)
			return; /* EAGAIN: EPOLLOUT will come back */
		c->out_off += (size_t)n;
	}
}

static void conn_send(struct load *l, struct conn *c, int64_t due_ns)
{
	const struct req_tpl *t = &l->pool[l->seq % POOL];
	memcpy(c->out, t->text, t->len);
	if (t->receipt_at) {
		char id[48];
		snprintf(id, sizeof id, "%.12s%012llu", l->tag,
			 (unsigned long long)(l->seq % 1000000000000ull));
		memcpy(c->out + t->receipt_at, id, RECEIPT_W);
	}
	l->seq++;
	c->out_len = t->len, c->out_off = 0, c->in_len = 0;
	c->busy = 1, c->due_ns = due_ns;
	conn_flush(c);
}

static void record(struct load *l, int64_t due_ns, int64_t ns)
{
	if (l->n_lat == l->cap_lat) {
		l->cap_lat = l->cap_lat ? l->cap_lat * 2 : 1 << 16;
		l->lat = realloc(l->lat, l->cap_lat * sizeof *l->lat);
		l->due = realloc(l->due, l->cap_lat * sizeof *l->due);
		if (!l->lat || !l->due)
			exit(1);
	}
	l->due[l->n_lat] = due_ns - l->t0;
	l->lat[l->n_lat++] = ns;
}

static void write_trace(const struct load *l, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror("load: --trace");
		exit(1);
	}
	fprintf(f, "# t0 %.3f ms (CLOCK_MONOTONIC)\n", (double)l->t0 / 1e6);
	for (size_t i = 0; i < l->n_lat; i++)
		fprintf(f, "%.3f %.3f\n", (double)l->due[i] / 1e6, (double)l->lat[i] / 1e6);
	fclose(f);
}

/* A whole answer in c->in? Returns its status, 0 if incomplete, -1 if malformed. */
static int answer_complete(struct conn *c)
{
	c->in[c->in_len] = '\0';
	char *end = strstr(c->in, "\r\n\r\n");
	if (!end)
		return 0;
	int status = 0;
	if (sscanf(c->in, "HTTP/1.1 %d", &status) != 1)
		return -1;
	char *cl = strcasestr(c->in, "\r\nContent-Length:");
	size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	if ((size_t)(end + 4 - c->in) + body > c->in_len)
		return 0;
	return status;
}

/* Read what came; on a whole answer, count it. Returns 1 when the connection is free. */
static int conn_read(struct load *l, struct conn *c, int64_t t_end, int measuring)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, IN_MAX - 1 - c->in_len);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0 || c->in_len + (size_t)n >= IN_MAX - 1) { /* closed or too big */
			if (c->busy && measuring)
				l->errors++;
			close(c->fd);
			l->reconnects++;
			conn_open(l, c);
			return 1;
		}
		c->in_len += (size_t)n;
	}
	if (!c->busy)
		return 0;
	int status = answer_complete(c);
	if (status == 0)
		return 0;
	int64_t t = now_ns();
	c->busy = 0;
	if (measuring && c->due_ns < t_end) {
		if (status == 200 || status == 201) {
			l->ok++;
			l->s2xx[status == 201]++;
			record(l, c->due_ns, t - c->due_ns);
		} else {
			if (l->errors < 5)
				fprintf(stderr, "load: status %d: %.200s\n", status, c->in);
			l->errors++;
		}
	}
	return 1;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Drive the connections until t_end (+ drain); rate 0 = closed loop. */
static void drive(struct load *l, double rate, int64_t t0, int64_t t_end, int measuring)
{
	struct epoll_event evs[MAX_CONNS];
	int64_t interval = rate > 0 ? (int64_t)(1e9 / rate) : 0, next_due = t0;
	long long queued = 0; /* open loop: requests due that found no idle connection */
	int64_t drain_end = t_end + 5000000000LL;
	int idle[MAX_CONNS], n_idle = 0;
	for (int i = 0; i < l->n_conns; i++)
		if (!l->conns[i].busy)
			idle[n_idle++] = i;
	for (;;) {
		int64_t t = now_ns();
		if (t >= drain_end)
			break;
		if (t >= t_end && n_idle == l->n_conns && queued == 0)
			break;
		if (interval) { /* due times march on at the fixed rate */
			while (next_due <= t && next_due < t_end) {
				queued++;
				next_due += interval;
			}
		}
		/* A request due before t_end goes out even if seen after it. */
		while (n_idle > 0 && (interval ? queued > 0 : t < t_end)) {
			struct conn *c = &l->conns[idle[--n_idle]];
			int64_t due = interval ? next_due - queued * interval : t;
			queued -= interval ? 1 : 0;
			conn_send(l, c, due);
		}
		int64_t wait_ns = interval && next_due < t_end ? next_due - now_ns() : 1000000;
		struct timespec to = {0, wait_ns > 0 ? wait_ns : 0};
		int n = epoll_pwait2(l->epfd, evs, MAX_CONNS, &to, NULL);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & EPOLLOUT)
				conn_flush(c);
			if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
			    conn_read(l, c, t_end, measuring) && !c->busy)
				idle[n_idle++] = (int)(c - l->conns);
		}
	}
	for (int i = 0; i < l->n_conns; i++)
		if (l->conns[i].busy && measuring) /* never answered */
			l->errors++, l->conns[i].busy = 0;
	if (interval && measuring)
		l->errors += queued; /* due but never sent: the client could not keep up */
}

int main(int argc, char **argv)
{
	static struct load l;
	double rate = 0, seconds = 10, warmup = 1;
	long long members = 10000;
	const char *trace = NULL;
	l.n_conns = 64, l.mode = "commit";
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port")) l.port = atoi(v);
		else if (!strcmp(k, "--key")) l.key = v;
		else if (!strcmp(k, "--mode")) l.mode = v;
		else if (!strcmp(k, "--connections")) l.n_conns = atoi(v);
		else if (!strcmp(k, "--seconds")) seconds = atof(v);
		else if (!strcmp(k, "--rate")) rate = atof(v);
		else if (!strcmp(k, "--members")) members = atoll(v);
		else if (!strcmp(k, "--warmup")) warmup = atof(v);
		else if (!strcmp(k, "--trace")) trace = v;
		else { fprintf(stderr, "load: unknown option %s\n", k); return 2; }
	}
	int commit = strcmp(l.mode, "commit") == 0;
	if (!l.port || !l.key || l.n_conns < 1 || l.n_conns > MAX_CONNS || members < 1 ||
	    seconds <= 0 || (!commit && strcmp(l.mode, "quote") != 0)) {
		fprintf(stderr, "usage: load --port P --key KEY [--mode commit|quote] "
				"[--connections C<=1024] [--seconds S] [--rate R] [--members N]\n");
		return 2;
	}
	snprintf(l.tag, sizeof l.tag, "L%05x%06x", (unsigned)(time(NULL) & 0xfffff),
		 (unsigned)(getpid() & 0xffffff));
	build_pool(&l, (size_t)members, commit);
	l.epfd = epoll_create1(0);
	l.conns = calloc((size_t)l.n_conns, sizeof *l.conns);
	for (int i = 0; i < l.n_conns; i++)
		conn_open(&l, &l.conns[i]);
	int64_t t0 = now_ns();
	if (warmup > 0) /* closed loop, not counted: connections up, caches warm */
		drive(&l, 0, t0, t0 + (int64_t)(warmup * 1e9), 0);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = l.t0 = now_ns();
	int64_t t_end = t0 + (int64_t)(seconds * 1e9);
	drive(&l, rate, t0, t_end, 1);
	getrusage(RUSAGE_SELF, &ru1);
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
			      ru0.ru_stime.tv_sec) +
		     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
			      ru0.ru_stime.tv_usec) / 1e6;
	if (trace)
		write_trace(&l, trace);
	qsort(l.lat, l.n_lat, sizeof *l.lat, cmp64);
	double p50 = l.n_lat ? (double)l.lat[l.n_lat / 2] / 1e6 : 0;
	double p99 = l.n_lat ? (double)l.lat[(size_t)((double)l.n_lat * 0.99)] / 1e6 : 0;
	double mx = l.n_lat ? (double)l.lat[l.n_lat - 1] / 1e6 : 0;
	char target[32] = "max";
	if (rate > 0)
		snprintf(target, sizeof target, "%.0f/s", rate);
	printf("| %s %s | %d | %s | %lld | %lld | %.0f | %.2f | %.2f | %.2f | %.0f%% |\n",
	       l.mode, rate > 0 ? "open" : "closed", l.n_conns, target, l.ok, l.errors, (double)l.ok / seconds, p50, p99,
	       mx, 100.0 * cpu / seconds);
	printf("result: mode=%s rate=%.0f per_s=%.0f ok=%lld errors=%lld p50_ms=%.2f "
	       "p99_ms=%.2f max_ms=%.2f s201=%lld s200=%lld\n", l.mode, rate,
	       (double)l.ok / seconds, l.ok, l.errors, p50, p99, mx, l.s2xx[1], l.s2xx[0]);
	return 0;
}
