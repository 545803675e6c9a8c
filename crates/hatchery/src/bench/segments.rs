//! `hatchery bench segments`: keeping segment memberships current on a large pool.
//!
//! Fills a pool of contacts with events spread over the last 30 days (in bulk, untimed), then
//! times: materialising a behavioural segment ("viewed pricing ≥ 3 times in 7 days") by one query,
//! next to the rebuild a cron-driven tool does (one big `INSERT … WHERE id NOT IN (current
//! members)` plus `DELETE … NOT IN (matching)`) in the same database; materialising the other
//! segments; and evaluating changed contacts against all segments (the work every incoming event
//! causes), with the time each batch took.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hatchery_domain::ids::SegmentId;
use hatchery_domain::segment::Filter;
use hatchery_domain::ContactId;
use hatchery_engine::evaluator;
use hatchery_engine::{ManualClock, Metrics};
use hatchery_store::ingest::{IngestWrite, NewEvent};
use hatchery_store::jobs::JobKind;
use hatchery_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;

use super::{fill_pool, ms, percentile, FreshDb, PoolExtras};
use crate::config::Config;
use crate::demo::thousands;

#[derive(clap::Args, Debug)]
pub(super) struct SegmentsArgs {
    /// Contacts in the pool.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    contacts: u64,
    /// Events per contact, spread over the last 30 days.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    events_per_contact: u64,
    /// Saved segments (profile, tag, behavioural and nested filters, cycling).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=500))]
    segments: u64,
    /// Changed contacts to evaluate against all segments.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    evaluate: u64,
    /// Also save a scoring model: time the re-score of every contact, score on every evaluation,
    /// and report the work decay causes per simulated day.
    #[arg(long)]
    scoring: bool,
    /// Also switch on lifecycle stages and customer tiers with their default models: time placing
    /// every contact, then stage and tiers on every evaluation.
    #[arg(long)]
    nurture: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    db: super::DbArgs,
}

const DAY: i64 = 86_400_000;
const EVENT_NAMES: [&str; 5] = [
    "Pricing Viewed",
    "Whitepaper Downloaded",
    "Webinar Watched",
    "Demo Requested",
    "Case Study Viewed",
];
const INDUSTRIES: [&str; 4] = ["软件", "制造业", "金融", "医疗"];

/// The `i`-th benchmark segment filter: a mix of what marketers build.
pub(super) fn sample_filter(i: usize) -> Filter {
    let name = EVENT_NAMES[i % EVENT_NAMES.len()];
    let industry = INDUSTRIES[i % INDUSTRIES.len()];
    let v = match i % 5 {
        0 => {
            json!({"event": {"kind": "track", "name": name}, "at_least": 3, "within_days": 7 + i % 7})
        }
        1 => json!({"all": [
            {"field": "industry", "op": "eq", "value": industry},
            {"event": {"kind": "track", "name": name}, "at_least": 1, "within_days": 30}
        ]}),
        2 => json!({"any": [
            {"field": "company_size", "op": "in", "value": ["1000-4999", "5000+"]},
            {"all": [{"field": "province", "op": "eq", "value": "广东"}, {"not": {"field": "industry", "op": "eq", "value": industry}}]}
        ]}),
        3 => json!({"all": [
            {"field": "source", "op": "eq", "value": "wechat"},
            {"not": {"event": {"kind": "track", "name": name}, "at_least": 1, "within_days": 14}}
        ]}),
        _ => json!({"all": [
            {"identity": "wechat_unionid"},
            {"event": {"kind": "track"}, "at_least": 5, "within_days": 30}
        ]}),
    };
    Filter::parse(&v).expect("benchmark filters are valid")
}

impl SegmentsArgs {
    pub(super) fn db(&self) -> &super::DbArgs {
        &self.db
    }
}

