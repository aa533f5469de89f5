-- Version 2: what the program's mechanics remember between purchases —
-- tiers and spend, stamp cards, campaign budgets, gift certificates made by
-- thresholds, events (reminders, tier changes) and the state of scheduled jobs.

ALTER TABLE members ADD COLUMN tier TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN tier_since INTEGER NOT NULL DEFAULT 0;
-- After-discount spend of every purchase less its refunds (the lifetime basis).
ALTER TABLE members ADD COLUMN lifetime_spend INTEGER NOT NULL DEFAULT 0;

-- After-discount total of the purchase less what refunds took back.
ALTER TABLE purchases ADD COLUMN spend INTEGER NOT NULL DEFAULT 0;
CREATE INDEX purchases_member_at ON purchases(member_id, at) WHERE member_id IS NOT NULL;

-- The stamp card a line's units counted on ('' = none), so refunds take them back.
ALTER TABLE purchase_lines ADD COLUMN stamp_card TEXT NOT NULL DEFAULT '';
ALTER TABLE purchase_lines ADD COLUMN free_units INTEGER NOT NULL DEFAULT 0;

ALTER TABLE refunds ADD COLUMN spend INTEGER NOT NULL DEFAULT 0;

CREATE TABLE member_stamps (
	member_id INTEGER NOT NULL REFERENCES members(id),
	card      TEXT NOT NULL,
	count     INTEGER NOT NULL CHECK (count >= 0),
	PRIMARY KEY (member_id, card)
);

-- Points a campaign has given out, against its budget_points (by campaign id).
CREATE TABLE campaign_budgets (
	campaign TEXT PRIMARY KEY,
	spent    INTEGER NOT NULL CHECK (spent >= 0)
);

CREATE TABLE gift_certificates (
	code       TEXT PRIMARY KEY,
	amount     INTEGER NOT NULL CHECK (amount > 0),
	balance    INTEGER NOT NULL CHECK (balance >= 0 AND balance <= amount),
	member_id  INTEGER REFERENCES members(id),
	source     TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER
);

-- Things that happened to a member that the shop's systems may want to hear
-- about; (kind, ref) is unique so a job that runs twice records each once.
CREATE TABLE events (
	id        INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	member_id INTEGER REFERENCES members(id),
	kind      TEXT NOT NULL,
	ref       TEXT NOT NULL,
	payload   TEXT NOT NULL,
	UNIQUE (kind, ref)
);
CREATE INDEX events_member ON events(member_id, id);

CREATE TABLE job_state (
	name        TEXT PRIMARY KEY,
	last_period TEXT NOT NULL
);

CREATE INDEX lots_expiry ON lots(expires_at) WHERE remaining > 0;
CREATE INDEX lots_pending ON lots(available_at) WHERE remaining > 0 AND pending = 1;
