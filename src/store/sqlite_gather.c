/*
 * sqlite_gather.c — the gathering VFS of sqlite_gather.h.
 */
#include "store/sqlite_gather.h"

#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_HEADER_BYTES 24 /* the WAL file format's frame header */
#define PAGE_BYTES 4096 /* the kernel's: a write into part of one zeroes the rest */
#define WRITE_BYTES (124 * 1024) /* at most, in one call of the wrapped VFS */
#define FIRST_BUFFER_BYTES (256 * 1024)
/* A batch of a few hundred purchases writes a few MiB of frames: most
 * commits fit whole; a larger one is written out each time this much has
 * gathered. */
#define MAX_BUFFER_BYTES (8 * 1024 * 1024)

struct gather_file {
	sqlite3_file file; /* first: SQLite's pointer to the file is one to this */
	sqlite3_file *base; /* the wrapped VFS's file, in the same allocation */
	unsigned char *buf;
	size_t len, cap;
	sqlite3_int64 start; /* the file offset of buf[0] */
	bool after_commit_header; /* the last write was a commit frame's header */
};

/* The wrapped file sits after ours, aligned as malloc would align it. */
#define BASE_OFFSET ((sizeof(struct gather_file) + 15) & ~(size_t)15)

static sqlite3_vfs *base_vfs(sqlite3_vfs *vfs)
{
	return vfs->pAppData;
}

static int flush(struct gather_file *f)
{
	/* In parts: SQLite's unix VFS writes at most 128 KiB - 1 bytes a call
	 * (it masks the length, os_unix.c seekAndWriteFd). Each part ends on a
	 * page of the file, so that only the first and last are partial. */
	int rc = SQLITE_OK;
	for (size_t done = 0; rc == SQLITE_OK && done < f->len;) {
		sqlite3_int64 at = f->start + (sqlite3_int64)done;
		sqlite3_int64 end = (at + WRITE_BYTES) & ~(sqlite3_int64)(PAGE_BYTES - 1);
		size_t n = (size_t)(end - at) < f->len - done ? (size_t)(end - at) : f->len - done;
		rc = f->base->pMethods->xWrite(f->base, f->buf + done, (int)n, at);
		done += n;
	}
	/* Written or not, the bytes are gone from the buffer: a failed write
	 * fails SQLite's transaction, which never counts those frames. */
	f->len = 0;
	return rc;
}

/* Room for n more bytes after the buffered ones, or false (write directly). */
static bool make_room(struct gather_file *f, size_t n)
{
	if (f->len + n <= f->cap)
		return true;
	if (f->len + n > MAX_BUFFER_BYTES)
		return false;
	size_t cap = f->cap ? f->cap : FIRST_BUFFER_BYTES;
	while (cap < f->len + n)
		cap *= 2;
	unsigned char *buf = realloc(f->buf, cap);
	if (!buf)
		return false;
	f->buf = buf;
	f->cap = cap;
	return true;
}

static bool is_commit_header(const void *data, int n)
{
	const unsigned char *p = data;
	return n == FRAME_HEADER_BYTES && (p[4] | p[5] | p[6] | p[7]) != 0;
}

static int g_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 offset)
{
	struct gather_file *f = (struct gather_file *)file;
	assert(n >= 0 && n <= WRITE_BYTES); /* a frame's page is 64 KiB at most */
	int rc = SQLITE_OK;
	if (f->len > 0 && offset != f->start + (sqlite3_int64)f->len)
		rc = flush(f);
	if (rc == SQLITE_OK && !make_room(f, (size_t)n)) {
		rc = flush(f);
		if (rc == SQLITE_OK && !make_room(f, (size_t)n)) {
			f->after_commit_header = false;
			return f->base->pMethods->xWrite(f->base, data, n, offset);
		}
	}
	if (rc != SQLITE_OK)
		return rc;
	if (f->len == 0)
		f->start = offset;
	memcpy(f->buf + f->len, data, (size_t)n);
	f->len += (size_t)n;
	bool commit_page = f->after_commit_header;
	f->after_commit_header = is_commit_header(data, n);
	return commit_page ? flush(f) : SQLITE_OK;
}

static int g_close(sqlite3_file *file)
{
	struct gather_file *f = (struct gather_file *)file;
	int rc = flush(f);
	int closed = f->base->pMethods->xClose(f->base);
	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	return rc != SQLITE_OK ? rc : closed;
}

static int g_read(sqlite3_file *file, void *data, int n, sqlite3_int64 offset)
{
	struct gather_file *f = (struct gather_file *)file;
	int rc = flush(f);
	return rc != SQLITE_OK ? rc : f->base->pMethods->xRead(f->base, data, n, offset);
}

static int g_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct gather_file *f = (struct gather_file *)file;
	int rc = flush(f);
	return rc != SQLITE_OK ? rc : f->base->pMethods->xTruncate(f->base, size);
}

static int g_sync(sqlite3_file *file, int flags)
{
	struct gather_file *f = (struct gather_file *)file;
	int rc = flush(f);
	return rc != SQLITE_OK ? rc : f->base->pMethods->xSync(f->base, flags);
}

static int g_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct gather_file *f = (struct gather_file *)file;
	int rc = flush(f);
	return rc != SQLITE_OK ? rc : f->base->pMethods->xFileSize(f->base, size);
}

static int g_lock(sqlite3_file *file, int level)
{
	struct gather_file *f = (struct gather_file *)file;
	return f->base->pMethods->xLock(f->base, level);
}

static int g_unlock(sqlite3_file *file, int level)
{
	struct gather_file *f = (struct gather_file *)file;
	return f->base->pMethods->xUnlock(f->base, level);
}

