-- Customer tiers (hatchery_domain::tiers) and the referral graph they read.
--
-- `tier_models` holds an organisation's tier dimensions and rules (JSON); without a row tiers are
-- off. `contact_tiers` is each contact's tier per dimension, kept by the evaluator, since when.
-- `referrals` links a contact to the contact that referred it (first referrer wins), learnt from
-- a `referred_by` trait naming the referrer's userId or contact id; a contact's referral count is
-- read by the segment language (`{"referrals": {"at_least": 3}}`).
CREATE TABLE tier_models (
    org_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE contact_tiers (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    tier TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (org_id, contact_id, dimension)
) WITHOUT ROWID;
CREATE INDEX contact_tiers_tier ON contact_tiers (org_id, dimension, tier);

CREATE TABLE referrals (
    org_id INTEGER NOT NULL,
    referred_id INTEGER NOT NULL,
    referrer_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, referred_id)
) WITHOUT ROWID;
CREATE INDEX referrals_referrer ON referrals (org_id, referrer_id);
