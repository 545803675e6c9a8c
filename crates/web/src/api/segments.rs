//! Segments: previews of a filter in the segment language (count and newest contacts) and saved
//! segments. The language is described in docs/segments.md; an invalid filter is a `422` whose
//! `details.field` is the path of the offending part (`filter.all[2].any[0].field`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hatchery_domain::ids::{BadId, SegmentId};
use hatchery_domain::segment::{Filter, FilterError};
use hatchery_domain::ContactId;
use hatchery_store::contacts::Contact;
use hatchery_store::keys::Scope;
use hatchery_store::segments::membership::{SegmentMember, SegmentSize};
use hatchery_store::segments::{Segment, SegmentChange};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::api::{limit, Page};
use crate::auth::Caller;
use crate::error::{invalid_field, ApiError, ApiResult, JsonBody};
use crate::AppState;

/// Contacts a preview returns.
const SAMPLE_SIZE: u32 = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/segments", get(list_segments).post(create_segment))
        .route("/api/v1/segments/preview", post(preview_segment))
        .route(
            "/api/v1/segments/{id}",
            get(get_segment)
                .patch(update_segment)
                .delete(delete_segment),
        )
        .route("/api/v1/segments/{id}/contacts", get(list_segment_contacts))
        .route("/api/v1/segments/{id}/members", get(list_segment_members))
        .route("/api/v1/segments/{id}/sizes", get(list_segment_sizes))
}

fn filter_error(e: &FilterError) -> ApiError {
    let field = if e.path.is_empty() {
        "filter".to_owned()
    } else {
        format!("filter.{}", e.path)
    };
    invalid_field(&field, e.message.clone())
}

fn parse_filter(v: &Value) -> ApiResult<Filter> {
    Filter::parse(v).map_err(|e| filter_error(&e))
}

/// A page cursor of a contact list (the last contact id of the previous page).
fn contact_cursor(c: Option<&str>) -> ApiResult<Option<ContactId>> {
    c.map(|c| {
        c.parse::<ContactId>()
            .map_err(|_| invalid_field("cursor", "is not a cursor returned by this API"))
    })
    .transpose()
}

fn segment_id(id: &str) -> ApiResult<SegmentId> {
    id.parse()
        .map_err(|e: BadId| invalid_field("id", e.to_string()))
}

fn check_name(n: &str) -> ApiResult<&str> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(invalid_field("name", "must have 1 to 100 characters"));
    }
    Ok(n)
}

