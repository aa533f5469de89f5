-- Version 6: an index on every column that refers to another row.
--
-- A job writes the rows that refer to a purchase (its lines, transfers,
-- coupon uses) before the purchase row itself, with foreign keys deferred to
-- the commit. While such a reference is pending, SQLite answers each new
-- referred row (a purchase, a lot, a refund, a certificate, a member) by
-- looking up the rows that refer to it, in every table that can. Without an
-- index that is a scan of the whole table on every purchase: with 200,000
-- coupon uses and 50,000 refunds, commits fell from ~3,000/s to 135/s.
-- tests/unit/test_schema.c keeps every foreign key indexed (one exception,
-- named there).
CREATE INDEX refunds_purchase ON refunds(purchase_id);
CREATE INDEX referrals_purchase ON referrals(purchase_id) WHERE purchase_id IS NOT NULL;
CREATE INDEX referrals_referrer ON referrals(referrer_id);
CREATE INDEX coupon_uses_purchase ON coupon_uses(purchase_id);
CREATE INDEX coupon_uses_by_member ON coupon_uses(member_id) WHERE member_id IS NOT NULL;
CREATE INDEX coupons_member ON coupons(member_id) WHERE member_id IS NOT NULL;
CREATE INDEX gift_certificates_member ON gift_certificates(member_id) WHERE member_id IS NOT NULL;
CREATE INDEX members_referred_by ON members(referred_by) WHERE referred_by IS NOT NULL;
CREATE INDEX transfers_refund ON transfers(refund_id) WHERE refund_id IS NOT NULL;
CREATE INDEX certificate_moves_refund ON certificate_moves(refund_id) WHERE refund_id IS NOT NULL;
CREATE INDEX certificate_moves_code ON certificate_moves(code);
CREATE INDEX api_keys_partner ON api_keys(partner) WHERE partner IS NOT NULL;
