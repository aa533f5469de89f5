-- Version 8: a member's open lots read from their index alone.
--
-- Every quote and every purchase reads all of the member's open lots
-- (Q_LOTS_OPEN). lots_member_expiry gave SQLite their row ids, and it then
-- searched the table's B-tree once for each lot to read its columns: on the
-- quick benchmark set the largest single cost of a quote in SQLite, and it
-- grows with a member's open lots. This index carries every column that read
-- takes (the row id is part of every SQLite index), so it never touches the
-- table: quotes/s +11 to +26% on a fresh copy of the benchmark's quick set
-- and +37 to +47% after its commit phase, the writer's purchases/s the same
-- (docs/performance.md, sixth session).
-- The order of a member's lots does not matter to their readers (the ledger
-- visits them in an order of its own, ledger.c).
CREATE INDEX lots_member_open ON lots(member_id, expires_at, points, remaining, available_at,
	pending, purchase_id) WHERE remaining > 0;
DROP INDEX lots_member_expiry;
