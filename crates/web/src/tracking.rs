//! The tracking API, compatible with the Segment/RudderStack HTTP spec so their client libraries
//! work unchanged: `/v1/identify|track|page|screen|group|alias|batch`, the source's write key as
//! the HTTP Basic user (or `writeKey` in the body), JSON or gzip bodies, 32 KiB per message and
//! 500 KiB per batch. A `200` is sent only after the messages are durable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hatchery_domain::message::{MessageKind, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES};
use hatchery_engine::intake::log::LogRecord;
use hatchery_engine::tracking::{read_body, RequestError};
use hatchery_engine::SourceRef;
use hatchery_store::keys::Source;
use serde_json::json;
use tokio::sync::RwLock;
use tower_http::decompression::RequestDecompressionLayer;

use crate::error::{invalid_field, unauthorized, ApiError, ErrorDetail};
use crate::AppState;

mod load;
pub(crate) mod spec;

pub use load::Admission;

const KEY_TTL: Duration = Duration::from_secs(30);

/// Recently seen write keys, so a busy source does not cost a key lookup per request.
#[derive(Clone, Default)]
pub struct WriteKeyCache(Arc<RwLock<HashMap<String, CachedKey>>>);

/// The source a write key belongs to (`None`: unknown or disabled) and when that was looked up.
type CachedKey = (Option<Source>, Instant);

impl WriteKeyCache {
    async fn source(&self, state: &AppState, key: &str) -> Result<Option<Source>, ApiError> {
        if let Some((s, at)) = self.0.read().await.get(key) {
            if at.elapsed() < KEY_TTL {
                return Ok(s.clone());
            }
        }
        let s = state.store.source_by_write_key(key, state.now()).await?;
        let mut map = self.0.write().await;
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key.to_owned(), (s.clone(), Instant::now()));
        Ok(s)
    }

    /// Forgets every cached key (after a source is disabled).
    pub async fn clear(&self) {
        self.0.write().await.clear();
    }
}

pub fn routes() -> Router<AppState> {
    let r = Router::new()
        .route("/v1/identify", post(identify))
        .route("/v1/track", post(track))
        .route("/v1/page", post(page))
        .route("/v1/p", post(page))
        .route("/v1/screen", post(screen))
        .route("/v1/group", post(group))
        .route("/v1/alias", post(alias))
        .route("/v1/batch", post(batch))
        .route("/v1/import", post(batch));
    r.layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
        .layer(RequestDecompressionLayer::new())
}

/// Errors of the tracking API carry the envelope plus top-level `code` and `message`, which
/// Segment's client libraries read.
pub(crate) struct TrackingError(ApiError);

impl From<ApiError> for TrackingError {
    fn from(e: ApiError) -> Self {
        TrackingError(e)
    }
}

impl IntoResponse for TrackingError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = spec::TrackingErrorBody {
            code: e.code.to_owned(),
            message: e.message.clone(),
            error: ErrorDetail {
                code: e.code.to_owned(),
                message: e.message,
                details: e.details,
            },
        };
        (e.status, Json(body)).into_response()
    }
}

/// A tracking endpoint: `$doc` is its summary in the OpenAPI document, `$body` what it reads.
macro_rules! endpoint {
    ($name:ident, $kind:expr, $path:literal, $body:ty, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "tracking",
            request_body(content = $body, content_type = "application/json",
                description = "JSON, optionally sent with `Content-Encoding: gzip`"),
            security(("write_key" = [])),
            responses(
                (status = 200, body = spec::Accepted, description = "Every message of the request is durable"),
                (status = 400, body = spec::TrackingErrorBody, description = "`invalid_json`: the body is not JSON; `bad_body`: it could not be read (a broken gzip stream)"),
                (status = 401, body = spec::TrackingErrorBody, description = "`unauthorized`: no write key, or an unknown or disabled one"),
                (status = 413, body = spec::TrackingErrorBody, description = "`payload_too_large`: a message over 32 KiB or a request over 500 KiB (after decompression)"),
                (status = 422, body = spec::TrackingErrorBody, description = "`invalid_field`: `details.field` names the wrong field (`batch[3].event`; `batch` for more than 2,500 messages); nothing of the request is stored"),
                (status = 503, body = spec::TrackingErrorBody, description = "`intake_unavailable`, `storage_unavailable` or `shutting_down`: nothing was stored; retry"),
            ))]
        pub(crate) async fn $name(
            State(s): State<AppState>,
            h: HeaderMap,
            body: Result<Bytes, BytesRejection>,
        ) -> Result<Json<spec::Accepted>, TrackingError> {
            ingest(&s, $kind, &h, body).await
        }
    };
}

