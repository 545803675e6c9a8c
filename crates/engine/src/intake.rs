//! The intake log: tracking requests acknowledged once they are on disk, and applied to the pool
//! behind the acknowledgement in large transactions.
//!
//! Without it, a `200` waits for the request's own group commit, so a transaction holds only what
//! the senders have in flight (16 clients of 500 messages: about 4,000), and SQLite pays for its
//! randomly placed index pages once per few thousand events. With it:
//!
//! 1. A request is parsed and checked as before (a bad one is refused and nothing is written).
//! 2. Its body is appended to the log (`log.rs`); one thread writes what all requests waiting
//!    hand it and syncs it to disk once. Only then is the request answered `200` — durable.
//! 3. The parsed touches go to the applier, which resolves and writes whatever has queued up, up
//!    to [`MAX_APPLY_TOUCHES`], in one transaction per organisation. That transaction also records
//!    the sequence number of the last request it applied (`intake_applied`, under the log's own id,
//!    so that several servers sharing a PostgreSQL database each keep their own log).
//! 4. On start, requests logged but not applied (the process stopped, the machine lost power) are
//!    read back, parsed again and applied before anything new is accepted.
//!
//! What a `200` means changes: durable, and visible in the pool moments later (the applier's lag,
//! well under a second at rest; [`Ingestor::flush`] waits for it). The backlog of logged but
//! unapplied messages is bounded ([`MAX_BACKLOG_MESSAGES`], [`MAX_BACKLOG_KIB`]); beyond it,
//! senders wait, as they did for their commit.
//!
//! A request whose transaction fails is applied again alone, read back from the log. One that
//! still cannot be applied is set aside in the log's `rejected/` folder (its record and the
//! reason) so it is never lost and never blocks the rest; while the database is unreachable the
//! applier waits and retries instead.

pub mod log;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hatchery_domain::OrgId;
use hatchery_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::pipeline::Overlay;
use crate::touch::{SourceRef, Touch};
use crate::tracking::touches_of_body;
use crate::writer::{
    by_org, commit_logged, plan_ahead, take_waiting, write_planned, IngestError, Planned,
    RulesCache,
};
use log::{LogRecord, LogWriter};

/// Most messages the applier writes in one transaction.
pub const MAX_APPLY_TOUCHES: usize = 40_000;
/// Most messages logged and not yet applied; a request beyond it waits before it is logged.
pub const MAX_BACKLOG_MESSAGES: usize = 2 * MAX_APPLY_TOUCHES;
/// Most request bytes (KiB) logged and not yet applied.
pub const MAX_BACKLOG_KIB: usize = 64 * 1024;
/// The log thread writes up to this many bytes of waiting requests per sync.
const LOG_GROUP_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("intake log {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("intake log {dir} is in use by another process ({reason}); stop it first")]
    Locked { dir: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct ToLog {
    record: LogRecord,
    touches: Vec<Touch>,
    kib: u32,
    reply: oneshot::Sender<Result<(), IngestError>>,
}

/// A logged request waiting to be applied.
struct Pending {
    seq: u64,
    org: OrgId,
    touches: Vec<Touch>,
    kib: u32,
}

/// Requests taken from the queue together.
struct Group {
    pending: Vec<Pending>,
    /// Messages in them, as counted when they were logged.
    n: usize,
    kib: usize,
}

impl Group {
    /// `first` and whatever else is queued, up to [`MAX_APPLY_TOUCHES`] messages.
    fn take(first: Pending, rx: &mut mpsc::UnboundedReceiver<Pending>) -> Group {
        let (pending, n) = take_waiting(
            first,
            MAX_APPLY_TOUCHES,
            |p| p.touches.len(),
            || rx.try_recv().ok(),
        );
        let kib = pending.iter().map(|p| p.kib as usize).sum();
        Group { pending, n, kib }
    }

    fn last(&self) -> u64 {
        self.pending.last().map_or(0, |p| p.seq)
    }

    /// The organisation, when all the requests are of one.
    fn org(&self) -> Option<OrgId> {
        let org = self.pending.first()?.org;
        self.pending.iter().all(|p| p.org == org).then_some(org)
    }

    /// Sequence numbers, message count, KiB and the touches in order.
    fn split(self) -> (Vec<u64>, usize, usize, Vec<Touch>) {
        let seqs = self.pending.iter().map(|p| p.seq).collect();
        let touches = self.pending.into_iter().flat_map(|p| p.touches).collect();
        (seqs, self.n, self.kib, touches)
    }
}

/// A group of one organisation's requests resolved ahead of its transaction.
struct Ahead {
    org: OrgId,
    seqs: Vec<u64>,
    n: usize,
    kib: usize,
    planned: Planned,
    /// The holdings counter its transaction must find for the plan to hold.
    expected: i64,
}

struct Inner {
    log_tx: std::sync::mpsc::Sender<ToLog>,
    messages: Semaphore,
    kib: Semaphore,
    /// The last sequence number acknowledged.
    logged: AtomicU64,
    /// Everything up to this sequence number is applied.
    applied: watch::Sender<u64>,
    /// The log's folder; requests that could not be applied are kept in its `rejected/` (see
    /// [`Applier::set_aside`]).
    dir: PathBuf,
    /// Held while a set-aside request is accepted again, so that it is accepted once.
    retrying: tokio::sync::Mutex<()>,
    /// Taken by the applier before each group; holding it holds the applier (see
    /// `Ingestor::hold_applier`).
    applying: Arc<tokio::sync::Mutex<()>>,
    /// Held while the log is open.
    _lock: std::fs::File,
}

/// A logged request that could not be applied, kept aside with the reason (see
/// [`Applier::set_aside`]) until an operator applies it again or discards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Its sequence number in the log that accepted it; the file names it.
    pub seq: u64,
    pub source: hatchery_domain::ids::SourceId,
    pub source_name: String,
    /// The endpoint's type; `None` for `/v1/batch`.
    pub kind: Option<hatchery_domain::message::MessageKind>,
    pub received_at: i64,
    pub bytes: usize,
    /// Messages in the request (0 if its body cannot be read).
    pub messages: usize,
    pub reason: String,
}

/// Handle to the intake log; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
    metrics: Arc<Metrics>,
}

