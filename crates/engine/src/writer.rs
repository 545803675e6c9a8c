//! The ingest writer: requests hand their touches to one task, which commits everything waiting
//! in a single transaction (group commit) and answers each request only after that commit — so a
//! `200` from the tracking API means the data is durable, and many small requests cost one fsync.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hatchery_domain::{ContactId, IdentityRules, OrgId};
use hatchery_store::ingest::{IngestOutcome, IngestWrite};
use hatchery_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot, RwLock};

use crate::clock::Clock;
use crate::intake::log::LogRecord;
use crate::intake::{Intake, IntakeError, SetAside};
use crate::metrics::{Metrics, WritePhase};
use crate::pipeline::{plan, Overlay, TouchResult};
use crate::touch::SourceRef;
use crate::touch::Touch;
use crate::tracking::touches_of_body;

/// Most touches committed in one transaction.
pub const MAX_GROUP_TOUCHES: usize = 10_000;
const RULES_TTL: Duration = Duration::from_secs(5);
/// Times a group commit aborted by PostgreSQL (deadlock, serialization) is run again.
const TRANSIENT_RETRIES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A touch cannot be stored; nothing of the request was written.
    #[error("{message}")]
    Invalid { index: usize, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ingest writer has stopped")]
    Stopped,
    /// The intake log could not be written; nothing of the request was accepted.
    #[error("the intake log could not be written: {0}")]
    Log(String),
}

fn log_error(e: std::io::Error) -> IngestError {
    IngestError::Log(e.to_string())
}

struct Job {
    org: OrgId,
    touches: Vec<Touch>,
    reply: oneshot::Sender<Result<Vec<TouchResult>, IngestError>>,
}

/// The organisations' identity rules, cached for a few seconds; cheap to clone.
#[derive(Clone)]
pub(crate) struct RulesCache {
    store: Store,
    map: Arc<RwLock<HashMap<OrgId, (IdentityRules, Instant)>>>,
}

impl RulesCache {
    pub(crate) fn new(store: Store) -> RulesCache {
        RulesCache {
            store,
            map: Arc::default(),
        }
    }

    pub(crate) async fn get(&self, org: OrgId) -> Result<IdentityRules, StoreError> {
        if let Some((r, at)) = self.map.read().await.get(&org) {
            if at.elapsed() < RULES_TTL {
                return Ok(r.clone());
            }
        }
        let r = self.store.identity_rules(org).await?;
        self.map
            .write()
            .await
            .insert(org, (r.clone(), Instant::now()));
        Ok(r)
    }

    async fn forget(&self, org: OrgId) {
        self.map.write().await.remove(&org);
    }
}

/// Handle to the ingest writer; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<Job>,
    store: Store,
    rules: RulesCache,
    /// Tracking requests are acknowledged once logged, when the intake log is on.
    intake: Option<Intake>,
}

impl Ingestor {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Ingestor {
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let ing = Ingestor {
            tx,
            rules: RulesCache::new(store.clone()),
            store,
            intake: None,
        };
        let worker = ing.clone();
        tokio::spawn(async move { worker.run(rx, clock, metrics).await });
        ing
    }

    /// [`Ingestor::start`] with the intake log in `dir` (see `intake.rs`): what earlier runs
    /// logged and did not apply is applied before this returns.
    pub async fn start_with_intake(
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        dir: &Path,
    ) -> Result<Ingestor, IntakeError> {
        let mut ing = Ingestor::start(store.clone(), clock.clone(), metrics.clone());
        ing.intake = Some(Intake::open(dir, store, ing.rules.clone(), clock, metrics).await?);
        Ok(ing)
    }

    /// Whether tracking requests are acknowledged once logged (and applied behind).
    pub fn logs_intake(&self) -> bool {
        self.intake.is_some()
    }

    /// The organisation's identity rules, cached for a few seconds.
    pub async fn rules(&self, org: OrgId) -> Result<IdentityRules, StoreError> {
        self.rules.get(org).await
    }

    /// Forgets cached rules after they changed.
    pub async fn rules_changed(&self, org: OrgId) {
        self.rules.forget(org).await;
    }

