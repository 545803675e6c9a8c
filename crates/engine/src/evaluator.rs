//! The evaluator keeps what depends on a contact current: its scores, its lifecycle stage, its
//! customer tiers and its segment memberships.
//!
//! It works off the jobs table (`hatchery_store::jobs`): every change to a contact (ingest,
//! import, API edit, tag, merge, erasure) asks, in the same transaction, for the contact to be
//! evaluated; a new or edited segment asks for its members to be computed by one query. The
//! evaluator claims due work in batches, evaluates each contact in process against every live
//! segment (`hatchery_domain::segment::membership`), writes the differences with their
//! `segment.entered` / `segment.exited` events, and leaves a timer on the contact when a rolling
//! window will change an answer with time alone — so nothing ever rescans the whole pool.
//!
//! A crash loses nothing: claimed work carries a lease and is claimed again when it runs out.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use hatchery_domain::ids::SegmentId;
use hatchery_domain::scoring::{ScoreKind, ScoreSnapshot};
use hatchery_domain::segment::{membership, EventRecord};
use hatchery_domain::{ContactId, OrgId};
use hatchery_store::jobs::{Job, JobEnd, JobKind};
use hatchery_store::lifecycle::StageMove;
use hatchery_store::scores::NewScore;
use hatchery_store::segments::membership::{Evaluations, ScoreCrossing, SnapshotNeeds};
use hatchery_store::{Store, StoreError};

use crate::clock::Clock;
use crate::metrics::{Metrics, Phase};

/// Contacts evaluated per batch.
pub const BATCH: u32 = 500;
/// How long claimed work is held before another worker may take it.
const LEASE_MS: i64 = 120_000;
/// How long an idle evaluator waits before looking for due timers again.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// When failed work is tried again.
const RETRY_MS: i64 = 5_000;

/// Evaluation workers by default (`evaluator_workers` in the configuration). Two let one batch
/// load its snapshots while another writes its outcome (reads run in parallel; SQLite takes one
/// writer at a time): on two cores the reading half of a batch no longer waits for the writing
/// half of the one before.
pub const WORKERS: usize = 2;
/// The most workers the configuration may ask for.
pub const MAX_WORKERS: usize = 16;

/// What the workers share so that they never step on each other. A claimed contact is leased
/// to one worker, so two workers never evaluate the same contact; what they must not do at once:
/// - materialise a segment while contacts are evaluated (a materialisation reads every contact's
///   answer at one instant and writes it later; a worker's newer answer for a contact in between
///   would be overwritten with the older one), so a materialisation has the gate alone;
/// - write their outcomes at once: on PostgreSQL two batches updating the same segment counters
///   and daily sizes could deadlock each other (on SQLite, writes are one at a time anyway).
#[derive(Default)]
pub struct Gate {
    materialise: tokio::sync::RwLock<()>,
    write: tokio::sync::Mutex<()>,
}

/// Starts `workers` evaluation workers (at least one) on the current runtime; they end when the
/// store is closed.
pub fn start(store: Store, clock: Arc<dyn Clock>, metrics: Arc<Metrics>, workers: usize) {
    let gate = Arc::new(Gate::default());
    for _ in 0..workers.clamp(1, MAX_WORKERS) {
        let (store, clock, metrics, gate) =
            (store.clone(), clock.clone(), metrics.clone(), gate.clone());
        tokio::spawn(async move {
            while !store.is_closed() {
                match run_gated(&store, clock.as_ref(), &metrics, &gate).await {
                    Ok(true) => {}
                    Ok(false) => store.wait_for_jobs(IDLE_POLL).await,
                    Err(e) => {
                        if store.is_closed() {
                            break;
                        }
                        tracing::warn!(error = %e, "evaluator pass failed");
                        tokio::time::sleep(IDLE_POLL).await;
                    }
                }
            }
        });
    }
}

/// Does all work due now with [`WORKERS`] workers, and returns when none is left (benchmarks
/// settle a pool with it).
pub async fn drain(store: &Store, clock: &dyn Clock, metrics: &Metrics) -> Result<(), StoreError> {
    let gate = Gate::default();
    let worker = || async {
        while run_gated(store, clock, metrics, &gate).await? {}
        Ok::<_, StoreError>(())
    };
    let workers: Vec<_> = (0..WORKERS).map(|_| worker()).collect();
    for r in futures_util::future::join_all(workers).await {
        r?;
    }
    // A worker stops when it finds nothing, while another may still leave work behind.
    while run_gated(store, clock, metrics, &gate).await? {}
    Ok(())
}

