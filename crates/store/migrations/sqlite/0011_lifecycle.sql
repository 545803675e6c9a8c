-- Lifecycle stages (hatchery_domain::lifecycle).
--
-- `lifecycle_models` holds an organisation's stages, transitions and entry criteria (JSON); an
-- organisation without a row has lifecycle stages switched off. A contact's current stage and
-- since when are columns of `contacts` (NULL: no stage; a merged-away contact has none, its
-- survivor keeps its own or takes the merged one's), so the segment language compares it like a
-- profile column and the funnel counts it from a small partial index. Every move is a row of
-- `stage_transitions` with its cause (`rule`, `user`, `api`, `crm`), the user who made it and the
-- reason given.
CREATE TABLE lifecycle_models (
    org_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

ALTER TABLE contacts ADD COLUMN stage TEXT;
ALTER TABLE contacts ADD COLUMN stage_at INTEGER;
CREATE INDEX contacts_stage ON contacts (org_id, stage) WHERE stage IS NOT NULL;

CREATE TABLE stage_transitions (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    cause TEXT NOT NULL,
    user_id INTEGER,
    reason TEXT
);
CREATE INDEX stage_transitions_contact ON stage_transitions (org_id, contact_id, at);
CREATE INDEX stage_transitions_at ON stage_transitions (org_id, at);
