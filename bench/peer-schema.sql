-- peer-schema.sql — the PostgreSQL peer's tables: what a typical loyalty
-- platform keeps per purchase (bench/peer.sql writes them), with the same
-- indexes Kopilka's SQLite schema has. psql -v members=N fills the members.
CREATE TABLE members (
	id             bigint PRIMARY KEY,
	available      bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
	pending        bigint NOT NULL DEFAULT 0,
	debt           bigint NOT NULL DEFAULT 0,
	lifetime_spend bigint NOT NULL DEFAULT 0,
	tier           text NOT NULL DEFAULT ''
);
CREATE SEQUENCE receipt_seq;
CREATE TABLE purchases (
	id            bigserial PRIMARY KEY,
	partner       text NOT NULL DEFAULT 'main',
	receipt_id    text NOT NULL DEFAULT 'P-' || nextval('receipt_seq'),
	member_id     bigint REFERENCES members(id),
	at            timestamptz NOT NULL DEFAULT now(),
	subtotal      bigint NOT NULL,
	to_pay        bigint NOT NULL,
	points_earned bigint NOT NULL,
	answer        text NOT NULL,
	UNIQUE (partner, receipt_id)
);
CREATE INDEX purchases_member_at ON purchases(member_id, at);
CREATE TABLE purchase_lines (
	purchase_id bigint NOT NULL REFERENCES purchases(id),
	line_no     int NOT NULL,
	sku         text NOT NULL,
	category    text,
	qty         bigint NOT NULL,
	price       bigint NOT NULL,
	amount      bigint NOT NULL,
	paid        bigint NOT NULL,
	earned      bigint NOT NULL,
	PRIMARY KEY (purchase_id, line_no)
);
CREATE TABLE lots (
	id          bigserial PRIMARY KEY,
	member_id   bigint NOT NULL REFERENCES members(id),
	points      bigint NOT NULL CHECK (points > 0),
	remaining   bigint NOT NULL,
	expires_at  timestamptz NOT NULL,
	purchase_id bigint REFERENCES purchases(id)
);
CREATE INDEX lots_open ON lots(member_id) WHERE remaining > 0;
CREATE TABLE transfers (
	id          bigserial PRIMARY KEY,
	at          timestamptz NOT NULL DEFAULT now(),
	member_id   bigint REFERENCES members(id),
	entry       int NOT NULL,
	from_acc    int NOT NULL,
	to_acc      int NOT NULL,
	points      bigint NOT NULL CHECK (points > 0),
	lot_id      bigint REFERENCES lots(id),
	purchase_id bigint REFERENCES purchases(id)
);
CREATE INDEX transfers_member ON transfers(member_id, id);
CREATE INDEX transfers_purchase ON transfers(purchase_id);
INSERT INTO members (id) SELECT generate_series(1, :members);
VACUUM ANALYZE;
