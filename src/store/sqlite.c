/*
 * sqlite.c — the store on an SQLite file (the embedded default).
 *
 * WAL journal. A committed transaction survives a power cut: the engine's
 * writer commits with synchronous=NORMAL and makes its commits durable with
 * sync_log (an fdatasync of the WAL, on the writer's sync thread) before it
 * answers them; every other connection commits with synchronous=FULL.
 * Foreign keys on; every statement prepared once per connection and reused.
 * Readers on their own connections see the last commit and never block the
 * writer (WAL). See store.h for the contract.
 */
#include "store/sqlite_int.h"
#include "store/sqlite_gather.h"
#include "store/sqlite_pcache.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/migrations.h"
#include "store/pg_open.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

/* Statements only SQLite runs; every other comes from kp_sql_common (sql.h). */
static const char *const sqlite_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_READ_BEGIN] = "BEGIN DEFERRED",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT op",
	[Q_RELEASE] = "RELEASE op",
	[Q_ROLLBACK_TO] = "ROLLBACK TO op",
	/* rows may refer to a purchase written later in the same transaction */
	[Q_DEFER_FK] = "PRAGMA defer_foreign_keys = ON",
};

int sqlite_error(struct sqlite_conn *c, int rc)
{
	assert(rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE);
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return KP_ECONFLICT;
		fprintf(stderr, "sqlite: constraint: %s\n", sqlite3_errmsg(c->db));
		return KP_ESTORE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		return KP_EBUSY;
	default:
		fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(c->db));
		return KP_ESTORE;
	}
}

sqlite3_stmt *sqlite_stmt(struct sqlite_conn *c, enum kp_sql id)
{
	const char *sql = sqlite_sql[id] ? sqlite_sql[id] : kp_sql_common[id];
	assert(id < Q_COUNT && sql);
	sqlite3_stmt *st = c->stmts[id];
	if (!st) {
		int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
					    &st, NULL);
		if (rc != SQLITE_OK) {
			fprintf(stderr, "sqlite: prepare %d: %s\n", id, sqlite3_errmsg(c->db));
			return NULL;
		}
		c->stmts[id] = st;
	}
	return st;
}

/* Bind by a printf-like signature: i = int64_t, s = const char *. */
static int bind_va(sqlite3_stmt *st, const char *sig, va_list ap)
{
	int idx = 1;
	for (const char *p = sig; *p; p++, idx++) {
		int rc;
		if (*p == 'i') {
			rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
		} else {
			assert(*p == 's');
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC)
			       : sqlite3_bind_null(st, idx);
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

sqlite3_stmt *sqlite_bind(struct sqlite_conn *c, enum kp_sql id, const char *sig, ...)
{
	sqlite3_stmt *st = sqlite_stmt(c, id);
	if (!st)
		return NULL;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	va_list ap;
	va_start(ap, sig);
	int rc = bind_va(st, sig, ap);
	va_end(ap);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "sqlite: bind: %s\n", sqlite3_errmsg(c->db));
		return NULL;
	}
	return st;
}

int sqlite_exec_stmt(struct sqlite_conn *c, sqlite3_stmt *st)
{
	if (!st)
		return KP_ESTORE;
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_error(c, rc);
	sqlite3_reset(st);
	return err;
}

int sqlite_step_row(struct sqlite_conn *c, sqlite3_stmt *st)
{
	if (!st)
		return KP_ESTORE;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? KP_ENOTFOUND : sqlite_error(c, rc);
}

void sqlite_copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	kp_strcopy(dst, cap, (const char *)sqlite3_column_text(st, col));
}

char *sqlite_dup_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return strdup(s ? (const char *)s : "");
}

static int exec_sql(struct sqlite_conn *c, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	kp_strcopy(err, errlen, msg ? msg : "sqlite error");
	sqlite3_free(msg);
	return KP_ESTORE;
}

/* An integer pragma's value (user_version, defer_foreign_keys), or -1. */
static int64_t read_int_pragma(struct sqlite_conn *c, const char *sql)
{
	/* Prepared afresh: SQLite puts some pragmas' values into the program
	 * as it compiles it. */
	sqlite3_stmt *st;
	int64_t value = -1;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		value = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return value;
}

/*
 * A new schema version. A migration may rewrite a table's definition where
 * SQLite keeps it (0007), which SQLite does not notice by itself; a new
 * version makes every connection, this one included, read the schema again.
 */
