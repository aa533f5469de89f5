/*
 * engine.c — in-process commit throughput of the engine, and beside it the
 * ceiling: raw SQLite inserts of the same rows on the same database.
 *
 * Usage: engine --db FILE [--members N] [--threads T] [--inflight N]
 *               [--seconds S] [--seed S]
 *
 * Phase 1 (engine): T threads call kp_engine_purchase_commit on workload.h
 * baskets for S seconds, each waiting for its purchase; or, with --inflight
 * N, T threads hand purchases over with kp_engine_purchase_commit_async and
 * keep N of them in the writer at once, as the HTTP server does with its
 * connections. The writer's group commit batches them, each batch one
 * transaction, answered once its sync thread has synced the WAL after it
 * (writer.h). The engine's own counters give the average number of
 * purchases per transaction, measured, not assumed.
 *
 * Phase 2 (ceiling): one thread, one plain SQLite connection with the
 * engine's settings (WAL, foreign keys, 64 MiB cache) and the same
 * durability — each transaction synced before the next begins
 * (synchronous=FULL) — on the same database, so the same tables, indexes
 * and sizes, inserts per purchase what a commit stores: the purchase row
 * with its answer text, its lines, its lot, its transfer and the member's
 * balance update, in transactions of the measured batch size. No rules, no
 * reads, no ledger: the rows alone. The rows are consistent (verify still
 * holds). The engine can pass this "ceiling": its writer computes the next
 * batch while the last one is synced, and one thread here cannot.
 *
 * Beside the rates, the CPU time each of the engine's threads used in phase
 * 1 (by their names, /proc/self/task), per purchase: on a shared, noisy
 * machine the rate of one run swings by a third, while the writer's CPU per
 * purchase, the cost that bounds the rate once the writer is busy, moves
 * less; compare changes by it. And what they wrote per purchase: the
 * writer's writes are the WAL, the checkpointer's the database file.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "ledger/ledger.h"
#include "store/lines_json.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "workload.h"

#define MAX_THREADS 256

/* ---- CPU time and writes by thread ------------------------------------- */

/* The threads of interest, by the names the engine gives them. */
static const char *const usage_threads[] = {"kp-writer", "kp-sync", "kp-checkpoint"};
enum { U_WRITER, U_SYNC, U_CHECKPOINT, U_PROCESS, U_N };

/* What threads have used: CPU seconds (user + system), and bytes they
 * wrote to files (wchar: what reached the page cache, not the disk). */
struct usage {
	double cpu_s, written;
};

/* The number after "key" in the file at path, or 0. */
static double field_after(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[256];
	double v = 0;
	size_t len = strlen(key);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, len) == 0) {
			v = strtod(line + len, NULL);
			break;
		}
	fclose(f);
	return v;
}

/* The usage of this process's threads called name. */
static struct usage threads_usage(const char *name)
{
	struct usage u = {0};
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return u;
	struct dirent *t;
	while ((t = readdir(d))) {
		char path[300], comm[32] = "", stat[1024];
		if (t->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", t->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended meanwhile */
		size_t len = strlen(name);
		bool named = fgets(comm, sizeof comm, f) && strncmp(comm, name, len) == 0 &&
			     (comm[len] == '\n' || comm[len] == 0);
		fclose(f);
		snprintf(path, sizeof path, "/proc/self/task/%s/stat", t->d_name);
		if (!named || !(f = fopen(path, "r")))
			continue;
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = 0;
		/* utime and stime: the 12th and 13th fields after the ")" ending comm */
		const char *p = strrchr(stat, ')');
		unsigned long long utime, stime;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime) == 2)
			u.cpu_s += (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
		snprintf(path, sizeof path, "/proc/self/task/%s/io", t->d_name);
		u.written += field_after(path, "wchar:");
	}
	closedir(d);
	return u;
}

static void usage_sample(struct usage out[U_N])
{
	for (int i = 0; i < U_PROCESS; i++)
		out[i] = threads_usage(usage_threads[i]);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	out[U_PROCESS].cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	out[U_PROCESS].written = field_after("/proc/self/io", "wchar:");
}