fn check_description(d: Option<&str>) -> ApiResult<()> {
    if d.is_some_and(|d| d.chars().count() > 1000) {
        return Err(invalid_field(
            "description",
            "must have at most 1000 characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentPreviewRequest {
    /// A filter in the segment language, e.g. `{"all": [{"tag": "vip"}, {"event": {"kind": "page",
    /// "name": "Pricing"}, "at_least": 3, "within_days": 7}]}`. See docs/segments.md.
    #[schema(value_type = Object)]
    pub filter: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SegmentPreview {
    /// Live contacts matching the filter now.
    pub count: i64,
    /// The newest matching contacts (at most 20).
    pub sample: Vec<Contact>,
}

#[utoipa::path(post, path = "/api/v1/segments/preview", tag = "segments", request_body = SegmentPreviewRequest,
    responses((status = 200, body = SegmentPreview), (status = 422, body = crate::error::ErrorBody)))]
/// Counts the live contacts a filter selects now and returns the 20 newest of them. An invalid
/// filter is a 422 whose `details.field` is the path of the offending part.
pub async fn preview_segment(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<SegmentPreviewRequest>,
) -> ApiResult<Json<SegmentPreview>> {
    caller.require(Scope::ContactsRead)?;
    let filter = parse_filter(&b.filter)?;
    let now = s.now();
    let count = s.store.segment_count(caller.org(), &filter, now).await?;
    let (sample, _) = s
        .store
        .segment_contacts(caller.org(), &filter, now, None, SAMPLE_SIZE)
        .await?;
    Ok(Json(SegmentPreview { count, sample }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSegmentsQuery {
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", params(ListSegmentsQuery),
    responses((status = 200, body = Page<Segment>)))]
pub async fn list_segments(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ListSegmentsQuery>,
) -> ApiResult<Json<Page<Segment>>> {
    caller.require(Scope::ContactsRead)?;
    let before = match &q.cursor {
        Some(c) => Some(
            c.parse::<SegmentId>()
                .map_err(|_| invalid_field("cursor", "is not a cursor returned by this API"))?,
        ),
        None => None,
    };
    let (data, more) = s
        .store
        .list_segments(caller.org(), before, limit(q.limit)?)
        .await?;
    let next_cursor = more
        .then(|| data.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(Json(Page { data, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    /// 1–100 characters, unique in the organisation.
    pub name: String,
    /// At most 1,000 characters.
    pub description: Option<String>,
    /// A filter in the segment language (docs/segments.md).
    #[schema(value_type = Object)]
    pub filter: Value,
}

#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", request_body = NewSegment,
    responses((status = 201, body = Segment), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_segment(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewSegment>,
) -> ApiResult<(StatusCode, Json<Segment>)> {
    caller.require(Scope::ContactsWrite)?;
    let name = check_name(&b.name)?;
    check_description(b.description.as_deref())?;
    let filter = parse_filter(&b.filter)?;
    let seg = s
        .store
        .create_segment(
            caller.org(),
            name,
            b.description.as_deref(),
            &filter,
            s.now(),
        )
        .await?;
    tracing::info!(segment.id = %seg.id, "segment created");
    Ok((StatusCode::CREATED, Json(seg)))
}

#[utoipa::path(get, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = String, Path)),
    responses((status = 200, body = Segment), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_segment(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Segment>> {
    caller.require(Scope::ContactsRead)?;
    Ok(Json(
        s.store.get_segment(caller.org(), segment_id(&id)?).await?,
    ))
}

/// Distinguishes an absent field from an explicit `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentUpdate {
    pub name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

#[utoipa::path(patch, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = String, Path)), request_body = SegmentUpdate,
    responses((status = 200, body = Segment), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_segment(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<SegmentUpdate>,
) -> ApiResult<Json<Segment>> {
    caller.require(Scope::ContactsWrite)?;
    let id = segment_id(&id)?;
    let change = SegmentChange {
        name: b
            .name
            .as_deref()
            .map(check_name)
            .transpose()?
            .map(str::to_owned),
        description: match b.description {
            Some(d) => {
                check_description(d.as_deref())?;
                Some(d)
            }
            None => None,
        },
        filter: b.filter.as_ref().map(parse_filter).transpose()?,
    };
    let seg = s
        .store
        .update_segment(caller.org(), id, &change, s.now())
        .await?;
    tracing::info!(segment.id = %seg.id, "segment changed");
    Ok(Json(seg))
}

#[utoipa::path(delete, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_segment(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::ContactsWrite)?;
    let id = segment_id(&id)?;
    s.store.delete_segment(caller.org(), id).await?;
    tracing::info!(segment.id = %id, "segment deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSegmentContactsQuery {
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/segments/{id}/contacts", tag = "segments",
    params(("id" = String, Path), ListSegmentContactsQuery),
    responses((status = 200, body = Page<Contact>), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
/// The contacts a saved segment selects now, newest first, evaluated when asked.
pub async fn list_segment_contacts(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ListSegmentContactsQuery>,
) -> ApiResult<Json<Page<Contact>>> {
    caller.require(Scope::ContactsRead)?;
    let segment = s.store.get_segment(caller.org(), segment_id(&id)?).await?;
    let filter = segment.parsed_filter().map_err(|e| {
        // Only if the language's limits were tightened after the segment was saved.
        tracing::warn!(segment.id = %segment.id, filter.path = %e.path, "saved segment filter no longer valid");
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("the saved filter is no longer valid ({e}); update it"),
        )
    })?;
    let before = contact_cursor(q.cursor.as_deref())?;
    let (data, more) = s
        .store
        .segment_contacts(caller.org(), &filter, s.now(), before, limit(q.limit)?)
        .await?;
    let next_cursor = more
        .then(|| data.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Json(Page { data, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/segments/{id}/members", tag = "segments",
    params(("id" = String, Path), ListSegmentContactsQuery),
    responses((status = 200, body = Page<SegmentMember>), (status = 404, body = crate::error::ErrorBody)))]
/// The segment's stored members with the time each entered, newest contact first. Membership is
/// kept current as contacts change and as time moves rolling windows; while the segment is
/// `pending` (its members are being computed after creation) the list is empty.
pub async fn list_segment_members(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ListSegmentContactsQuery>,
) -> ApiResult<Json<Page<SegmentMember>>> {
    caller.require(Scope::ContactsRead)?;
    let segment = s.store.get_segment(caller.org(), segment_id(&id)?).await?;
    let before = contact_cursor(q.cursor.as_deref())?;
    let (data, more) = s
        .store
        .segment_members(caller.org(), segment.id, before, limit(q.limit)?)
        .await?;
    let next_cursor = more
        .then(|| data.last().map(|m| m.contact.id.to_string()))
        .flatten();
    Ok(Json(Page { data, next_cursor }))
}

/// Longest size history one request returns, in days.
const MAX_SIZE_DAYS: u32 = 3_650;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSegmentSizesQuery {
    /// How many days back, 1–3650, default 90.
    pub days: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/segments/{id}/sizes", tag = "segments",
    params(("id" = String, Path), ListSegmentSizesQuery),
    responses((status = 200, body = [SegmentSize]), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// The segment's size per UTC day (days with a change only), oldest first, with how many
/// contacts entered and left that day.
pub async fn list_segment_sizes(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ListSegmentSizesQuery>,
) -> ApiResult<Json<Vec<SegmentSize>>> {
    caller.require(Scope::ContactsRead)?;
    let days = q.days.unwrap_or(90);
    if days == 0 || days > MAX_SIZE_DAYS {
        return Err(invalid_field("days", "must be between 1 and 3650"));
    }
    let segment = s.store.get_segment(caller.org(), segment_id(&id)?).await?;
    let since = s.now() - i64::from(days) * hatchery_domain::segment::DAY_MS;
    Ok(Json(
        s.store
            .segment_sizes(caller.org(), segment.id, since)
            .await?,
    ))
}
