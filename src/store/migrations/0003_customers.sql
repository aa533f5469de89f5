-- Version 3: the customer side — cards (a lost card is blocked, a new one
-- issued), consents with their history, one-off bonuses and referrals,
-- coupons and their uses, gift certificate movements, two-phase purchases,
-- and an audit log of admin changes.

CREATE TABLE cards (
	card       TEXT PRIMARY KEY,
	member_id  INTEGER NOT NULL REFERENCES members(id),
	status     TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
	issued_at  INTEGER NOT NULL,
	blocked_at INTEGER
);
CREATE INDEX cards_member ON cards(member_id);
INSERT INTO cards (card, member_id, status, issued_at)
	SELECT card, id, 'active', created_at FROM members;

-- Every consent given or withdrawn, with when and by which API key: shops must prove it.
CREATE TABLE consent_log (
	id        INTEGER PRIMARY KEY,
	member_id INTEGER NOT NULL REFERENCES members(id),
	consent   TEXT NOT NULL,
	granted   INTEGER NOT NULL,
	at        INTEGER NOT NULL,
	key_id    INTEGER
);
CREATE INDEX consent_log_member ON consent_log(member_id, id);
INSERT INTO consent_log (member_id, consent, granted, at)
	SELECT id, 'personal_data', (consents & 1) != 0, created_at FROM members UNION ALL
	SELECT id, 'email', (consents & 2) != 0, created_at FROM members UNION ALL
	SELECT id, 'sms', (consents & 4) != 0, created_at FROM members UNION ALL
	SELECT id, 'push', (consents & 8) != 0, created_at FROM members;

ALTER TABLE members ADD COLUMN erased_at INTEGER;

-- One-off bonuses paid (registration, birthday, review, …), keyed by event id.
CREATE TABLE bonuses (
	id           INTEGER PRIMARY KEY,
	member_id    INTEGER NOT NULL REFERENCES members(id),
	type         TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	points       INTEGER NOT NULL,
	at           INTEGER NOT NULL,
	request_hash TEXT NOT NULL,
	answer       TEXT NOT NULL,
	UNIQUE (member_id, event_id)
);
CREATE INDEX bonuses_type ON bonuses(member_id, type, at);

-- A referral waits for the friend's first purchase, then for its return period.
CREATE TABLE referrals (
	referee_id  INTEGER PRIMARY KEY REFERENCES members(id),
	referrer_id INTEGER NOT NULL REFERENCES members(id),
	purchase_id INTEGER REFERENCES purchases(id),
	due_at      INTEGER,
	status      TEXT NOT NULL CHECK (status IN ('waiting', 'due', 'paid', 'cancelled'))
);
CREATE INDEX referrals_due ON referrals(due_at) WHERE status = 'due';

CREATE TABLE coupons (
	code         TEXT PRIMARY KEY,
	kind         TEXT NOT NULL CHECK (kind IN ('percent', 'amount', 'points')),
	value        INTEGER NOT NULL CHECK (value > 0),
	max_uses     INTEGER,
	per_member   INTEGER,
	valid_from   INTEGER,
	valid_to     INTEGER,
	min_subtotal INTEGER NOT NULL DEFAULT 0,
	member_id    INTEGER REFERENCES members(id),
	uses         INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
	batch        TEXT,
	created_at   INTEGER NOT NULL
);

-- A use counts while its purchase stands; a full refund gives it back.
CREATE TABLE coupon_uses (
	coupon      TEXT NOT NULL REFERENCES coupons(code),
	purchase_id INTEGER NOT NULL REFERENCES purchases(id),
	member_id   INTEGER REFERENCES members(id),
	at          INTEGER NOT NULL,
	released    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (coupon, purchase_id)
);
CREATE INDEX coupon_uses_member ON coupon_uses(coupon, member_id) WHERE released = 0;

ALTER TABLE gift_certificates ADD COLUMN partner TEXT;
-- Every change of a certificate's balance: −amount when it pays, +amount when a refund returns it.
CREATE TABLE certificate_moves (
	id          INTEGER PRIMARY KEY,
	code        TEXT NOT NULL REFERENCES gift_certificates(code),
	purchase_id INTEGER REFERENCES purchases(id),
	refund_id   INTEGER REFERENCES refunds(id),
	amount      INTEGER NOT NULL,
	at          INTEGER NOT NULL
);
CREATE INDEX certificate_moves_purchase ON certificate_moves(purchase_id);

-- Two-phase purchases: 'held' reserves points, coupons and certificates until
-- confirmed or cancelled (or released by the job after hold_expires_at).
ALTER TABLE purchases ADD COLUMN status TEXT NOT NULL DEFAULT 'committed'
	CHECK (status IN ('committed', 'held', 'cancelled'));
ALTER TABLE purchases ADD COLUMN hold_expires_at INTEGER;
CREATE INDEX purchases_held ON purchases(hold_expires_at) WHERE status = 'held';

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	key_id  INTEGER,
	action  TEXT NOT NULL,
	target  TEXT NOT NULL,
	details TEXT NOT NULL
);