/// A scoring model like a marketer's, with the 20 rules the nurture issue's target names: fit
/// from industry, size, region and title (one negative rule); engagement from the events of both
/// traffic generators (the prefilled history and the live tracking traffic), with caps, a page
/// rule with a property test, an unsubscribe penalty and a 30-day half-life.
pub(super) fn sample_model() -> serde_json::Value {
    json!({
        "fit": [
            {"name": "Target industry", "when": {"field": "industry", "op": "in", "value": ["软件", "制造业"]}, "points": 30},
            {"name": "Large company", "when": {"field": "company_size", "op": "in", "value": ["1000-4999", "5000+"]}, "points": 30},
            {"name": "Guangdong", "when": {"field": "province", "op": "eq", "value": "广东"}, "points": 10},
            {"name": "Tier-1 city", "when": {"field": "city", "op": "in", "value": ["北京", "上海", "深圳", "广州"]}, "points": 10},
            {"name": "Decision maker", "when": {"field": "title", "op": "contains", "value": "总"}, "points": 20},
            {"name": "Manager", "when": {"field": "title", "op": "contains", "value": "经理"}, "points": 10},
            {"name": "Large account", "when": {"account": "company_size", "op": "in", "value": ["1000-4999", "5000+"]}, "points": 10},
            {"name": "Out of focus", "when": {"field": "industry", "op": "eq", "value": "教育"}, "points": -20}
        ],
        "engagement": [
            {"name": "Viewed pricing", "event": {"name": "Pricing Viewed"}, "points": 10, "cap": {"points": 30, "per_days": 7}},
            {"name": "Downloaded", "event": {"name": "Whitepaper Downloaded"}, "points": 15},
            {"name": "Webinar", "event": {"name": "Webinar Watched"}, "points": 25},
            {"name": "Demo", "event": {"name": "Demo Requested"}, "points": 40},
            {"name": "Case study", "event": {"name": "Case Study Viewed"}, "points": 8, "cap": {"points": 24, "per_days": 7}},
            {"name": "Form", "event": {"name": "Form Submitted"}, "points": 20},
            {"name": "Webinar sign-up", "event": {"name": "Webinar Registered"}, "points": 10},
            {"name": "Webinar attended", "event": {"name": "Webinar Attended"}, "points": 25},
            {"name": "Article", "event": {"name": "Article Read"}, "points": 3, "cap": {"points": 15, "per_days": 7}},
            {"name": "Any page", "event": {"kind": "page"}, "points": 1, "cap": {"points": 10, "per_days": 1}},
            {"name": "Pricing page", "event": {"kind": "page"}, "where": [{"property": "path", "op": "eq", "value": "/pricing"}], "points": 5},
            {"name": "Unsubscribed", "event": {"name": "Unsubscribed"}, "points": -50}
        ],
        "half_life_days": 30,
        "thresholds": [{"score": "engagement", "value": 50}, {"score": "fit", "value": 60}]
    })
}

