-- Daily counts for the console's home page; see the SQLite migration of the same name.
CREATE TABLE daily_counts (
    org_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (org_id, kind, day, key)
);

INSERT INTO daily_counts (org_id, day, kind, key, n)
SELECT org_id, (created_at / 86400000) * 86400000, 'contacts', COALESCE(source, ''), COUNT(*)
FROM contacts GROUP BY 1, 2, 4;
INSERT INTO daily_counts (org_id, day, kind, key, n)
SELECT org_id, (received_at / 86400000) * 86400000, 'events', '', COUNT(*)
FROM events GROUP BY 1, 2;
