-- Segment membership kept current, and the one durable table of jobs and timers.
--
-- 1. Jobs and timers. One row per (organisation, kind, subject): asking again for work already
--    waiting moves it earlier (`due_at` becomes the earlier of the two) and bumps `touched`, so a
--    worker that finishes a job knows whether more changes arrived while it worked. A worker
--    claims due rows with a lease (`lease_until`); a lease that runs out (its process died) makes
--    the row claimable again. Kinds: `contact.evaluate` (subject: a contact; re-evaluate what
--    depends on it, now or at a time when a rolling window moves) and `segment.materialise`
--    (subject: a segment; compute its members by one query after it was created or its filter
--    changed).
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    touched INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE UNIQUE INDEX jobs_subject ON jobs (org_id, kind, subject);
CREATE INDEX jobs_due ON jobs (due_at);

-- 2. Who is in which segment now, since when.
CREATE TABLE segment_members (
    org_id INTEGER NOT NULL,
    segment_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    entered_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, segment_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX segment_members_contact ON segment_members (org_id, contact_id);

-- 3. A segment is `pending` until its first materialisation, then `ready`; `member_count` is kept
--    with every change; `filter_version` counts filter edits, so a materialisation of an older
--    filter is not taken for the current one.
ALTER TABLE segments ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE segments ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN materialised_at INTEGER;
ALTER TABLE segments ADD COLUMN filter_version INTEGER NOT NULL DEFAULT 1;

-- 4. Size history: per segment and UTC day, the size at the end of the day's last change and how
--    many entered and left that day.
CREATE TABLE segment_sizes (
    org_id INTEGER NOT NULL,
    segment_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    size INTEGER NOT NULL,
    entered INTEGER NOT NULL,
    exited INTEGER NOT NULL,
    PRIMARY KEY (org_id, segment_id, day)
) WITHOUT ROWID;
