/*
 * sqlite_pcache.h — SQLite's own page cache, wrapped so that a commit does
 * not walk every page the cache holds.
 *
 * When a B-tree page splits, SQLite (3.40, balance_nonroot) may swap the
 * numbers of two new pages, moving one through a temporary number: that of
 * the lock-byte page (1 GiB / page size + 1), never a real page. The default
 * cache (pcache1) remembers the largest number it was given, and at every
 * commit, asked to drop the pages past the end of the database, walks its
 * whole hash table when that largest number lies far past the end: with the
 * writer's 64 MiB cache, 6% of the writer's time (perf, docs/performance.md).
 * This wrapper gives the default cache the number 0 — a number SQLite never
 * gives a page — in place of the temporary one, so the largest number stays
 * the database's own and a commit's truncation looks at a bucket or two.
 * Everything else goes to the default cache as it is.
 */
#ifndef KP_STORE_SQLITE_PCACHE_H
#define KP_STORE_SQLITE_PCACHE_H

#include <stdbool.h>
#include <stdint.h>

/* Install the wrapper; call before SQLite is first initialised (the first
 * sqlite3_open). SQLITE_OK, or SQLITE_MISUSE once it is too late: then the
 * default cache serves on its own, correct and slower. */
int kp_sqlite_pcache_install(void);

/* Whether the wrapper serves the caches; and how many page moves through the
 * temporary number it has renumbered, in all caches (for tests). */
bool kp_sqlite_pcache_installed(void);
uint64_t kp_sqlite_pcache_renumbered(void);

#endif
