-- The intake log (hatchery_engine::intake): per organisation and log, the sequence number of the
-- last logged tracking request applied to the pool. It is written in the same transaction as the
-- request's contacts and events, so after a restart the log is replayed from exactly there and no
-- request is applied twice (messages without a messageId would otherwise be stored twice). Each
-- log has an id of its own (several servers on one PostgreSQL database each keep their own log).
CREATE TABLE intake_applied (
    org_id INTEGER NOT NULL,
    log_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (org_id, log_id)
);