/* ---- phase 1: the engine ------------------------------------------------ */

struct run {
	struct kp_engine *e;
	struct bench_members members;
	uint64_t seed;
	char tag[16];
	atomic_llong next, ok, failed;
	atomic_bool stop;
	sem_t slots; /* --inflight: purchases that may be in the writer at once */
};

/* Purchase k of the run, in p (its strings live there). */
struct purchase {
	struct run *r;
	struct bench_basket b;
	char receipt[48], who[24], hash[KP_HASH_HEX];
	struct kp_purchase_req req;
	struct kp_why why;
};

static void purchase_make(struct run *r, long long k, struct purchase *p)
{
	struct bench_rng rng;
	bench_rng_seed(&rng, r->seed * 7777777ull + (uint64_t)k);
	bench_basket_make(&p->b, &r->members, &rng);
	snprintf(p->receipt, sizeof p->receipt, "E-%s-%lld", r->tag, k);
	snprintf(p->who, sizeof p->who, "%lld", (long long)p->b.member);
	snprintf(p->hash, sizeof p->hash, "%064llx", k);
	p->req = (struct kp_purchase_req){
		.receipt_id = p->receipt, .who = KP_REF_MEMBER, .who_value = p->who,
		.partner = "main", .channel = KP_CHANNEL_STORE, .lines = p->b.lines,
		.n_lines = p->b.n_lines, .redeem_points = p->b.redeem_points, .hash = p->hash,
	};
	p->r = r;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each thread commits one purchase at a time and waits for it. */
static void *committer(void *arg)
{
	struct run *r = arg;
	while (!atomic_load(&r->stop)) {
		struct purchase p;
		purchase_make(r, atomic_fetch_add(&r->next, 1), &p);
		char *answer = NULL;
		bool replay = false;
		int rc = kp_engine_purchase_commit(r->e, &p.req, &answer, &replay, &p.why);
		atomic_fetch_add(rc ? &r->failed : &r->ok, 1);
		free(answer);
	}
	return NULL;
}

static void committed(void *arg, int rc, char *answer, bool replay)
{
	struct purchase *p = arg;
	(void)replay;
	atomic_fetch_add(rc ? &p->r->failed : &p->r->ok, 1);
	free(answer);
	sem_post(&p->r->slots);
	free(p);
}

/* --inflight: hand purchases over without waiting, as the HTTP server does,
 * keeping up to the slots' number in the writer at once. */
static void *feeder(void *arg)
{
	struct run *r = arg;
	while (!atomic_load(&r->stop)) {
		sem_wait(&r->slots);
		struct purchase *p = malloc(sizeof *p);
		if (!p) {
			atomic_fetch_add(&r->failed, 1);
			sem_post(&r->slots);
			continue;
		}
		purchase_make(r, atomic_fetch_add(&r->next, 1), p);
		kp_engine_purchase_commit_async(r->e, &p->req, &p->why, committed, p);
	}
	return NULL;
}

struct result {
	double per_s, batch, seconds;
	long long ok, failed;
	double cpu_us[U_N], written_kib[U_N]; /* per purchase, by thread (phase 1) */
};

static int run_engine(struct run *r, const char *db, int threads, int inflight, double seconds,
		      struct result *out)
{
	struct kp_engine_config cfg = {.db = db};
	struct kp_why why = {{0}};
	int rc = kp_engine_open(&cfg, &r->e, &why);
	if (rc) {
		fprintf(stderr, "engine: %s: %s\n", db, why.text[0] ? why.text : kp_strerror(rc));
		return rc;
	}
	pthread_t th[MAX_THREADS];
	struct kp_engine_stats before, after;
	kp_engine_stats(r->e, &before);
	struct usage before_u[U_N], after_u[U_N];
	usage_sample(before_u);
	double t0 = now_s();
	sem_init(&r->slots, 0, (unsigned)inflight);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, inflight ? feeder : committer, r);
	struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	atomic_store(&r->stop, true);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < inflight; i++) /* every purchase handed over has its answer */
		sem_wait(&r->slots);
	sem_destroy(&r->slots);
	double t = now_s() - t0;
	usage_sample(after_u);
	kp_engine_stats(r->e, &after);
	long long commits = (long long)(after.commits - before.commits);
	kp_engine_close(r->e);
	out->ok = atomic_load(&r->ok), out->failed = atomic_load(&r->failed);
	out->seconds = t;
	out->per_s = (double)out->ok / t;
	out->batch = commits > 0 ? (double)(out->ok + out->failed) / (double)commits : 1;
	long long done = out->ok + out->failed;
	for (int i = 0; done && i < U_N; i++) {
		out->cpu_us[i] = (after_u[i].cpu_s - before_u[i].cpu_s) * 1e6 / (double)done;
		out->written_kib[i] = (after_u[i].written - before_u[i].written) / 1024 / (double)done;
	}
	return 0;
}

