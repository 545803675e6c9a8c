//! The scoring model (fit and engagement rules, decay, thresholds, grades) and a live test of a
//! model against one contact. The model's JSON form is described in docs/scoring.md; an invalid
//! model is a `422` whose `details.field` is the path of the offending part
//! (`model.engagement[1].cap.per_days`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use hatchery_domain::scoring::{Grade, Reason, ScoringModel};
use hatchery_domain::ContactId;
use hatchery_store::keys::Scope;
use hatchery_store::segments::membership::SnapshotNeeds;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{invalid_field, not_found, ApiResult, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/scoring-model",
            get(get_scoring_model).put(put_scoring_model),
        )
        .route("/api/v1/scoring-model/test", post(test_scoring_model))
}

/// The organisation's scoring model.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScoringModelView {
    /// The model as saved; `null` when none was saved (nobody is scored).
    #[schema(value_type = Option<Object>)]
    pub model: Option<Value>,
    /// Increases with every save; 0 when none was saved.
    pub version: i64,
    pub updated_at: Option<i64>,
    /// Contacts waiting to be evaluated (after a save: to be scored again) — the progress of a
    /// re-score.
    pub evaluations_waiting: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoringModelBody {
    /// The model (see docs/scoring.md).
    #[schema(value_type = Object)]
    pub model: Value,
}

fn parse_model(v: &Value) -> ApiResult<ScoringModel> {
    ScoringModel::parse(v).map_err(|e| {
        let field = if e.path.is_empty() {
            "model".to_owned()
        } else {
            format!("model.{}", e.path)
        };
        invalid_field(&field, e.message)
    })
}

async fn view(s: &AppState, caller: &Caller) -> ApiResult<ScoringModelView> {
    let org = caller.org();
    let saved = s.store.scoring_model(org).await?;
    Ok(ScoringModelView {
        version: saved.as_ref().map_or(0, |m| m.version),
        updated_at: saved.as_ref().map(|m| m.updated_at),
        model: saved.map(|m| m.json),
        evaluations_waiting: s.store.evaluations_waiting(org, s.now()).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/scoring-model", tag = "scoring",
    responses((status = 200, body = ScoringModelView)))]
pub async fn get_scoring_model(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ScoringModelView>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(view(&s, &caller).await?))
}

#[utoipa::path(put, path = "/api/v1/scoring-model", tag = "scoring", request_body = ScoringModelBody,
    responses((status = 200, body = ScoringModelView), (status = 422, body = crate::error::ErrorBody)))]
/// Saves the model. Every contact is then scored again in the background (the progress is
/// `evaluations_waiting`); scores crossing a threshold emit `score.crossed`.
pub async fn put_scoring_model(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ScoringModelBody>,
) -> ApiResult<Json<ScoringModelView>> {
    caller.require(Scope::ContactsWrite)?;
    parse_model(&b.model)?;
    let version = s
        .store
        .set_scoring_model(caller.org(), &b.model, s.now())
        .await?;
    tracing::info!(org.id = caller.org().0, version, "scoring model saved");
    Ok(Json(view(&s, &caller).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreTestRequest {
    /// The contact to score (`ct_…`).
    #[schema(value_type = String, example = "ct_42")]
    pub contact_id: String,
    /// A model to try instead of the saved one (not saved).
    #[schema(value_type = Option<Object>)]
    pub model: Option<Value>,
}

/// A contact scored now by a model.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScoreTest {
    pub fit: f64,
    pub engagement: f64,
    #[schema(value_type = String, example = "A")]
    pub grade: Grade,
    pub reasons: Vec<Reason>,
}

#[utoipa::path(post, path = "/api/v1/scoring-model/test", tag = "scoring", request_body = ScoreTestRequest,
    responses((status = 200, body = ScoreTest), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// Scores one contact now with the given model (or the saved one) and says why: nothing is
/// stored. The console's "test against contact X" box uses it.
pub async fn test_scoring_model(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ScoreTestRequest>,
) -> ApiResult<Json<ScoreTest>> {
    caller.require(Scope::ContactsRead)?;
    let org = caller.org();
    let model = match &b.model {
        Some(m) => parse_model(m)?,
        None => s
            .store
            .scoring_model(org)
            .await?
            .map(|m| m.model)
            .ok_or_else(|| invalid_field("model", "no model is saved; send one to test"))?,
    };
    let id: ContactId = b
        .contact_id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("contact_id", e.to_string()))?;
    let id = s.store.resolve_contact_id(org, id).await?;
    let now = s.now();
    let snapshot = s
        .store
        .contact_snapshots(
            org,
            &[id],
            SnapshotNeeds::all(model.events_needed_since(now)),
        )
        .await?
        .remove(&id)
        .ok_or_else(|| not_found("contact"))?;
    let scored = model.score(&snapshot, now);
    Ok(Json(ScoreTest {
        fit: scored.fit,
        engagement: (scored.engagement * 10.0).round() / 10.0,
        grade: scored.grade,
        reasons: scored.reasons,
    }))
}
