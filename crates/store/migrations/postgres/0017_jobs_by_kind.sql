-- Due work is looked up by kind: "the contacts due for evaluation", "is a segment waiting to be
-- materialised". With the index on the due time alone, asking the second question scanned every
-- timer of the first kind (a million contacts with a rolling-window timer each: a million rows,
-- every evaluator pass).
DROP INDEX jobs_due;
CREATE INDEX jobs_kind_due ON jobs (kind, due_at);
