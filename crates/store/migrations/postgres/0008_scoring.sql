-- Lead scoring; see the SQLite migration of the same name.
CREATE TABLE scoring_models (
    org_id BIGINT PRIMARY KEY,
    model TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE contact_scores (
    org_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    fit DOUBLE PRECISION NOT NULL,
    engagement DOUBLE PRECISION NOT NULL,
    engagement_sign INTEGER NOT NULL,
    engagement_log DOUBLE PRECISION NOT NULL,
    half_life_ms BIGINT,
    grade TEXT NOT NULL,
    reasons TEXT NOT NULL,
    scored_at BIGINT NOT NULL,
    model_version BIGINT NOT NULL,
    PRIMARY KEY (org_id, contact_id)
);
