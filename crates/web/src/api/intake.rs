//! The intake log as an operator sees it (docs/ingestion.md, "The intake log"): how much waits to be
//! applied, and the tracking requests that were acknowledged but could not be applied, which stay
//! set aside until they are applied again or discarded. The `admin` scope.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hatchery_domain::ids::SourceId;
use hatchery_engine::intake::SetAside;
use hatchery_store::keys::Scope;
use hatchery_store::Millis;
use serde::Serialize;

use crate::auth::Caller;
use crate::error::{invalid_field, not_found, ApiError, ApiResult};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/intake", get(get_intake))
        .route(
            "/api/v1/intake/set-aside/{seq}/retry",
            post(retry_set_aside),
        )
        .route("/api/v1/intake/set-aside/{seq}", delete(discard_set_aside))
}

/// The intake log of this server.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntakeStatus {
    /// Whether tracking requests are answered once logged (and applied behind). Off, a `200`
    /// means committed to the database, and nothing is ever set aside.
    pub enabled: bool,
    /// Messages acknowledged and not yet applied (all organisations).
    pub backlog_messages: u64,
    /// This organisation's requests that could not be applied, oldest first.
    pub set_aside: Vec<SetAsideRequest>,
}

/// A tracking request that was acknowledged but could not be applied.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SetAsideRequest {
    /// Its number in the log that accepted it.
    pub seq: u64,
    #[schema(value_type = String, example = "src_1")]
    pub source_id: SourceId,
    pub source_name: String,
    /// The endpoint it came to: `batch`, `track`, `identify` …
    pub endpoint: String,
    pub received_at: Millis,
    pub bytes: u64,
    pub messages: u64,
    /// Why it could not be applied.
    pub reason: String,
}

impl From<SetAside> for SetAsideRequest {
    fn from(s: SetAside) -> Self {
        SetAsideRequest {
            seq: s.seq,
            source_id: s.source,
            source_name: s.source_name,
            endpoint: s.kind.map_or("batch", |k| k.as_str()).to_owned(),
            received_at: s.received_at,
            bytes: s.bytes as u64,
            messages: s.messages as u64,
            reason: s.reason,
        }
    }
}

/// What applying a set-aside request again did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Retried {
    pub seq: u64,
    /// Messages accepted again; they are applied behind, as any tracking request.
    pub messages: u64,
}

#[utoipa::path(get, path = "/api/v1/intake", tag = "admin",
    responses((status = 200, body = IntakeStatus)))]
pub async fn get_intake(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<IntakeStatus>> {
    caller.require(Scope::Admin)?;
    let set_aside = s.ingestor.set_aside(caller.org())?;
    Ok(Json(IntakeStatus {
        enabled: set_aside.is_some(),
        backlog_messages: s.ingestor.backlog(),
        set_aside: set_aside
            .unwrap_or_default()
            .into_iter()
            .map(SetAsideRequest::from)
            .collect(),
    }))
}

fn seq_of(seq: &str) -> Result<u64, ApiError> {
    seq.parse()
        .map_err(|_| invalid_field("seq", "must be the request's number in the log"))
}

#[utoipa::path(post, path = "/api/v1/intake/set-aside/{seq}/retry", tag = "admin",
    params(("seq" = u64, Path, description = "The request's number in the log")),
    responses((status = 200, body = Retried),
        (status = 404, body = crate::error::ErrorBody, description = "No such request set aside"),
        (status = 422, body = crate::error::ErrorBody, description = "The request cannot be read")))]
pub async fn retry_set_aside(
    State(s): State<AppState>,
    caller: Caller,
    Path(seq): Path<String>,
) -> ApiResult<Json<Retried>> {
    caller.require(Scope::Admin)?;
    let seq = seq_of(&seq)?;
    let messages = s
        .ingestor
        .retry_set_aside(caller.org(), seq)
        .await?
        .ok_or_else(|| not_found("set-aside request"))?;
    Ok(Json(Retried {
        seq,
        messages: messages as u64,
    }))
}

#[utoipa::path(delete, path = "/api/v1/intake/set-aside/{seq}", tag = "admin",
    params(("seq" = u64, Path, description = "The request's number in the log")),
    responses((status = 204, description = "Discarded: its messages are lost"),
        (status = 404, body = crate::error::ErrorBody, description = "No such request set aside")))]
pub async fn discard_set_aside(
    State(s): State<AppState>,
    caller: Caller,
    Path(seq): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    let seq = seq_of(&seq)?;
    if !s.ingestor.discard_set_aside(caller.org(), seq).await? {
        return Err(not_found("set-aside request"));
    }
    tracing::info!(
        org.id = caller.org().0,
        seq,
        "a set-aside tracking request was discarded"
    );
    Ok(StatusCode::NO_CONTENT)
}
