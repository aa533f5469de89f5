-- PostgreSQL dialect of ../0006_foreign_key_indexes.sql (same meaning; see docs/deployment.md).
-- Version 6: an index on every column that refers to another row. PostgreSQL
-- checks a reference from the referring row (the referred row's key is
-- indexed), so writing a purchase never scans these tables here; the indexes
-- serve the lookups by purchase, refund, member and code that SQLite needs
-- them for too, and keep the two schemas alike.
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
