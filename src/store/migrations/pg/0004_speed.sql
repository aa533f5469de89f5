-- PostgreSQL dialect of ../0004_speed.sql (same meaning; see docs/deployment.md).
-- Version 4: indexes that keep the hot path off the tables.
-- The rolling tier window sums spend straight from the index.
CREATE INDEX purchases_member_spend ON purchases(member_id, at, spend) WHERE member_id IS NOT NULL;
DROP INDEX purchases_member_at;
-- Open lots by member in expiry order: spending takes them in that order.
CREATE INDEX lots_member_expiry ON lots(member_id, expires_at, id) WHERE remaining > 0;
DROP INDEX lots_open;
