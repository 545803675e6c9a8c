//! The REST API under `/api/v1`. Handlers are thin: check the caller's scope, call the store or
//! an engine, shape the JSON. Lists are newest first with keyset cursors (`next_cursor`).

pub mod accounts;
pub mod admin;
pub mod consents;
pub mod contacts;
pub mod imports;
pub mod intake;
pub mod lifecycle;
pub mod scoring;
pub mod segments;
pub mod tags;
pub mod tiers;

use axum::Router;
use serde::Serialize;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(contacts::routes())
        .merge(accounts::routes())
        .merge(tags::routes())
        .merge(admin::routes())
        .merge(imports::routes())
        .merge(intake::routes())
        .merge(segments::routes())
        .merge(scoring::routes())
        .merge(lifecycle::routes())
        .merge(tiers::routes())
        .merge(consents::routes())
        .route(
            "/api/openapi.json",
            axum::routing::get(crate::openapi::serve),
        )
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) fn limit(l: Option<u32>) -> Result<u32, crate::error::ApiError> {
    match l {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(crate::error::invalid_field(
            "limit",
            "must be between 1 and 200",
        )),
    }
}