    /// Accepts a tracking request: with the intake log, returns once `record()` is logged and
    /// applies the touches behind; without it, as [`Ingestor::submit`]. Either all of the
    /// request is accepted or none.
    pub async fn accept(
        &self,
        org: OrgId,
        touches: Vec<Touch>,
        record: impl FnOnce() -> LogRecord,
    ) -> Result<(), IngestError> {
        let Some(intake) = &self.intake else {
            return self.submit(org, touches).await.map(|_| ());
        };
        self.check_usable(org, &touches).await?;
        if touches.is_empty() {
            return Ok(());
        }
        intake.log(record(), touches).await
    }

    /// Waits until every tracking request acknowledged so far is applied to the pool (at once
    /// without the intake log, whose `200` already means applied).
    pub async fn flush(&self) {
        if let Some(i) = &self.intake {
            i.flush().await;
        }
    }

    /// Tracking messages logged and not yet applied (0 without the intake log).
    pub fn backlog(&self) -> u64 {
        self.intake.as_ref().map_or(0, Intake::backlog)
    }

    /// Holds the intake log's applier (before its next group) until the guard is dropped, so that
    /// acknowledged requests stay waiting: for tests of what must wait for them. `None` without
    /// the intake log.
    #[doc(hidden)]
    pub async fn hold_applier(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.intake.as_ref()?.hold_applier().await)
    }

    /// The organisation's tracking requests that were logged but could not be applied, oldest
    /// first; `None` without the intake log.
    pub fn set_aside(&self, org: OrgId) -> Result<Option<Vec<SetAside>>, IngestError> {
        let Some(intake) = &self.intake else {
            return Ok(None);
        };
        intake.set_aside(org).map(Some).map_err(log_error)
    }

    /// Accepts the request set aside as `seq` again, as it was first received (the same body,
    /// source and receipt time), and removes it from the set-aside ones once it is logged anew; it
    /// is then applied as any request, and set aside again (under a new number) if it still
    /// cannot be. Returns its number of messages, or `None` if the organisation has no such
    /// request (or the intake log is off).
    pub async fn retry_set_aside(
        &self,
        org: OrgId,
        seq: u64,
    ) -> Result<Option<usize>, IngestError> {
        let Some(intake) = &self.intake else {
            return Ok(None);
        };
        let _once = intake.retrying().await;
        let Some(record) = intake.set_aside_record(org, seq).map_err(log_error)? else {
            return Ok(None);
        };
        let source = SourceRef {
            id: record.source,
            name: record.source_name.clone(),
        };
        let request = touches_of_body(&record.body, record.kind, record.received_at, &source)
            .map_err(|e| IngestError::Invalid {
                index: 0,
                message: format!("the request cannot be read: {e}"),
            })?;
        let n = request.touches.len();
        self.accept(org, request.touches, || LogRecord { seq: 0, ..record })
            .await?;
        intake.remove_set_aside(seq).map_err(log_error)?;
        Ok(Some(n))
    }

    /// Discards the request set aside as `seq`: its messages are lost. False if the organisation
    /// has no such request (or the intake log is off).
    pub async fn discard_set_aside(&self, org: OrgId, seq: u64) -> Result<bool, IngestError> {
        let Some(intake) = &self.intake else {
            return Ok(false);
        };
        let _once = intake.retrying().await;
        if intake
            .set_aside_record(org, seq)
            .map_err(log_error)?
            .is_none()
        {
            return Ok(false);
        }
        intake.remove_set_aside(seq).map_err(log_error)
    }

    async fn check_usable(&self, org: OrgId, touches: &[Touch]) -> Result<(), IngestError> {
        let rules = self.rules(org).await?;
        for (index, t) in touches.iter().enumerate() {
            if !t.identifiers.iter().any(|i| !rules.is_blocked(&i.value)) {
                return Err(IngestError::Invalid {
                    index,
                    message: "no usable identifier: userId and anonymousId are empty or placeholder values".into(),
                });
            }
        }
        Ok(())
    }

    /// Stores the touches and returns once they are durable. Either all are stored or none.
    /// With the intake log on, tracking requests acknowledged earlier are applied first, so that
    /// an edit made after them (through the API) is not overwritten by them.
    pub async fn submit(
        &self,
        org: OrgId,
        touches: Vec<Touch>,
    ) -> Result<Vec<TouchResult>, IngestError> {
        self.check_usable(org, &touches).await?;
        if touches.is_empty() {
            return Ok(Vec::new());
        }
        self.flush().await;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                org,
                touches,
                reply,
            })
            .await
            .map_err(|_| IngestError::Stopped)?;
        rx.await.map_err(|_| IngestError::Stopped)?
    }

    async fn run(self, mut rx: mpsc::Receiver<Job>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) {
        let mut overlays: HashMap<OrgId, Overlay> = HashMap::new();
        while let Some(first) = rx.recv().await {
            let (jobs, _) = take_waiting(
                first,
                MAX_GROUP_TOUCHES,
                |j| j.touches.len(),
                || rx.try_recv().ok(),
            );
            for (org, jobs) in by_org(jobs, |j| j.org) {
                let overlay = overlays.entry(org).or_default();
                self.commit_group(org, jobs, overlay, clock.as_ref(), &metrics)
                    .await;
            }
            // The overlays together stay within one overlay's capacity.
            crate::pipeline::keep_within_capacity(&mut overlays);
        }
    }

    async fn commit_group(
        &self,
        org: OrgId,
        jobs: Vec<Job>,
        overlay: &mut Overlay,
        clock: &dyn Clock,
        metrics: &Metrics,
    ) {
        let sizes: Vec<usize> = jobs.iter().map(|j| j.touches.len()).collect();
        let mut replies = Vec::with_capacity(jobs.len());
        let mut touches = Vec::with_capacity(sizes.iter().sum());
        for j in jobs {
            replies.push(j.reply);
            touches.extend(j.touches);
        }
        let started = Instant::now();
        let rules = self.rules(org).await;
        // On PostgreSQL the group's transaction can be chosen to break a deadlock with an
        // evaluation worker's (both lock contacts' job rows); it wrote nothing then, and is run
        // again rather than answered with an error the sender would not retry. SQLite writes one
        // transaction at a time and never needs this, so only PostgreSQL pays for the copy.
        let postgres = self.store.backend_name() == "postgres";
        let mut retries = 0;
        let outcome = loop {
            let again = (postgres && retries < TRANSIENT_RETRIES).then(|| touches.clone());
            let outcome = commit_touches_with(
                &self.store,
                org,
                &rules,
                touches,
                clock.now_ms(),
                metrics,
                overlay,
            )
            .await;
            match (&outcome, again) {
                (Err(e), Some(copy)) if e.is_transient() => {
                    tracing::warn!(org.id = org.0, error = %e, "ingest commit aborted by the database; running it again");
                    touches = copy;
                    retries += 1;
                }
                _ => break outcome,
            }
        };
        metrics.observe_commit(started.elapsed().as_secs_f64());
        match outcome {
            Ok(results) => {
                let mut it = results.into_iter();
                for (reply, n) in replies.into_iter().zip(sizes) {
                    let _ = reply.send(Ok(it.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                metrics
                    .commit_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(org.id = org.0, error = %e, "ingest commit failed");
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Store(StoreError::Conflict(msg.clone()))));
                }
            }
        }
    }
}

