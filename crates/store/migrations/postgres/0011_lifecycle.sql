-- Lifecycle stages; see the SQLite migration of the same name.
CREATE TABLE lifecycle_models (
    org_id BIGINT PRIMARY KEY,
    model TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE contacts ADD COLUMN stage TEXT;
ALTER TABLE contacts ADD COLUMN stage_at BIGINT;
CREATE INDEX contacts_stage ON contacts (org_id, stage) WHERE stage IS NOT NULL;

CREATE TABLE stage_transitions (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    cause TEXT NOT NULL,
    user_id BIGINT,
    reason TEXT
);
CREATE INDEX stage_transitions_contact ON stage_transitions (org_id, contact_id, at);
CREATE INDEX stage_transitions_at ON stage_transitions (org_id, at);
