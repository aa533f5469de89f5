-- PostgreSQL dialect of ../0008_open_lots_from_index.sql (same meaning; see docs/deployment.md).
-- Version 8: nothing to change. SQLite answers the read of a member's open
-- lots from an index that holds their columns; PostgreSQL would answer it
-- from such an index (INCLUDE) only for lots on pages its visibility map
-- marks all-visible, and the lots of an active member are updated by each
-- of their purchases, so it would read their rows all the same while every
-- update wrote a wider index entry. Not measured on PostgreSQL; the number
-- is kept so that both schemas count their versions alike.
SELECT 1;