impl Intake {
    /// Opens the log in `dir`, applies what earlier runs logged and did not apply, and starts the
    /// log thread and the applier.
    pub(crate) async fn open(
        dir: &Path,
        store: Store,
        rules: RulesCache,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Intake, IntakeError> {
        Self::open_with(dir, store, rules, clock, metrics, log::SEGMENT_BYTES).await
    }

    /// [`Intake::open`] with segments closed at `segment_bytes`.
    async fn open_with(
        dir: &Path,
        store: Store,
        rules: RulesCache,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        segment_bytes: u64,
    ) -> Result<Intake, IntakeError> {
        let io = |source| IntakeError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // One process per log: another one replaying it would apply and delete what this one
        // writes.
        let lock = std::fs::File::create(dir.join("LOCK")).map_err(io)?;
        if let Err(e) = lock.try_lock() {
            return Err(IntakeError::Locked {
                dir: dir.to_owned(),
                reason: e.to_string(),
            });
        }
        let log_id = log::log_id(dir).map_err(io)?;
        let mut applier = Applier {
            dir: dir.to_owned(),
            log_id,
            store: store.clone(),
            rules,
            clock,
            metrics: metrics.clone(),
            overlays: HashMap::new(),
            #[cfg(test)]
            fail_commits: 0,
        };
        let last = applier.replay().await?;
        let writer = LogWriter::create(dir, last + 1)
            .map_err(io)?
            .with_segment_bytes(segment_bytes);

        let (log_tx, log_rx) = std::sync::mpsc::channel();
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            log_tx,
            messages: Semaphore::new(MAX_BACKLOG_MESSAGES),
            kib: Semaphore::new(MAX_BACKLOG_KIB),
            logged: AtomicU64::new(last),
            applied: watch::Sender::new(last),
            dir: dir.to_owned(),
            retrying: tokio::sync::Mutex::new(()),
            applying: Arc::default(),
            _lock: lock,
        });
        let thread_inner = inner.clone();
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("intake-log".into())
            .spawn(move || log_thread(writer, log_rx, apply_tx, thread_inner, thread_metrics))
            .map_err(io)?;
        let applying = tokio::spawn(applier.run(apply_rx, inner.clone()));
        tokio::spawn(stop_if_it_panics(applying, || std::process::exit(70)));
        Ok(Intake { inner, metrics })
    }

    /// Logs one request and returns once it is on disk; its touches are applied behind.
    pub(crate) async fn log(
        &self,
        record: LogRecord,
        touches: Vec<Touch>,
    ) -> Result<(), IngestError> {
        let n = touches.len().min(MAX_BACKLOG_MESSAGES) as u32;
        let kib = (record.body.len() / 1024 + 1).min(MAX_BACKLOG_KIB) as u32;
        // Taken here, given back by the applier once the request is applied.
        self.inner
            .messages
            .acquire_many(n)
            .await
            .map_err(|_| IngestError::Stopped)?
            .forget();
        self.inner
            .kib
            .acquire_many(kib)
            .await
            .map_err(|_| IngestError::Stopped)?
            .forget();
        let (reply, rx) = oneshot::channel();
        let job = ToLog {
            record,
            touches,
            kib,
            reply,
        };
        if self.inner.log_tx.send(job).is_err() {
            return Err(IngestError::Stopped);
        }
        rx.await.map_err(|_| IngestError::Stopped)?
    }

    /// Waits until every request acknowledged so far is applied to the pool.
    pub async fn flush(&self) {
        let target = self.inner.logged.load(Relaxed);
        let mut rx = self.inner.applied.subscribe();
        let _ = rx.wait_for(|a| *a >= target).await;
    }

    /// Messages logged and not yet applied.
    pub fn backlog(&self) -> u64 {
        self.metrics.intake_backlog.load(Relaxed)
    }

    /// The organisation's requests set aside, oldest first.
    pub fn set_aside(&self, org: OrgId) -> std::io::Result<Vec<SetAside>> {
        Ok(set_aside_in(&self.inner.dir)?
            .into_iter()
            .filter(|(o, _)| *o == org)
            .map(|(_, s)| s)
            .collect())
    }

    /// Holds the applier before its next group until the guard is dropped.
    pub(crate) async fn hold_applier(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.inner.applying.clone().lock_owned().await
    }

    /// Serialises taking set-aside requests back (see `Ingestor::retry_set_aside`).
    pub(crate) async fn retrying(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.retrying.lock().await
    }

    /// The organisation's request set aside as `seq`, as it was logged.
    pub(crate) fn set_aside_record(
        &self,
        org: OrgId,
        seq: u64,
    ) -> std::io::Result<Option<LogRecord>> {
        Ok(log::read_rejected_one(&self.inner.dir.join(REJECTED), seq)?.filter(|r| r.org == org))
    }

    /// Removes the request set aside as `seq`; false if there is none.
    pub(crate) fn remove_set_aside(&self, seq: u64) -> std::io::Result<bool> {
        discard_set_aside_in(&self.inner.dir, seq)
    }
}

