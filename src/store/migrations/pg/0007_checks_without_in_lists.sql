-- PostgreSQL dialect of ../0007_checks_without_in_lists.sql (same meaning; see docs/deployment.md).
-- Version 7: nothing to change. SQLite built a temporary B-tree for each
-- CHECK with a list of three or more values; PostgreSQL evaluates such a
-- list as it is, so its constraints stay as written. The number is kept so
-- that both schemas count their versions alike.
SELECT 1;