static int g_check_reserved_lock(sqlite3_file *file, int *out)
{
	struct gather_file *f = (struct gather_file *)file;
	return f->base->pMethods->xCheckReservedLock(f->base, out);
}

static int g_file_control(sqlite3_file *file, int op, void *arg)
{
	/* Some act on the file (a size hint extends it): they see it written. */
	struct gather_file *f = (struct gather_file *)file;
	int rc = flush(f);
	return rc != SQLITE_OK ? rc : f->base->pMethods->xFileControl(f->base, op, arg);
}

static int g_sector_size(sqlite3_file *file)
{
	struct gather_file *f = (struct gather_file *)file;
	return f->base->pMethods->xSectorSize(f->base);
}

static int g_device_characteristics(sqlite3_file *file)
{
	struct gather_file *f = (struct gather_file *)file;
	return f->base->pMethods->xDeviceCharacteristics(f->base);
}

/* Version 1: a WAL file is never memory-mapped nor given shared memory. */
static const sqlite3_io_methods gather_methods = {
	.iVersion = 1,
	.xClose = g_close,
	.xRead = g_read,
	.xWrite = g_write,
	.xTruncate = g_truncate,
	.xSync = g_sync,
	.xFileSize = g_file_size,
	.xLock = g_lock,
	.xUnlock = g_unlock,
	.xCheckReservedLock = g_check_reserved_lock,
	.xFileControl = g_file_control,
	.xSectorSize = g_sector_size,
	.xDeviceCharacteristics = g_device_characteristics,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	sqlite3_vfs *base = base_vfs(vfs);
	/* Any other file is the wrapped VFS's own, in place: our size is larger. */
	if (!(flags & SQLITE_OPEN_WAL))
		return base->xOpen(base, name, file, flags, out_flags);
	struct gather_file *f = (struct gather_file *)file;
	memset(f, 0, sizeof *f);
	f->base = (sqlite3_file *)((char *)file + BASE_OFFSET);
	int rc = base->xOpen(base, name, f->base, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite closes a file that failed to open only if its methods are
		 * set: ours are not, so close the wrapped one here if it is open. */
		if (f->base->pMethods)
			f->base->pMethods->xClose(f->base);
		return rc;
	}
	f->file.pMethods = &gather_methods;
	return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return base_vfs(vfs)->xDelete(base_vfs(vfs), name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return base_vfs(vfs)->xAccess(base_vfs(vfs), name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return base_vfs(vfs)->xFullPathname(base_vfs(vfs), name, n, out);
}

static void *v_dl_open(sqlite3_vfs *vfs, const char *name)
{
	return base_vfs(vfs)->xDlOpen(base_vfs(vfs), name);
}

static void v_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
	base_vfs(vfs)->xDlError(base_vfs(vfs), n, out);
}

static void (*v_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
	return base_vfs(vfs)->xDlSym(base_vfs(vfs), lib, sym);
}

static void v_dl_close(sqlite3_vfs *vfs, void *lib)
{
	base_vfs(vfs)->xDlClose(base_vfs(vfs), lib);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return base_vfs(vfs)->xRandomness(base_vfs(vfs), n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int microseconds)
{
	return base_vfs(vfs)->xSleep(base_vfs(vfs), microseconds);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
	return base_vfs(vfs)->xCurrentTime(base_vfs(vfs), out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return base_vfs(vfs)->xGetLastError(base_vfs(vfs), n, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return base_vfs(vfs)->xCurrentTimeInt64(base_vfs(vfs), out);
}

int kp_sqlite_gather_register(const char *name, const char *base_name)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	assert(name);
	int rc = sqlite3_initialize();
	if (rc != SQLITE_OK)
		return rc;
	pthread_mutex_lock(&lock);
	sqlite3_vfs *base = sqlite3_vfs_find(base_name);
	if (sqlite3_vfs_find(name)) {
		rc = SQLITE_OK; /* registered before */
	} else if (!base) {
		rc = SQLITE_ERROR;
	} else {
		/* Kept for the process's life: SQLite's list of VFSs points to it. */
		sqlite3_vfs *vfs = calloc(1, sizeof *vfs);
		char *copy = strdup(name);
		if (!vfs || !copy) {
			free(vfs);
			free(copy);
			rc = SQLITE_NOMEM;
		} else {
			*vfs = (sqlite3_vfs){
				/* Version 2 at most: the system-call overrides (3) are the
				 * wrapped VFS's to offer, not ours. */
				.iVersion = base->iVersion < 2 ? base->iVersion : 2,
				.szOsFile = (int)BASE_OFFSET + base->szOsFile,
				.mxPathname = base->mxPathname,
				.zName = copy,
				.pAppData = base,
				.xOpen = v_open,
				.xDelete = v_delete,
				.xAccess = v_access,
				.xFullPathname = v_full_pathname,
				.xDlOpen = v_dl_open,
				.xDlError = v_dl_error,
				.xDlSym = v_dl_sym,
				.xDlClose = v_dl_close,
				.xRandomness = v_randomness,
				.xSleep = v_sleep,
				.xCurrentTime = v_current_time,
				.xGetLastError = v_get_last_error,
				.xCurrentTimeInt64 = v_current_time_int64,
			};
			rc = sqlite3_vfs_register(vfs, 0);
			if (rc != SQLITE_OK) {
				free(vfs);
				free(copy);
			}
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

#define GATHER_VFS_NAME "kopilka-gather"

const char *kp_sqlite_gather_vfs(void)
{
	return kp_sqlite_gather_register(GATHER_VFS_NAME, NULL) == SQLITE_OK ? GATHER_VFS_NAME
									     : NULL;
}
