-- Lead scoring: one model per organisation and each contact's scores.
--
-- `contact_scores` keeps what the last evaluation computed: fit, engagement at `scored_at`, the
-- grade and the reasons (JSON). Engagement decays without rewriting rows: it is also stored as a
-- sign and `log2 |engagement| + scored_at / half_life_ms` (`engagement_log`), so "engagement now
-- ≥ x" is `engagement_log − now / half_life_ms ≥ log2 x` for every row alike (see
-- hatchery_domain::scoring).
CREATE TABLE scoring_models (
    org_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE contact_scores (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    fit REAL NOT NULL,
    engagement REAL NOT NULL,
    engagement_sign INTEGER NOT NULL,
    engagement_log REAL NOT NULL,
    half_life_ms INTEGER,
    grade TEXT NOT NULL,
    reasons TEXT NOT NULL,
    scored_at INTEGER NOT NULL,
    model_version INTEGER NOT NULL,
    PRIMARY KEY (org_id, contact_id)
) WITHOUT ROWID;
