/*
 * memtune.h — the allocator settings of a long-running server process.
 *
 * glibc's defaults suit short programs: each thread arena gives memory back
 * to the kernel as soon as 128 KiB sit free at its top, and blocks from
 * 128 KiB up are mmap'ed and unmapped on every use. A server with dozens of
 * request threads then spends a large share of its time growing and
 * shrinking arenas (mprotect, page faults, zeroing fresh pages) for the
 * same few hundred KiB each request needs again a moment later. Measured on
 * the quote path (bench/load.c): about a fifth of all CPU, and 30–45% more
 * quotes per second with the settings below.
 */
#ifndef KP_UTIL_MEMTUNE_H
#define KP_UTIL_MEMTUNE_H

/*
 * Keep freed memory in the arenas for reuse (up to 128 MiB free at an
 * arena's top before trimming, blocks below 32 MiB never mmap'ed on their
 * own). Call once at start, before the threads. Process-wide; a no-op
 * where the allocator ignores mallopt (sanitizers).
 */
void kp_memory_tune_for_server(void);

#endif
