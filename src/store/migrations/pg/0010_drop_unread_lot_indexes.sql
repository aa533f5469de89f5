-- PostgreSQL dialect of ../0010_drop_unread_lot_indexes.sql (same meaning; see docs/deployment.md).
-- Version 10: nothing to change. SQLite reads neither lots_expiry nor
-- lots_pending, and drops them. PostgreSQL's planner reads both for the
-- jobs' scan of members with lots due (Q_DUE_MEMBERS) when few lots are due,
-- the usual case: a bitmap of the due lots instead of a walk over every open
-- lot (EXPLAIN on 100,000 lots, a third of them open: cost 20 against 3,156).
-- The number is kept so that both schemas count their versions alike.
SELECT 1;