pub(super) async fn run(cfg: &Config, db: &FreshDb, a: &SegmentsArgs) -> Result<()> {
    let total = a.contacts as usize;
    let (store, org, now) = super::open_bench_org(cfg, db).await?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    fill_pool(&store, org, total, &mut rng, now, &PoolExtras::default()).await?;
    let (first, written, took) = fill_events(
        &store,
        org,
        total,
        a.events_per_contact as usize,
        &mut rng,
        now,
    )
    .await?;
    println!(
        "events:   {} events for {} contacts in {:.1} s",
        thousands(written as u64),
        thousands(total as u64),
        took.as_secs_f64()
    );
    store.analyze().await?;

    // 1. One behavioural segment, two ways.
    let hot = sample_filter(0);
    let seg = store
        .create_segment(org, "bench: hot pricing", None, &hot, now)
        .await?;
    let _ = seg;
    let (m, ours) = materialise_next(&store, now).await?;
    let timers = store.pending_jobs(org, JobKind::EvaluateContact).await?;
    println!();
    println!(
        "materialise \"viewed pricing ≥ 3 times in 7 days\": {} members in {:.2} s ({} contacts queued to set their timers)",
        thousands(m.members),
        ours.as_secs_f64(),
        thousands(timers as u64)
    );
    let t = Instant::now();
    let naive = store
        .rebuild_segment_by_not_in(org, SegmentId(i64::MAX - 1), &hot, now)
        .await?;
    let theirs = t.elapsed();
    println!(
        "rebuild by INSERT … NOT IN / DELETE … NOT IN (the cron approach): {} members in {:.2} s = {:.1}× the materialisation",
        thousands(naive.max(0) as u64),
        theirs.as_secs_f64(),
        theirs.as_secs_f64() / ours.as_secs_f64().max(1e-9)
    );

    // 2. The other segments.
    let t = Instant::now();
    for i in 1..a.segments as usize {
        store
            .create_segment(org, &format!("bench {i}"), None, &sample_filter(i), now)
            .await?;
        materialise_next(&store, now).await?;
    }
    println!(
        "materialise {} more segments: {:.2} s",
        a.segments - 1,
        t.elapsed().as_secs_f64()
    );

    // 3. Evaluation of changed contacts against every segment.
    let metrics = Metrics::default();
    let clock = ManualClock::new(now);
    // Work queued by the materialisations (timers) first, untimed.
    evaluator::drain(&store, &clock, &metrics).await?;
    if a.scoring {
        let t = Instant::now();
        let before = metrics.contacts_evaluated.load(Relaxed);
        store.set_scoring_model(org, &sample_model(), now).await?;
        evaluator::drain(&store, &clock, &metrics).await?;
        let n = metrics.contacts_evaluated.load(Relaxed) - before;
        println!(
            "score every contact after saving a model: {} contacts in {:.2} s = {} contacts/s",
            thousands(n),
            t.elapsed().as_secs_f64(),
            thousands((n as f64 / t.elapsed().as_secs_f64()) as u64)
        );
    }
    if a.nurture {
        let t = Instant::now();
        let before = metrics.contacts_evaluated.load(Relaxed);
        save_default_nurture_models(&store, org, now).await?;
        evaluator::drain(&store, &clock, &metrics).await?;
        let n = metrics.contacts_evaluated.load(Relaxed) - before;
        let staged: i64 = store
            .stage_counts(org, 0)
            .await?
            .iter()
            .map(|s| s.contacts)
            .sum();
        println!(
            "place every contact in a stage and its tiers after saving both models: {} contacts in {:.2} s = {} contacts/s ({} with a stage)",
            thousands(n),
            t.elapsed().as_secs_f64(),
            thousands((n as f64 / t.elapsed().as_secs_f64()) as u64),
            thousands(staged as u64)
        );
    }
    let n = (a.evaluate as usize).min(total);
    let ids: Vec<i64> = (0..n)
        .map(|_| first + rng.gen_range(0..total) as i64)
        .collect();
    store
        .enqueue_jobs(org, JobKind::EvaluateContact, &ids, 0)
        .await?;
    let before = metrics.contacts_evaluated.load(Relaxed);
    let mut batches: Vec<Duration> = Vec::new();
    let t = Instant::now();
    loop {
        let b = Instant::now();
        if !evaluator::run_once(&store, &clock, &metrics).await? {
            break;
        }
        batches.push(b.elapsed());
    }
    let took = t.elapsed();
    let evaluated = metrics.contacts_evaluated.load(Relaxed) - before;
    batches.sort_unstable();
    println!(
        "evaluate {} changed contacts against {} segments{}{} (one worker): {:.2} s = {} contacts/s; per batch of ≤ {} p50 {:.0} ms, p99 {:.0} ms",
        thousands(evaluated),
        a.segments,
        if a.scoring { " and the scoring model" } else { "" },
        if a.nurture { ", lifecycle stages and tiers" } else { "" },
        took.as_secs_f64(),
        thousands((evaluated as f64 / took.as_secs_f64()) as u64),
        evaluator::BATCH,
        ms(percentile(&batches, 0.50)),
        ms(percentile(&batches, 0.99))
    );
    // 4. Time passing: the work rolling windows and decay cause per simulated day (timers only).
    for day in 1..=3 {
        clock.advance_ms(DAY);
        let before = metrics.contacts_evaluated.load(Relaxed);
        let t = Instant::now();
        evaluator::drain(&store, &clock, &metrics).await?;
        println!(
            "simulated day {day}: {} of {} contacts re-evaluated by their timers in {:.2} s; no other row touched",
            thousands(metrics.contacts_evaluated.load(Relaxed) - before),
            thousands(total as u64),
            t.elapsed().as_secs_f64()
        );
    }
    let peak = super::proc_kb("/proc/self/status", "VmHWM:").unwrap_or(0);
    println!("peak RSS: {:.0} MiB", super::mib(peak));
    store.close().await;
    Ok(())
}

