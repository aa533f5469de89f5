/*
 * test_defer_fk.c — a write transaction on SQLite defers its foreign keys
 * (a row may refer to one written later in the same transaction, and the
 * commit still refuses a reference that is never satisfied), and beginning
 * one does not make SQLite compile the connection's statements again: the
 * pragma that defers them, when run, expires every prepared statement
 * (store/sqlite.c, defer_foreign_keys).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_int.h"
#include "test_tmpdb.h"
#include "util/error.h"

/* A transfer into the member's account from lot lot_id, for purchase_id (0 = none). */
static int add_transfer(struct kp_conn *c, int64_t member_id, int64_t lot_id,
			int64_t purchase_id)
{
	struct kp_transfer_row t = {
		.at = 1, .member_id = member_id, .purchase_id = purchase_id,
		.posting = {.entry = KP_ENTRY_EARN, .from = KP_ACC_ISSUANCE,
			    .to = KP_ACC_AVAILABLE, .points = 10, .lot_id = lot_id},
	};
	return c->ops->transfer_insert(c, &t);
}

/* How many times SQLite compiled the connection's prepared statements again. */
static int reprepares(struct kp_conn *c)
{
	const struct sqlite_conn *s = (const struct sqlite_conn *)c;
	int n = 0;
	for (int i = 0; i < Q_COUNT; i++)
		if (s->stmts[i])
			n += sqlite3_stmt_status(s->stmts[i], SQLITE_STMTSTATUS_REPREPARE, 0);
	return n;
}

static void test_refers_ahead_within_a_transaction(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *c;
	int64_t member = tmpdb_create_with_member(&t, &c);
	for (int round = 0; round < 3; round++) { /* the setting lasts one transaction */
		assert_int_equal(c->ops->begin(c), 0);
		struct kp_lot lot = {.points = 10, .remaining = 10, .expires_at = KP_NEVER};
		assert_int_equal(c->ops->lot_next_id(c, &lot.id), 0);
		/* the transfer names the lot before the lot exists */
		assert_int_equal(add_transfer(c, member, lot.id, 0), 0);
		assert_int_equal(c->ops->lot_insert(c, member, &lot, 0), 0);
		assert_int_equal(c->ops->commit(c), 0);
	}
	/* still enforced: a purchase that never comes fails the commit */
	assert_int_equal(c->ops->begin(c), 0);
	assert_int_equal(add_transfer(c, member, 0, 12345), 0);
	assert_int_not_equal(c->ops->commit(c), 0);
	if (c->ops->in_transaction(c))
		assert_int_equal(c->ops->rollback(c), 0);
	c->ops->close(c);
	tmpdb_remove(&t);
}

static void test_begin_keeps_statements_prepared(void **state)
{
	(void)state;
	struct tmpdb t;
	struct kp_conn *c;
	int64_t member = tmpdb_create_with_member(&t, &c);
	assert_int_equal(c->ops->writer_mode(c), 0);
	int before = -1;
	for (int round = 0; round < 5; round++) {
		assert_int_equal(c->ops->begin(c), 0);
		assert_int_equal(c->ops->savepoint(c), 0);
		assert_int_equal(tmpdb_add_lot(c, member, 10), 0);
		assert_int_equal(add_transfer(c, member, 0, 0), 0);
		assert_int_equal(c->ops->release(c), 0);
		assert_int_equal(c->ops->commit(c), 0);
		if (round == 0)
			before = reprepares(c); /* every statement has been prepared by now */
	}
	assert_int_equal(reprepares(c), before);
	c->ops->close(c);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refers_ahead_within_a_transaction),
		cmocka_unit_test(test_begin_keeps_statements_prepared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
