/*
 * gen.c — the benchmark data set: N members and P purchases of history.
 *
 * Usage: gen --db FILE --program FILE [--members N] [--purchases P]
 *            [--threads T] [--days D] [--seed S]
 *
 * It drives the engine in-process (libkopilka.a), so every row is exactly
 * the row the engine writes — purchases, lines, lots, transfers, balances,
 * tiers, campaign points — and `kopilka verify` holds on the result by
 * construction. The engine runs on its test clock, moved forward through D
 * days as the purchases go, so the history has real ages: expired lots,
 * tier upgrades, weekend multipliers. T threads register the members, then
 * hand purchases to the writer without waiting (GEN_INFLIGHT in the writer
 * at once), so its group commits are large; the database stays WAL with
 * synchronous=FULL (the engine's own setting), which costs little because
 * one fsync covers a whole batch.
 *
 * Writing SQL directly would be faster but would have to re-implement the
 * rules, the ledger and the mechanics and keep them in step with src/;
 * driving the engine cannot drift. The members and purchases follow
 * workload.h.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "util/error.h"
#include "workload.h"

#define MAX_THREADS 256
#define GEN_INFLIGHT 512

struct gen {
	struct kp_engine *e;
	struct bench_members members;
	long long n_members, n_purchases;
	int64_t start, span;        /* the history: [start, start + span) seconds */
	uint64_t seed;
	atomic_llong next_member, next_purchase;
	atomic_llong failed;
	pthread_mutex_t clock_lock;
	int64_t clock;
	pthread_barrier_t barrier;
	sem_t slots;                /* purchases in the writer at once */
	double t0, t_members;       /* start, and when the last member was made */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_members(struct gen *g)
{
	for (;;) {
		long long i = atomic_fetch_add(&g->next_member, 1);
		if (i >= g->n_members)
			return;
		char phone[24], name[32];
		snprintf(phone, sizeof phone, "+79%09lld", i + 1);
		snprintf(name, sizeof name, "Member %lld", i + 1);
		struct kp_member_new m = {.phone = phone, .name = name,
					  .consents = KP_CONSENT_PERSONAL_DATA | KP_CONSENT_SMS};
		json_t *answer = NULL;
		int status = 0;
		struct kp_why why = {{0}};
		if (kp_engine_member_create(g->e, &m, NULL, &answer, &status, &why)) {
			atomic_fetch_add(&g->failed, 1);
			fprintf(stderr, "gen: member %lld: %s\n", i + 1, why.text);
		}
		json_decref(answer);
	}
}

/* Move the test clock to purchase k's time; never backwards. */
static void advance_clock(struct gen *g, long long k)
{
	int64_t t = g->start + (int64_t)((double)g->span * (double)k / (double)g->n_purchases);
	pthread_mutex_lock(&g->clock_lock);
	if (t > g->clock) {
		g->clock = t;
		kp_engine_set_clock(g->e, t);
	}
	pthread_mutex_unlock(&g->clock_lock);
}

/* Purchase k, with the strings its request points to, while the writer has it. */
struct purchase {
	struct gen *g;
	struct bench_basket b;
	char receipt[32], who[24], hash[KP_HASH_HEX];
	struct kp_purchase_req req;
	struct kp_why why;
};

static void committed(void *arg, int rc, char *answer, bool replay)
{
	struct purchase *p = arg;
	(void)replay;
	if (rc) {
		atomic_fetch_add(&p->g->failed, 1);
		fprintf(stderr, "gen: purchase %s: %s %s\n", p->receipt, kp_strerror(rc),
			p->why.text);
	}
	free(answer);
	sem_post(&p->g->slots);
	free(p);
}

/* Hand purchases to the writer without waiting, GEN_INFLIGHT at once in all:
 * big group commits, as the HTTP server makes them from many connections. */
static void make_purchases(struct gen *g)
{
	for (;;) {
		long long k = atomic_fetch_add(&g->next_purchase, 1);
		if (k >= g->n_purchases)
			return;
		if (k % 64 == 0)
			advance_clock(g, k);
		sem_wait(&g->slots);
		struct purchase *p = calloc(1, sizeof *p);
		if (!p) {
			atomic_fetch_add(&g->failed, 1);
			sem_post(&g->slots);
			continue;
		}
		struct bench_rng r;
		bench_rng_seed(&r, g->seed * 1000003ull + (uint64_t)k);
		bench_basket_make(&p->b, &g->members, &r);
		snprintf(p->receipt, sizeof p->receipt, "G-%lld", k + 1);
		snprintf(p->who, sizeof p->who, "%lld", (long long)p->b.member);
		snprintf(p->hash, sizeof p->hash, "%064llx", k + 1);
		p->req = (struct kp_purchase_req){
			.receipt_id = p->receipt, .who = KP_REF_MEMBER, .who_value = p->who,
			.partner = "main", .channel = KP_CHANNEL_STORE, .lines = p->b.lines,
			.n_lines = p->b.n_lines, .redeem_points = p->b.redeem_points,
			.hash = p->hash,
		};
		p->g = g;
		kp_engine_purchase_commit_async(g->e, &p->req, &p->why, committed, p);
	}
}

