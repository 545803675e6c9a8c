//! Lifecycle stages: the organisation's stage model (stages, allowed transitions, entry criteria in
//! the segment language), the funnel of current counts, and each contact's stage with its history
//! and manual moves. The model's JSON form is described in docs/lifecycle.md; an invalid model is
//! a `422` whose `details.field` is the path of the offending part (`model.stages[2].entry.all[0]`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use hatchery_domain::lifecycle::{Cause, Lifecycle};
use hatchery_domain::segment::DAY_MS;
use hatchery_domain::{ContactId, OrgId};
use hatchery_store::keys::Scope;
use hatchery_store::lifecycle::{ManualMove, StageCount, StageTransition};
use hatchery_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{invalid_field, ApiError, ApiResult, JsonBody};
use crate::AppState;

/// Moves shown with a contact's stage.
const HISTORY: u32 = 200;
/// The funnel's "entered" counts cover this many days.
const FUNNEL_DAYS: i64 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/lifecycle",
            get(get_lifecycle)
                .put(put_lifecycle)
                .delete(delete_lifecycle),
        )
        .route(
            "/api/v1/contacts/{id}/stage",
            get(get_contact_stage).post(move_contact_stage),
        )
}

/// The organisation's lifecycle model and funnel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LifecycleView {
    /// Whether stages are switched on (a model was saved). When off, `model` is the default
    /// model, to start from.
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub model: Value,
    /// Increases with every save; 0 when none was saved.
    pub version: i64,
    pub updated_at: Option<i64>,
    /// Contacts at each stage now and how many entered it in the last 30 days, in the model's
    /// order (stages no longer in the model come last).
    pub funnel: Vec<StageCount>,
    /// Live contacts without a stage.
    pub unstaged: i64,
    /// Contacts waiting to be evaluated (after a save: to be placed by the new criteria).
    pub evaluations_waiting: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleBody {
    /// The model (see docs/lifecycle.md).
    #[schema(value_type = Object)]
    pub model: Value,
}

/// Reads a model and checks what the domain cannot: that the segments its criteria reference
/// exist and that its `stage` conditions name its own stages.
pub async fn checked_model(store: &Store, org: OrgId, v: &Value) -> ApiResult<Lifecycle> {
    let model = Lifecycle::parse(v).map_err(|e| {
        let field = if e.path.is_empty() {
            "model".to_owned()
        } else {
            format!("model.{}", e.path)
        };
        invalid_field(&field, e.message)
    })?;
    for (i, s) in model.stages.iter().enumerate() {
        let Some(f) = &s.entry else { continue };
        let field = format!("model.stages[{i}].entry");
        if let Some(k) = f
            .dependencies()
            .stages
            .iter()
            .find(|k| model.stage(k).is_none())
        {
            return Err(invalid_field(
                &field,
                format!("`{k}` is not a stage of this model"),
            ));
        }
        match store.check_segment_references(org, None, f).await {
            Err(StoreError::Conflict(m)) => {
                return Err(invalid_field(
                    &field,
                    m.trim_start_matches("filter: ").to_owned(),
                ))
            }
            other => other?,
        }
    }
    Ok(model)
}

/// The funnel in the model's order, and the live contacts without a stage.
pub async fn funnel(
    store: &Store,
    org: OrgId,
    model: &Lifecycle,
    now: i64,
) -> Result<(Vec<StageCount>, i64), StoreError> {
    let mut counts = store.stage_counts(org, now - FUNNEL_DAYS * DAY_MS).await?;
    let mut out = Vec::with_capacity(model.stages.len());
    for s in &model.stages {
        match counts.iter().position(|c| c.stage == s.key) {
            Some(i) => out.push(counts.remove(i)),
            None => out.push(StageCount {
                stage: s.key.clone(),
                contacts: 0,
                entered: 0,
            }),
        }
    }
    out.extend(counts);
    let staged: i64 = out.iter().map(|c| c.contacts).sum();
    let live = store.count_contacts(org).await?;
    Ok((out, (live - staged).max(0)))
}

async fn view(s: &AppState, org: OrgId) -> ApiResult<LifecycleView> {
    let saved = s.store.lifecycle(org).await?;
    let model = saved
        .as_ref()
        .map_or_else(Lifecycle::default_model, |m| m.model.clone());
    let (funnel, unstaged) = funnel(&s.store, org, &model, s.now()).await?;
    Ok(LifecycleView {
        enabled: saved.is_some(),
        version: saved.as_ref().map_or(0, |m| m.version),
        updated_at: saved.as_ref().map(|m| m.updated_at),
        model: saved.map_or_else(|| model.to_json(), |m| m.json),
        funnel,
        unstaged,
        evaluations_waiting: s.store.evaluations_waiting(org, s.now()).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/lifecycle", tag = "lifecycle",
    responses((status = 200, body = LifecycleView)))]
/// The lifecycle model (the default one when stages are off) with the funnel of current counts.
pub async fn get_lifecycle(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<LifecycleView>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(view(&s, caller.org()).await?))
}

