//! Counters the ops endpoint exposes in Prometheus text format. Plain atomics: the hot path pays
//! one relaxed add per batch, not per event.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the batch-commit latency histogram.
const COMMIT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Upper bounds (seconds) of the evaluation-lag histogram: fine around the one-second target.
const LAG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// The parts of an evaluation batch whose time [`Metrics::observe_phase`] adds up (in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Claiming due contacts (a write: the claim takes a lease).
    Claim,
    /// Reading the models, the contacts' snapshots, stored scores and memberships.
    Read,
    /// Scoring, staging, tiering and matching every segment, in process.
    Compute,
    /// Waiting for another batch to finish writing its outcome.
    Wait,
    /// Writing the outcome (one transaction).
    Write,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Phase::Claim,
        Phase::Read,
        Phase::Compute,
        Phase::Wait,
        Phase::Write,
    ];

    fn label(self) -> &'static str {
        match self {
            Phase::Claim => "claim",
            Phase::Read => "read",
            Phase::Compute => "compute",
            Phase::Wait => "wait",
            Phase::Write => "write",
        }
    }
}

/// The parts of an ingest or import transaction whose time [`Metrics::observe_write_phase`] adds
/// up (in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePhase {
    /// Starting the transaction and taking the organisation's holdings lock.
    Begin,
    /// Looking up the identifiers the batch names that the writer does not remember.
    Lookup,
    /// Resolving the batch in process (who is who, what to write).
    Plan,
    /// Executing the writes.
    Write,
    /// Committing (the WAL or the server's log made durable).
    Commit,
}

impl WritePhase {
    const ALL: [WritePhase; 5] = [
        WritePhase::Begin,
        WritePhase::Lookup,
        WritePhase::Plan,
        WritePhase::Write,
        WritePhase::Commit,
    ];

    /// The `phase` label of the metric.
    pub fn label(self) -> &'static str {
        match self {
            WritePhase::Begin => "begin",
            WritePhase::Lookup => "lookup",
            WritePhase::Plan => "plan",
            WritePhase::Write => "write",
            WritePhase::Commit => "commit",
        }
    }
}

