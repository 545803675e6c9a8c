-- Ingest at scale; see the SQLite migration of the same name for the reasoning.
CREATE INDEX contacts_merged ON contacts (org_id, merged_into) WHERE merged_into IS NOT NULL;

ALTER TABLE events ADD COLUMN client_at BIGINT NOT NULL DEFAULT 0;
DROP INDEX events_message;
CREATE UNIQUE INDEX events_message ON events (org_id, client_at, message_id);

-- A counter per organisation that every transaction changing who holds which identifier (new
-- identities, merges, erasure) increments on SQLite, so a process that remembers holdings between
-- transactions — the ingest writer — knows when to forget them, even if another process wrote.
ALTER TABLE organisations ADD COLUMN holdings_epoch BIGINT NOT NULL DEFAULT 0;
