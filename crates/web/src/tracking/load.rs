//! Bounds on the work the tracking API takes on at once, so that any number of concurrent senders
//! costs a bounded amount of memory and threads: received request bodies are admitted up to a
//! budget of bytes before they are parsed, and parsing runs at most one request per CPU at a time.
//!
//! A request that does not fit waits its turn and is served — senders see a slower answer, never
//! an error. A body is charged only once it has fully arrived, so a sender that trickles its body
//! (or never finishes it) holds its own connection, never the budget others need. Measured in
//! docs/BENCHMARKS.md ("Many concurrent senders").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;
use crate::AppState;

/// Received request bodies (as inflated) the tracking API parses and holds for the ingest writer
/// at once. Enough for the writer's largest group two and a half times over
/// ([`hatchery_engine::writer::MAX_GROUP_TOUCHES`] messages of ~600 bytes is 6 MB), so it never
/// starves the writer; measured, each admitted byte held about five in memory while it waited.
pub const MAX_INFLIGHT_BODY_BYTES: usize = 16 << 20;

/// The budget is counted in KiB: a semaphore's permits are a `u32`.
const UNIT: usize = 1024;

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request could not be processed",
    )
}

/// Waits until a received body of `bytes` (as inflated) fits the application's budget, and holds
/// its share until the returned permit is dropped — when the request has been answered. Waits
/// are counted in the metrics (`hatchery_tracking_admission_wait…`).
pub async fn admit(s: &AppState, bytes: usize) -> Result<SemaphorePermit<'_>, ApiError> {
    let units = bytes.div_ceil(UNIT).max(1).min(u32::MAX as usize) as u32;
    let budget = &s.admission;
    if let Some(p) = budget.try_enter(units) {
        return Ok(p);
    }
    let started = Instant::now();
    let p = budget.enter(units).await;
    s.metrics
        .tracking_admission_waits
        .fetch_add(1, Ordering::Relaxed);
    s.metrics
        .tracking_admission_wait_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    p
}

/// A budget of body bytes shared by the tracking requests in progress; cheap to clone (one budget
/// per application).
#[derive(Clone)]
pub struct Admission(Arc<Budget>);

struct Budget {
    units: Semaphore,
    total: u32,
}

impl Default for Admission {
    fn default() -> Admission {
        Admission::new(MAX_INFLIGHT_BODY_BYTES)
    }
}

impl Admission {
    /// A budget of `bytes` (the server uses [`MAX_INFLIGHT_BODY_BYTES`]).
    pub fn new(bytes: usize) -> Admission {
        let total = bytes.div_ceil(UNIT).max(1) as u32;
        Admission(Arc::new(Budget {
            units: Semaphore::new(total as usize),
            total,
        }))
    }

    /// `units` of the budget if they are free now (and no one is waiting).
    fn try_enter(&self, units: u32) -> Option<SemaphorePermit<'_>> {
        self.0.units.try_acquire_many(units.min(self.0.total)).ok()
    }

    /// Waits for `units` of the budget (at most all of it, so no request waits forever); they
    /// return when the permit is dropped. Waiters are served in the order they came.
    async fn enter(&self, units: u32) -> Result<SemaphorePermit<'_>, ApiError> {
        // The semaphore is never closed, so acquiring fails only if that changes.
        self.0
            .units
            .acquire_many(units.min(self.0.total))
            .await
            .map_err(|_| internal())
    }
}

/// Runs CPU-bound request work (parsing bodies, building touches) on the blocking pool, at most
/// one piece per CPU at a time.
///
/// Without the bound, every concurrent request took a blocking thread of its own (tokio's pool
/// grows to 512): 128 clients sending batches made the server run 224 threads, and the memory each
/// thread's allocator kept for itself took the server's peak RSS from 640 MiB to 1.5 GiB, while the
/// threads fought over two cores. Requests beyond the bound wait for a slot without holding a
/// thread.
pub struct CpuGate(Semaphore);

impl CpuGate {
    fn new(slots: usize) -> CpuGate {
        CpuGate(Semaphore::new(slots.max(1)))
    }

    /// The process-wide gate, one slot per CPU.
    pub fn shared() -> &'static CpuGate {
        static GATE: std::sync::OnceLock<CpuGate> = std::sync::OnceLock::new();
        GATE.get_or_init(|| {
            CpuGate::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        })
    }

    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self.0.acquire().await.map_err(|_| internal())?;
        tokio::task::spawn_blocking(f).await.map_err(|e| {
            tracing::error!(error = %e, "tracking request parsing failed");
            internal()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn requests_beyond_the_budget_wait_until_earlier_ones_finish() {
        let budget = Admission::new(3 * UNIT);
        let a = budget.enter(2).await.unwrap();
        let b = budget.enter(1).await.unwrap();
        assert!(budget.try_enter(1).is_none());
        let mut c = Box::pin(budget.enter(1));
        assert!((&mut c).now_or_never().is_none(), "the budget is spent");
        drop(b);
        let c = c.await.unwrap();
        // A request larger than the whole budget waits for all of it, not forever.
        let mut d = Box::pin(budget.enter(1_000));
        assert!((&mut d).now_or_never().is_none());
        drop((a, c));
        let d = tokio::time::timeout(Duration::from_secs(5), d).await;
        assert!(
            d.is_ok_and(|p| p.is_ok()),
            "admitted once everything returned"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cpu_gate_runs_no_more_pieces_at_once_than_it_has_slots() {
        let gate = Arc::new(CpuGate::new(2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
                .await
            }));
        }
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap().unwrap());
        }
        done.sort_unstable();
        assert_eq!(done, (0..16).collect::<Vec<_>>(), "every piece ran once");
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "two slots: two at once, never more"
        );
    }
}
