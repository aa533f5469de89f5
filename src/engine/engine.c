/*
 * engine.c — opening and closing the engine, the clock, reader connections,
 * program versions, and small helpers shared by the engine's operations.
 */
#include "engine/engine_int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/timeutil.h"

int kp_why(struct kp_why *why, int err, const char *fmt, ...)
{
	if (why) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why->text, sizeof why->text, fmt, ap);
		va_end(ap);
	}
	return err;
}

int64_t kp_engine_now(struct kp_engine *e)
{
	int64_t t = atomic_load(&e->clock);
	return t == INT64_MIN ? kp_time_now_wall() : t;
}

bool kp_engine_has_test_clock(const struct kp_engine *e)
{
	return e->test_clock;
}

void kp_engine_set_clock(struct kp_engine *e, int64_t now)
{
	assert(e->test_clock);
	atomic_store(&e->clock, now);
}

/* ---- readers ----------------------------------------------------------- */

int reader_acquire(struct kp_engine *e, struct kp_conn **out)
{
	struct reader_pool *p = &e->readers;
	pthread_mutex_lock(&p->lock);
	while (p->n_idle == 0 && p->n_open >= p->max)
		pthread_cond_wait(&p->freed, &p->lock);
	if (p->n_idle > 0) {
		*out = p->idle[--p->n_idle];
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	p->n_open++;
	pthread_mutex_unlock(&p->lock);
	char err[256];
	int rc = kp_store_open(e->db, false, out, err, sizeof err);
	if (rc) {
		fprintf(stderr, "kopilka: reader: %s\n", err);
		pthread_mutex_lock(&p->lock);
		p->n_open--;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->lock);
		return KP_EBUSY;
	}
	return 0;
}