static void *worker(void *arg)
{
	struct gen *g = arg;
	make_members(g);
	if (pthread_barrier_wait(&g->barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
		g->t_members = now_s();
	make_purchases(g);
	return NULL;
}

static void *progress(void *arg)
{
	struct gen *g = arg;
	double t0 = now_s();
	for (;;) {
		struct timespec ts = {5, 0};
		nanosleep(&ts, NULL);
		long long m = atomic_load(&g->next_member), p = atomic_load(&g->next_purchase);
		if (p >= g->n_purchases)
			return NULL;
		fprintf(stderr, "gen: %.0f s: %lld members, %lld purchases\n", now_s() - t0,
			m < g->n_members ? m : g->n_members, p);
	}
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	*len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (buf)
		buf[*len] = '\0';
	return buf;
}

static long long arg_ll(const char *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || x < 0) {
		fprintf(stderr, "gen: bad number %s\n", v);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	const char *db = NULL, *program = NULL;
	long long members = 10000, purchases = 100000, threads = 64, days = 400, seed = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--db")) db = v;
		else if (!strcmp(k, "--program")) program = v;
		else if (!strcmp(k, "--members")) members = arg_ll(v);
		else if (!strcmp(k, "--purchases")) purchases = arg_ll(v);
		else if (!strcmp(k, "--threads")) threads = arg_ll(v);
		else if (!strcmp(k, "--days")) days = arg_ll(v);
		else if (!strcmp(k, "--seed")) seed = arg_ll(v);
		else { fprintf(stderr, "gen: unknown option %s\n", k); return 2; }
	}
	if (!db || !program || members < 1 || threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "usage: gen --db FILE --program FILE [--members N] "
				"[--purchases P] [--threads T<=256] [--days D] [--seed S]\n");
		return 2;
	}
	static struct gen g;
	g.n_members = members, g.n_purchases = purchases, g.seed = (uint64_t)seed;
	g.span = (int64_t)days * 86400;
	g.start = (int64_t)time(NULL) - g.span;
	g.clock = g.start;
	pthread_mutex_init(&g.clock_lock, NULL);
	pthread_barrier_init(&g.barrier, NULL, (unsigned)threads);
	sem_init(&g.slots, 0, GEN_INFLIGHT);
	if (bench_members_init(&g.members, (size_t)members, (uint64_t)seed)) {
		fprintf(stderr, "gen: out of memory\n");
		return 1;
	}
	struct kp_engine_config cfg = {.db = db, .test_clock = true};
	struct kp_why why = {{0}};
	size_t len = 0;
	char *doc = read_file(program, &len);
	int64_t version = 0;
	int rc = doc ? kp_engine_open(&cfg, &g.e, &why) : KP_EINVAL;
	if (!rc)
		kp_engine_set_clock(g.e, g.start);
	if (!rc && (rc = kp_engine_program_put(g.e, doc, len, &version, &why)))
		kp_engine_close(g.e);
	free(doc);
	if (rc) {
		fprintf(stderr, "gen: %s: %s\n", db, why.text[0] ? why.text : kp_strerror(rc));
		return 1;
	}
	pthread_t th[MAX_THREADS], prog;
	g.t0 = now_s();
	pthread_create(&prog, NULL, progress, &g);
	pthread_detach(prog);
	for (long long i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, &g);
	for (long long i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < GEN_INFLIGHT; i++) /* the last purchases have their answers */
		sem_wait(&g.slots);
	double t_end = now_s();
	kp_engine_close(g.e);
	bench_members_release(&g.members);
	double tm = g.t_members - g.t0, tp = t_end - g.t_members;
	printf("| gen | members | members/s | purchases | purchases/s | threads | days | "
	       "seconds | failed |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	printf("| %s | %lld | %.0f | %lld | %.0f | %lld | %lld | %.1f | %lld |\n", db, members,
	       (double)members / tm, purchases, tp > 0 ? (double)purchases / tp : 0.0, threads,
	       days, t_end - g.t0, (long long)atomic_load(&g.failed));
	return atomic_load(&g.failed) ? 1 : 0;
}
