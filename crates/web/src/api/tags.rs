use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use hatchery_domain::ids::FieldId;
use hatchery_domain::tag_rules::TagRules;
use hatchery_store::fields::{CustomField, FieldType};
use hatchery_store::keys::Scope;
use hatchery_store::tags::Tag;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{invalid_field, ApiResult, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tags", get(list_tags).post(create_tag))
        .route("/api/v1/tags/{id}", delete(delete_tag).patch(update_tag))
        .route("/api/v1/tag-rules", get(get_tag_rules).put(put_tag_rules))
        .route("/api/v1/fields", get(list_fields).post(create_field))
        .route("/api/v1/fields/{id}", delete(delete_field))
}

pub(crate) fn check_tag_name(n: &str) -> Result<(), &'static str> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 64 {
        return Err("a tag name must have 1 to 64 characters");
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", responses((status = 200, body = Vec<Tag>)))]
pub async fn list_tags(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Tag>>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(s.store.list_tags(caller.org()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    pub name: String,
    /// industry, role, need, value, stage, or your own.
    pub category: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", request_body = NewTag,
    responses((status = 201, body = Tag), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_tag(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewTag>,
) -> ApiResult<(StatusCode, Json<Tag>)> {
    caller.require(Scope::ContactsWrite)?;
    check_tag_name(&b.name).map_err(|m| invalid_field("name", m))?;
    let category =
        check_category(b.category.as_deref()).map_err(|m| invalid_field("category", m))?;
    let tag = s
        .store
        .ensure_tag(caller.org(), b.name.trim(), category, s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(tag)))
}

/// The categories the console offers (PRODUCT.md: tags by industry, role, need, value, stage); any
/// other text of up to 64 characters is accepted too.
pub const SUGGESTED_CATEGORIES: [&str; 5] = ["industry", "role", "need", "value", "stage"];

/// A category as given: trimmed, at most 64 characters; empty means none.
pub(crate) fn check_category(c: Option<&str>) -> Result<Option<&str>, &'static str> {
    match c.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if c.chars().count() > 64 => Err("must be at most 64 characters"),
        other => Ok(other),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagUpdate {
    /// The new category (industry, role, need, value, stage, or your own); `null` or empty for none.
    pub category: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/tags/{id}", tag = "tags", params(("id" = i64, Path)), request_body = TagUpdate,
    responses((status = 204, description = "Category changed"), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// Puts a tag in a category.
pub async fn update_tag(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<TagUpdate>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::ContactsWrite)?;
    let category =
        check_category(b.category.as_deref()).map_err(|m| invalid_field("category", m))?;
    s.store.set_tag_category(caller.org(), id, category).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted and removed from every contact"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_tag(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::ContactsWrite)?;
    s.store.delete_tag(caller.org(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/fields", tag = "fields", responses((status = 200, body = Vec<CustomField>)))]
pub async fn list_fields(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CustomField>>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(s.store.list_fields(caller.org()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    /// 1–64 characters of a–z, 0–9 and `_`, not a standard field name.
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
}

#[utoipa::path(post, path = "/api/v1/fields", tag = "fields", request_body = NewField,
    responses((status = 201, body = CustomField), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_field(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewField>,
) -> ApiResult<(StatusCode, Json<CustomField>)> {
    caller.require(Scope::Admin)?;
    let ok = !b.key.is_empty()
        && b.key.len() <= 64
        && b.key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(invalid_field(
            "key",
            "must be 1 to 64 characters of a-z, 0-9 and _",
        ));
    }
    if hatchery_domain::StandardField::parse(&b.key).is_some() {
        return Err(invalid_field(
            "key",
            "is a standard field; custom fields need another key",
        ));
    }
    if b.label.trim().is_empty() || b.label.chars().count() > 100 {
        return Err(invalid_field("label", "must have 1 to 100 characters"));
    }
    let f = s
        .store
        .create_field(caller.org(), &b.key, b.label.trim(), b.field_type, s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(f)))
}

#[utoipa::path(delete, path = "/api/v1/fields/{id}", tag = "fields", params(("id" = String, Path)),
    responses((status = 204, description = "Definition removed; stored values stay"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_field(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    let id: FieldId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))?;
    s.store.delete_field(caller.org(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organisation's tag rules.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TagRulesView {
    /// `{"rules": [{"tag", "category", "when"}]}`; no rules when none were saved.
    #[schema(value_type = Object)]
    pub model: serde_json::Value,
    /// Increases with every save; 0 when none was saved.
    pub version: i64,
    /// Contacts waiting to be evaluated (after a save: to be tagged or untagged).
    pub evaluations_waiting: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRulesBody {
    /// The rules (see docs/tags.md).
    #[schema(value_type = Object)]
    pub model: serde_json::Value,
}

/// Reads tag rules, checking them and the segments they reference.
pub async fn checked_rules(
    store: &hatchery_store::Store,
    org: hatchery_domain::OrgId,
    v: &serde_json::Value,
) -> ApiResult<TagRules> {
    let rules = TagRules::parse(v).map_err(|e| {
        invalid_field(
            &if e.path.is_empty() {
                "model".to_owned()
            } else {
                format!("model.{}", e.path)
            },
            e.message,
        )
    })?;
    for (i, r) in rules.rules.iter().enumerate() {
        match store.check_filter_references(org, None, &r.when).await {
            Err(hatchery_store::StoreError::Conflict(m)) => {
                return Err(invalid_field(
                    &format!("model.rules[{i}].when"),
                    m.trim_start_matches("filter: ").to_owned(),
                ))
            }
            other => other?,
        }
    }
    Ok(rules)
}

async fn rules_view(s: &AppState, org: hatchery_domain::OrgId) -> ApiResult<TagRulesView> {
    let saved = s.store.tag_rules(org).await?;
    Ok(TagRulesView {
        version: saved.as_ref().map_or(0, |r| r.2),
        model: saved.map_or_else(|| TagRules::default().to_json(), |r| r.1),
        evaluations_waiting: s.store.evaluations_waiting(org, s.now()).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/tag-rules", tag = "tags", responses((status = 200, body = TagRulesView)))]
/// The rules that keep tags on the contacts meeting their criteria.
pub async fn get_tag_rules(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<TagRulesView>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(rules_view(&s, caller.org()).await?))
}

#[utoipa::path(put, path = "/api/v1/tag-rules", tag = "tags", request_body = TagRulesBody,
    responses((status = 200, body = TagRulesView), (status = 422, body = crate::error::ErrorBody)))]
/// Saves the rules; every contact is evaluated against them in the background.
pub async fn put_tag_rules(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<TagRulesBody>,
) -> ApiResult<Json<TagRulesView>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    let rules = checked_rules(&s.store, org, &b.model).await?;
    let version = s.store.set_tag_rules(org, &rules, s.now()).await?;
    tracing::info!(org.id = org.0, version, "tag rules saved");
    Ok(Json(rules_view(&s, org).await?))
}