void reader_release(struct kp_engine *e, struct kp_conn *c)
{
	struct reader_pool *p = &e->readers;
	assert(c);
	pthread_mutex_lock(&p->lock);
	assert(p->n_idle < p->max);
	p->idle[p->n_idle++] = c;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

int snapshot_acquire(struct kp_engine *e, struct kp_conn **out)
{
	int rc = reader_acquire(e, out);
	if (rc)
		return rc;
	if ((rc = (*out)->ops->read_begin(*out))) {
		reader_release(e, *out);
		*out = NULL;
	}
	return rc;
}

void snapshot_release(struct kp_engine *e, struct kp_conn *c)
{
	c->ops->rollback(c);
	reader_release(e, c);
}

/* ---- programs ---------------------------------------------------------- */

/* Compile version v's stored document and cache it, unless it is cached; the
 * caller holds programs_lock. */
static int cache_version(struct kp_engine *e, int64_t v, const char *doc)
{
	if (v > MAX_PROGRAM_VERSIONS)
		return KP_ETOOLARGE;
	if (e->programs[v])
		return 0;
	char err[320];
	struct kp_program *p = NULL;
	int rc = kp_rules_program_compile(doc, strlen(doc), &p, err, sizeof err);
	if (!rc) /* published whole: readers look without the lock */
		__atomic_store_n(&e->programs[v], p, __ATOMIC_RELEASE);
	else
		fprintf(stderr, "kopilka: stored program version %lld: %s\n", (long long)v, err);
	return rc;
}

/* Read a stored version (0: the newest) and cache it; the caller holds programs_lock. */
static int load_version(struct kp_engine *e, struct kp_conn *c, int64_t version,
			int64_t *version_out)
{
	char *doc = NULL;
	int64_t v;
	int rc = c->ops->program_get(c, version, &v, &doc);
	if (rc)
		return rc == KP_ENOTFOUND && version == 0 ? KP_ENOPROGRAM : rc;
	rc = cache_version(e, v, doc);
	free(doc);
	if (rc != KP_ETOOLARGE)
		*version_out = v;
	return rc;
}

int kp_engine_program(struct kp_engine *e, int64_t version, const struct kp_program **out,
		      int64_t *version_out)
{
	if (version == 0)
		version = atomic_load(&e->current_version);
	if (version == 0)
		return KP_ENOPROGRAM;
	if (version < 0 || version > MAX_PROGRAM_VERSIONS)
		return KP_ENOTFOUND;
	/* A compiled version never changes or goes away while the engine is
	 * open, so the hot path reads it without the lock. */
	const struct kp_program *compiled = __atomic_load_n(&e->programs[version], __ATOMIC_ACQUIRE);
	if (compiled) {
		*out = compiled;
		if (version_out)
			*version_out = version;
		return 0;
	}
	pthread_mutex_lock(&e->programs_lock);
	int rc = 0;
	if (!e->programs[version]) {
		struct kp_conn *c;
		int64_t v;
		rc = reader_acquire(e, &c);
		if (!rc) {
			rc = load_version(e, c, version, &v);
			reader_release(e, c);
		}
	}
	*out = e->programs[version];
	pthread_mutex_unlock(&e->programs_lock);
	if (version_out)
		*version_out = version;
	return rc;
}

struct program_put_job {
	const char *doc;
	int64_t now;
	int64_t version;
};

static int program_put_run(struct kp_conn *c, void *arg)
{
	struct program_put_job *j = arg;
	return c->ops->program_insert(c, j->doc, j->now, &j->version);
}

int kp_engine_program_put(struct kp_engine *e, const char *doc, size_t len, int64_t *version,
			  struct kp_why *why)
{
	struct kp_program *p;
	int rc = kp_rules_program_compile(doc, len, &p, why->text, sizeof why->text);
	if (rc)
		return rc;
	char *text = strndup(doc, len);
	if (!text) {
		kp_rules_program_free(p);
		return KP_ENOMEM;
	}
	struct program_put_job j = {.doc = text, .now = kp_engine_now(e)};
	rc = kp_writer_submit(e->writer, program_put_run, &j);
	free(text);
	if (rc || j.version > MAX_PROGRAM_VERSIONS) {
		kp_rules_program_free(p);
		return rc ? rc : kp_why(why, KP_ETOOLARGE, "too many program versions");
	}
	pthread_mutex_lock(&e->programs_lock);
	if (e->programs[j.version]) /* a reader asked for it by number first */
		kp_rules_program_free(p);
	else
		__atomic_store_n(&e->programs[j.version], p, __ATOMIC_RELEASE);
	if (j.version > atomic_load(&e->current_version)) /* the watcher may have seen it first */
		atomic_store(&e->current_version, j.version);
	pthread_mutex_unlock(&e->programs_lock);
	*version = j.version;
	return 0;
}

int kp_engine_program_get(struct kp_engine *e, int64_t *version, char **doc)
{
	int64_t current = atomic_load(&e->current_version);
	if (current == 0)
		return KP_ENOPROGRAM;
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	rc = c->ops->program_get(c, current, version, doc);
	reader_release(e, c);
	return rc;
}

/* ---- the checkpointer ---------------------------------------------------- */

#define CHECKPOINT_EVERY_MS 50
/*
 * The checkpointer's copies can wait; a purchase's answer cannot. On two
 * busy cores it took CPU from the writer, the sync thread and the request
 * threads: at nice 10 closed-loop commits were faster in 12 pairs of 15
 * (+8.5%), the open loop's tail no worse (docs/performance.md, thirteenth
 * session). If it falls behind, the writer copies the rest at the WAL's
 * bound, as it always could.
 */
#define CHECKPOINT_NICE 10

/* Runs again at once when the store asks (store.h, checkpoint): behind the
 * writer, or near the log's bound. */
static bool checkpoint_tick(void *arg)
{
	struct kp_engine *e = arg;
	bool again = false;
	e->checkpoint_conn->ops->checkpoint(e->checkpoint_conn, KP_WAL_LIMIT_BYTES, &again);
	return again;
}

/* Without a connection of its own the engine runs on: the writer bounds the log itself. */
static int checkpointer_start(struct kp_engine *e)
{
	char err[256];
	if (kp_store_open(e->db, false, &e->checkpoint_conn, err, sizeof err) != 0) {
		fprintf(stderr, "kopilka: checkpointer: %s\n", err);
		e->checkpoint_conn = NULL;
		return 0;
	}
	int rc = kp_ticker_start(&e->checkpointer, "kp-checkpoint", CHECKPOINT_EVERY_MS,
				 CHECKPOINT_NICE, checkpoint_tick, e);
	if (rc) {
		e->checkpoint_conn->ops->close(e->checkpoint_conn);
		e->checkpoint_conn = NULL;
	}
	return rc;
}

static void checkpointer_stop(struct kp_engine *e)
{
	if (!e->checkpoint_conn)
		return;
	kp_ticker_stop(&e->checkpointer);
	bool again;
	e->checkpoint_conn->ops->checkpoint(e->checkpoint_conn, KP_WAL_LIMIT_BYTES,
					    &again); /* the last batches */
	e->checkpoint_conn->ops->close(e->checkpoint_conn);
	e->checkpoint_conn = NULL;
}

/* ---- the program watcher ------------------------------------------------- */

/*
 * How often the engine looks for a program version that another process
 * stored: another server on the same PostgreSQL database, or `kopilka init
 * --program` beside a running server. A version stored here is current at once.
 */
#define PROGRAM_WATCH_MS 2000

static bool program_watch_tick(void *arg)
{
	struct kp_engine *e = arg;
	/* programs_lock before a reader, as kp_engine_program takes them */
	pthread_mutex_lock(&e->programs_lock);
	struct kp_conn *c;
	if (reader_acquire(e, &c) == 0) {
		int64_t newest = 0;
		char *doc = NULL;
		int rc = c->ops->program_get(c, 0, &newest, &doc);
		reader_release(e, c);
		if (!rc && newest > atomic_load(&e->current_version) &&
		    newest != e->program_refused) {
			if (cache_version(e, newest, doc) == 0)
				atomic_store(&e->current_version, newest);
			else
				e->program_refused = newest; /* cache_version said why, once */
		}
		free(doc);
	}
	pthread_mutex_unlock(&e->programs_lock);
	return false;
}

/* ---- open and close ---------------------------------------------------- */

static int open_writer(struct kp_engine *e, const struct kp_engine_config *cfg,
		       struct kp_why *why)
{
	struct kp_conn *c;
	int rc = kp_store_open(cfg->db, true, &c, why->text, sizeof why->text);
	if (rc)
		return rc;
	/* The latest stored version becomes current. */
	int64_t v = 0;
	rc = load_version(e, c, 0, &v);
	if (rc == 0)
		atomic_store(&e->current_version, v);
	else if (rc != KP_ENOPROGRAM) {
		c->ops->close(c);
		return kp_why(why, rc, "cannot load the stored program");
	}
	c->ops->writer_mode(c);
	rc = kp_writer_start(c, cfg->queue_cap ? cfg->queue_cap : 4096,
			     cfg->batch_max ? cfg->batch_max : 512, &e->writer);
	if (rc)
		c->ops->close(c);
	else if (cfg->test_retry)
		kp_writer_lose_first_attempts(e->writer);
	if (!rc)
		rc = checkpointer_start(e);
	return rc ? rc
		  : kp_ticker_start(&e->program_watcher, "kp-watch", PROGRAM_WATCH_MS, 0,
				    program_watch_tick, e);
}

int kp_engine_open(const struct kp_engine_config *cfg, struct kp_engine **out, struct kp_why *why)
{
	assert(cfg && cfg->db && out && why);
	why->text[0] = '\0';
	struct kp_engine *e = calloc(1, sizeof *e);
	if (!e)
		return KP_ENOMEM;
	e->db = strdup(cfg->db);
	e->test_clock = cfg->test_clock;
	atomic_init(&e->clock, INT64_MIN);
	atomic_init(&e->current_version, 0);
	e->readers.max = cfg->readers ? cfg->readers : 32;
	e->readers.idle = calloc(e->readers.max, sizeof *e->readers.idle);
	pthread_mutex_init(&e->readers.lock, NULL);
	pthread_cond_init(&e->readers.freed, NULL);
	pthread_mutex_init(&e->programs_lock, NULL);
	e->keys = key_cache_new();
	int rc = !e->db || !e->readers.idle || !e->keys ? KP_ENOMEM : open_writer(e, cfg, why);
	if (rc) {
		kp_engine_close(e);
		return rc;
	}
	*out = e;
	return 0;
}

void kp_engine_close(struct kp_engine *e)
{
	if (!e)
		return;
	kp_ticker_stop(&e->program_watcher);
	kp_writer_stop(e->writer);
	checkpointer_stop(e);
	key_cache_free(e->keys);
	assert(e->readers.n_idle == e->readers.n_open);
	for (size_t i = 0; i < e->readers.n_idle; i++)
		e->readers.idle[i]->ops->close(e->readers.idle[i]);
	for (size_t v = 0; v <= MAX_PROGRAM_VERSIONS; v++)
		kp_rules_program_free(e->programs[v]);
	pthread_mutex_destroy(&e->readers.lock);
	pthread_cond_destroy(&e->readers.freed);
	pthread_mutex_destroy(&e->programs_lock);
	free(e->readers.idle);
	free(e->db);
	free(e);
}

/* ---- shared helpers ---------------------------------------------------- */

char *json_text(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

json_t *json_parse_stored(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);
	if (!v)
		fprintf(stderr, "kopilka: stored answer is not JSON: %s\n", err.text);
	return v;
}

void member_id_text(int64_t id, char buf[24])
{
	snprintf(buf, 24, "%lld", (long long)id);
}

json_t *balance_json(int64_t available, int64_t pending, int64_t debt)
{
	return json_pack("{sIsI}", "available", (json_int_t)(available + debt), "pending",
			 (json_int_t)pending);
}

void kp_engine_stats(struct kp_engine *e, struct kp_engine_stats *out)
{
	struct kp_writer_stats w;
	kp_writer_stats(e->writer, &w);
	*out = (struct kp_engine_stats){
		.commits = w.commits,
		.jobs = w.jobs,
		.batch_max = w.batch_max,
		.queue_depth = w.queue_depth,
		.rejected = w.rejected,
		.log_syncs = w.syncs,
		.log_sync_failures = w.sync_failures,
		.points_issued = atomic_load(&e->points_issued),
		.points_redeemed = atomic_load(&e->points_redeemed),
	};
}

int parse_cursor(const char *cursor, int64_t *id, struct kp_why *why)
{
	*id = 0;
	if (!cursor || !*cursor)
		return 0;
	char *end;
	long long v = strtoll(cursor, &end, 10);
	if (*end || v <= 0)
		return kp_why(why, KP_EINVAL, "cursor: not a cursor this server gave");
	*id = v;
	return 0;
}

json_t *list_page(json_t *items, bool more, int64_t last_id)
{
	if (!items)
		return NULL;
	char next[24];
	snprintf(next, sizeof next, "%lld", (long long)last_id);
	return json_pack("{s:o,s:s?}", "items", items, "next_cursor", more ? next : NULL);
}