/* ---- phase 2: raw inserts of the same rows ------------------------------ */

static const char *const raw_sql[] = {
	"INSERT INTO purchases (partner, receipt_id, member_id, program_version, at, "
	"request_hash, subtotal, discount, points_redeemed, certificates, to_pay, "
	"points_earned, earn_lot_id, answer, spend, lines) "
	"VALUES ('main', ?, ?, 1, ?, ?, ?, 0, 0, 0, ?, ?, ?, ?, ?, ?)",
	"INSERT INTO lots (id, member_id, points, remaining, expires_at, available_at, pending, "
	"purchase_id, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
	"INSERT INTO transfers (at, member_id, entry, from_acc, to_acc, points, lot_id, "
	"purchase_id, ref) VALUES (?, ?, 1, 1, 4, ?, ?, ?, ?)",
	"UPDATE members SET available = available + ?, lifetime_spend = lifetime_spend + ? "
	"WHERE id = ?",
	"SELECT coalesce(max(id), 0) FROM lots",
	"SELECT coalesce(max(id), 0) FROM purchases",
};
enum { R_PURCHASE, R_LOT, R_TRANSFER, R_MEMBER, R_MAX_LOT, R_MAX_PURCHASE, R_N };

struct raw {
	sqlite3 *db;
	sqlite3_stmt *st[R_N];
	int64_t lot_id, purchase_id;
};

static int step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

static int64_t scalar(sqlite3_stmt *st)
{
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return v;
}