/// A counter of seconds per phase, kept in microseconds.
fn render_phases<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    phases: impl Iterator<Item = (&'static str, &'a AtomicU64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (label, v) in phases {
        let _ = writeln!(
            out,
            "{name}{{phase=\"{label}\"}} {}",
            v.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
}

/// A Prometheus histogram of seconds with fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records `n` observations of `seconds` each.
    pub fn observe_n(&self, seconds: f64, n: u64) {
        let seconds = seconds.max(0.0);
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            // Buckets are cumulative: count in the first that holds the value and every later one.
            for b in &self.buckets[i..] {
                b.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.sum_us
            .fetch_add((seconds * 1e6) as u64 * n, Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub events_ingested: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub contacts_created: AtomicU64,
    pub merges: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    pub import_rows: AtomicU64,
    pub import_rows_rejected: AtomicU64,
    /// Time imports spent resolving and writing their chunks (the transactions), in microseconds.
    pub import_write_micros: AtomicU64,
    /// Chunks imports resolved and wrote (one transaction each).
    pub import_chunks: AtomicU64,
    /// Import chunks resolved ahead and then resolved again in their transaction, because someone
    /// else (live tracking of the same organisation) changed the holdings meanwhile.
    pub import_resolved_again: AtomicU64,
    pub identifiers_rejected: AtomicU64,
    /// Tracking requests that waited for the admission budget, and how long (microseconds).
    pub tracking_admission_waits: AtomicU64,
    pub tracking_admission_wait_micros: AtomicU64,
    /// Intake log (see `intake.rs`): messages acknowledged once logged, messages logged and not
    /// yet applied, log syncs and their time (microseconds), messages applied again after a
    /// restart, and messages set aside because they could not be applied.
    pub intake_logged: AtomicU64,
    pub intake_backlog: AtomicU64,
    pub intake_syncs: AtomicU64,
    pub intake_sync_micros: AtomicU64,
    pub intake_replayed: AtomicU64,
    pub intake_rejected: AtomicU64,
    /// Groups of logged requests resolved while the group before them was written, and those of
    /// them resolved again because the holdings changed meanwhile (or the group before failed).
    pub intake_resolved_ahead: AtomicU64,
    pub intake_resolved_again: AtomicU64,
    pub contacts_evaluated: AtomicU64,
    pub segments_materialised: AtomicU64,
    pub evaluation_failures: AtomicU64,
    /// Evaluation batches done, and the time they spent in each [`Phase`] (microseconds).
    pub evaluation_batches: AtomicU64,
    evaluation_phase_micros: [AtomicU64; 5],
    /// Time ingest and import transactions spent in each [`WritePhase`] (microseconds).
    write_phase_micros: [AtomicU64; 5],
    commit_seconds: Histogram,
    /// From the instant a contact's evaluation fell due (the change was stored, or a rolling
    /// window moved) to the commit of its new scores, stage, tiers and memberships.
    pub evaluation_lag: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            events_ingested: AtomicU64::new(0),
            events_duplicate: AtomicU64::new(0),
            contacts_created: AtomicU64::new(0),
            merges: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            import_rows: AtomicU64::new(0),
            import_rows_rejected: AtomicU64::new(0),
            import_write_micros: AtomicU64::new(0),
            import_chunks: AtomicU64::new(0),
            import_resolved_again: AtomicU64::new(0),
            identifiers_rejected: AtomicU64::new(0),
            tracking_admission_waits: AtomicU64::new(0),
            tracking_admission_wait_micros: AtomicU64::new(0),
            intake_logged: AtomicU64::new(0),
            intake_backlog: AtomicU64::new(0),
            intake_syncs: AtomicU64::new(0),
            intake_sync_micros: AtomicU64::new(0),
            intake_replayed: AtomicU64::new(0),
            intake_rejected: AtomicU64::new(0),
            intake_resolved_ahead: AtomicU64::new(0),
            intake_resolved_again: AtomicU64::new(0),
            contacts_evaluated: AtomicU64::new(0),
            segments_materialised: AtomicU64::new(0),
            evaluation_failures: AtomicU64::new(0),
            evaluation_batches: AtomicU64::new(0),
            evaluation_phase_micros: Default::default(),
            write_phase_micros: Default::default(),
            commit_seconds: Histogram::new(COMMIT_BUCKETS),
            evaluation_lag: Histogram::new(LAG_BUCKETS),
        }
    }
}

impl Metrics {
    pub fn observe_commit(&self, seconds: f64) {
        self.commit_seconds.observe_n(seconds, 1);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds time an evaluation batch spent in `phase`.
    pub fn observe_phase(&self, phase: Phase, took: std::time::Duration) {
        self.evaluation_phase_micros[phase as usize]
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Adds time an ingest or import transaction spent in `phase`.
    pub fn observe_write_phase(&self, phase: WritePhase, took: std::time::Duration) {
        self.write_phase_micros[phase as usize]
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Time ingest and import transactions spent in `phase` so far.
    pub fn write_phase(&self, phase: WritePhase) -> std::time::Duration {
        std::time::Duration::from_micros(
            self.write_phase_micros[phase as usize].load(Ordering::Relaxed),
        )
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let metric = |out: &mut String, kind: &str, name: &str, help: &str, v: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            metric(out, "counter", name, help, v.load(Ordering::Relaxed) as f64);
        };
        // Time kept in microseconds, shown in seconds.
        let seconds = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            metric(
                out,
                "counter",
                name,
                help,
                v.load(Ordering::Relaxed) as f64 / 1e6,
            );
        };
        counter(
            &mut out,
            "hatchery_events_ingested_total",
            "Events stored.",
            &self.events_ingested,
        );
        counter(
            &mut out,
            "hatchery_events_duplicate_total",
            "Events skipped because their messageId was already stored.",
            &self.events_duplicate,
        );
        counter(
            &mut out,
            "hatchery_contacts_created_total",
            "Contacts created.",
            &self.contacts_created,
        );
        counter(
            &mut out,
            "hatchery_merges_total",
            "Contacts merged into another by identity resolution.",
            &self.merges,
        );
        counter(
            &mut out,
            "hatchery_commit_failures_total",
            "Batch commits that failed.",
            &self.commit_failures,
        );
        counter(
            &mut out,
            "hatchery_import_rows_total",
            "Import rows processed.",
            &self.import_rows,
        );
        counter(
            &mut out,
            "hatchery_import_rows_rejected_total",
            "Import rows rejected.",
            &self.import_rows_rejected,
        );
        counter(
            &mut out,
            "hatchery_import_chunks_resolved_again_total",
            "Import chunks resolved again in their transaction because the holdings changed after they were resolved.",
            &self.import_resolved_again,
        );
        counter(
            &mut out,
            "hatchery_identifiers_rejected_total",
            "Identifiers in traits that failed validation.",
            &self.identifiers_rejected,
        );
        counter(
            &mut out,
            "hatchery_tracking_admission_waits_total",
            "Tracking requests that waited because the request bodies in progress filled the admission budget.",
            &self.tracking_admission_waits,
        );
        seconds(
            &mut out,
            "hatchery_tracking_admission_wait_seconds_total",
            "Time tracking requests waited for admission.",
            &self.tracking_admission_wait_micros,
        );
        counter(
            &mut out,
            "hatchery_contacts_evaluated_total",
            "Contacts re-evaluated against the segments after a change or a timer.",
            &self.contacts_evaluated,
        );
        counter(
            &mut out,
            "hatchery_segments_materialised_total",
            "Segment memberships computed by one query (creation, filter edit).",
            &self.segments_materialised,
        );
        counter(
            &mut out,
            "hatchery_evaluation_failures_total",
            "Evaluation batches that failed and were retried.",
            &self.evaluation_failures,
        );
        counter(
            &mut out,
            "hatchery_evaluation_batches_total",
            "Evaluation batches done.",
            &self.evaluation_batches,
        );
        counter(
            &mut out,
            "hatchery_intake_logged_total",
            "Tracking messages acknowledged once written to the intake log.",
            &self.intake_logged,
        );
        metric(
            &mut out,
            "gauge",
            "hatchery_intake_backlog_messages",
            "Tracking messages in the intake log not yet applied to the pool.",
            self.intake_backlog.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "hatchery_intake_syncs_total",
            "Writes of the intake log made durable (one per group of requests).",
            &self.intake_syncs,
        );
        seconds(
            &mut out,
            "hatchery_intake_sync_seconds_total",
            "Time spent writing and syncing the intake log.",
            &self.intake_sync_micros,
        );
        counter(
            &mut out,
            "hatchery_intake_replayed_total",
            "Tracking messages applied from the intake log after a restart.",
            &self.intake_replayed,
        );
        counter(
            &mut out,
            "hatchery_intake_rejected_total",
            "Tracking messages in the intake log that could not be applied and were set aside in its rejected folder.",
            &self.intake_rejected,
        );
        counter(
            &mut out,
            "hatchery_intake_resolved_ahead_total",
            "Groups of logged requests resolved while the group before them was written.",
            &self.intake_resolved_ahead,
        );
        counter(
            &mut out,
            "hatchery_intake_resolved_again_total",
            "Groups of logged requests resolved again (the holdings changed after they were resolved, or writing the group before them failed).",
            &self.intake_resolved_again,
        );
        render_phases(
            &mut out,
            "hatchery_evaluation_phase_seconds_total",
            "Time evaluation batches spent claiming, reading, computing, waiting to write and writing.",
            Phase::ALL.iter().map(|p| p.label()).zip(&self.evaluation_phase_micros),
        );
        render_phases(
            &mut out,
            "hatchery_write_phase_seconds_total",
            "Time ingest and import transactions spent beginning (with the holdings lock), looking up identifiers, resolving in process, writing and committing.",
            WritePhase::ALL.iter().map(|p| p.label()).zip(&self.write_phase_micros),
        );
        self.commit_seconds.render(
            &mut out,
            "hatchery_batch_commit_seconds",
            "Latency of one group commit.",
        );
        self.evaluation_lag.render(
            &mut out,
            "hatchery_evaluation_lag_seconds",
            "Time from a contact's evaluation falling due (receipt of the tracking message that changed it, another change stored, a rolling window moving) to its new memberships being visible.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_render_as_prometheus() {
        let m = Metrics::default();
        m.evaluation_lag.observe_n(0.07, 3);
        m.evaluation_lag.observe_n(0.9, 1);
        m.evaluation_lag.observe_n(400.0, 1);
        let text = m.render();
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"0.05\"} 0\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"0.1\"} 3\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"0.8\"} 3\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"0.9\"} 4\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"1\"} 4\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"300\"} 4\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_bucket{le=\"+Inf\"} 5\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_count 5\n"));
        assert!(text.contains("hatchery_evaluation_lag_seconds_sum 401.11\n"));
        m.observe_phase(Phase::Read, std::time::Duration::from_millis(1500));
        m.observe_phase(Phase::Read, std::time::Duration::from_millis(250));
        assert!(m
            .render()
            .contains("hatchery_evaluation_phase_seconds_total{phase=\"read\"} 1.75\n"));
        assert!(m
            .render()
            .contains("hatchery_evaluation_phase_seconds_total{phase=\"write\"} 0\n"));
        m.observe_write_phase(WritePhase::Commit, std::time::Duration::from_micros(2_500));
        let text = m.render();
        assert!(text.contains("hatchery_write_phase_seconds_total{phase=\"commit\"} 0.0025\n"));
        assert!(text.contains("hatchery_write_phase_seconds_total{phase=\"plan\"} 0\n"));
        m.observe_commit(0.02);
        assert!(m
            .render()
            .contains("hatchery_batch_commit_seconds_count 1\n"));
        assert!(m
            .render()
            .contains("hatchery_batch_commit_seconds_bucket{le=\"0.01\"} 0\n"));
        assert!(m
            .render()
            .contains("hatchery_batch_commit_seconds_bucket{le=\"0.025\"} 1\n"));
    }
}