/// Waits for the applier and calls `stop` should it panic. Without its applier the log would fill
/// and every sender wait for good; stopping the process loses nothing, as the next start applies
/// what the log holds.
async fn stop_if_it_panics(applier: tokio::task::JoinHandle<()>, stop: impl FnOnce()) {
    if let Err(e) = applier.await {
        if e.is_panic() {
            tracing::error!(
                "the intake log's applier failed; stopping, so that a restart applies the log"
            );
            stop();
        }
    }
}

/// The folder of the log where requests that cannot be applied are kept.
const REJECTED: &str = "rejected";

/// The requests set aside in the log in `dir` (all organisations, oldest first), read from its
/// files alone: also while no server runs.
pub fn set_aside_in(dir: &Path) -> std::io::Result<Vec<(OrgId, SetAside)>> {
    Ok(log::read_rejected(&dir.join(REJECTED))?
        .into_iter()
        .map(|(r, reason)| {
            let set_aside = SetAside {
                seq: r.seq,
                messages: crate::tracking::count_messages(&r.body, r.kind),
                source: r.source,
                source_name: r.source_name,
                kind: r.kind,
                received_at: r.received_at,
                bytes: r.body.len(),
                reason,
            };
            (r.org, set_aside)
        })
        .collect())
}

/// Removes the request set aside as `seq` from the log in `dir`; false if there is none.
pub fn discard_set_aside_in(dir: &Path, seq: u64) -> std::io::Result<bool> {
    log::remove_rejected(&dir.join(REJECTED), seq)
}

