/*
 * test_lots_load.c — reading a member's open lots on a reader connection
 * while the writer adds more (load_member_points). A reader outside a
 * transaction reads the lots, counts them when they do not fit, and reads
 * them again: three snapshots. Lots committed between the count and the
 * second read must not turn a balance read into an error (it did: 413 for
 * a member with more than 32 open lots, while their purchases committed).
 * The count is intercepted here to commit more lots right after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "engine/engine_int.h"
#include "test_tmpdb.h"
#include "util/timeutil.h"

static struct kp_conn *writer;    /* commits the lots */
static int64_t member_id;
static int64_t next_lot_id = 1;
static int add_after_count[4];    /* lots to commit after the 1st, 2nd, … count */
static int counts;
static struct kp_store_ops hooked; /* the reader's ops, with the count intercepted */
static const struct kp_store_ops *real;

static void commit_lots(int n)
{
	assert_int_equal(writer->ops->begin(writer), 0);
	for (int i = 0; i < n; i++) {
		struct kp_lot lot = {.id = next_lot_id++, .points = 100, .remaining = 100,
				     .expires_at = KP_NEVER, .available_at = 0};
		assert_int_equal(writer->ops->lot_insert(writer, member_id, &lot, 0), 0);
	}
	assert_int_equal(writer->ops->commit(writer), 0);
}

static int count_then_add(struct kp_conn *c, int64_t id, size_t *n)
{
	int rc = real->lots_count_open(c, id, n);
	if (counts < 4 && add_after_count[counts] > 0)
		commit_lots(add_after_count[counts]);
	counts++;
	return rc;
}

static void load_while_adding(int first, int after_first_count, int after_second_count)
{
	struct tmpdb t;
	tmpdb_create(&t, &writer);
	next_lot_id = 1;
	counts = 0;
	memset(add_after_count, 0, sizeof add_after_count);
	add_after_count[0] = after_first_count;
	add_after_count[1] = after_second_count;

	struct kp_member_row m;
	tmpdb_member(writer, &m);
	member_id = m.id;
	commit_lots(first);

	char err[256];
	struct kp_conn *reader;
	assert_int_equal(kp_store_open(t.path, false, &reader, err, sizeof err), 0);
	real = reader->ops;
	hooked = *real;
	hooked.lots_count_open = count_then_add;
	reader->ops = &hooked;

	struct kp_member_points points;
	int rc = load_member_points(reader, &m, NULL, 0, 0, &points);
	assert_int_equal(rc, 0);
	/* what the last read saw: every lot committed before it */
	assert_int_equal(points.n_lots, (size_t)(first + after_first_count + after_second_count));
	free(points.lots);

	reader->ops = real;
	reader->ops->close(reader);
	writer->ops->close(writer);
	tmpdb_remove(&t);
}

/* More lots than are read without counting: counted once, read once more. */
static void test_many_lots(void **state)
{
	(void)state;
	load_while_adding(40, 0, 0);
	assert_int_equal(counts, 1);
}

/* A few lots committed between the count and the read: room was left. */
static void test_lots_added_after_the_count(void **state)
{
	(void)state;
	load_while_adding(40, 10, 0);
}

/* More committed than the room left: counted again, then read. */
static void test_many_added_after_the_count(void **state)
{
	(void)state;
	load_while_adding(40, 200, 0);
	assert_int_equal(counts, 2);
}

/* And again after the second count. */
static void test_added_after_two_counts(void **state)
{
	(void)state;
	load_while_adding(40, 200, 500);
	assert_int_equal(counts, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_lots),
		cmocka_unit_test(test_lots_added_after_the_count),
		cmocka_unit_test(test_many_added_after_the_count),
		cmocka_unit_test(test_added_after_two_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