/// Does the work due now: pending materialisations, then one batch of contacts. Returns whether
/// there was any (public so tests and benchmarks can drive the evaluator without its task).
pub async fn run_once(
    store: &Store,
    clock: &dyn Clock,
    metrics: &Metrics,
) -> Result<bool, StoreError> {
    run_gated(store, clock, metrics, &Gate::default()).await
}

async fn run_gated(
    store: &Store,
    clock: &dyn Clock,
    metrics: &Metrics,
    gate: &Gate,
) -> Result<bool, StoreError> {
    let mut worked = false;
    let now = clock.now_ms();
    if store.job_due(JobKind::MaterialiseSegment, now).await? {
        let _alone = gate.materialise.write().await;
        worked = materialise_due(store, clock, metrics, clock.now_ms()).await?;
    }
    let _shared = gate.materialise.read().await;
    let now = clock.now_ms();
    let t = std::time::Instant::now();
    let jobs = store
        .claim_jobs(JobKind::EvaluateContact, now, LEASE_MS, BATCH)
        .await?;
    if jobs.is_empty() {
        return Ok(worked);
    }
    metrics.observe_phase(Phase::Claim, t.elapsed());
    metrics.evaluation_batches.fetch_add(1, Relaxed);
    let mut by_org: HashMap<OrgId, Vec<Job>> = HashMap::new();
    for j in jobs {
        by_org.entry(j.org).or_default().push(j);
    }
    for (org, jobs) in by_org {
        let n = jobs.len() as u64;
        if let Err(e) = evaluate(store, org, &jobs, now, &gate.write, metrics).await {
            metrics.evaluation_failures.fetch_add(1, Relaxed);
            tracing::warn!(org.id = org.0, contacts = n, error = %e, "evaluating contacts failed");
            for j in &jobs {
                store.retry_job(j, now + RETRY_MS, &e.to_string()).await?;
            }
        } else {
            metrics.contacts_evaluated.fetch_add(n, Relaxed);
            let visible = clock.now_ms();
            for j in &jobs {
                let lag = visible.saturating_sub(j.due_at).max(0);
                metrics.evaluation_lag.observe_n(lag as f64 / 1000.0, 1);
            }
        }
    }
    Ok(true)
}

