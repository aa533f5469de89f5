-- peer.sql — pgbench script: one durable purchase the way a typical
-- PostgreSQL loyalty platform commits it (DESIGN.md, "Performance model"):
-- one transaction that locks the member's row, reads the open lots, inserts
-- the purchase, its lines, its lot and its ledger entry, and updates the
-- balance. 1–10 lines like workload.h; pgbench -D members=N.
\set member random(1, :members)
\set lines random(1, 10)
\set price random(990, 50000)
\set earned (:lines * :price) / 2000 + 1
BEGIN;
SELECT available, pending, debt, tier FROM members WHERE id = :member FOR UPDATE;
SELECT id, remaining FROM lots WHERE member_id = :member AND remaining > 0 ORDER BY expires_at;
INSERT INTO purchases (member_id, subtotal, to_pay, points_earned, answer)
	VALUES (:member, :lines * :price, :lines * :price, :earned, repeat('x', 600))
	RETURNING id AS pid \gset
INSERT INTO purchase_lines (purchase_id, line_no, sku, category, qty, price, amount, paid, earned)
	SELECT :pid, g, 'sku-' || g, 'grocery', 1, :price, :price, :price, :price / 2000
	FROM generate_series(1, :lines) g;
INSERT INTO lots (member_id, points, remaining, expires_at, purchase_id)
	VALUES (:member, :earned, :earned, now() + interval '365 days', :pid) RETURNING id AS lot \gset
INSERT INTO transfers (member_id, entry, from_acc, to_acc, points, lot_id, purchase_id)
	VALUES (:member, 1, 1, 4, :earned, :lot, :pid);
UPDATE members SET available = available + :earned, lifetime_spend = lifetime_spend + :lines * :price
	WHERE id = :member;
COMMIT;
