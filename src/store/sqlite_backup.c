/*
 * sqlite_backup.c — an online backup of an SQLite database (kp_store_backup).
 *
 * SQLite's backup API copies the database page by page from one read
 * transaction. In WAL mode a reader never blocks the writer, so the server
 * keeps committing while the copy runs, and the copy is the database as of
 * one commit: every transaction in it is whole. The copy is written to
 * "<to>.tmp", checked (PRAGMA quick_check), flushed to disk and renamed to
 * <to>, so <to> is either the old file or a complete backup, never half one.
 */
#include <assert.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/error.h"
#include "util/strcopy.h"

/* The source and the destination must not be the same file. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Copy every page from one snapshot of src into dst. */
static int copy(sqlite3 *src, sqlite3 *dst, char *err, size_t errlen)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		return KP_ESTORE;
	}
	/* One step of every page: a step of some pages would restart whenever the
	 * server commits between steps, and might never finish under load. */
	int rc;
	for (int tries = 0; tries < 600; tries++) {
		rc = sqlite3_backup_step(b, -1);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		sqlite3_sleep(100);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
		return rc == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR ? KP_EBUSY : KP_ESTORE;
	}
	return 0;
}

/* The copy must read back whole; then it leaves WAL for one self-contained file. */
static int check(sqlite3 *dst, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int ok = sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
		 sqlite3_step(st) == SQLITE_ROW &&
		 strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	if (!ok) {
		snprintf(err, errlen, "backup: the copy fails PRAGMA quick_check");
		return KP_ESTORE;
	}
	if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		return KP_ESTORE;
	}
	return 0;
}

static int sync_path(const char *path, int flags)
{
	int fd = open(path, flags);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int kp_store_backup(const char *db, const char *to, char *err, size_t errlen)
{
	assert(db && to && err && errlen > 0);
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", to) >= (int)sizeof tmp) {
		snprintf(err, errlen, "backup: the path is too long");
		return KP_EINVAL;
	}
	struct stat st;
	if (stat(db, &st) != 0) {
		snprintf(err, errlen, "%s: no such database", db);
		return KP_ENOTFOUND;
	}
	if (same_file(db, to)) {
		snprintf(err, errlen, "backup: %s is the database itself", to);
		return KP_EINVAL;
	}
	unlink(tmp);
	sqlite3 *src = NULL, *dst = NULL;
	int rc = KP_ESTORE;
	if (sqlite3_open_v2(db, &src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		    SQLITE_OK) {
		snprintf(err, errlen, "backup: cannot open: %s",
			 sqlite3_errmsg(dst ? dst : src));
		goto out;
	}
	sqlite3_busy_timeout(src, 5000);
	rc = copy(src, dst, err, errlen);
	if (!rc)
		rc = check(dst, err, errlen);
	if (sqlite3_close(dst) != SQLITE_OK && !rc) {
		snprintf(err, errlen, "backup: cannot close %s", tmp);
		rc = KP_ESTORE;
	}
	dst = NULL;
	if (!rc && sync_path(tmp, O_RDONLY) != 0) {
		snprintf(err, errlen, "backup: cannot flush %s to disk", tmp);
		rc = KP_EBUSY;
	}
	if (!rc && rename(tmp, to) != 0) {
		snprintf(err, errlen, "backup: cannot rename %s to %s", tmp, to);
		rc = KP_ESTORE;
	}
	if (!rc) {
		/* the rename itself must survive a power cut: flush the directory */
		char dir[4096];
		kp_strcopy(dir, sizeof dir, to);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		sync_path(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
	}
out:
	sqlite3_close(dst);
	sqlite3_close(src);
	if (rc)
		unlink(tmp);
	return rc;
}