#[utoipa::path(put, path = "/api/v1/lifecycle", tag = "lifecycle", request_body = LifecycleBody,
    responses((status = 200, body = LifecycleView), (status = 422, body = crate::error::ErrorBody)))]
/// Saves the model and switches stages on. Every contact is then evaluated against it in the
/// background (progress: `evaluations_waiting`); automatic moves are `stage.changed` events.
/// Contacts keep their stage when the model changes, even one no longer listed.
pub async fn put_lifecycle(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<LifecycleBody>,
) -> ApiResult<Json<LifecycleView>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    let model = checked_model(&s.store, org, &b.model).await?;
    let version = s.store.set_lifecycle(org, &model, s.now()).await?;
    tracing::info!(org.id = org.0, version, "lifecycle model saved");
    Ok(Json(view(&s, org).await?))
}

#[utoipa::path(delete, path = "/api/v1/lifecycle", tag = "lifecycle",
    responses((status = 200, body = LifecycleView)))]
/// Switches stages off: no more automatic or manual moves. Contacts keep their stage and history,
/// and segments can still filter on it.
pub async fn delete_lifecycle(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<LifecycleView>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    s.store.disable_lifecycle(org).await?;
    tracing::info!(org.id = org.0, "lifecycle switched off");
    Ok(Json(view(&s, org).await?))
}

/// A contact's stage and its moves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactStage {
    /// The stage's key; `null`: no stage.
    pub stage: Option<String>,
    pub since: Option<i64>,
    /// Moves, newest first (at most 200).
    pub history: Vec<StageTransition>,
}

fn contact_id(id: &str) -> ApiResult<ContactId> {
    id.parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))
}

async fn contact_stage(s: &AppState, org: OrgId, id: ContactId) -> ApiResult<ContactStage> {
    let now = s.store.contact_stage(org, id).await?;
    Ok(ContactStage {
        since: now.as_ref().map(|n| n.1),
        stage: now.map(|n| n.0),
        history: s.store.stage_history(org, id, HISTORY).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}/stage", tag = "lifecycle",
    params(("id" = String, Path, description = "Contact id; an id merged away answers for its survivor")),
    responses((status = 200, body = ContactStage), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_contact_stage(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ContactStage>> {
    caller.require(Scope::ContactsRead)?;
    let org = caller.org();
    let id = s.store.resolve_contact_id(org, contact_id(&id)?).await?;
    Ok(Json(contact_stage(&s, org, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageMoveBody {
    /// The stage to move to (its key).
    pub stage: String,
    /// Why (kept with the move, at most 500 characters).
    pub reason: Option<String>,
    /// `api` (default) or `crm` when a CRM reports the move.
    #[schema(example = "crm")]
    pub cause: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/contacts/{id}/stage", tag = "lifecycle", request_body = StageMoveBody,
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, body = ContactStage), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "The move is not an allowed transition, or stages are off"),
        (status = 422, body = crate::error::ErrorBody)))]
/// Moves a contact to a stage by hand, along the model's allowed transitions.
pub async fn move_contact_stage(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<StageMoveBody>,
) -> ApiResult<Json<ContactStage>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    let cause = match b.cause.as_deref() {
        None | Some("api") => Cause::Api,
        Some("crm") => Cause::Crm,
        Some(_) => return Err(invalid_field("cause", "must be \"api\" or \"crm\"")),
    };
    let id = s.store.resolve_contact_id(org, contact_id(&id)?).await?;
    let saved = s.store.lifecycle(org).await?.ok_or_else(|| {
        ApiError::from(StoreError::Conflict(
            "lifecycle stages are switched off for this organisation".into(),
        ))
    })?;
    if saved.model.stage(&b.stage).is_none() {
        return Err(invalid_field(
            "stage",
            format!("`{}` is not a stage of this organisation", clip(&b.stage)),
        ));
    }
    if b.reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > hatchery_domain::lifecycle::limits::MAX_REASON_CHARS)
    {
        return Err(invalid_field("reason", "is longer than 500 characters"));
    }
    let reason = b.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    s.store
        .move_stage(
            org,
            id,
            &saved.model,
            &ManualMove {
                to: &b.stage,
                cause,
                user: None,
                reason,
            },
            s.now(),
        )
        .await?;
    tracing::info!(
        org.id = org.0,
        contact.id = id.0,
        cause = cause.as_str(),
        "stage moved by hand"
    );
    Ok(Json(contact_stage(&s, org, id).await?))
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}
