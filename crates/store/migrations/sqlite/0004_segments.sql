-- Saved segments: a name, a description and a filter in the segment language (docs/segments.md),
-- stored in its canonical JSON form. Membership is not stored here.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    filter TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX segments_name ON segments (org_id, name);
