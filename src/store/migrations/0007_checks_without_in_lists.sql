-- Version 7: CHECK constraints without lists of three or more values.
--
-- SQLite checks "status IN ('committed', 'held', 'cancelled')" by building a
-- temporary B-tree of the list on every INSERT that checks it: each purchase
-- opened, filled and dropped one, and the writer's purchases/s rose 4-11%
-- (three pairs) once it no longer did (docs/performance.md). The same
-- constraints written as comparisons joined by OR need nothing of the kind.
--
-- SQLite cannot alter a constraint, and rebuilding purchases would copy every
-- row with its answer, so the definitions are rewritten where SQLite keeps
-- them, as its ALTER TABLE documentation describes for changes that leave the
-- stored rows as they are (every stored row satisfies both forms). migrate()
-- then increments the schema version, so every connection reads them again.
-- tests/unit/test_schema.c keeps every INSERT free of such a B-tree.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql,
	'CHECK (status IN (''committed'', ''held'', ''cancelled''))',
	'CHECK (status = ''committed'' OR status = ''held'' OR status = ''cancelled'')')
WHERE type = 'table' AND name = 'purchases';
UPDATE sqlite_schema SET sql = replace(sql,
	'CHECK (status IN (''waiting'', ''due'', ''paid'', ''cancelled''))',
	'CHECK (status = ''waiting'' OR status = ''due'' OR status = ''paid'' OR status = ''cancelled'')')
WHERE type = 'table' AND name = 'referrals';
UPDATE sqlite_schema SET sql = replace(sql,
	'CHECK (kind IN (''percent'', ''amount'', ''points''))',
	'CHECK (kind = ''percent'' OR kind = ''amount'' OR kind = ''points'')')
WHERE type = 'table' AND name = 'coupons';
UPDATE sqlite_schema SET sql = replace(sql,
	'CHECK (role IN (''admin'', ''pos'', ''readonly''))',
	'CHECK (role = ''admin'' OR role = ''pos'' OR role = ''readonly'')')
WHERE type = 'table' AND name = 'api_keys';
PRAGMA writable_schema = OFF;
