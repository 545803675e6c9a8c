//! A tracking API request (one Segment message, or a `batch` of them) turned into touches. The
//! HTTP layer calls it on a request as it arrives, and the intake log on a logged request again
//! after a restart, so both read a body the same way.

use hatchery_domain::message::{
    parse_message, Envelope, MessageKind, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES,
};
use serde_json::Value;

use crate::touch::{SourceRef, Touch};

/// Why a request body was refused; nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// A field is missing or wrong (`batch[3].userId`, `sentAt` …).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// One message of a batch is over the per-message limit.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
}

fn invalid(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// What a request body holds.
#[derive(Debug, Default)]
pub struct Request {
    pub touches: Vec<Touch>,
    /// Identifiers in the messages' traits that failed validation (and were left out).
    pub rejected_identifiers: u64,
}

/// [`touches_of`] a raw body.
pub fn touches_of_body(
    body: &[u8],
    kind: Option<MessageKind>,
    received_at: i64,
    source: &SourceRef,
) -> Result<Request, RequestError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| RequestError::Json(e.to_string()))?;
    touches_of(v, kind, received_at, source)
}

/// The touches of a parsed request body: the message of a single-message endpoint (`kind`), or
/// the `batch` array of `/v1/batch`. Any invalid message refuses the whole request.
pub fn touches_of(
    v: Value,
    kind: Option<MessageKind>,
    received_at: i64,
    source: &SourceRef,
) -> Result<Request, RequestError> {
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
            .ok_or_else(|| invalid("batch", "must be an array of messages"))?;
            if list.len() > MAX_BATCH_MESSAGES {
                return Err(invalid(
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
                        .map_err(|_| invalid("sentAt", "must be an ISO-8601 timestamp"))?
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
    let mut out = Request {
        touches: Vec::with_capacity(messages.len()),
        rejected_identifiers: 0,
    };
    let mut counter = 0u32;
    for (i, m) in messages.iter().enumerate() {
        let field = if kind.is_some() {
            prefix.to_owned()
        } else {
            format!("{prefix}[{i}]")
        };
        if kind.is_none() && serialized_len(m) > MAX_MESSAGE_BYTES {
            return Err(RequestError::TooLarge {
                message: format!("{field} is larger than {MAX_MESSAGE_BYTES} bytes"),
                field,
            });
        }
        let mut new_id = || {
            counter += 1;
            format!("hatchery-{received_at}-{}-{counter}", rand_suffix())
        };
        let e = parse_message(m, kind, envelope, &field, &mut new_id)
            .map_err(|e| invalid(&e.field, e.message))?;
        out.rejected_identifiers += e.rejected_traits.len() as u64;
        out.touches.push(Touch::from_message(e, source));
    }
    Ok(out)
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
