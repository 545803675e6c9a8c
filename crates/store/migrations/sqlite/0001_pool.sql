-- The pool: organisations, keys, contacts, identities, merges, events, tags, accounts, imports.
-- Timestamps are milliseconds since the Unix epoch. JSON is stored as TEXT.

CREATE TABLE organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    identity_rules TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE id_sequences (
    name TEXT PRIMARY KEY,
    next_value INTEGER NOT NULL
);
INSERT INTO id_sequences (name, next_value) VALUES ('contacts', 1);

CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    disabled_at INTEGER
);
CREATE UNIQUE INDEX sources_key ON sources (org_id, key_hash);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_key ON api_keys (org_id, key_hash);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    external_id TEXT,
    name TEXT,
    name_key TEXT,
    domain TEXT,
    industry TEXT,
    company_size TEXT,
    province TEXT,
    city TEXT,
    traits TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX accounts_external ON accounts (org_id, external_id);
CREATE INDEX accounts_name ON accounts (org_id, name_key);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    merged_into INTEGER,
    name TEXT,
    email TEXT,
    mobile TEXT,
    landline TEXT,
    company TEXT,
    title TEXT,
    department TEXT,
    industry TEXT,
    company_size TEXT,
    province TEXT,
    city TEXT,
    source TEXT,
    account_id INTEGER,
    traits TEXT NOT NULL DEFAULT '{}',
    name_key TEXT,
    company_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_seen_at INTEGER
);
CREATE INDEX contacts_org ON contacts (org_id, id);
CREATE INDEX contacts_source ON contacts (org_id, source, id);
CREATE INDEX contacts_name ON contacts (org_id, name_key);
CREATE INDEX contacts_company ON contacts (org_id, company_key);
CREATE INDEX contacts_account ON contacts (org_id, account_id);

CREATE TABLE identities (
    org_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    contact_id INTEGER NOT NULL,
    origin TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX identities_contact ON identities (org_id, contact_id);

CREATE TABLE merges (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    survivor_id INTEGER NOT NULL,
    merged_id INTEGER NOT NULL,
    linked_by TEXT NOT NULL,
    cause TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX merges_survivor ON merges (org_id, survivor_id);
CREATE INDEX merges_merged ON merges (org_id, merged_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    occurred_at INTEGER NOT NULL,
    sent_at INTEGER,
    received_at INTEGER NOT NULL,
    source_id INTEGER,
    channel TEXT,
    utm_source TEXT,
    utm_medium TEXT,
    utm_campaign TEXT,
    properties TEXT NOT NULL,
    context TEXT NOT NULL
);
CREATE UNIQUE INDEX events_message ON events (org_id, message_id);
CREATE INDEX events_contact ON events (org_id, contact_id, occurred_at);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    category TEXT,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX tags_name ON tags (org_id, name);

CREATE TABLE contact_tags (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    tag_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, contact_id, tag_id)
) WITHOUT ROWID;
CREATE INDEX contact_tags_tag ON contact_tags (org_id, tag_id, contact_id);

CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    field_type TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX custom_fields_key ON custom_fields (org_id, key);

CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    status TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    mapping TEXT NOT NULL,
    tag_id INTEGER,
    total_rows INTEGER,
    processed_rows INTEGER NOT NULL DEFAULT 0,
    report TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX imports_org ON imports (org_id, id);

CREATE TABLE import_rejections (
    org_id INTEGER NOT NULL,
    import_id INTEGER NOT NULL,
    row_number INTEGER NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    cells TEXT NOT NULL,
    PRIMARY KEY (org_id, import_id, row_number)
) WITHOUT ROWID;