/// Evaluates one organisation's contacts — scores first, then the lifecycle stage (whose criteria
/// may read scores), then tiers, then segments (which may read all of them) — and writes the
/// outcome. Stage and tier criteria that read segments see the memberships stored before this
/// pass; when one of those changes, the contact is evaluated again at once.
async fn evaluate(
    store: &Store,
    org: OrgId,
    jobs: &[Job],
    now: i64,
    write: &tokio::sync::Mutex<()>,
    metrics: &Metrics,
) -> Result<(), StoreError> {
    let t = std::time::Instant::now();
    // Independent reads: at once, each on its own connection.
    let (segments, model, lifecycle, tiers, tag_rules) = tokio::try_join!(
        store.live_segments(org),
        store.scoring_model(org),
        store.lifecycle(org),
        store.tier_model(org),
        store.tag_rules(org),
    )?;
    let tag_rules = tag_rules.map(|r| r.0).filter(|r| !r.rules.is_empty());
    let mut stage_reads = lifecycle
        .as_ref()
        .map(|l| l.model.segments_read())
        .unwrap_or_default();
    stage_reads.extend(tiers.iter().flat_map(|t| t.model.segments_read()));
    let ids: Vec<ContactId> = jobs.iter().map(|j| ContactId(j.subject)).collect();
    let mut needs = SnapshotNeeds::of(
        segments
            .iter()
            .map(|s| &s.filter)
            .chain(model.iter().flat_map(|m| m.model.fit_filters()))
            .chain(lifecycle.iter().flat_map(|l| l.model.entry_filters()))
            .chain(tiers.iter().flat_map(|t| t.model.filters()))
            .chain(tag_rules.iter().flat_map(|r| r.filters())),
        now,
    );
    // Tag rules compare what they decide with the tags a contact has; tiers with the stored ones.
    needs.tags |= tag_rules.is_some();
    needs.tiers |= tiers.is_some();
    // Memberships are read once below (`current`) and put into each snapshot from there.
    needs.segments = false;
    if let Some(m) = &model {
        // Scores are computed afresh below (the stored ones are read once, as `previous`).
        needs.scores = false;
        if let Some(s) = m.model.events_needed_since(now) {
            needs.events_since = Some(needs.events_since.map_or(s, |n| n.min(s)));
        }
    }
    let (mut snapshots, previous, current) = tokio::try_join!(
        store.contact_snapshots(org, &ids, needs),
        async {
            match &model {
                Some(_) => store.stored_scores(org, &ids).await,
                None => Ok(HashMap::new()),
            }
        },
        store.memberships(org, &ids),
    )?;
    metrics.observe_phase(Phase::Read, t.elapsed());
    let t = std::time::Instant::now();
    let names: HashMap<SegmentId, String> =
        segments.iter().map(|s| (s.id, s.name.clone())).collect();
    let none = Default::default();
    let mut out = Evaluations::default();
    for job in jobs {
        let id = ContactId(job.subject);
        let Some(snapshot) = snapshots.get_mut(&id) else {
            out.gone.push(id);
            out.ends.push((*job, JobEnd::Done));
            continue;
        };
        let mut next_check: Option<i64> = None;
        if let Some(m) = &model {
            let h = m.model.half_life_ms();
            let scored = m.model.score(snapshot, now);
            let fresh = ScoreSnapshot::of(&scored, h);
            let before = previous.get(&id);
            for t in &m.model.thresholds {
                let (was, is) = match t.score {
                    ScoreKind::Fit => (before.map_or(0.0, |b| b.fit), scored.fit),
                    ScoreKind::Engagement => {
                        (before.map_or(0.0, |b| b.engagement), scored.engagement)
                    }
                };
                if (was >= t.value) != (is >= t.value) {
                    out.crossings.push(ScoreCrossing {
                        contact: id,
                        score: t.score,
                        threshold: t.value,
                        up: is >= t.value,
                        value: is,
                    });
                }
                if t.score == ScoreKind::Engagement {
                    if let Some(at) = fresh.engagement_crosses(t.value, now) {
                        next_check = Some(next_check.map_or(at, |n| n.min(at)));
                    }
                }
            }
            // Decay alone changes no stored value (the stored log is constant up to rounding),
            // so a contact whose rules matched the same events keeps its row.
            let unchanged = before.is_some_and(|b| {
                b.model_version == m.version
                    && b.fit == scored.fit
                    && b.snapshot.engagement_sign == fresh.engagement_sign
                    && (b.snapshot.engagement_log - fresh.engagement_log).abs() < 1e-9
                    && b.reasons.len() == scored.reasons.len()
                    && b.reasons
                        .iter()
                        .zip(&scored.reasons)
                        .all(|(x, y)| x.rule == y.rule && x.events == y.events)
            });
            snapshot.scores = fresh;
            if !unchanged {
                out.scores.push(NewScore {
                    contact: id,
                    scored,
                    half_life_ms: h,
                    model_version: m.version,
                });
            }
        }
        if let Some(r) = &tag_rules {
            let (add, remove) = r.apply(snapshot, now);
            if !add.is_empty() || !remove.is_empty() {
                out.rule_tags.push((id, add, remove));
            }
            if let Some(at) = r.next_change_at(snapshot, now) {
                next_check = Some(next_check.map_or(at, |n| n.min(at)));
            }
        }
        // Stage and tier criteria read the memberships stored before this pass.
        snapshot
            .segments
            .clone_from(current.get(&id).unwrap_or(&none));
        if let Some(l) = &lifecycle {
            let from = snapshot.stage.clone();
            let entered = l.model.advance(snapshot, now);
            if let Some(at) = l.model.next_change_at(snapshot, now) {
                next_check = Some(next_check.map_or(at, |n| n.min(at)));
            }
            // Segments evaluated below see the moves as the events they are stored as.
            let mut prev = from.clone();
            for to in &entered {
                snapshot.events.push(derived(
                    "stage.changed",
                    to.clone(),
                    serde_json::json!({ "from": prev, "to": to, "cause": "rule" }),
                    now,
                ));
                prev = Some(to.clone());
            }
            if !entered.is_empty() {
                out.stages.push(StageMove {
                    contact: id,
                    from,
                    entered,
                });
            }
        }
        if let Some(t) = &tiers {
            if let Some(by) = snapshot.traits.get("referred_by").and_then(referrer) {
                out.referrals.push((id, by));
            }
            let before = std::mem::take(&mut snapshot.tiers);
            let after = t.model.classify(snapshot, now);
            let moved = hatchery_domain::tiers::changes(&before, &after);
            for (dimension, from, to) in &moved {
                snapshot.events.push(derived(
                    "tier.changed",
                    format!("{dimension}:{}", to.as_deref().unwrap_or("-")),
                    serde_json::json!({ "dimension": dimension, "from": from, "to": to }),
                    now,
                ));
            }
            if !moved.is_empty() {
                out.tiers.push((id, moved));
            }
            snapshot.tiers = after;
            if let Some(at) = t.model.next_change_at(snapshot, now) {
                next_check = Some(next_check.map_or(at, |n| n.min(at)));
            }
        }
        let change = membership::evaluate(
            snapshot,
            segments.iter().map(|s| (s.id, &s.filter)),
            current.get(&id).unwrap_or(&none),
            now,
        );
        if let Some(at) = change.next_check {
            next_check = Some(next_check.map_or(at, |n| n.min(at)));
        }
        if change
            .entered
            .iter()
            .chain(&change.exited)
            .any(|s| stage_reads.contains(s))
        {
            next_check = Some(now);
        }
        out.ends
            .push((*job, next_check.map_or(JobEnd::Done, JobEnd::Again)));
        if !change.is_empty() {
            out.memberships.push((id, change));
        }
    }
    out.tag_rules = tag_rules;
    metrics.observe_phase(Phase::Compute, t.elapsed());
    let t = std::time::Instant::now();
    let _one_writer = write.lock().await;
    metrics.observe_phase(Phase::Wait, t.elapsed());
    let t = std::time::Instant::now();
    store.apply_evaluations(org, &names, &out, now).await?;
    metrics.observe_phase(Phase::Write, t.elapsed());
    Ok(())
}

