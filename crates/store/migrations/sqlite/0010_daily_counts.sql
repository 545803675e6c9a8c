-- Daily counts for the console's home page, kept by every ingest transaction so that a chart of
-- the last weeks reads a few dozen rows however large the pool: contacts created per UTC day and
-- first-touch source (`kind` 'contacts', `key` the source or ''), and events received per UTC day
-- (`kind` 'events', `key` '').
CREATE TABLE daily_counts (
    org_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (org_id, kind, day, key)
) WITHOUT ROWID;

INSERT INTO daily_counts (org_id, day, kind, key, n)
SELECT org_id, (created_at / 86400000) * 86400000, 'contacts', COALESCE(source, ''), COUNT(*)
FROM contacts GROUP BY 1, 2, 4;
INSERT INTO daily_counts (org_id, day, kind, key, n)
SELECT org_id, (received_at / 86400000) * 86400000, 'events', '', COUNT(*)
FROM events GROUP BY 1, 2;