/* One purchase's rows, as a commit stores them: 5% earned, no discount, no redemption. */
static int raw_purchase(struct raw *w, const struct bench_basket *b, const char *receipt,
			int64_t now)
{
	static const char answer_pad[] = "{\"applied\":[\"base\"],\"balance\":{\"available\":0,"
		"\"pending\":0},\"certificates\":0,\"discount\":0,\"status\":\"committed\"}";
	int64_t subtotal = 0, earned = 0;
	struct kp_purchase_line_row rows[BENCH_MAX_LINES] = {0};
	for (size_t i = 0; i < b->n_lines; i++) {
		int64_t amount = b->lines[i].qty * b->lines[i].price;
		rows[i] = (struct kp_purchase_line_row){
			.line_no = (int64_t)i, .qty = b->lines[i].qty, .price = b->lines[i].price,
			.amount = amount, .paid = amount,
			.earned = amount * 5 / 10000, /* 5% of the money, in points of 1.00 */
		};
		kp_strcopy(rows[i].sku, sizeof rows[i].sku, b->lines[i].sku);
		kp_strcopy(rows[i].category, sizeof rows[i].category, b->lines[i].category);
		subtotal += amount;
		earned += rows[i].earned;
	}
	/* the lines in the purchase's row, in the text the engine stores */
	char *lines = kp_lines_json(rows, b->n_lines);
	if (!lines)
		return SQLITE_NOMEM;
	int64_t pid = ++w->purchase_id, lot = earned > 0 ? ++w->lot_id : 0;
	char answer[2048], hash[KP_HASH_HEX];
	/* an answer of the size the engine stores: ~180 bytes a line plus the totals */
	int n = snprintf(answer, sizeof answer, "%s", answer_pad);
	for (size_t i = 0; i < b->n_lines && n < 1800; i++)
		n += snprintf(answer + n, sizeof answer - (size_t)n, "%-160s", b->lines[i].sku);
	snprintf(hash, sizeof hash, "%064llx", (long long)pid);
	sqlite3_stmt *s = w->st[R_PURCHASE];
	sqlite3_bind_text(s, 1, receipt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, b->member);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, subtotal);
	sqlite3_bind_int64(s, 6, subtotal);
	sqlite3_bind_int64(s, 7, earned);
	lot ? sqlite3_bind_int64(s, 8, lot) : sqlite3_bind_null(s, 8);
	sqlite3_bind_text(s, 9, answer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, subtotal);
	sqlite3_bind_text(s, 11, lines, -1, SQLITE_STATIC);
	int rc = step(s);
	free(lines);
	if (!rc && sqlite3_last_insert_rowid(w->db) != pid)
		return SQLITE_MISMATCH;
	if (!rc && lot) {
		s = w->st[R_LOT];
		sqlite3_bind_int64(s, 1, lot);
		sqlite3_bind_int64(s, 2, b->member);
		sqlite3_bind_int64(s, 3, earned);
		sqlite3_bind_int64(s, 4, earned);
		sqlite3_bind_int64(s, 5, now + 365 * 86400);
		sqlite3_bind_int64(s, 6, now);
		sqlite3_bind_int64(s, 7, pid);
		sqlite3_bind_int64(s, 8, now);
		rc = step(s);
		s = w->st[R_TRANSFER];
		sqlite3_bind_int64(s, 1, now);
		sqlite3_bind_int64(s, 2, b->member);
		sqlite3_bind_int64(s, 3, earned);
		sqlite3_bind_int64(s, 4, lot);
		sqlite3_bind_int64(s, 5, pid);
		sqlite3_bind_text(s, 6, receipt, -1, SQLITE_STATIC);
		rc = rc ? rc : step(s);
	}
	s = w->st[R_MEMBER];
	sqlite3_bind_int64(s, 1, earned);
	sqlite3_bind_int64(s, 2, subtotal);
	sqlite3_bind_int64(s, 3, b->member);
	return rc ? rc : step(s);
}