/// Resolves and writes one batch of touches in one transaction. The transaction holds the
/// organisation's holdings lock from its first read (see [`Store::lock_holdings`]), so no other
/// writer — in this process, another process or another node — can link an identifier between the
/// lookups and the writes; nothing needs resolving twice.
pub async fn commit_touches(
    store: &Store,
    org: OrgId,
    rules: &Result<IdentityRules, StoreError>,
    touches: Vec<Touch>,
    now: i64,
    metrics: &Metrics,
) -> Result<Vec<TouchResult>, StoreError> {
    commit_touches_with(
        store,
        org,
        rules,
        touches,
        now,
        metrics,
        &mut Overlay::default(),
    )
    .await
}

/// [`commit_touches`] with an overlay that outlives the call, so that identifiers resolved by
/// earlier batches need no lookup. The transaction locks the organisation's holdings first (see
/// [`Store::lock_holdings`]) and the overlay is forgotten if anyone else changed them since it was
/// last used.
pub async fn commit_touches_with(
    store: &Store,
    org: OrgId,
    rules: &Result<IdentityRules, StoreError>,
    touches: Vec<Touch>,
    now: i64,
    metrics: &Metrics,
    overlay: &mut Overlay,
) -> Result<Vec<TouchResult>, StoreError> {
    commit_logged(store, org, rules, touches, now, metrics, overlay, None).await
}

