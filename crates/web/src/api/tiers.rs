//! Customer tiers (客户分层): the organisation's tier dimensions and their rules, with how many
//! contacts are in each tier. The model's JSON form is described in docs/tiers.md; an invalid model
//! is a `422` whose `details.field` is the path of the offending part
//! (`model.dimensions[0].tiers[1].when`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hatchery_domain::tiers::TierModel;
use hatchery_domain::OrgId;
use hatchery_store::keys::Scope;
use hatchery_store::tiers::TierCount;
use hatchery_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{invalid_field, ApiResult, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/tiers",
        get(get_tiers).put(put_tiers).delete(delete_tiers),
    )
}

/// The organisation's tier model and how many contacts are in each tier.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TiersView {
    /// Whether tiers are switched on (a model was saved). When off, `model` is the default model.
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub model: Value,
    pub version: i64,
    pub updated_at: Option<i64>,
    /// Contacts per tier, in the model's order of dimensions and tiers.
    pub counts: Vec<TierCount>,
    /// Contacts waiting to be evaluated (after a save: to be classified).
    pub evaluations_waiting: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TiersBody {
    /// The model (see docs/tiers.md).
    #[schema(value_type = Object)]
    pub model: Value,
}

/// Reads a model and checks that the segments its criteria reference exist.
pub async fn checked_model(store: &Store, org: OrgId, v: &Value) -> ApiResult<TierModel> {
    let model = TierModel::parse(v).map_err(|e| {
        let field = if e.path.is_empty() {
            "model".to_owned()
        } else {
            format!("model.{}", e.path)
        };
        invalid_field(&field, e.message)
    })?;
    for (i, d) in model.dimensions.iter().enumerate() {
        for (j, t) in d.tiers.iter().enumerate() {
            let Some(f) = &t.when else { continue };
            match store.check_segment_references(org, None, f).await {
                Err(StoreError::Conflict(m)) => {
                    return Err(invalid_field(
                        &format!("model.dimensions[{i}].tiers[{j}].when"),
                        m.trim_start_matches("filter: ").to_owned(),
                    ))
                }
                other => other?,
            }
        }
    }
    Ok(model)
}

/// Contacts per tier in the model's order (every tier listed, 0 when empty).
pub async fn counts(
    store: &Store,
    org: OrgId,
    model: &TierModel,
) -> Result<Vec<TierCount>, StoreError> {
    let stored = store.tier_counts(org).await?;
    Ok(model
        .dimensions
        .iter()
        .flat_map(|d| {
            d.tiers.iter().map(|t| TierCount {
                dimension: d.key.clone(),
                tier: t.key.clone(),
                contacts: stored
                    .iter()
                    .find(|c| c.dimension == d.key && c.tier == t.key)
                    .map_or(0, |c| c.contacts),
            })
        })
        .collect())
}

async fn view(s: &AppState, org: OrgId) -> ApiResult<TiersView> {
    let saved = s.store.tier_model(org).await?;
    let model = saved
        .as_ref()
        .map_or_else(TierModel::default_model, |m| m.model.clone());
    Ok(TiersView {
        enabled: saved.is_some(),
        version: saved.as_ref().map_or(0, |m| m.version),
        updated_at: saved.as_ref().map(|m| m.updated_at),
        counts: if saved.is_some() {
            counts(&s.store, org, &model).await?
        } else {
            Vec::new()
        },
        model: saved.map_or_else(|| model.to_json(), |m| m.json),
        evaluations_waiting: s.store.evaluations_waiting(org, s.now()).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/tiers", tag = "tiers",
    responses((status = 200, body = TiersView)))]
/// The tier model (the default one when tiers are off) with the contacts in each tier.
pub async fn get_tiers(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<TiersView>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(view(&s, caller.org()).await?))
}

#[utoipa::path(put, path = "/api/v1/tiers", tag = "tiers", request_body = TiersBody,
    responses((status = 200, body = TiersView), (status = 422, body = crate::error::ErrorBody)))]
/// Saves the model and switches tiers on; every contact is classified in the background
/// (progress: `evaluations_waiting`), and each change is a `tier.changed` event.
pub async fn put_tiers(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<TiersBody>,
) -> ApiResult<Json<TiersView>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    let model = checked_model(&s.store, org, &b.model).await?;
    let version = s.store.set_tier_model(org, &model, s.now()).await?;
    tracing::info!(org.id = org.0, version, "tier model saved");
    Ok(Json(view(&s, org).await?))
}

#[utoipa::path(delete, path = "/api/v1/tiers", tag = "tiers",
    responses((status = 200, body = TiersView)))]
/// Switches tiers off and forgets every contact's tier (the referral graph is kept).
pub async fn delete_tiers(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<TiersView>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    s.store.disable_tiers(org).await?;
    tracing::info!(org.id = org.0, "tiers switched off");
    Ok(Json(view(&s, org).await?))
}