static int run_raw(struct run *r, const char *db, double seconds, int batch, struct result *out)
{
	struct raw w = {0};
	int rc = sqlite3_open(db, &w.db);
	if (!rc)
		rc = sqlite3_exec(w.db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
				  "PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"
				  "PRAGMA busy_timeout = 5000;", NULL, NULL, NULL);
	for (int i = 0; !rc && i < R_N; i++)
		rc = sqlite3_prepare_v2(w.db, raw_sql[i], -1, &w.st[i], NULL);
	if (rc) {
		fprintf(stderr, "engine: raw: %s\n", sqlite3_errmsg(w.db));
		sqlite3_close(w.db);
		return rc;
	}
	w.lot_id = scalar(w.st[R_MAX_LOT]);
	w.purchase_id = scalar(w.st[R_MAX_PURCHASE]);
	long long done = 0, k = 0;
	double t0 = now_s(), t = 0;
	while (!rc && (t = now_s() - t0) < seconds) {
		rc = sqlite3_exec(w.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		int64_t now = (int64_t)time(NULL);
		for (int i = 0; !rc && i < batch; i++, k++) {
			struct bench_rng rng;
			struct bench_basket b;
			char receipt[48];
			bench_rng_seed(&rng, r->seed * 7777777ull + (uint64_t)k);
			bench_basket_make(&b, &r->members, &rng);
			snprintf(receipt, sizeof receipt, "W-%s-%lld", r->tag, k);
			rc = raw_purchase(&w, &b, receipt, now);
		}
		rc = rc ? rc : sqlite3_exec(w.db, "COMMIT", NULL, NULL, NULL);
		done += rc ? 0 : batch;
	}
	if (rc)
		fprintf(stderr, "engine: raw: %s\n", sqlite3_errmsg(w.db));
	for (int i = 0; i < R_N; i++)
		sqlite3_finalize(w.st[i]);
	sqlite3_close(w.db);
	out->ok = done, out->failed = 0, out->seconds = t, out->batch = batch;
	out->per_s = (double)done / t;
	return rc;
}

static long long arg_ll(const char *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || x < 0) {
		fprintf(stderr, "engine: bad number %s\n", v);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	const char *db = NULL;
	long long members = 10000, threads = 64, seconds = 10, seed = 2, inflight = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--db")) db = v;
		else if (!strcmp(k, "--members")) members = arg_ll(v);
		else if (!strcmp(k, "--threads")) threads = arg_ll(v);
		else if (!strcmp(k, "--seconds")) seconds = arg_ll(v);
		else if (!strcmp(k, "--seed")) seed = arg_ll(v);
		else if (!strcmp(k, "--inflight")) inflight = arg_ll(v);
		else { fprintf(stderr, "engine: unknown option %s\n", k); return 2; }
	}
	if (!db || members < 1 || threads < 1 || threads > MAX_THREADS || seconds < 1 ||
	    inflight > 100000) {
		fprintf(stderr, "usage: engine --db FILE [--members N] [--threads T<=256] "
				"[--inflight N] [--seconds S] [--seed S]\n");
		return 2;
	}
	static struct run r;
	r.seed = (uint64_t)seed;
	snprintf(r.tag, sizeof r.tag, "%lx%x", (long)time(NULL), (unsigned)getpid());
	if (bench_members_init(&r.members, (size_t)members, 1)) /* seed 1: gen's weights */
		return 1;
	struct result eng = {0}, raw = {0};
	if (run_engine(&r, db, (int)threads, (int)inflight, (double)seconds, &eng))
		return 1;
	int batch = (int)(eng.batch + 0.5);
	if (run_raw(&r, db, (double)seconds, batch < 1 ? 1 : batch, &raw))
		return 1;
	bench_members_release(&r.members);
	printf("| in-process commit | threads | in flight | purchases | failed | seconds "
	       "| purchases/s | purchases per transaction |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	printf("| engine (%s) | %lld | %lld | %lld | %lld | %.1f | %.0f | %.1f |\n",
	       inflight ? "kp_engine_purchase_commit_async" : "kp_engine_purchase_commit", threads,
	       inflight ? inflight : threads, eng.ok, eng.failed, eng.seconds, eng.per_s, eng.batch);
	printf("| raw SQLite inserts, same rows | 1 | 1 | %lld | 0 | %.1f | %.0f | %d |\n", raw.ok,
	       raw.seconds, raw.per_s, batch);
	printf("| engine / raw | | | | | | %.2f | |\n", eng.per_s / raw.per_s);
	printf("\n| engine, per purchase | writer | sync | checkpointer | whole process |\n");
	printf("|---|---:|---:|---:|---:|\n");
	printf("| CPU µs | %.1f | %.1f | %.1f | %.1f |\n", eng.cpu_us[U_WRITER], eng.cpu_us[U_SYNC],
	       eng.cpu_us[U_CHECKPOINT], eng.cpu_us[U_PROCESS]);
	/* the writer writes the WAL, the checkpointer the database file */
	printf("| KiB written | %.1f | %.1f | %.1f | %.1f |\n", eng.written_kib[U_WRITER],
	       eng.written_kib[U_SYNC], eng.written_kib[U_CHECKPOINT], eng.written_kib[U_PROCESS]);
	printf("result: engine_per_s=%.0f raw_per_s=%.0f batch=%.1f ratio=%.3f failed=%lld "
	       "writer_us=%.1f checkpointer_us=%.1f process_us=%.1f wal_kib=%.1f\n",
	       eng.per_s, raw.per_s, eng.batch, eng.per_s / raw.per_s, eng.failed,
	       eng.cpu_us[U_WRITER], eng.cpu_us[U_CHECKPOINT], eng.cpu_us[U_PROCESS],
	       eng.written_kib[U_WRITER]);
	return eng.failed ? 1 : 0;
}
