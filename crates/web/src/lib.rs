//! Hatchery's HTTP surface: the Segment-compatible tracking API (`/v1/*`), the REST API
//! (`/api/v1/*`, described by `/api/openapi.json`), ops endpoints and the console (server-rendered
//! pages for people who sign in).

pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod openapi;
pub mod ops;
pub mod tracking;

use std::sync::Arc;

use axum::Router;
use hatchery_engine::{Clock, Ingestor, Metrics};
use hatchery_store::Store;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingestor: Ingestor,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub write_keys: tracking::WriteKeyCache,
    /// The budget of tracking request bodies in progress (see `tracking/load.rs`).
    pub admission: tracking::Admission,
    /// Where uploaded import files are kept while they run.
    pub upload_dir: std::path::PathBuf,
    /// The largest import file accepted, through the REST API or the console.
    pub upload_limit_bytes: u64,
}

impl AppState {
    /// Starts the ingest writer and `evaluator_workers` evaluation workers
    /// ([`hatchery_engine::evaluator::WORKERS`] unless configured).
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        upload_dir: std::path::PathBuf,
        evaluator_workers: usize,
    ) -> AppState {
        let metrics = Arc::new(Metrics::default());
        let ingestor = Ingestor::start(store.clone(), clock.clone(), metrics.clone());
        Self::assemble(
            store,
            clock,
            metrics,
            ingestor,
            upload_dir,
            evaluator_workers,
        )
    }

    /// [`AppState::new`] with tracking requests acknowledged once written to the intake log in
    /// `intake_dir` (see `hatchery_engine::intake`). Requests an earlier run logged and did not
    /// apply are applied before this returns.
    pub async fn with_intake_log(
        store: Store,
        clock: Arc<dyn Clock>,
        upload_dir: std::path::PathBuf,
        evaluator_workers: usize,
        intake_dir: &std::path::Path,
    ) -> Result<AppState, hatchery_engine::intake::IntakeError> {
        let metrics = Arc::new(Metrics::default());
        let ingestor =
            Ingestor::start_with_intake(store.clone(), clock.clone(), metrics.clone(), intake_dir)
                .await?;
        Ok(Self::assemble(
            store,
            clock,
            metrics,
            ingestor,
            upload_dir,
            evaluator_workers,
        ))
    }

    fn assemble(
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        ingestor: Ingestor,
        upload_dir: std::path::PathBuf,
        evaluator_workers: usize,
    ) -> AppState {
        hatchery_engine::evaluator::start(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            evaluator_workers,
        );
        AppState {
            store,
            ingestor,
            metrics,
            clock,
            write_keys: Default::default(),
            admission: Default::default(),
            upload_dir,
            upload_limit_bytes: api::imports::MAX_UPLOAD_BYTES,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(tracking::routes())
        .merge(api::routes())
        .merge(ops::routes())
        .merge(console::routes())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}