static int bump_schema_version(struct sqlite_conn *c, char *err, size_t errlen)
{
	int64_t version = read_int_pragma(c, "PRAGMA schema_version");
	if (version < 0)
		return KP_ESTORE;
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA schema_version = %lld", (long long)version + 1);
	return exec_sql(c, sql, err, errlen);
}

/* Apply every migration above PRAGMA user_version, each in its own transaction. */
static int migrate(struct sqlite_conn *c, char *err, size_t errlen)
{
	char sql[64];
	for (unsigned i = 0; i < kp_migrations_count; i++) {
		const struct kp_migration *m = &kp_migrations[i];
		assert(m->number == i + 1);
		int64_t version = read_int_pragma(c, "PRAGMA user_version");
		if (version < 0)
			return KP_ESTORE;
		if ((uint64_t)version >= m->number)
			continue;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %u", m->number);
		if (exec_sql(c, "BEGIN IMMEDIATE", err, errlen) || exec_sql(c, m->sql, err, errlen) ||
		    bump_schema_version(c, err, errlen) || exec_sql(c, sql, err, errlen) ||
		    exec_sql(c, "COMMIT", err, errlen)) {
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return KP_ESTORE;
		}
	}
	return 0;
}

static void sqlite_close(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	if (!c)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close(c->db);
	if (c->wal_fd >= 0)
		close(c->wal_fd);
	if (c->db_fd >= 0)
		close(c->db_fd);
	free(c->wal_path);
	free(c);
}

#define BUSY_TIMEOUT_MS 5000
#define RESTART_WAIT_MS 200 /* bound_log: how long the writer waits for readers */

static int configure(struct sqlite_conn *c, bool writer, char *err, size_t errlen)
{
	/* sqlite_error tells a unique-key conflict from other constraints by these */
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	/* Readers are many and read little each: a small cache each. */
	return exec_sql(c,
			writer ? "PRAGMA journal_mode = WAL;"
				 "PRAGMA synchronous = FULL;"
				 "PRAGMA foreign_keys = ON;"
				 "PRAGMA temp_store = MEMORY;"
				 "PRAGMA cache_size = -65536;"
			       : "PRAGMA journal_mode = WAL;"
				 "PRAGMA synchronous = FULL;"
				 "PRAGMA foreign_keys = ON;"
				 "PRAGMA temp_store = MEMORY;"
				 "PRAGMA cache_size = -8192;",
			err, errlen);
}

/* Before SQLite is first initialised: every sqlite3_malloc and sqlite3_free
 * takes one process-wide mutex to keep memory statistics no one reads; and
 * the page cache that spares each commit a walk over the writer's cache
 * (sqlite_pcache.h). Either is SQLITE_MISUSE if too late: harmless. */
static void configure_library(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	kp_sqlite_pcache_install();
}

int sqlite_open(const char *path, bool create, struct kp_conn **out, char *err, size_t errlen)
{
	assert(path && out);
	static pthread_once_t library_once = PTHREAD_ONCE_INIT;
	pthread_once(&library_once, configure_library);
	struct sqlite_conn *c = calloc(1, sizeof *c);
	if (!c)
		return KP_ENOMEM;
	c->base.ops = &kp_sqlite_ops;
	c->wal_fd = c->db_fd = -1;
	c->defer_by_compiling = -1;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	/* kp_sqlite_gather_vfs: a commit reaches the WAL in a few large writes. */
	if (sqlite3_open_v2(path, &c->db, flags, kp_sqlite_gather_vfs()) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite_close(&c->base);
		return KP_ESTORE;
	}
	int rc = configure(c, create, err, errlen);
	if (!rc && create)
		rc = migrate(c, err, errlen);
	if (rc) {
		sqlite_close(&c->base);
		return rc;
	}
	*out = &c->base;
	return 0;
}

/* ---- transactions ------------------------------------------------------ */

#define SIMPLE_STMT(fn, id)                                                   \
	static int fn(struct kp_conn *base)                                   \
	{                                                                     \
		struct sqlite_conn *c = (struct sqlite_conn *)base;           \
		return sqlite_exec_stmt(c, sqlite_bind(c, id, ""));           \
	}
static void forget_ids(struct sqlite_conn *c)
{
	c->next_lot_id = c->next_purchase_id = 0;
}

