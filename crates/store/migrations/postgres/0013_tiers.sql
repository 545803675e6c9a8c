-- Customer tiers and the referral graph; see the SQLite migration of the same name.
CREATE TABLE tier_models (
    org_id BIGINT PRIMARY KEY,
    model TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE contact_tiers (
    org_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    dimension TEXT NOT NULL,
    tier TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (org_id, contact_id, dimension)
);
CREATE INDEX contact_tiers_tier ON contact_tiers (org_id, dimension, tier);

CREATE TABLE referrals (
    org_id BIGINT NOT NULL,
    referred_id BIGINT NOT NULL,
    referrer_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, referred_id)
);
CREATE INDEX referrals_referrer ON referrals (org_id, referrer_id);
