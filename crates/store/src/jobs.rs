//! The one durable table of jobs and timers (migration 0006).
//!
//! A job is "do `kind` for `subject` of an organisation at or after `due_at`". There is at most one
//! row per (organisation, kind, subject): asking for work that is already waiting moves it earlier
//! and bumps its `touched` counter, so changes that pile up while nobody looks cost one run, and a
//! worker finishing a job can tell whether more changes arrived while it worked (then the job
//! stays, due at once). The same row serves as a timer: a finished job may stay with a later
//! `due_at` ("look at this contact again when its third-newest visit leaves the 7-day window").
//!
//! Workers claim due jobs with a lease; a lease that runs out — its process died — makes the job
//! claimable again, so nothing is lost. On PostgreSQL claims skip rows another process has locked.

use hatchery_domain::OrgId;

use crate::backend::{bind_args, with_pool, with_tx, Arg, Tx};
use crate::error::Result;
use crate::{Millis, Store};

/// What a job does; the subject's meaning depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Re-evaluate what depends on a contact (subject: the contact id): segment memberships.
    EvaluateContact,
    /// Compute a segment's members by one query (subject: the segment id).
    MaterialiseSegment,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::EvaluateContact => "contact.evaluate",
            JobKind::MaterialiseSegment => "segment.materialise",
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub org: OrgId,
    pub subject: i64,
    /// The `touched` counter when claimed.
    pub touched: i64,
    /// When it fell due: the first change it was asked for, or its timer.
    pub due_at: Millis,
}

/// How a worker leaves a job it claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// Done; nothing more to do unless something changes.
    Done,
    /// Done; run again at this time (a timer).
    Again(Millis),
}

/// Most subjects per statement when enqueueing (SQLite allows 32,766 parameters).
const ENQUEUE_CHUNK: usize = 5_000;

const UPSERT_CONFLICT: &str = " ON CONFLICT (org_id, kind, subject) DO UPDATE SET \
     due_at = CASE WHEN excluded.due_at < jobs.due_at THEN excluded.due_at ELSE jobs.due_at END, \
     touched = jobs.touched + 1";

impl Store {
    /// Asks for `kind` on each of `subjects` at `due_at` (or earlier, if already asked).
    pub async fn enqueue_jobs(
        &self,
        org: OrgId,
        kind: JobKind,
        subjects: &[i64],
        due_at: Millis,
    ) -> Result<()> {
        if subjects.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        enqueue_jobs_in(&mut tx, org, kind, subjects, due_at).await?;
        tx.commit().await?;
        self.jobs_waiting.notify_one();
        Ok(())
    }

    /// Claims up to `limit` jobs of `kind` due at `now`, leasing them until `now + lease_ms`.
    pub async fn claim_jobs(
        &self,
        kind: JobKind,
        now: Millis,
        lease_ms: Millis,
        limit: u32,
    ) -> Result<Vec<Job>> {
        // A claim is a write transaction and takes SQLite's one write lock. Idle evaluation
        // workers poll several times a second; asking a reader first keeps those polls from
        // stalling the ingest writer's group commits.
        if !self.job_due(kind, now).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let lock = if tx.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE jobs SET lease_until = $1, attempts = attempts + 1 WHERE id IN (\
             SELECT id FROM jobs WHERE kind = $2 AND due_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at LIMIT $4{lock}) \
             RETURNING id, org_id, subject, touched, due_at"
        );
        let rows: Vec<(i64, i64, i64, i64, i64)> = with_tx!(&mut tx, c => sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(kind.as_str())
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?);
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, org, subject, touched, due_at)| Job {
                id,
                org: OrgId(org),
                subject,
                touched,
                due_at,
            })
            .collect())
    }

    /// Ends claimed jobs (see [`JobEnd`]) in one transaction.
    pub async fn end_jobs(&self, ends: &[(Job, JobEnd)]) -> Result<()> {
        let mut tx = self.begin().await?;
        end_jobs_in(&mut tx, ends).await?;
        tx.commit().await
    }

    /// Gives a claimed job back after a failure: it runs again at `retry_at`.
    pub async fn retry_job(&self, job: &Job, retry_at: Millis, error: &str) -> Result<()> {
        with_pool!(self, c => sqlx::query(
            "UPDATE jobs SET lease_until = NULL, due_at = $2, last_error = $3 WHERE id = $1",
        )
        .bind(job.id)
        .bind(retry_at)
        .bind(error)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Whether a job of `kind` not leased by anyone is due at `now`.
    pub async fn job_due(&self, kind: JobKind, now: Millis) -> Result<bool> {
        let n: i64 = with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE kind = $1 AND due_at <= $2 \
             AND (lease_until IS NULL OR lease_until < $2) LIMIT 1) d",
        )
        .bind(kind.as_str())
        .bind(now)
        .fetch_one(c)
        .await?);
        Ok(n > 0)
    }

    /// Jobs of the organisation due at `now` (an idle evaluator has none).
    pub async fn due_jobs(&self, org: OrgId, now: Millis) -> Result<i64> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind IN ($3, $4) AND due_at <= $2 AND org_id = $1",
        )
        .bind(org.0)
        .bind(now)
        .bind(JobKind::EvaluateContact.as_str())
        .bind(JobKind::MaterialiseSegment.as_str())
        .fetch_one(c)
        .await?))
    }

    /// Waits until someone enqueued work or `timeout` passed.
    pub async fn wait_for_jobs(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.jobs_waiting.notified()).await;
    }

    /// Wakes a worker waiting in [`Store::wait_for_jobs`].
    pub fn jobs_enqueued(&self) {
        self.jobs_waiting.notify_one();
    }
}