/// Switches on lifecycle stages and customer tiers with their default models.
pub(super) async fn save_default_nurture_models(
    store: &Store,
    org: hatchery_domain::OrgId,
    now: i64,
) -> Result<()> {
    store
        .set_lifecycle(
            org,
            &hatchery_domain::lifecycle::Lifecycle::default_model(),
            now,
        )
        .await?;
    store
        .set_tier_model(
            org,
            &hatchery_domain::tiers::TierModel::default_model(),
            now,
        )
        .await?;
    Ok(())
}

/// Gives each of the `total` newest contacts 1 to 3 × `per` `track` events (skewed: most contacts
/// few, some many; 0.74 × `per` on average) spread over the last 30 days, written in bulk.
/// Returns the first contact's id, how many events and how long it took.
pub(super) async fn fill_events(
    store: &Store,
    org: hatchery_domain::OrgId,
    total: usize,
    per: usize,
    rng: &mut StdRng,
    now: i64,
) -> Result<(i64, usize, Duration)> {
    let first = super::first_of_newest(store, org, total).await?;
    let started = Instant::now();
    let mut written = 0usize;
    let mut w = IngestWrite::default();
    for k in 0..total {
        let contact = ContactId(first + k as i64);
        // Activity is skewed: some contacts are busy, most are not.
        let n = ((rng.gen::<f64>().powi(3) * 3.0 * per as f64) as usize).max(1);
        for j in 0..n {
            let name = EVENT_NAMES[rng.gen_range(0..EVENT_NAMES.len())];
            let at = now - rng.gen_range(0..30 * DAY);
            w.events.push(NewEvent {
                contact,
                message_id: format!("bench-{k}-{j}"),
                client_at: 0,
                kind: "track".into(),
                name: Some(name.into()),
                occurred_at: at,
                sent_at: Some(at),
                received_at: at,
                source_id: None,
                channel: Some("web".into()),
                utm_source: None,
                utm_medium: None,
                utm_campaign: None,
                properties: "{}".into(),
                context: "{}".into(),
            });
        }
        if w.events.len() >= 50_000 || k + 1 == total {
            written += w.events.len();
            store.write_ingest(org, std::mem::take(&mut w), now).await?;
        }
    }
    Ok((first, written, started.elapsed()))
}

/// Claims the next segment waiting to be materialised and materialises it, as the evaluator
/// does; returns the outcome and the time it took.
async fn materialise_next(
    store: &Store,
    now: i64,
) -> Result<(hatchery_store::segments::membership::Materialised, Duration)> {
    let job = store
        .claim_jobs(JobKind::MaterialiseSegment, now, 600_000, 1)
        .await?
        .pop()
        .context("no segment waits to be materialised")?;
    let t = Instant::now();
    let m = store
        .materialise_segment(job.org, SegmentId(job.subject), now)
        .await?
        .context("the segment vanished")?;
    let took = t.elapsed();
    store
        .end_jobs(&[(job, hatchery_store::jobs::JobEnd::Done)])
        .await?;
    Ok((m, took))
}
