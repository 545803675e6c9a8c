-- Consent per purpose and channel (PRODUCT.md §7): the latest answer of each contact for each
-- (purpose, channel), where it came from and when. Every change is also a `consent.changed` event
-- on the contact's timeline, which keeps the history. The segment language reads it
-- (`{"consent": "marketing", "channel": "email"}`).
CREATE TABLE consents (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    granted INTEGER NOT NULL,
    source TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (org_id, contact_id, purpose, channel)
) WITHOUT ROWID;
