-- The intake log (hatchery_engine::intake): per organisation, the sequence number of the last
-- logged tracking request applied to the pool. It is written in the same transaction as the
-- request's contacts and events, so after a restart the log is replayed from exactly there and no
-- request is applied twice (messages without a messageId would otherwise be stored twice).
CREATE TABLE intake_applied (
    org_id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL
);