/// [`commit_touches_with`] that also records, in the same transaction, the intake log's sequence
/// number of the last request the touches come from (see `intake.rs`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn commit_logged(
    store: &Store,
    org: OrgId,
    rules: &Result<IdentityRules, StoreError>,
    touches: Vec<Touch>,
    now: i64,
    metrics: &Metrics,
    overlay: &mut Overlay,
    intake_seq: Option<(&str, i64)>,
) -> Result<Vec<TouchResult>, StoreError> {
    let rules = match rules {
        Ok(r) => r,
        Err(e) => {
            return Err(StoreError::Conflict(format!(
                "identity rules unavailable: {e}"
            )))
        }
    };
    let mut clock = Instant::now();
    let mut lap = |phase: WritePhase| {
        let now = Instant::now();
        metrics.observe_write_phase(phase, now - clock);
        clock = now;
    };
    let mut tx = store.begin().await?;
    let written = async {
        overlay.check_epoch(store.lock_holdings(&mut tx, org).await?);
        lap(WritePhase::Begin);
        overlay.load_in(store, &mut tx, org, &touches).await?;
        lap(WritePhase::Lookup);
        let (mut write, results) = plan(rules, overlay, touches);
        write.intake_seq = intake_seq.map(|(log, seq)| (log.to_owned(), seq));
        let counts = (write.contacts.len(), write.merges.len(), write.events.len());
        lap(WritePhase::Plan);
        let out = store.write_ingest_in(&mut tx, org, &mut write, now).await?;
        lap(WritePhase::Write);
        Ok((out, results, counts))
    }
    .await;
    let ended = store.end_ingest(tx, written).await;
    lap(WritePhase::Commit);
    match ended {
        Ok((out, mut results, (n_contacts, n_merges, n_events))) => {
            overlay.committed(&out.created, out.holdings_epoch);
            if overlay.is_full() {
                overlay.clear();
            }
            rename_results(&mut results, &out.created);
            count_written(metrics, &out, n_contacts, n_merges, n_events);
            Ok(results)
        }
        Err(e) => {
            // The plan changed the overlay for a write that did not happen.
            overlay.clear();
            Err(e)
        }
    }
}

fn count_written(
    metrics: &Metrics,
    out: &IngestOutcome,
    contacts: usize,
    merges: usize,
    events: usize,
) {
    use std::sync::atomic::Ordering::Relaxed;
    metrics
        .events_ingested
        .fetch_add(out.events_inserted, Relaxed);
    metrics
        .events_duplicate
        .fetch_add(events as u64 - out.events_inserted, Relaxed);
    metrics.contacts_created.fetch_add(contacts as u64, Relaxed);
    metrics.merges.fetch_add(merges as u64, Relaxed);
}

/// Names the contacts a write created by their stored ids in the touches' results.
pub(crate) fn rename_results(results: &mut [TouchResult], created: &HashMap<ContactId, ContactId>) {
    for c in results.iter_mut().filter_map(|r| r.contact.as_mut()) {
        if let Some(real) = created.get(c) {
            *c = *real;
        }
    }
}

/// A batch resolved ahead of its transaction (see `intake.rs`, `import.rs`): what to write,
/// assuming the holdings it was resolved against.
pub(crate) struct Planned {
    pub write: IngestWrite,
    /// What happened to each touch; contacts the write will create carry provisional ids.
    pub results: Vec<TouchResult>,
    /// The holdings counter of the snapshot the plan's lookups read; `None` when the overlay
    /// already knew every identifier.
    pub seen: Option<i64>,
}