fn log_thread(
    mut writer: LogWriter,
    rx: std::sync::mpsc::Receiver<ToLog>,
    apply_tx: mpsc::UnboundedSender<Pending>,
    inner: Arc<Inner>,
    metrics: Arc<Metrics>,
) {
    while let Ok(first) = rx.recv() {
        let mut bytes = first.record.body.len();
        let mut jobs = vec![first];
        while bytes < LOG_GROUP_BYTES {
            match rx.try_recv() {
                Ok(j) => {
                    bytes += j.record.body.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let mut records = Vec::with_capacity(jobs.len());
        let mut rest = Vec::with_capacity(jobs.len());
        for j in jobs {
            records.push(j.record);
            rest.push((j.touches, j.kib, j.reply));
        }
        let started = Instant::now();
        let written = writer.append(&mut records);
        metrics.intake_syncs.fetch_add(1, Relaxed);
        metrics
            .intake_sync_micros
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        match written {
            Ok(()) => {
                let mut replies = Vec::with_capacity(rest.len());
                for (rec, (touches, kib, reply)) in records.iter().zip(rest) {
                    let n = touches.len() as u64;
                    metrics.intake_logged.fetch_add(n, Relaxed);
                    metrics.intake_backlog.fetch_add(n, Relaxed);
                    let _ = apply_tx.send(Pending {
                        seq: rec.seq,
                        org: rec.org,
                        touches,
                        kib,
                    });
                    replies.push(reply);
                }
                if let Some(last) = records.last() {
                    inner.logged.store(last.seq, Relaxed);
                }
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = rest.len(), "writing the intake log failed; the requests are refused");
                for (touches, kib, reply) in rest {
                    inner.messages.add_permits(touches.len());
                    inner.kib.add_permits(kib as usize);
                    let _ = reply.send(Err(IngestError::Log(e.to_string())));
                }
            }
        }
        let applied = *inner.applied.borrow();
        if let Err(e) = writer.release(applied) {
            tracing::warn!(error = %e, "removing applied intake log segments failed");
        }
    }
}

/// Applies logged requests to the pool.
struct Applier {
    dir: PathBuf,
    /// The log's id, under which its applied sequence numbers are stored.
    log_id: String,
    store: Store,
    rules: RulesCache,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    overlays: HashMap<OrgId, Overlay>,
    /// Tests: this many commits fail before reaching the database.
    #[cfg(test)]
    fail_commits: usize,
}

fn parse(r: &LogRecord) -> Result<Vec<Touch>, String> {
    let source = SourceRef {
        id: r.source,
        name: r.source_name.clone(),
    };
    touches_of_body(&r.body, r.kind, r.received_at, &source)
        .map(|req| req.touches)
        .map_err(|e| e.to_string())
}

impl Applier {
    /// Applies what the segments already in the folder hold beyond each organisation's applied
    /// sequence number, then removes them. Returns the last sequence number used.
    async fn replay(&mut self) -> Result<u64, IntakeError> {
        let dir = self.dir.clone();
        let io = |source| IntakeError::Io {
            dir: dir.clone(),
            source,
        };
        let applied: HashMap<OrgId, i64> = self
            .store
            .intake_applied(&self.log_id)
            .await?
            .into_iter()
            .collect();
        let mut last = applied.values().copied().max().unwrap_or(0).max(0) as u64;
        let segments = log::segments(&self.dir).map_err(io)?;
        let mut replayed = 0u64;
        for (_, path) in &segments {
            let read = log::read_segment(path).map_err(io)?;
            if read.dropped_bytes > 0 {
                tracing::warn!(
                    segment = %path.display(),
                    bytes = read.dropped_bytes,
                    "the intake log ends in an unfinished write (never acknowledged); it is left out"
                );
            }
            let mut group: Vec<Pending> = Vec::new();
            let mut n = 0;
            for r in read.records {
                last = last.max(r.seq);
                if r.seq as i64 <= applied.get(&r.org).copied().unwrap_or(0) {
                    continue;
                }
                match parse(&r) {
                    Ok(touches) => {
                        n += touches.len();
                        replayed += touches.len() as u64;
                        group.push(Pending {
                            seq: r.seq,
                            org: r.org,
                            touches,
                            kib: 0,
                        });
                    }
                    Err(reason) => {
                        // What came before it is applied first, so that the organisation's
                        // applied number only ever moves forward.
                        self.apply(std::mem::take(&mut group)).await;
                        n = 0;
                        self.set_aside(&r, &reason).await;
                    }
                }
                if n >= MAX_APPLY_TOUCHES {
                    self.apply(std::mem::take(&mut group)).await;
                    n = 0;
                }
            }
            self.apply(group).await;
        }
        if replayed > 0 {
            tracing::info!(
                messages = replayed,
                "applied messages the intake log held from before the restart"
            );
            self.metrics.intake_replayed.fetch_add(replayed, Relaxed);
        }
        for (_, path) in &segments {
            std::fs::remove_file(path).map_err(io)?;
        }
        Ok(last)
    }

    /// Applies logged requests as they come. While a group of one organisation's requests is
    /// written, the group queued behind it is resolved on a task of its own — its unknown
    /// identifiers looked up in one snapshot, on a connection of their own — against the overlay as
    /// the first group's plan left it, so the writer goes from one transaction to the next without
    /// resolving in between. A group resolved ahead is written only if nobody else changed the
    /// organisation's holdings since the snapshot it read (the holdings counter tells); otherwise
    /// it is read back from the log and resolved again inside its transaction.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Pending>, inner: Arc<Inner>) {
        let mut queued: Option<Group> = None;
        let mut ahead: Option<Ahead> = None;
        loop {
            let step = match ahead.take() {
                Some(a) => Ok(a),
                None => Err(match queued.take() {
                    Some(g) => g,
                    None => match rx.recv().await {
                        Some(first) => Group::take(first, &mut rx),
                        None => return,
                    },
                }),
            };
            let _applying = inner.applying.lock().await;
            let cur = match step {
                Ok(a) => a,
                Err(group) => match self.plan_alone(group).await {
                    Ok(a) => a,
                    Err(group) => {
                        let (n, kib, last) = (group.n, group.kib, group.last());
                        self.apply(group.pending).await;
                        self.done(&inner, n, kib, last);
                        continue;
                    }
                },
            };
            let next = rx.try_recv().ok().map(|f| Group::take(f, &mut rx));
            let (n, kib, last) = (cur.n, cur.kib, cur.seqs.last().copied().unwrap_or(0));
            (ahead, queued) = self.write_resolving_next(cur, next).await;
            self.done(&inner, n, kib, last);
        }
    }

    /// Resolves a group outside any transaction, with nothing else being written; `Err` gives it
    /// back (read again from the log if resolving consumed it) when it must be applied inside its
    /// transaction instead: it spans organisations, the rules are unavailable, the overlay turned
    /// out stale, or the lookup failed.
    async fn plan_alone(&mut self, group: Group) -> Result<Ahead, Group> {
        let Some(org) = group.org() else {
            return Err(group);
        };
        let Ok(rules) = self.rules.get(org).await else {
            return Err(group);
        };
        crate::pipeline::keep_within_capacity(&mut self.overlays);
        let overlay = self.overlays.remove(&org).unwrap_or_default();
        let before = overlay.epoch();
        let (seqs, n, kib, touches) = group.split();
        let last = seqs.last().copied().unwrap_or(0) as i64;
        let (mut overlay, planned) = plan_ahead(
            &self.store,
            org,
            rules,
            overlay,
            touches,
            Some((self.log_id.clone(), last)),
            &self.metrics,
        )
        .await;
        match planned {
            Ok(planned) if before.is_none() || planned.seen.is_none() || planned.seen == before => {
                let expected = overlay.epoch().unwrap_or_default();
                self.overlays.insert(org, overlay);
                Ok(Ahead {
                    org,
                    seqs,
                    n,
                    kib,
                    planned,
                    expected,
                })
            }
            _ => {
                overlay.clear();
                self.overlays.insert(org, overlay);
                Err(self.read_again(org, seqs, n, kib).await)
            }
        }
    }

    /// Writes `cur` and, meanwhile, resolves `next` if it is a group of the same organisation.
    /// Returns the group to write next if it was resolved validly, or the one to take up next
    /// otherwise.
    async fn write_resolving_next(
        &mut self,
        mut cur: Ahead,
        next: Option<Group>,
    ) -> (Option<Ahead>, Option<Group>) {
        let org = cur.org;
        let overlay = self.overlays.remove(&org).unwrap_or_default();
        let mut queued = None;
        let mut to_plan = None;
        if let Some(g) = next {
            match self.rules.get(org).await {
                Ok(rules) if g.org() == Some(org) && !overlay.is_full() => {
                    to_plan = Some((g, rules))
                }
                _ => queued = Some(g),
            }
        }
        #[cfg(test)]
        let fail = {
            let fail = self.fail_commits > 0;
            self.fail_commits = self.fail_commits.saturating_sub(1);
            fail
        };
        #[cfg(not(test))]
        let fail = false;
        let now = self.clock.now_ms();
        let started = Instant::now();
        // The next group is resolved on a task of its own, so that its CPU work never delays
        // this group's statements.
        let mut overlay = Some(overlay);
        let resolving = to_plan.map(|(g, rules)| {
            let (seqs, n, kib, touches) = g.split();
            let last = seqs.last().copied().unwrap_or(0) as i64;
            let overlay = overlay.take().unwrap_or_default();
            let (store, metrics, log_id) = (
                self.store.clone(),
                self.metrics.clone(),
                self.log_id.clone(),
            );
            let task = tokio::spawn(async move {
                plan_ahead(
                    &store,
                    org,
                    rules,
                    overlay,
                    touches,
                    Some((log_id, last)),
                    &metrics,
                )
                .await
            });
            (seqs, n, kib, task)
        });
        let written = if fail {
            Err(StoreError::Conflict("failure made by the test".into()))
        } else {
            write_planned(
                &self.store,
                org,
                &mut cur.planned.write,
                cur.expected,
                now,
                &self.metrics,
            )
            .await
        };
        let (mut overlay, resolved) = match resolving {
            None => (overlay.unwrap_or_default(), None),
            Some((seqs, n, kib, task)) => match task.await {
                Ok((overlay, planned)) => (overlay, Some((seqs, n, kib, planned))),
                Err(e) => {
                    // The overlay went with the task; the group is read back from the log.
                    let failed = Err(StoreError::Conflict(format!("resolving failed: {e}")));
                    (Overlay::default(), Some((seqs, n, kib, failed)))
                }
            },
        };
        self.metrics.observe_commit(started.elapsed().as_secs_f64());
        let mut ahead = None;
        let mut again = None;
        match written {
            Ok(Some((out, end))) => {
                overlay.committed(&out.created, Some(end));
                match resolved {
                    // The snapshot it read was the holdings `cur` was resolved against, or those
                    // `cur` left: either way nobody else changed them in between.
                    Some((seqs, n, kib, Ok(mut planned)))
                        if planned.seen.is_none_or(|e| e == cur.expected || e == end) =>
                    {
                        planned.write.rename_contacts(&out.created);
                        self.metrics.intake_resolved_ahead.fetch_add(1, Relaxed);
                        ahead = Some(Ahead {
                            org,
                            seqs,
                            n,
                            kib,
                            planned,
                            expected: end,
                        });
                    }
                    Some((seqs, n, kib, _)) => {
                        overlay.clear();
                        again = Some((seqs, n, kib));
                    }
                    None if overlay.is_full() => overlay.clear(),
                    None => {}
                }
                self.overlays.insert(org, overlay);
            }
            failed => {
                // The plans changed the overlay for writes that did not happen.
                overlay.clear();
                self.overlays.insert(org, overlay);
                match failed {
                    Ok(_) => {
                        // Someone else changed the holdings since `cur` was resolved.
                        self.metrics.intake_resolved_again.fetch_add(1, Relaxed);
                        let group = self.read_again(org, cur.seqs.clone(), cur.n, cur.kib).await;
                        self.apply(group.pending).await;
                    }
                    Err(e) => {
                        self.metrics.commit_failures.fetch_add(1, Relaxed);
                        tracing::warn!(org.id = org.0, requests = cur.seqs.len(), error = %e, "applying logged requests failed; applying them one by one");
                        self.recover(org, &cur.seqs).await;
                    }
                }
                if let Some((seqs, n, kib, _)) = resolved {
                    again = Some((seqs, n, kib));
                }
            }
        }
        if let Some((seqs, n, kib)) = again {
            self.metrics.intake_resolved_again.fetch_add(1, Relaxed);
            queued = Some(self.read_again(org, seqs, n, kib).await);
        }
        (ahead, queued)
    }

    /// Counts a group as dealt with: its room in the backlog is free again and waiters for its
    /// requests are told.
    fn done(&self, inner: &Inner, n: usize, kib: usize, last: u64) {
        self.metrics.intake_backlog.fetch_sub(n as u64, Relaxed);
        inner.messages.add_permits(n);
        inner.kib.add_permits(kib);
        inner.applied.send_replace(last);
    }

    /// The requests of a group whose touches were consumed by a plan that will not be written,
    /// read back from the log and parsed again (one that no longer parses is set aside).
    async fn read_again(&mut self, org: OrgId, seqs: Vec<u64>, n: usize, kib: usize) -> Group {
        let mut pending = Vec::with_capacity(seqs.len());
        for r in self.read_back(org, &seqs).await {
            match parse(&r) {
                Ok(touches) => pending.push(Pending {
                    seq: r.seq,
                    org: r.org,
                    touches,
                    kib: 0,
                }),
                Err(reason) => self.set_aside(&r, &reason).await,
            }
        }
        Group { pending, n, kib }
    }

    /// The records of these requests from the log; while the log cannot be read, it waits and
    /// retries.
    async fn read_back(&self, org: OrgId, seqs: &[u64]) -> Vec<LogRecord> {
        let records = loop {
            match log::read_records(&self.dir, seqs) {
                Ok(r) => break r,
                Err(e) => {
                    tracing::error!(error = %e, "reading the intake log back failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        if records.len() < seqs.len() {
            tracing::error!(
                org.id = org.0,
                missing = seqs.len() - records.len(),
                "logged requests were not found in the intake log"
            );
        }
        records
    }

    /// Applies a group of requests, one transaction per organisation. A transaction that fails
    /// is done again request by request (see [`Applier::recover`]); this returns only once every
    /// request is applied or set aside.
    async fn apply(&mut self, group: Vec<Pending>) {
        for (org, pending) in by_org(group, |p| p.org) {
            let seqs: Vec<u64> = pending.iter().map(|p| p.seq).collect();
            let last = seqs.last().copied().unwrap_or(0) as i64;
            let touches: Vec<Touch> = pending.into_iter().flat_map(|p| p.touches).collect();
            let started = Instant::now();
            let outcome = self.commit(org, touches, last).await;
            self.metrics.observe_commit(started.elapsed().as_secs_f64());
            if let Err(e) = outcome {
                self.metrics.commit_failures.fetch_add(1, Relaxed);
                tracing::warn!(org.id = org.0, requests = seqs.len(), error = %e, "applying logged requests failed; applying them one by one");
                self.recover(org, &seqs).await;
            }
        }
    }

    async fn commit(
        &mut self,
        org: OrgId,
        touches: Vec<Touch>,
        seq: i64,
    ) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.fail_commits > 0 {
            self.fail_commits -= 1;
            return Err(StoreError::Conflict("failure made by the test".into()));
        }
        let rules = self.rules.get(org).await;
        let overlay = self.overlays.entry(org).or_default();
        let out = commit_logged(
            &self.store,
            org,
            &rules,
            touches,
            self.clock.now_ms(),
            &self.metrics,
            overlay,
            Some((&self.log_id, seq)),
        )
        .await;
        crate::pipeline::keep_within_capacity(&mut self.overlays);
        out.map(|_| ())
    }

    /// Applies the requests again one at a time, read back from the log. While the database is
    /// unreachable it waits and retries; a request that fails on its own is set aside.
    async fn recover(&mut self, org: OrgId, seqs: &[u64]) {
        let records = self.read_back(org, seqs).await;
        for r in records {
            let mut failures = 0u32;
            loop {
                let touches = match parse(&r) {
                    Ok(t) => t,
                    Err(reason) => {
                        self.set_aside(&r, &reason).await;
                        break;
                    }
                };
                match self.commit(org, touches, r.seq as i64).await {
                    Ok(()) => break,
                    Err(e) if e.is_unavailable() || e.is_transient() => {
                        failures += 1;
                        let wait = Duration::from_millis(100 << failures.min(6));
                        tracing::warn!(org.id = org.0, error = %e, "the database is unavailable; retrying the logged request");
                        tokio::time::sleep(wait).await;
                    }
                    Err(e) if failures < 2 => {
                        failures += 1;
                        tracing::warn!(org.id = org.0, seq = r.seq, error = %e, "applying a logged request failed; retrying");
                    }
                    Err(e) => {
                        self.set_aside(&r, &e.to_string()).await;
                        break;
                    }
                }
            }
        }
    }

    /// Keeps a request that cannot be applied in `rejected/` (its log record and the reason) and
    /// counts it as dealt with, so that it neither blocks the rest nor is lost.
    async fn set_aside(&mut self, r: &LogRecord, reason: &str) {
        tracing::error!(
            org.id = r.org.0,
            seq = r.seq,
            "a logged request cannot be applied; it is kept in the intake log's rejected folder"
        );
        self.metrics.intake_rejected.fetch_add(1, Relaxed);
        let dir = self.dir.join(REJECTED);
        loop {
            match log::keep_rejected(&dir, r, reason) {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, "keeping a rejected request failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        loop {
            match self
                .store
                .set_intake_applied(r.org, &self.log_id, r.seq as i64)
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a set-aside request failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use hatchery_store::StoreOptions;

    const START: i64 = 1_795_000_000_000;

    async fn setup() -> (tempfile::TempDir, Applier, OrgId, Vec<LogRecord>) {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("t.db").display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        let org = store.create_org("Org", START).await.unwrap().id;
        let (source, _) = store
            .create_source(org, "Website", "website", START)
            .await
            .unwrap();
        let dir = tmp.path().join("intake");
        let mut records: Vec<LogRecord> = (1..=3)
            .map(|i| LogRecord {
                seq: 0,
                org,
                source: source.id,
                source_name: source.name.clone(),
                kind: None,
                received_at: START,
                // No messageId: a request applied twice would store its events twice.
                body: format!(
                    r#"{{"batch":[{{"type":"track","anonymousId":"a-{i}","event":"e"}},{{"type":"page","anonymousId":"a-{i}"}}]}}"#
                )
                .into_bytes(),
            })
            .collect();
        LogWriter::create(&dir, 1)
            .unwrap()
            .append(&mut records)
            .unwrap();
        let applier = Applier {
            log_id: log::log_id(&dir).unwrap(),
            dir,
            rules: RulesCache::new(store.clone()),
            store,
            clock: Arc::new(ManualClock::new(START)),
            metrics: Arc::default(),
            overlays: HashMap::new(),
            fail_commits: 0,
        };
        (tmp, applier, org, records)
    }

    fn pending(records: &[LogRecord]) -> Vec<Pending> {
        records
            .iter()
            .map(|r| Pending {
                seq: r.seq,
                org: r.org,
                touches: parse(r).unwrap(),
                kib: 1,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_failed_group_is_applied_again_request_by_request_from_the_log() {
        let (_tmp, mut applier, org, records) = setup().await;
        applier.fail_commits = 1;
        applier.apply(pending(&records)).await;
        assert_eq!(
            applier.store.count_events(org).await.unwrap(),
            6,
            "each once"
        );
        assert_eq!(applier.store.count_contacts(org).await.unwrap(), 3);
        assert_eq!(applier.metrics.commit_failures.load(Relaxed), 1);
        assert_eq!(applier.metrics.intake_rejected.load(Relaxed), 0);
        assert_eq!(
            applier.store.intake_applied(&applier.log_id).await.unwrap(),
            vec![(org, 3)]
        );
    }

    #[tokio::test]
    async fn a_request_that_keeps_failing_alone_is_set_aside_and_the_rest_applied() {
        let (_tmp, mut applier, org, records) = setup().await;
        // The group, then the first request three times.
        applier.fail_commits = 4;
        applier.apply(pending(&records)).await;
        assert_eq!(applier.store.count_events(org).await.unwrap(), 4);
        assert_eq!(applier.metrics.intake_rejected.load(Relaxed), 1);
        assert_eq!(
            applier.store.intake_applied(&applier.log_id).await.unwrap(),
            vec![(org, 3)]
        );
        let kept = applier.dir.join("rejected").join(format!("{:020}.log", 1));
        assert_eq!(
            log::read_segment(&kept).unwrap().records,
            vec![records[0].clone()]
        );
        let why = std::fs::read_to_string(kept.with_extension("txt")).unwrap();
        assert!(why.contains("failure made by the test"), "{why}");
    }

    fn group(records: &[LogRecord]) -> Group {
        let pending = pending(records);
        let n = pending.iter().map(|p| p.touches.len()).sum();
        Group { pending, n, kib: 0 }
    }

    #[tokio::test]
    async fn a_group_resolved_ahead_is_resolved_again_when_someone_else_changed_the_holdings() {
        let (_tmp, mut applier, org, records) = setup().await;
        let cur = applier.plan_alone(group(&records[..1])).await.ok().unwrap();
        assert_eq!(
            cur.planned.write.contacts.len(),
            1,
            "a-1 is new when resolved"
        );
        // Meanwhile another writer makes a contact of a-1.
        let rules = applier.rules.get(org).await;
        crate::writer::commit_touches(
            &applier.store,
            org,
            &rules,
            parse(&records[0]).unwrap(),
            START,
            &applier.metrics,
        )
        .await
        .unwrap();

        let (ahead, queued) = applier
            .write_resolving_next(cur, Some(group(&records[1..])))
            .await;
        // The stale plan was not written (its new contact would have clashed with a-1's
        // identity and failed the group); it was resolved again in its transaction.
        assert_eq!(applier.metrics.commit_failures.load(Relaxed), 0);
        assert_eq!(applier.store.count_contacts(org).await.unwrap(), 1);
        assert_eq!(applier.store.count_events(org).await.unwrap(), 4);
        // The group behind was resolved against the same stale overlay: it is read back from
        // the log, to be resolved afresh.
        assert!(ahead.is_none());
        assert_eq!(applier.metrics.intake_resolved_again.load(Relaxed), 2);
        let queued = queued.expect("the group behind, read again");
        assert_eq!(
            queued.pending.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let next = applier.plan_alone(queued).await.ok().unwrap();
        let (ahead, queued) = applier.write_resolving_next(next, None).await;
        assert!(ahead.is_none() && queued.is_none());
        assert_eq!(applier.metrics.intake_resolved_again.load(Relaxed), 2);
        assert_eq!(applier.store.count_contacts(org).await.unwrap(), 3);
        assert_eq!(applier.store.count_events(org).await.unwrap(), 8);
        assert_eq!(
            applier.store.intake_applied(&applier.log_id).await.unwrap(),
            vec![(org, 3)]
        );
    }

    #[tokio::test]
    async fn a_group_resolved_ahead_names_the_contacts_the_group_before_created_by_their_stored_ids(
    ) {
        let (_tmp, mut applier, org, records) = setup().await;
        let cur = applier.plan_alone(group(&records[..1])).await.ok().unwrap();
        // The same visitor again: resolved while the first group is written, against the
        // contact that group is creating.
        let mut again = records[0].clone();
        again.seq = 2;
        let pending = vec![Pending {
            seq: 2,
            org,
            touches: parse(&again).unwrap(),
            kib: 0,
        }];
        let (ahead, _) = applier
            .write_resolving_next(
                cur,
                Some(Group {
                    pending,
                    n: 2,
                    kib: 0,
                }),
            )
            .await;
        let next = ahead.expect("resolved ahead");
        assert!(
            next.planned.write.contacts.is_empty(),
            "a-1 is known to the overlay"
        );
        let contact = next.planned.write.events[0].contact;
        assert!(contact.0 > 0, "renamed to the stored id: {contact:?}");
        applier.write_resolving_next(next, None).await;
        assert_eq!(applier.store.count_contacts(org).await.unwrap(), 1);
        assert_eq!(applier.store.count_events(org).await.unwrap(), 4);
        assert_eq!(applier.metrics.intake_resolved_ahead.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn a_request_whose_log_write_fails_is_refused_and_none_of_it_is_applied() {
        let (_tmp, applier, org, records) = setup().await;
        let (dir, store) = (applier.dir.clone(), applier.store.clone());
        drop(applier);
        let metrics = Arc::new(Metrics::default());
        // Each segment holds one record, so every request after the first starts a segment.
        let intake = Intake::open_with(
            &dir,
            store.clone(),
            RulesCache::new(store.clone()),
            Arc::new(ManualClock::new(START)),
            metrics.clone(),
            log::MAGIC.len() as u64 + 1,
        )
        .await
        .unwrap();
        // The three requests already in the log were applied on opening.
        assert_eq!(store.count_events(org).await.unwrap(), 6);
        let request = |who: &str| {
            let mut r = records[0].clone();
            r.body = format!(
                r#"{{"batch":[{{"type":"track","anonymousId":"{who}","event":"e"}},{{"type":"page","anonymousId":"{who}"}}]}}"#
            )
            .into_bytes();
            let touches = parse(&r).unwrap();
            (r, touches)
        };
        let (r, t) = request("b-1");
        intake.log(r, t).await.expect("logged as record 4");
        // The segment the next record needs cannot be made: its name is taken by a folder.
        let blocker = dir.join(format!("{:020}.log", 5));
        std::fs::create_dir(&blocker).unwrap();
        let (r, t) = request("b-2");
        match intake.log(r, t).await {
            Err(IngestError::Log(_)) => {}
            other => panic!("expected a refusal for the log write, got {other:?}"),
        }
        std::fs::remove_dir(&blocker).unwrap();
        let (r, t) = request("b-3");
        intake.log(r, t).await.expect("logged as record 5");
        intake.flush().await;
        assert_eq!(
            store.count_events(org).await.unwrap(),
            10,
            "b-1 and b-3 applied, nothing of b-2"
        );
        assert_eq!(store.count_contacts(org).await.unwrap(), 5);
        assert_eq!(metrics.intake_logged.load(Relaxed), 4);
        assert_eq!(
            intake.backlog(),
            0,
            "the refused request's room was given back"
        );
        assert_eq!(
            intake.inner.logged.load(Relaxed),
            5,
            "the refused request used no sequence number"
        );
    }

    #[tokio::test]
    async fn the_process_stops_when_the_applier_panics_and_only_then() {
        let stopped = std::sync::atomic::AtomicBool::new(false);
        let panicking = tokio::spawn(async { panic!("applier bug") });
        stop_if_it_panics(panicking, || stopped.store(true, Relaxed)).await;
        assert!(stopped.load(Relaxed));
        let stopped = std::sync::atomic::AtomicBool::new(false);
        stop_if_it_panics(tokio::spawn(async {}), || stopped.store(true, Relaxed)).await;
        assert!(
            !stopped.load(Relaxed),
            "an applier that ends (at shutdown) stops nothing"
        );
    }
}
