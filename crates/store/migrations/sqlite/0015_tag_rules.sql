-- Tags by rule (hatchery_domain::tag_rules): the organisation's rules, kept like the other
-- versioned models (one row per organisation). The evaluator keeps each rule's tag on exactly the
-- contacts that meet its criteria, through `contact_tags`.
CREATE TABLE tag_rule_models (
    org_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
