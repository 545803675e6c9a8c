-- Console and access: users who sign in, their roles per business unit, browser sessions, sign-in
-- throttling, the organisation's pool policy and where each contact sits (business unit, owner).

-- `shared` (one pool) or `bu_isolated` (BU-scoped users see only their units' contacts).
ALTER TABLE organisations ADD COLUMN pool_policy TEXT NOT NULL DEFAULT 'shared';

CREATE TABLE business_units (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX business_units_name ON business_units (org_id, name);

-- `email` is stored normalised (lower case); `password_hash` is an argon2id PHC string.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    locale TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE UNIQUE INDEX users_email ON users (org_id, email);

-- One row per role a user holds; `bu_id` 0 means org-wide (a key column cannot be NULL).
CREATE TABLE role_grants (
    org_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    role TEXT NOT NULL,
    bu_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id, role, bu_id)
) WITHOUT ROWID;

-- Only the SHA-256 of a session token is kept; the CSRF token guards the session's forms.
CREATE TABLE sessions (
    org_id INTEGER NOT NULL,
    token_hash TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, token_hash)
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (org_id, user_id);

-- Failed sign-ins, keyed by a hash of (email, client address) so neither is stored.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    key_hash TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (org_id, key_hash, failed_at);

ALTER TABLE contacts ADD COLUMN bu_id INTEGER;
ALTER TABLE contacts ADD COLUMN owner_user_id INTEGER;
CREATE INDEX contacts_bu ON contacts (org_id, bu_id, id);
CREATE INDEX contacts_owner ON contacts (org_id, owner_user_id, id);
