-- PostgreSQL dialect of ../0011_lines_in_the_purchase_row.sql (same meaning; see docs/deployment.md).
-- Version 11: a purchase's lines are kept in its own row, as JSON text
-- (store/lines_json.h). Older purchases keep their purchase_lines rows until
-- their first refund moves them; text, not jsonb, so that a purchase's write
-- does not parse it.
ALTER TABLE purchases ADD COLUMN lines TEXT;
