/*
 * test_tmpdb.h — a throw-away SQLite database for the store-level tests:
 * a new directory under /tmp with k.db in it, made with every migration
 * (and, for tests that need them, a member and lots),
 * and removed with its WAL and shared-memory files at the end.
 */
#ifndef KP_TEST_TMPDB_H
#define KP_TEST_TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"
#include "util/timeutil.h"

struct tmpdb {
	char dir[64], path[96];
};

/* Make the directory; t->path names a database in it, not made yet. */
static inline void tmpdb_make_dir(struct tmpdb *t)
{
	snprintf(t->dir, sizeof t->dir, "/tmp/kopilka-test.XXXXXX"); /* mkdtemp's template */
	if (!mkdtemp(t->dir))
		abort();
	snprintf(t->path, sizeof t->path, "%s/k.db", t->dir);
}

/* Make the directory and the database; *c is the store opened on it
 * (create = true: the writer's settings), or NULL to open nothing. */
static inline void tmpdb_create(struct tmpdb *t, struct kp_conn **c)
{
	char err[256];
	tmpdb_make_dir(t);
	struct kp_conn *opened = NULL;
	if (kp_store_open(t->path, true, &opened, err, sizeof err) != 0) {
		fprintf(stderr, "tmpdb: %s\n", err);
		abort();
	}
	if (c)
		*c = opened;
	else
		opened->ops->close(opened);
}

/* One member, committed on c (the writer): *m is its row, id set. */
static inline void tmpdb_member(struct kp_conn *c, struct kp_member_row *m)
{
	*m = (struct kp_member_row){.card = "2000000000001", .referral_code = "R1"};
	if (c->ops->begin(c) || c->ops->member_insert(c, m) || c->ops->commit(c))
		abort();
}

/* The database with one member: *c its writer connection; returns the member's id. */
static inline int64_t tmpdb_create_with_member(struct tmpdb *t, struct kp_conn **c)
{
	tmpdb_create(t, c);
	struct kp_member_row m;
	tmpdb_member(*c, &m);
	return m.id;
}

/* Add a lot of `points` to the member, in the transaction open on c. */
static inline int tmpdb_add_lot(struct kp_conn *c, int64_t member_id, int64_t points)
{
	struct kp_lot lot = {.points = points, .remaining = points, .expires_at = KP_NEVER};
	int rc = c->ops->lot_next_id(c, &lot.id);
	return rc ? rc : c->ops->lot_insert(c, member_id, &lot, 0);
}

static inline void tmpdb_remove(struct tmpdb *t)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[128];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", t->path, suffix[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

#endif