/// Materialises the segments due now (up to four; the caller has the gate alone).
async fn materialise_due(
    store: &Store,
    clock: &dyn Clock,
    metrics: &Metrics,
    now: i64,
) -> Result<bool, StoreError> {
    let mut worked = false;
    for job in store
        .claim_jobs(JobKind::MaterialiseSegment, now, LEASE_MS, 4)
        .await?
    {
        worked = true;
        match store
            .materialise_segment(job.org, SegmentId(job.subject), clock.now_ms())
            .await
        {
            Ok(done) => {
                metrics.segments_materialised.fetch_add(1, Relaxed);
                store.end_jobs(&[(job, JobEnd::Done)]).await?;
                // Segments built on this one read its new members: compute them again too.
                if done.is_some() {
                    let by: Vec<i64> = store
                        .segments_referencing(job.org, SegmentId(job.subject))
                        .await?
                        .into_iter()
                        .map(|s| s.0)
                        .collect();
                    store
                        .enqueue_jobs(job.org, JobKind::MaterialiseSegment, &by, now)
                        .await?;
                }
            }
            Err(e) => {
                metrics.evaluation_failures.fetch_add(1, Relaxed);
                tracing::warn!(org.id = job.org.0, segment.id = job.subject, error = %e, "materialising a segment failed");
                store
                    .retry_job(&job, now + RETRY_MS, &e.to_string())
                    .await?;
            }
        }
    }
    Ok(worked)
}

/// An event the store writes for this evaluation, as a filter sees it.
fn derived(kind: &str, name: String, properties: serde_json::Value, now: i64) -> EventRecord {
    EventRecord {
        kind: kind.to_owned(),
        name: Some(name),
        occurred_at: now,
        properties: match properties {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        },
    }
}

/// The referrer a `referred_by` trait names: a userId or a contact id, as text or a number.
fn referrer(v: &serde_json::Value) -> Option<String> {
    let s = match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s.chars().count() <= 200).then_some(s)
}
