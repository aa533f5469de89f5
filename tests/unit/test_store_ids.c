/*
 * test_store_ids.c — the ids the SQLite store hands out for new lots and
 * purchases (lot_next_id, purchase_next_id): distinct within a transaction
 * though nothing was inserted in between, counted from the table's largest
 * id once per transaction, and after a rollback from the table again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "test_tmpdb.h"

static void test_ids(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *c;
	tmpdb_create(&t, &c);
	int64_t a, b, p, q;
	assert_int_equal(c->ops->begin(c), 0);
	assert_int_equal(c->ops->lot_next_id(c, &a), 0);
	assert_int_equal(c->ops->lot_next_id(c, &b), 0);
	assert_int_equal(c->ops->purchase_next_id(c, &p), 0);
	assert_int_equal(c->ops->purchase_next_id(c, &q), 0);
	assert_int_equal(a, 1); /* empty tables */
	assert_int_equal(b, 2); /* another id, though lot 1 was never inserted */
	assert_int_equal(p, 1);
	assert_int_equal(q, 2);
	/* a job rolled back to its savepoint: the table says again */
	assert_int_equal(c->ops->savepoint(c), 0);
	assert_int_equal(c->ops->lot_next_id(c, &a), 0);
	assert_int_equal(a, 3);
	assert_int_equal(c->ops->rollback_to(c), 0);
	assert_int_equal(c->ops->release(c), 0);
	assert_int_equal(c->ops->lot_next_id(c, &a), 0);
	assert_int_equal(a, 1);
	assert_int_equal(c->ops->rollback(c), 0);
	/* a new transaction asks the table too */
	assert_int_equal(c->ops->begin(c), 0);
	assert_int_equal(c->ops->purchase_next_id(c, &p), 0);
	assert_int_equal(p, 1);
	assert_int_equal(c->ops->rollback(c), 0);
	c->ops->close(c);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
