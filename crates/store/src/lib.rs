//! Storage for Hatchery on SQLite (the embedded default) and PostgreSQL (the scale backend).
//!
//! Both backends run the **same SQL text**: placeholders are written `$1`, `$2`… (which SQLite also
//! understands), timestamps are integer milliseconds and JSON is text, so ordinary reads and writes are
//! written once and run through each backend's native driver by [`with_conn!`]. Only DDL and a few hot
//! paths (JSON patching) differ per dialect, and those are marked where they occur.
//!
//! Every query filters by `org_id`: one database holds many organisations with no leakage.

pub mod accounts;
pub mod consents;
pub mod contacts;
pub mod events;
pub mod fields;
pub mod imports;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod lifecycle;
pub mod maintenance;
pub mod orgs;
pub mod scores;
pub mod segments;
pub mod stats;
pub mod tags;
pub mod tiers;
pub mod users;

mod backend;
mod error;
mod ids;
mod models;
#[cfg(test)]
mod plans;

pub use backend::{Backend, Store, StoreOptions, Tx};
pub use error::StoreError;

/// Milliseconds since the Unix epoch: the one time representation of the store.
pub type Millis = i64;
