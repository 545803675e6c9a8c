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
use hatchery_domain::message::{
    parse_message, Envelope, MessageKind, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES,
};
use hatchery_engine::Touch;
use hatchery_store::keys::Source;
use serde_json::{json, Value};
use tokio::sync::RwLock;
use tower_http::decompression::RequestDecompressionLayer;

use crate::error::{invalid_field, unauthorized, ApiError};
use crate::AppState;

mod load;

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
struct TrackingError(ApiError);

impl From<ApiError> for TrackingError {
    fn from(e: ApiError) -> Self {
        TrackingError(e)
    }
}

impl IntoResponse for TrackingError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = json!({
            "error": { "code": e.code, "message": e.message, "details": e.details },
            "code": e.code,
            "message": e.message,
        });
        (e.status, Json(body)).into_response()
    }
}

macro_rules! endpoint {
    ($name:ident, $kind:expr) => {
        async fn $name(
            State(s): State<AppState>,
            h: HeaderMap,
            body: Result<Bytes, BytesRejection>,
        ) -> Result<Json<Value>, TrackingError> {
            ingest(&s, $kind, &h, body).await
        }
    };
}

endpoint!(identify, Some(MessageKind::Identify));
endpoint!(track, Some(MessageKind::Track));
endpoint!(page, Some(MessageKind::Page));
endpoint!(screen, Some(MessageKind::Screen));
endpoint!(group, Some(MessageKind::Group));
endpoint!(alias, Some(MessageKind::Alias));
endpoint!(batch, None);

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
) -> Result<Json<Value>, TrackingError> {
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
    let v: Value = off_runtime(move || serde_json::from_slice(&body))
        .await?
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            )
        })?;

    let key = basic_user(headers)
        .or_else(|| v.get("writeKey").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| unauthorized("send the source's write key as the HTTP Basic user name"))?;
    let source = state
        .write_keys
        .source(state, &key)
        .await?
        .ok_or_else(|| unauthorized("unknown or disabled write key"))?;
    let org = source.org_id;
    let source_id = source.id;
    let (touches, rejected_identifiers) =
        off_runtime(move || touches_of(v, kind, received_at, &source)).await??;
    state
        .metrics
        .identifiers_rejected
        .fetch_add(rejected_identifiers, std::sync::atomic::Ordering::Relaxed);
    let n = touches.len();
    state
        .ingestor
        .submit(org, touches)
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
        source.id = source_id.0,
        messages = n,
        "ingested"
    );
    Ok(Json(json!({ "success": true })))
}

/// Runs CPU-bound request work through the shared [`load::CpuGate`].
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    load::CpuGate::shared().run(f).await
}

/// The touches of a parsed request body (one message, or a `batch`), and how many identifiers in
/// their traits failed validation. Any invalid message rejects the whole request.
fn touches_of(
    v: Value,
    kind: Option<MessageKind>,
    received_at: i64,
    source: &Source,
) -> Result<(Vec<Touch>, u64), ApiError> {
    let (messages, batch_sent_at, prefix) = match kind {
        Some(_) => (vec![v], None, "message"),
        None => {
            let sent = v.get("sentAt").and_then(Value::as_str).map(str::to_owned);
            let list = match v {
                Value::Object(mut o) => match o.remove("batch") {
                    Some(Value::Array(list)) => Some(list),
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| invalid_field("batch", "must be an array of messages"))?;
            if list.len() > MAX_BATCH_MESSAGES {
                return Err(invalid_field(
                    "batch",
                    format!(
                        "has {} messages; at most {MAX_BATCH_MESSAGES} are allowed",
                        list.len()
                    ),
                ));
            }
            let sent = match sent {
                Some(s) => Some(
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map_err(|_| invalid_field("sentAt", "must be an ISO-8601 timestamp"))?
                        .timestamp_millis(),
                ),
                None => None,
            };
            (list, sent, "batch")
        }
    };

    let envelope = Envelope {
        received_at,
        batch_sent_at,
    };
    let mut touches = Vec::with_capacity(messages.len());
    let mut counter = 0u32;
    let mut rejected_identifiers = 0u64;
    for (i, m) in messages.iter().enumerate() {
        let field = if kind.is_some() {
            prefix.to_owned()
        } else {
            format!("{prefix}[{i}]")
        };
        if kind.is_none() && serialized_len(m) > MAX_MESSAGE_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("{field} is larger than {MAX_MESSAGE_BYTES} bytes"),
            )
            .with_details(json!({ "field": field })));
        }
        let mut new_id = || {
            counter += 1;
            format!("hatchery-{received_at}-{}-{counter}", rand_suffix())
        };
        let e = parse_message(m, kind, envelope, &field, &mut new_id)
            .map_err(|e| invalid_field(&e.field, e.message))?;
        rejected_identifiers += e.rejected_traits.len() as u64;
        touches.push(Touch::from_message(e, source));
    }
    Ok((touches, rejected_identifiers))
}

/// The length of `v` as compact JSON, counted without building the text.
fn serialized_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    serde_json::to_writer(&mut c, v).map_or(usize::MAX, |()| c.0)
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
