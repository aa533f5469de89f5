/*
 * sqlite_gather.h — an SQLite VFS that writes a commit's WAL frames in a few
 * large writes instead of two per frame.
 *
 * SQLite appends each frame of a commit to the WAL as two writes, its 24-byte
 * header and its page; a frame is 24 bytes longer than a page, so neither is
 * aligned to the kernel's pages, and each write into a page the file did not
 * yet hold makes the kernel zero the rest of it first: up to a third of the
 * writer's time (docs/performance.md). This VFS wraps another one and,
 * for WAL files only, gathers writes that continue one another in a buffer,
 * written out from the offset of its first byte, in parts of at most 124 KiB
 * that end on the kernel's page boundaries, when:
 *   - the page of a commit frame has been written — the frame whose header
 *     carries the database's size after the commit (bytes 4–7 non-zero, the
 *     WAL file format). SQLite publishes a commit to other connections only
 *     after that write has returned, so they never find a frame missing, and
 *     a failure to write is that write's failure: the commit fails;
 *   - a write does not continue the buffer, or would overflow it;
 *   - before any read, sync, truncation, size query or close of the file.
 * Every other file, and every other operation, goes to the wrapped VFS as it
 * is. A connection's file is used by one thread at a time (SQLite's rule), so
 * a buffer needs no lock.
 */
#ifndef KP_STORE_SQLITE_GATHER_H
#define KP_STORE_SQLITE_GATHER_H

/* Register, once, a gathering VFS named name over the VFS named base (NULL:
 * the default), not as the default. SQLITE_OK, or an SQLite error code. For
 * tests, which wrap a VFS of their own. */
int kp_sqlite_gather_register(const char *name, const char *base);

/* The name of the store's gathering VFS over the default one, registered on
 * first use; NULL if it could not be (then use the default). */
const char *kp_sqlite_gather_vfs(void);

#endif
