//! Keys, tracking sources and identity-resolution rules: the `admin` scope.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use hatchery_domain::ids::{ApiKeyId, SourceId};
use hatchery_domain::IdentityRules;
use hatchery_store::keys::{ApiKey, Scope, Source};
use hatchery_store::users::BusinessUnit;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{invalid_field, ApiResult, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api/v1/api-keys/{id}", delete(revoke_api_key))
        .route("/api/v1/sources", get(list_sources).post(create_source))
        .route("/api/v1/sources/{id}", delete(disable_source))
        .route("/api/v1/business-units", get(list_business_units))
        .route(
            "/api/v1/identity-rules",
            get(get_identity_rules).put(put_identity_rules),
        )
}

/// The organisation's business units, by name: the ids a contact is placed with
/// (`PATCH /api/v1/contacts/{id}` with `business_unit`). Units are created from the shell
/// (`hatchery admin bu create`).
#[utoipa::path(get, path = "/api/v1/business-units", tag = "admin",
    responses((status = 200, body = Vec<BusinessUnit>)))]
pub async fn list_business_units(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<BusinessUnit>>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(s.store.list_business_units(caller.org()).await?))
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "admin", responses((status = 200, body = Vec<ApiKey>)))]
pub async fn list_api_keys(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ApiKey>>> {
    caller.require(Scope::Admin)?;
    Ok(Json(s.store.list_api_keys(caller.org()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedSecret<T> {
    #[serde(flatten)]
    pub item: T,
    /// The secret. It is shown only now; store it safely.
    pub secret: String,
}

fn check_name(n: &str) -> ApiResult<()> {
    if n.trim().is_empty() || n.chars().count() > 100 {
        return Err(invalid_field("name", "must have 1 to 100 characters"));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "admin", request_body = NewApiKey,
    responses((status = 201, body = CreatedSecret<ApiKey>), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_api_key(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedSecret<ApiKey>>)> {
    caller.require(Scope::Admin)?;
    check_name(&b.name)?;
    if b.scopes.is_empty() {
        return Err(invalid_field("scopes", "name at least one scope"));
    }
    let (item, secret) = s
        .store
        .create_api_key(caller.org(), b.name.trim(), &b.scopes, s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedSecret { item, secret })))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_api_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    let id: ApiKeyId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))?;
    s.store.revoke_api_key(caller.org(), id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sources", tag = "admin", responses((status = 200, body = Vec<Source>)))]
pub async fn list_sources(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Source>>> {
    caller.require(Scope::Admin)?;
    Ok(Json(s.store.list_sources(caller.org()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    pub name: String,
    /// website, app, server, wechat, crm, other.
    pub kind: String,
}

pub const SOURCE_KINDS: [&str; 6] = ["website", "app", "server", "wechat", "crm", "other"];

#[utoipa::path(post, path = "/api/v1/sources", tag = "admin", request_body = NewSource,
    responses((status = 201, body = CreatedSecret<Source>), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_source(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewSource>,
) -> ApiResult<(StatusCode, Json<CreatedSecret<Source>>)> {
    caller.require(Scope::Admin)?;
    check_name(&b.name)?;
    if !SOURCE_KINDS.contains(&b.kind.as_str()) {
        return Err(invalid_field(
            "kind",
            format!("must be one of {}", SOURCE_KINDS.join(", ")),
        ));
    }
    let (item, secret) = s
        .store
        .create_source(caller.org(), b.name.trim(), &b.kind, s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedSecret { item, secret })))
}

#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "Disabled: its write key is refused from now on"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn disable_source(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    let id: SourceId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))?;
    s.store.disable_source(caller.org(), id, s.now()).await?;
    s.write_keys.clear().await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/identity-rules", tag = "admin", responses((status = 200, body = IdentityRules)))]
pub async fn get_identity_rules(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<IdentityRules>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(s.store.identity_rules(caller.org()).await?))
}

#[utoipa::path(put, path = "/api/v1/identity-rules", tag = "admin", request_body = IdentityRules,
    responses((status = 200, body = IdentityRules), (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_identity_rules(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(rules): JsonBody<IdentityRules>,
) -> ApiResult<Json<IdentityRules>> {
    caller.require(Scope::Admin)?;
    rules.validate().map_err(|e| {
        let msg = e.to_string();
        let field = msg.split(':').next().unwrap_or("rules").to_owned();
        invalid_field(
            &field,
            msg.split_once(": ")
                .map_or(msg.as_str(), |(_, m)| m)
                .to_owned(),
        )
    })?;
    s.store.set_identity_rules(caller.org(), &rules).await?;
    s.ingestor.rules_changed(caller.org()).await;
    Ok(Json(rules))
}
