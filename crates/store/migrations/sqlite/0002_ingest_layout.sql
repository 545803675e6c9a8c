-- Ingest at scale.
--
-- 1. A merge re-points earlier tombstones (`merged_into = <merged id>`); without an index that walked
--    every contact of the organisation on each merge.
CREATE INDEX contacts_merged ON contacts (org_id, merged_into) WHERE merged_into IS NOT NULL;

-- 2. De-duplication by (client timestamp, messageId) instead of messageId alone. A retried message
--    carries the same `timestamp` and `messageId`, so it is still found; but because the key now
--    starts with a time that grows as traffic arrives, new keys land at the right edge of the index
--    instead of at random places (a messageId is a random UUID), which keeps the pages an ingest
--    commit dirties — and so the WAL it writes — small however large the table grows.
--    `client_at` is the sender's own timestamp in ms, or 0 when the message carried none (then the
--    messageId alone decides, as before).
ALTER TABLE events ADD COLUMN client_at INTEGER NOT NULL DEFAULT 0;
DROP INDEX events_message;
CREATE UNIQUE INDEX events_message ON events (org_id, client_at, message_id);

-- 3. A counter per organisation that every transaction changing who holds which identifier (new
--    identities, merges, erasure) increments on SQLite, so a process that remembers holdings between
--    transactions — the ingest writer — knows when to forget them, even if another process wrote.
ALTER TABLE organisations ADD COLUMN holdings_epoch INTEGER NOT NULL DEFAULT 0;