/*
 * Rows may refer to a purchase written later in the same transaction, so
 * every write transaction defers the foreign keys (SQLite switches that off
 * at each COMMIT and ROLLBACK). Running "PRAGMA defer_foreign_keys = ON"
 * expires every prepared statement of the connection (its program ends in
 * OP_Expire), and each batch then compiled again the twenty-odd statements
 * it ran: 8% of the writer's instructions (docs/performance.md). SQLite
 * applies a flag pragma while it compiles it, so compiling it suffices. The
 * first transaction reads the value back; where compiling did not set it
 * (the pragma documentation leaves the moment to the release), the pragma
 * is run, then and after.
 */
static int defer_foreign_keys(struct sqlite_conn *c)
{
	if (c->defer_by_compiling != 0) {
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(c->db, "PRAGMA defer_foreign_keys = ON", -1, &st,
					    NULL);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK)
			return sqlite_error(c, rc);
		if (c->defer_by_compiling < 0)
			c->defer_by_compiling =
			    read_int_pragma(c, "PRAGMA defer_foreign_keys") == 1;
		if (c->defer_by_compiling)
			return 0;
	}
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_DEFER_FK, ""));
}

static int sqlite_begin(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	forget_ids(c);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_BEGIN, ""));
	return rc ? rc : defer_foreign_keys(c);
}
SIMPLE_STMT(sqlite_read_begin, Q_READ_BEGIN)
SIMPLE_STMT(sqlite_commit, Q_COMMIT)
SIMPLE_STMT(sqlite_savepoint, Q_SAVEPOINT)
SIMPLE_STMT(sqlite_release, Q_RELEASE)
static int sqlite_rollback_to(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	forget_ids(c);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_ROLLBACK_TO, ""));
}

static bool sqlite_in_transaction(struct kp_conn *base)
{
	return sqlite3_get_autocommit(((struct sqlite_conn *)base)->db) == 0;
}

static int64_t sqlite_changes(struct kp_conn *base)
{
	return sqlite3_total_changes64(((struct sqlite_conn *)base)->db);
}

