-- Version 8: a member's open lots read from their index alone.
--
-- Every quote and every purchase reads all of the member's open lots
-- (Q_LOTS_OPEN). lots_member_expiry gave SQLite their row ids, and it then
-- searched the table's B-tree once for each lot to read its columns: on the
-- quick benchmark set the largest single cost of a quote in SQLite, and it
-- grows with a member's open lots. This index carries every column that read
-- takes (the row id is part of every SQLite index), so it never touches the
-- table: quotes/s +15-20% on the benchmark's data set and +20-35% after its
-- commit phase, the writer's purchases/s +1 to +12% (docs/performance.md).
-- The order of a member's lots does not matter to their readers (the ledger
-- visits them in an order of its own, ledger.c).
CREATE INDEX lots_member_open ON lots(member_id, expires_at, points, remaining, available_at,
	pending, purchase_id) WHERE remaining > 0;
DROP INDEX lots_member_expiry;
