-- PostgreSQL dialect of ../0005_coalition.sql (same meaning; see docs/deployment.md).
-- Version 5: coalitions and charity — partners that can be switched off and
-- have their own earn rate and accrual cost, lookups the settlement report
-- needs, and the indexes behind the audit log and key listing.
--
-- Charity funds live in the program document ("charity": {"funds": [...]});
-- a donation or a charity campaign is a transfer to account 7 (charity)
-- whose ref is "fund:<id>", so the ledger alone says what each fund got.

ALTER TABLE partners ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
-- The partner's own base earn rate in basis points; NULL = the program's earn.percent.
ALTER TABLE partners ADD COLUMN earn_percent_bp BIGINT;
-- What the partner owes per point issued there, in minor units; NULL = point_value.
ALTER TABLE partners ADD COLUMN accrual_cost BIGINT;

-- Settlement reads the purchase-linked transfers of a period.
CREATE INDEX transfers_at ON transfers(at) WHERE purchase_id IS NOT NULL;
-- The charity report reads fund transfers of a period.
CREATE INDEX transfers_charity ON transfers(at) WHERE to_acc = 7;