/// [`Store::enqueue_jobs`] inside a transaction.
pub(crate) async fn enqueue_jobs_in(
    tx: &mut Tx,
    org: OrgId,
    kind: JobKind,
    subjects: &[i64],
    due_at: Millis,
) -> Result<()> {
    // One statement must not name a row twice (PostgreSQL refuses it).
    let mut subjects = subjects.to_vec();
    subjects.sort_unstable();
    subjects.dedup();
    if let Tx::Postgres(t) = tx {
        sqlx::query(&format!(
            "INSERT INTO jobs (org_id, kind, subject, due_at) \
             SELECT $1, $2, s, $3 FROM unnest($4::bigint[]) AS s{UPSERT_CONFLICT}"
        ))
        .bind(org.0)
        .bind(kind.as_str())
        .bind(due_at)
        .bind(&subjects)
        .execute(&mut **t)
        .await?;
        return Ok(());
    }
    for chunk in subjects.chunks(ENQUEUE_CHUNK) {
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO jobs (org_id, kind, subject, due_at) ");
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(org.0)
                    .push_bind(kind.as_str())
                    .push_bind(*s)
                    .push_bind(due_at);
            });
            qb.push(UPSERT_CONFLICT);
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// Asks for `kind` on each subject at its own instant (or earlier, if already asked): timers.
pub(crate) async fn enqueue_jobs_at_in(
    tx: &mut Tx,
    org: OrgId,
    kind: JobKind,
    timers: &[(i64, Millis)],
) -> Result<()> {
    // One statement must not name a row twice (PostgreSQL refuses it): keep each subject's
    // earliest instant.
    let mut timers = timers.to_vec();
    timers.sort_unstable();
    timers.dedup_by_key(|t| t.0);
    for chunk in timers.chunks(ENQUEUE_CHUNK) {
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO jobs (org_id, kind, subject, due_at) ");
            qb.push_values(chunk, |mut b, (s, at)| {
                b.push_bind(org.0)
                    .push_bind(kind.as_str())
                    .push_bind(*s)
                    .push_bind(*at);
            });
            qb.push(UPSERT_CONFLICT);
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// Asks for `kind` at `due_at` on every subject `subjects` selects: a query yielding distinct values
/// in a column named `subject`, in which `$1` is the organisation and `$4`, `$5`… are `args`.
pub(crate) async fn enqueue_selected_in(
    tx: &mut Tx,
    org: OrgId,
    kind: JobKind,
    subjects: &str,
    args: &[Arg],
    due_at: Millis,
) -> Result<()> {
    // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
    let sql = format!(
        "INSERT INTO jobs (org_id, kind, subject, due_at) SELECT $1, $2, s.subject, $3 \
         FROM ({subjects}) AS s WHERE true{UPSERT_CONFLICT}"
    );
    with_tx!(tx, c => bind_args!(
        sqlx::query(&sql).bind(org.0).bind(kind.as_str()).bind(due_at),
        args
    )
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}

/// Ends claimed jobs inside `tx`: each is removed, or kept as a timer, unless it was touched
/// since it was claimed — then it stays, due at once, for another run.
pub(crate) async fn end_jobs_in(tx: &mut Tx, ends: &[(Job, JobEnd)]) -> Result<()> {
    // A few statements per batch, not one per job: `(id, touched)` pairs must both match.
    let done: Vec<&Job> = ends
        .iter()
        .filter(|(_, e)| matches!(e, JobEnd::Done))
        .map(|(j, _)| j)
        .collect();
    let again: Vec<(&Job, Millis)> = ends
        .iter()
        .filter_map(|(j, e)| match e {
            JobEnd::Again(at) => Some((j, *at)),
            JobEnd::Done => None,
        })
        .collect();
    for chunk in done.chunks(ENQUEUE_CHUNK) {
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM jobs WHERE (id, touched) IN (");
            qb.push_values(chunk, |mut b, j| {
                b.push_bind(j.id).push_bind(j.touched);
            });
            qb.push(")");
            qb.build().execute(&mut *c).await?;
        });
    }
    for chunk in again.chunks(ENQUEUE_CHUNK) {
        with_tx!(&mut *tx, c => {
            // VALUES columns are `column1`, `column2`, … on both databases.
            let mut qb = sqlx::QueryBuilder::new(
                "UPDATE jobs SET due_at = v.column3, lease_until = NULL, attempts = 0, last_error = NULL FROM (",
            );
            qb.push_values(chunk, |mut b, (j, at)| {
                b.push_bind(j.id).push_bind(j.touched).push_bind(*at);
            });
            qb.push(") AS v WHERE jobs.id = v.column1 AND jobs.touched = v.column2");
            qb.build().execute(&mut *c).await?;
        });
    }
    // Whatever is left leased was touched meanwhile: free it to run again.
    let ids: Vec<i64> = ends.iter().map(|(j, _)| j.id).collect();
    for chunk in ids.chunks(ENQUEUE_CHUNK) {
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new("UPDATE jobs SET lease_until = NULL WHERE lease_until IS NOT NULL AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}
