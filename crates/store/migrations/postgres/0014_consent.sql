-- Consent per purpose and channel; see the SQLite migration of the same name.
CREATE TABLE consents (
    org_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    granted INTEGER NOT NULL,
    source TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (org_id, contact_id, purpose, channel)
);
