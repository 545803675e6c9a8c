//! Counters the ops endpoint exposes in Prometheus text format. Plain atomics: the hot path pays
//! one relaxed add per batch, not per event.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the batch-commit latency histogram.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
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
    pub identifiers_rejected: AtomicU64,
    pub contacts_evaluated: AtomicU64,
    pub segments_materialised: AtomicU64,
    pub evaluation_failures: AtomicU64,
    commit_buckets: [AtomicU64; BUCKETS.len()],
    commit_seconds_sum_us: AtomicU64,
}

impl Metrics {
    pub fn observe_commit(&self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.commit_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.commit_seconds_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
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
            "hatchery_identifiers_rejected_total",
            "Identifiers in traits that failed validation.",
            &self.identifiers_rejected,
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
        let name = "hatchery_batch_commit_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Latency of one group commit.\n# TYPE {name} histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.commit_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.commits.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.commit_seconds_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}
