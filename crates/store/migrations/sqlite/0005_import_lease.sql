-- Imports carry a lease: the process running or queueing an import renews heartbeat_at every few
-- seconds, so a server starting next to a running `hatchery import` fails only imports whose process
-- is gone (their lease ran out), not live ones.
ALTER TABLE imports ADD COLUMN heartbeat_at INTEGER;
