//! Consent per purpose and channel: recording a contact's answer (where it came from, when) and
//! reading them. Segments read consent with `{"consent": "marketing", "channel": "email"}`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use hatchery_domain::lifecycle::valid_key;
use hatchery_domain::ContactId;
use hatchery_store::consents::Consent;
use hatchery_store::keys::Scope;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{invalid_field, ApiResult, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/contacts/{id}/consents",
        get(list_consents).put(put_consent),
    )
}

fn contact_id(id: &str) -> ApiResult<ContactId> {
    id.parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}/consents", tag = "contacts",
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, body = Vec<Consent>), (status = 404, body = crate::error::ErrorBody)))]
/// A contact's latest answer for each purpose and channel (the history is on the timeline as
/// `consent.changed` events).
pub async fn list_consents(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Consent>>> {
    caller.require(Scope::ContactsRead)?;
    let org = caller.org();
    let id = s.store.resolve_contact_id(org, contact_id(&id)?).await?;
    Ok(Json(s.store.contact_consents(org, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// `marketing`, `newsletter` … (a-z, 0-9, _; at most 32).
    pub purpose: String,
    /// `email`, `sms`, `wechat`, `phone` … (a-z, 0-9, _; at most 32).
    pub channel: String,
    pub granted: bool,
    /// Where it was captured (`form:webinar-2026`); at most 100 characters; default `api`.
    pub source: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/contacts/{id}/consents", tag = "contacts", request_body = ConsentBody,
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, body = Vec<Consent>), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// Records a contact's answer for one purpose and channel, replacing the previous one; returns
/// all of the contact's answers.
pub async fn put_consent(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ConsentBody>,
) -> ApiResult<Json<Vec<Consent>>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    for (field, v) in [("purpose", &b.purpose), ("channel", &b.channel)] {
        if !valid_key(v) {
            return Err(invalid_field(
                field,
                "must be 1 to 32 characters a-z, 0-9 or _, starting with a letter",
            ));
        }
    }
    let source = b.source.as_deref().map(str::trim).unwrap_or("api");
    if source.is_empty() || source.chars().count() > 100 {
        return Err(invalid_field("source", "must have 1 to 100 characters"));
    }
    let id = contact_id(&id)?;
    s.store
        .set_consent(
            org,
            id,
            &Consent {
                purpose: b.purpose,
                channel: b.channel,
                granted: b.granted,
                source: source.to_owned(),
                at: s.now(),
            },
        )
        .await?;
    let id = s.store.resolve_contact_id(org, id).await?;
    tracing::info!(org.id = org.0, contact.id = id.0, "consent recorded");
    Ok(Json(s.store.contact_consents(org, id).await?))
}
