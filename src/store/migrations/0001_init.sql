-- Kopilka schema, version 1: programs, partners, keys, members, the points
-- ledger (lots and transfers), purchases with their lines, refunds, and the
-- answers kept for idempotent retries.
--
-- Ledger rows are never updated in place except two derived columns kept for
-- speed and checked by `kopilka verify`: lots.remaining (= Σ lot deltas of the
-- lot's transfers) and the members' balance columns (= Σ of their transfers).

CREATE TABLE programs (
	version    INTEGER PRIMARY KEY,
	document   TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE partners (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id         INTEGER PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	role       TEXT NOT NULL CHECK (role IN ('admin', 'pos', 'readonly')),
	partner    TEXT REFERENCES partners(id),
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);

CREATE TABLE members (
	id            INTEGER PRIMARY KEY,
	card          TEXT NOT NULL UNIQUE,
	phone         TEXT UNIQUE,
	email         TEXT,
	name          TEXT,
	birthday      TEXT,
	external_id   TEXT UNIQUE,
	referral_code TEXT NOT NULL UNIQUE,
	referred_by   INTEGER REFERENCES members(id),
	consents      INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	available     INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
	pending       INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0),
	debt          INTEGER NOT NULL DEFAULT 0 CHECK (debt <= 0)
);

CREATE TABLE lots (
	id           INTEGER PRIMARY KEY,
	member_id    INTEGER NOT NULL REFERENCES members(id),
	points       INTEGER NOT NULL CHECK (points > 0),
	remaining    INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= points),
	expires_at   INTEGER NOT NULL,
	available_at INTEGER NOT NULL,
	pending      INTEGER NOT NULL,
	purchase_id  INTEGER,
	created_at   INTEGER NOT NULL
);
CREATE INDEX lots_open ON lots(member_id) WHERE remaining > 0;

CREATE TABLE purchases (
	id              INTEGER PRIMARY KEY,
	partner         TEXT NOT NULL REFERENCES partners(id),
	receipt_id      TEXT NOT NULL,
	member_id       INTEGER REFERENCES members(id),
	program_version INTEGER NOT NULL REFERENCES programs(version),
	at              INTEGER NOT NULL,
	request_hash    TEXT NOT NULL,
	subtotal        INTEGER NOT NULL,
	discount        INTEGER NOT NULL,
	points_redeemed INTEGER NOT NULL,
	certificates    INTEGER NOT NULL,
	to_pay          INTEGER NOT NULL,
	points_earned   INTEGER NOT NULL,
	earn_lot_id     INTEGER,
	answer          TEXT NOT NULL,
	UNIQUE (partner, receipt_id)
);

CREATE TABLE purchase_lines (
	purchase_id  INTEGER NOT NULL REFERENCES purchases(id),
	line_no      INTEGER NOT NULL,
	sku          TEXT NOT NULL,
	category     TEXT,
	qty          INTEGER NOT NULL,
	price        INTEGER NOT NULL,
	amount       INTEGER NOT NULL,
	discount     INTEGER NOT NULL,
	points       INTEGER NOT NULL,
	certificates INTEGER NOT NULL,
	paid         INTEGER NOT NULL,
	earned       INTEGER NOT NULL,
	refunded_qty INTEGER NOT NULL DEFAULT 0 CHECK (refunded_qty >= 0 AND refunded_qty <= qty),
	PRIMARY KEY (purchase_id, line_no)
);

CREATE TABLE refunds (
	id              INTEGER PRIMARY KEY,
	partner         TEXT NOT NULL,
	refund_id       TEXT NOT NULL,
	purchase_id     INTEGER NOT NULL REFERENCES purchases(id),
	at              INTEGER NOT NULL,
	request_hash    TEXT NOT NULL,
	money_refund    INTEGER NOT NULL,
	points_reversed INTEGER NOT NULL,
	points_returned INTEGER NOT NULL,
	answer          TEXT NOT NULL,
	UNIQUE (partner, refund_id)
);

-- One row per posting. member_id is the member whose account it touches (NULL
-- for a posting between program accounts); purchase_id and refund_id tie it to
-- the business operation it belongs to; ref is what the member's history shows.
CREATE TABLE transfers (
	id          INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	member_id   INTEGER REFERENCES members(id),
	entry       INTEGER NOT NULL,
	from_acc    INTEGER NOT NULL,
	to_acc      INTEGER NOT NULL,
	points      INTEGER NOT NULL CHECK (points > 0),
	lot_id      INTEGER REFERENCES lots(id),
	purchase_id INTEGER REFERENCES purchases(id),
	refund_id   INTEGER REFERENCES refunds(id),
	ref         TEXT
);
CREATE INDEX transfers_member ON transfers(member_id, id);
CREATE INDEX transfers_purchase ON transfers(purchase_id) WHERE purchase_id IS NOT NULL;
CREATE INDEX transfers_lot ON transfers(lot_id) WHERE lot_id IS NOT NULL;

-- Answers of POSTs made with an Idempotency-Key header.
CREATE TABLE idempotency (
	key          TEXT NOT NULL,
	scope        TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status       INTEGER NOT NULL,
	answer       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (scope, key)
);

INSERT INTO partners (id, name, created_at) VALUES ('main', 'Main', 0);
