//! Hatchery's engines. The ingest [`pipeline`] resolves identities for a batch of touches and the
//! [`writer`] group-commits batches from many requests in one transaction each; [`import`] feeds
//! CSV/XLSX files through the same path. The [`evaluator`] keeps segment memberships current
//! after every change and as time passes. All engines read time from a [`clock::Clock`].

pub mod clock;
pub mod evaluator;
pub mod import;
pub mod intake;
pub mod metrics;
pub mod pipeline;
pub mod touch;
pub mod tracking;
pub mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use metrics::Metrics;
pub use pipeline::{Overlay, TouchResult};
pub use touch::{SourceRef, Touch};
pub use writer::{IngestError, Ingestor};