/// Resolves touches outside any transaction: looks up the identifiers the overlay does not know
/// in one snapshot of the database (see [`Store::holdings_snapshot`]), then plans on the calling
/// task (the intake applier gives it a task of its own). The overlay is moved in and handed back
/// as the plan changed it, also on an error (after which it must be cleared: it may hold part of a
/// plan that will not be written).
pub(crate) async fn plan_ahead(
    store: &Store,
    org: OrgId,
    rules: IdentityRules,
    mut overlay: Overlay,
    touches: Vec<Touch>,
    intake_seq: Option<(String, i64)>,
    metrics: &Metrics,
) -> (Overlay, Result<Planned, StoreError>) {
    let started = Instant::now();
    let missing = overlay.missing(&touches);
    let mut seen = None;
    if !missing.is_empty() || overlay.epoch().is_none() {
        match store.holdings_snapshot(org, &missing).await {
            Ok((epoch, found)) => {
                if overlay.epoch().is_none() {
                    overlay.check_epoch(epoch);
                }
                overlay.absorb(missing, found);
                seen = Some(epoch);
            }
            Err(e) => return (overlay, Err(e)),
        }
    }
    let looked_up = Instant::now();
    metrics.observe_write_phase(WritePhase::Lookup, looked_up - started);
    // About 100 ms of CPU for a full group, as when the applier resolves inside its transaction.
    let (mut write, results) = plan(&rules, &mut overlay, touches);
    write.intake_seq = intake_seq;
    metrics.observe_write_phase(WritePhase::Plan, looked_up.elapsed());
    (
        overlay,
        Ok(Planned {
            write,
            results,
            seen,
        }),
    )
}

/// Writes a planned batch in one transaction if the organisation's holdings counter is still
/// `expected`, the one the plan was resolved against. `Ok(None)`: it is not, nothing was written,
/// and the batch must be resolved again. Otherwise what was written and the counter it left.
pub(crate) async fn write_planned(
    store: &Store,
    org: OrgId,
    write: &mut IngestWrite,
    expected: i64,
    now: i64,
    metrics: &Metrics,
) -> Result<Option<(IngestOutcome, i64)>, StoreError> {
    let started = Instant::now();
    let mut tx = store.begin().await?;
    let epoch = match store.lock_holdings(&mut tx, org).await {
        Ok(e) => e,
        Err(e) => return store.end_ingest(tx, Err(e)).await,
    };
    if epoch != expected {
        let _ = tx.rollback().await;
        return Ok(None);
    }
    let begun = Instant::now();
    metrics.observe_write_phase(WritePhase::Begin, begun - started);
    let written = store.write_ingest_in(&mut tx, org, write, now).await;
    let wrote = Instant::now();
    metrics.observe_write_phase(WritePhase::Write, wrote - begun);
    let out = store.end_ingest(tx, written).await?;
    metrics.observe_write_phase(WritePhase::Commit, wrote.elapsed());
    count_written(
        metrics,
        &out,
        write.contacts.len(),
        write.merges.len(),
        write.events.len(),
    );
    let after = out.holdings_epoch.unwrap_or(epoch);
    Ok(Some((out, after)))
}

/// `first` and whatever else is waiting (`next`), until the items' sizes reach `limit`; and the
/// sum of their sizes.
pub(crate) fn take_waiting<T>(
    first: T,
    limit: usize,
    size: impl Fn(&T) -> usize,
    mut next: impl FnMut() -> Option<T>,
) -> (Vec<T>, usize) {
    let mut n = size(&first);
    let mut items = vec![first];
    while n < limit {
        match next() {
            Some(item) => {
                n += size(&item);
                items.push(item);
            }
            None => break,
        }
    }
    (items, n)
}

/// The items by organisation, organisations in order of first appearance, each one's items in
/// their order.
pub(crate) fn by_org<T>(items: Vec<T>, org: impl Fn(&T) -> OrgId) -> Vec<(OrgId, Vec<T>)> {
    let mut out: Vec<(OrgId, Vec<T>)> = Vec::new();
    for item in items {
        let o = org(&item);
        match out.iter_mut().find(|(x, _)| *x == o) {
            Some((_, v)) => v.push(item),
            None => out.push((o, vec![item])),
        }
    }
    out
}
