-- Version 10: two indexes of lots that no query reads are gone.
--
-- lots_expiry (expires_at) and lots_pending (available_at) were made for the
-- jobs' scan of members with lots due (migration 0002). That scan
-- (Q_DUE_MEMBERS) walks the members in order, and reads lots_member_open
-- instead; nothing else searches lots by either column. Both indexes hold
-- only lots with points left, so every purchase that spent from a lot
-- deleted and inserted its entry in each (remaining is in their WHERE): a
-- page at a random place in the WAL and again in the checkpoint for each
-- spent lot, a tenth of the WAL's frames of a purchase on the benchmark's
-- quick set. Without them the writer's CPU a purchase fell about 5% and its
-- WAL 10% (docs/performance.md, tenth session). PostgreSQL keeps both: its
-- planner reads them for that scan (pg/0010). IF EXISTS: a test migrates a
-- database whose version it set back.
DROP INDEX IF EXISTS lots_expiry;
DROP INDEX IF EXISTS lots_pending;