/* SQLite tells the writer the WAL's size after each commit (sqlite3_wal_hook). */
static int note_wal_size(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db, (void)name;
	((struct sqlite_conn *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static void read_page_size(struct sqlite_conn *c)
{
	sqlite3_stmt *st = NULL;
	c->page_size = 4096;
	if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		c->page_size = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
}

static int sqlite_writer_mode(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	sqlite3_wal_autocheckpoint(c->db, 0); /* sets a hook of its own: first */
	sqlite3_wal_hook(c->db, note_wal_size, c);
	read_page_size(c);
	/* An in-memory database has no file name and no WAL to sync. */
	const char *db_path = sqlite3_db_filename(c->db, "main");
	if (db_path && db_path[0] && !c->wal_path) {
		c->wal_path = strdup(sqlite3_filename_wal(db_path));
		if (!c->wal_path)
			return KP_ENOMEM;
	}
	/* Commits write the WAL without waiting for the disk; sync_log, on the
	 * writer's sync thread, makes them durable before they are answered.
	 * When the WAL starts again, its file is cut back to the bound. */
	char sql[128], err[128];
	snprintf(sql, sizeof sql, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = %d",
		 KP_WAL_LIMIT_BYTES);
	return exec_sql(c, sql, err, sizeof err);
}

/* fsync the directory holding path: a file just created is durable only
 * once its name is (SQLite does the same for a new WAL it syncs itself). */
static int sync_directory(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -1;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * The writer's commits leave the WAL in the kernel's page cache; an
 * fdatasync of the file through a descriptor of our own writes it out
 * (durability is the file's, not the descriptor's) without touching the
 * connection, which the writer goes on using. SQLite removes and creates
 * the WAL only when the last connection closes, but a descriptor of a
 * removed file would sync nothing: it is checked against the path each
 * time, and opened again (with its directory synced) if the file changed.
 */
static int sqlite_sync_log(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	if (!c->wal_path)
		return 0;
	struct stat at_path;
	if (stat(c->wal_path, &at_path) != 0) {
		fprintf(stderr, "sqlite: sync: %s: %s\n", c->wal_path, strerror(errno));
		return KP_ESTORE;
	}
	if (c->wal_fd < 0 || at_path.st_dev != c->wal_dev || at_path.st_ino != c->wal_ino) {
		if (c->wal_fd >= 0)
			close(c->wal_fd);
		c->wal_fd = open(c->wal_path, O_RDONLY | O_CLOEXEC);
		struct stat opened;
		if (c->wal_fd < 0 || fstat(c->wal_fd, &opened) != 0 ||
		    sync_directory(c->wal_path) != 0) {
			fprintf(stderr, "sqlite: sync: %s: %s\n", c->wal_path, strerror(errno));
			if (c->wal_fd >= 0)
				close(c->wal_fd);
			c->wal_fd = -1;
			return KP_ESTORE;
		}
		c->wal_dev = opened.st_dev;
		c->wal_ino = opened.st_ino;
	}
	if (fdatasync(c->wal_fd) != 0) {
		fprintf(stderr, "sqlite: sync: %s: %s\n", c->wal_path, strerror(errno));
		return KP_ESTORE;
	}
	return 0;
}

static int sqlite_bound_log(struct kp_conn *base, int64_t limit_bytes)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	assert(c->page_size > 0 && limit_bytes > 0);
	int64_t bytes = c->wal_frames * c->page_size;
	if (bytes <= limit_bytes)
		return 0;
	if (bytes <= 2 * limit_bytes) {
		/* PASSIVE, from the writer: no one appends meanwhile, so it copies
		 * the little the background checkpointer has not (engine.c keeps it
		 * close behind) and the next commit starts the WAL again, unless a
		 * reader still reads old frames. It waits for no lock: busy means
		 * the background one is copying; the next batch tries again. */
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : sqlite_error(c, rc);
	}
	if (c->wal_frames < c->wal_retry_frames)
		return 0;
	/* Twice the bound: readers kept it from starting again. RESTART copies
	 * every frame and waits for those readers, briefly: every purchase
	 * waits with the writer. */
	sqlite3_busy_timeout(c->db, RESTART_WAIT_MS);
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	/* A long read (a report, verify) holds old frames: try again only
	 * when the WAL has grown by another quarter of the bound. */
	c->wal_retry_frames = rc == SQLITE_BUSY ? c->wal_frames + limit_bytes / c->page_size / 4 : 0;
	if (rc == SQLITE_OK)
		c->wal_frames = 0;
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : sqlite_error(c, rc);
}

/*
 * Start the kernel writing out the database pages the checkpoints copied,
 * without waiting and without promising anything (sync_file_range). SQLite
 * syncs the database file only when a checkpoint copies the whole WAL —
 * under steady purchases, only the writer's at the log's bound — and by
 * then every page the background checkpoints had copied since was still in
 * the kernel's cache: that one sync took 110–130 ms, and every purchase
 * waited for it. Each page at most once every WRITEBACK_NS, so that a page
 * copied again and again (a busy index's) is written once in the interval,
 * not each time: after every checkpoint it cost 10–23% of the commits/s;
 * every 250 ms, 3–7%, and the commits' open-loop p99 at 3,600/s fell from
 * 84 ms to 29–44 ms. But the file at once made a burst that the disk's
 * write-back throttling held the checkpointer in for 45–65 ms, and the WAL's
 * syncs queued behind it: so a fifth of the file every fifth of the
 * interval, the same pages written as often in bursts a fifth as large
 * (docs/performance.md).
 */
#define WRITEBACK_NS (250 * 1000 * 1000LL)
#define WRITEBACK_SLICES 5

/* The database file's descriptor, opened on first use; false if there is none. */
static bool open_db_fd(struct sqlite_conn *c)
{
	if (c->db_fd < 0) {
		const char *path = sqlite3_db_filename(c->db, "main");
		if (!path || !path[0])
			return false; /* in memory */
		c->db_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return c->db_fd >= 0;
}

/* The next slice of the file. A round's slices are cut from the file's size
 * at its first, whole pages and at least one, and its last runs to the end
 * of the file however it has grown: each round covers the whole file. */
static void write_back_slice(struct sqlite_conn *c)
{
	if (!open_db_fd(c))
		return;
	if (c->writeback_slice == 0) {
		struct stat st;
		if (fstat(c->db_fd, &st) != 0)
			return;
		c->writeback_slice_bytes = ((st.st_size / WRITEBACK_SLICES) | 4095) + 1;
	}
	off_t from = c->writeback_slice_bytes * c->writeback_slice;
	bool last = c->writeback_slice == WRITEBACK_SLICES - 1;
	sync_file_range(c->db_fd, from, last ? 0 : c->writeback_slice_bytes,
			SYNC_FILE_RANGE_WRITE);
	c->writeback_slice = last ? 0 : c->writeback_slice + 1;
}

/* Further behind the writer than this, the checkpointer goes on at once. */
#define CHECKPOINT_BEHIND_BYTES (1024 * 1024)
/* Near the bound: within this part of it (a sixteenth, 64 MiB of 1 GiB: a few
 * hundred milliseconds of purchases). */
#define CHECKPOINT_NEAR_BOUND 16
/* Calls skipped once the log was seen past its bound (engine.c calls every
 * 50 ms: 200 ms, some tens of the writer's batches). */
#define CHECKPOINT_PAST_BOUND_SKIPS 4

static int sqlite_checkpoint(struct kp_conn *base, int64_t limit_bytes, bool *again)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	assert(limit_bytes > 0);
	*again = false;
	if (c->ckpt_skips > 0) {
		c->ckpt_skips--;
		return 0;
	}
	int frames = 0, copied = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
	if (rc != SQLITE_OK)
		return rc == SQLITE_BUSY ? 0 : sqlite_error(c, rc);
	bool new_frames = frames != c->ckpt_frames;
	c->ckpt_frames = frames;
	/* copied counts the WAL's frames in the database file, old ones too; with
	 * none there is nothing to write back (and once written back, the call
	 * finds nothing dirty and returns at once). */
	int64_t now = kp_time_mono_ns();
	if (copied > 0 && now - c->writeback_ns >= WRITEBACK_NS / WRITEBACK_SLICES) {
		c->writeback_ns = now;
		write_back_slice(c);
	}
	/* Near the bound, the database file synced after each copy: the writer's
	 * copy at the bound syncs it too, and found a quarter of a second of
	 * copies to write out (25–90 ms; 10–28 ms with this at 4,500 purchases/s,
	 * docs/performance.md).
	 * Past the bound the writer copies (bound_log), and its checkpoint finds
	 * this one's busy and tries again after its next batch: this one keeps
	 * out of its way for a few calls, until the writer has started the log
	 * again. Past twice the bound readers keep the log from starting again,
	 * and both copy. */
	if (!c->page_size)
		read_page_size(c);
	int64_t log_bytes = (int64_t)frames * c->page_size;
	bool near_bound = log_bytes > limit_bytes - limit_bytes / CHECKPOINT_NEAR_BOUND &&
			  log_bytes <= limit_bytes;
	if (log_bytes > limit_bytes && log_bytes <= 2 * limit_bytes)
		c->ckpt_skips = CHECKPOINT_PAST_BOUND_SKIPS;
	if (near_bound && new_frames && open_db_fd(c)) {
		if (fdatasync(c->db_fd) != 0) {
			fprintf(stderr, "sqlite: checkpoint: syncing the database: %s\n",
				strerror(errno));
			return KP_ESTORE;
		}
		*again = true;
	}
	/* what the writer appended while this one copied */
	if ((int64_t)(frames - copied) * c->page_size > CHECKPOINT_BEHIND_BYTES)
		*again = true;
	return 0;
}

static int sqlite_rollback(struct kp_conn *base)
{
	struct sqlite_conn *c = (struct sqlite_conn *)base;
	forget_ids(c);
	/* After some errors SQLite has already rolled back; that is fine. */
	if (sqlite3_get_autocommit(c->db))
		return 0;
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_ROLLBACK, ""));
}

const struct kp_store_ops kp_sqlite_ops = {
	.name = "sqlite",
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.savepoint = sqlite_savepoint,
	.release = sqlite_release,
	.rollback_to = sqlite_rollback_to,
	.read_begin = sqlite_read_begin,
	.writer_mode = sqlite_writer_mode,
	.sync_log = sqlite_sync_log,
	.in_transaction = sqlite_in_transaction,
	.changes = sqlite_changes,
	.checkpoint = sqlite_checkpoint,
	.bound_log = sqlite_bound_log,
	.program_insert = sqlite_program_insert,
	.program_get = sqlite_program_get,
	.partner_insert = sqlite_partner_insert,
	.partner_exists = sqlite_partner_exists,
	.key_insert = sqlite_key_insert,
	.key_find = sqlite_key_find,
	.member_insert = sqlite_member_insert,
	.member_get = sqlite_member_get,
	.member_get_id = sqlite_member_get_id,
	.member_ids = sqlite_member_ids,
	.member_set_balances = sqlite_member_set_balances,
	.lots_load = sqlite_lots_load,
	.lots_count_open = sqlite_lots_count_open,
	.lot_next_id = sqlite_lot_next_id,
	.lot_insert = sqlite_lot_insert,
	.lot_update = sqlite_lot_update,
	.transfer_insert = sqlite_transfer_insert,
	.history = sqlite_history,
	.purchase_spent_lots = sqlite_purchase_spent_lots,
	.purchase_find = sqlite_purchase_find,
	.purchase_insert = sqlite_purchase_insert,
	.purchase_next_id = sqlite_purchase_next_id,
	.purchase_set_answer = sqlite_purchase_set_answer,
	.purchase_lines = sqlite_purchase_lines,
	.purchase_set_lines = sqlite_purchase_set_lines,
	.purchase_refunds_json = sqlite_purchase_refunds_json,
	.refund_find = sqlite_refund_find,
	.refund_insert = sqlite_refund_insert,
	.idem_find = sqlite_idem_find,
	.idem_insert = sqlite_idem_insert,
	.verify = sqlite_verify,
	.member_set_tier = sqlite_member_set_tier,
	.member_add_spend = sqlite_member_add_spend,
	.member_spend_since = sqlite_member_spend_since,
	.purchase_add_spend = sqlite_purchase_add_spend,
	.stamp_get = sqlite_stamp_get,
	.stamp_set = sqlite_stamp_set,
	.budget_spent = sqlite_budget_spent,
	.budget_add = sqlite_budget_add,
	.certificate_insert = sqlite_certificate_insert,
	.event_insert = sqlite_event_insert,
	.members_with_due_lots = sqlite_members_with_due_lots,
	.job_period_get = sqlite_job_period_get,
	.job_period_set = sqlite_job_period_set,
	.card_insert = sqlite_card_insert,
	.card_get = sqlite_card_get,
	.card_block = sqlite_card_block,
	.member_set_card = sqlite_member_set_card,
	.member_update = sqlite_member_update,
	.member_erase = sqlite_member_erase,
	.consent_log = sqlite_consent_log,
	.consent_history_json = sqlite_consent_history_json,
	.member_cards_json = sqlite_member_cards_json,
	.bonus_find = sqlite_bonus_find,
	.bonus_insert = sqlite_bonus_insert,
	.bonus_count = sqlite_bonus_count,
	.members_born_on = sqlite_members_born_on,
	.referral_insert = sqlite_referral_insert,
	.referral_get = sqlite_referral_get,
	.referral_update = sqlite_referral_update,
	.referrals_due = sqlite_referrals_due,
	.coupon_insert = sqlite_coupon_insert,
	.coupon_get = sqlite_coupon_get,
	.coupon_member_uses = sqlite_coupon_member_uses,
	.coupon_use = sqlite_coupon_use,
	.coupon_release_purchase = sqlite_coupon_release_purchase,
	.certificate_get = sqlite_certificate_get,
	.certificate_issue = sqlite_certificate_issue,
	.certificate_move = sqlite_certificate_move,
	.certificate_uses = sqlite_certificate_uses,
	.purchase_set_status = sqlite_purchase_set_status,
	.purchase_status = sqlite_purchase_status,
	.purchase_set_earn_lot = sqlite_purchase_set_earn_lot,
	.holds_expired = sqlite_holds_expired,
	.purchase_by_id = sqlite_purchase_by_id,
	.audit = sqlite_audit,
	.partner_get = sqlite_partner_get,
	.partner_update = sqlite_partner_update,
	.partners_list = sqlite_partners_list,
	.key_get_id = sqlite_key_get_id,
	.key_revoke = sqlite_key_revoke,
	.keys_list = sqlite_keys_list,
	.receipt_elsewhere = sqlite_receipt_elsewhere,
	.settlement = sqlite_settlement,
	.ints = sqlite_ints,
	.charity = sqlite_charity,
	.audit_list = sqlite_audit_list,
	.close = sqlite_close,
};

int kp_store_open(const char *uri, bool create, struct kp_conn **out, char *err, size_t errlen)
{
	if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0)
		return pg_open(uri, create, out, err, errlen); /* store/pg.c */
	return sqlite_open(uri, create, out, err, errlen);
}