endpoint!(
    identify,
    Some(MessageKind::Identify),
    "/v1/identify",
    spec::Message,
    "Who a person is: `userId` and/or `anonymousId` and `traits`"
);
endpoint!(
    track,
    Some(MessageKind::Track),
    "/v1/track",
    spec::Message,
    "Something a person did: `event` and `properties`"
);
endpoint!(
    page,
    Some(MessageKind::Page),
    "/v1/page",
    spec::Message,
    "A page view: `name`, `category`, `properties` (also at `/v1/p`)"
);
endpoint!(
    screen,
    Some(MessageKind::Screen),
    "/v1/screen",
    spec::Message,
    "An app screen view: `name`, `category`, `properties`"
);
endpoint!(
    group,
    Some(MessageKind::Group),
    "/v1/group",
    spec::Message,
    "The company a person belongs to: `groupId` and its `traits` make or update an account"
);
endpoint!(
    alias,
    Some(MessageKind::Alias),
    "/v1/alias",
    spec::Message,
    "`previousId` is the same person as `userId`"
);
endpoint!(
    batch,
    None,
    "/v1/batch",
    spec::Batch,
    "Several messages of any type, stored together or not at all (also at `/v1/import`)"
);

fn basic_user(h: &HeaderMap) -> Option<String> {
    let v = h.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let user = s.split_once(':').map_or(s.as_str(), |(u, _)| u);
    Some(user.to_owned()).filter(|u| !u.is_empty())
}

async fn ingest(
    state: &AppState,
    kind: Option<MessageKind>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<spec::Accepted>, TrackingError> {
    let received_at = state.now();
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a request body may be at most {MAX_BATCH_BYTES} bytes"),
            )
        } else {
            ApiError::new(r.status(), "bad_body", r.body_text())
        }
    })?;
    if kind.is_some() && body.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a message may be at most {MAX_MESSAGE_BYTES} bytes"),
        )
        .into());
    }
    // From here until the answer the body, then what it parses into, counts against the budget
    // of work in progress (see `load.rs`); a body still arriving does not.
    let _admitted = load::admit(state, body.len()).await?;
    // Parsing up to 500 KiB of JSON takes milliseconds of CPU. It runs on the blocking pool so
    // that it never holds a runtime worker that the ingest writer (woken after every statement it
    // executes) or another request is waiting for.
    let logged_body = body.clone();
    let read = off_runtime(move || read_body(&body, kind, received_at))
        .await?
        .map_err(request_error)?;

    let key = basic_user(headers)
        .or(read.write_key.clone())
        .ok_or_else(|| unauthorized("send the source's write key as the HTTP Basic user name"))?;
    let source = state
        .write_keys
        .source(state, &key)
        .await?
        .ok_or_else(|| unauthorized("unknown or disabled write key"))?;
    let org = source.org_id;
    let source_ref = SourceRef {
        id: source.id,
        name: source.name,
    };
    let parsed = read.touches(&source_ref).map_err(request_error)?;
    state.metrics.identifiers_rejected.fetch_add(
        parsed.rejected_identifiers,
        std::sync::atomic::Ordering::Relaxed,
    );
    let n = parsed.touches.len();
    // With the intake log on, the body as received is what is logged (see `intake.rs`).
    let record = || LogRecord {
        seq: 0,
        org,
        source: source_ref.id,
        source_name: source_ref.name.clone(),
        kind,
        received_at,
        body: logged_body.to_vec(),
    };
    state
        .ingestor
        .accept(org, parsed.touches, record)
        .await
        .map_err(|e| match e {
            hatchery_engine::IngestError::Invalid { index, message } => {
                let field = if kind.is_some() {
                    "message".to_owned()
                } else {
                    format!("batch[{index}]")
                };
                invalid_field(&field, message)
            }
            other => other.into(),
        })?;
    tracing::debug!(
        org.id = org.0,
        source.id = source_ref.id.0,
        messages = n,
        "ingested"
    );
    Ok(Json(spec::Accepted { success: true }))
}

/// Runs CPU-bound request work through the shared [`load::CpuGate`].
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    load::CpuGate::shared().run(f).await
}

fn request_error(e: RequestError) -> ApiError {
    match e {
        RequestError::Json(msg) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {msg}"),
        ),
        RequestError::Invalid { field, message } => invalid_field(&field, message),
        RequestError::TooLarge { field, message } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                .with_details(json!({ "field": field }))
        }
    }
}
